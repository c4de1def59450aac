/**
 * The little SIP parsing `pbxkit ban` needs, on bytes and without allocating: a response's status code, the method
 * of its CSeq, and the Content-Length that frames messages on a stream. Header names are case-insensitive, compact
 * forms (`l` for Content-Length) are understood, and folded header lines (continuations starting with a space or
 * tab) are unfolded.
 *
 * @module
 */

/** What {@linkcode parseSipStart} found. */
export const SipKind = {
  /** Not SIP (or garbage). */
  Malformed: -1,
  /** A SIP request (`INVITE sip:... SIP/2.0`). */
  Request: 0,
  /** A SIP response (`SIP/2.0 404 Not Found`). */
  Response: 1,
} as const;
/** One of the {@linkcode SipKind} values. */
export type SipKind = typeof SipKind[keyof typeof SipKind];

/** Result slot filled by {@linkcode parseSipStart} (reuse one to avoid allocation). */
export interface SipInfo {
  /** Status code of a response (0 for requests). */
  status: number;
  /** CSeq method of a response, upper case (`REGISTER`), or "" when there is no valid CSeq. */
  method: string;
}

/** Make an empty {@linkcode SipInfo}. */
export function newSipInfo(): SipInfo {
  return { status: 0, method: "" };
}

const KNOWN_METHODS = [
  "REGISTER",
  "INVITE",
  "ACK",
  "BYE",
  "CANCEL",
  "OPTIONS",
  "NOTIFY",
  "SUBSCRIBE",
  "PUBLISH",
  "MESSAGE",
  "INFO",
  "PRACK",
  "UPDATE",
  "REFER",
];
const KNOWN_BYTES = KNOWN_METHODS.map((m) => new TextEncoder().encode(m));

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58;

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c | 0x20 : c;
}

/** Index just past the next LF at or after `pos` (or `end`). */
function nextLine(buf: Uint8Array, pos: number, end: number): number {
  // A plain loop: header lines are short, and a JIT-compiled scan beats a builtin call per line.
  while (pos < end) if (buf[pos++] === LF) return pos;
  return end;
}

/**
 * If the header line at `pos` has the (lower-case) name `name`, return the index just after its colon, else -1.
 * Allows whitespace between the name and the colon.
 */
function headerValueStart(buf: Uint8Array, pos: number, end: number, name: Uint8Array): number {
  const n = name.length;
  if (pos + n >= end) return -1;
  for (let i = 0; i < n; i++) if (lower(buf[pos + i]) !== name[i]) return -1;
  let p = pos + n;
  while (p < end && (buf[p] === SP || buf[p] === HT)) p++;
  return p < end && buf[p] === COLON ? p + 1 : -1;
}

/** Skip linear whitespace including folded line breaks (CRLF followed by SP/HT). */
function skipLws(buf: Uint8Array, p: number, end: number): number {
  for (;;) {
    while (p < end && (buf[p] === SP || buf[p] === HT)) p++;
    if (p < end && buf[p] === CR && p + 2 < end && buf[p + 1] === LF && (buf[p + 2] === SP || buf[p + 2] === HT)) {
      p += 3;
      continue;
    }
    if (p < end && buf[p] === LF && p + 1 < end && (buf[p + 1] === SP || buf[p + 1] === HT)) {
      p += 2;
      continue;
    }
    return p;
  }
}

const N_CSEQ = new TextEncoder().encode("cseq");
const N_CLEN = new TextEncoder().encode("content-length");
const N_L = new TextEncoder().encode("l");

function isTokenChar(c: number): boolean {
  // RFC 3261 token: alphanum and -.!%*_+`'~
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 ||
    c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126;
}

function methodAt(buf: Uint8Array, p: number, q: number): string {
  const len = q - p;
  outer: for (let k = 0; k < KNOWN_BYTES.length; k++) {
    const m = KNOWN_BYTES[k];
    if (m.length !== len) continue;
    for (let i = 0; i < len; i++) if ((buf[p + i] & 0xdf) !== m[i]) continue outer;
    return KNOWN_METHODS[k];
  }
  let s = "";
  for (let i = p; i < q; i++) s += String.fromCharCode(buf[i]);
  return s.toUpperCase();
}

/** Parse the CSeq value at `p` (`1 REGISTER`): returns the method or "" when malformed. */
function parseCseqValue(buf: Uint8Array, p: number, end: number): string {
  p = skipLws(buf, p, end);
  const d0 = p;
  while (p < end && buf[p] >= 48 && buf[p] <= 57) p++;
  if (p === d0 || p - d0 > 10) return "";
  const q0 = p;
  p = skipLws(buf, p, end);
  if (p === q0) return "";
  const m0 = p;
  while (p < end && isTokenChar(buf[p])) p++;
  if (p === m0 || p - m0 > 32) return "";
  return methodAt(buf, m0, p);
}

/**
 * Parse the start line of the SIP message in `buf[off..end)` and, for a response, its status code and CSeq method
 * (looking only at the header section). Fills `out`; returns the {@linkcode SipKind}.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function parseSipStart(buf: Uint8Array, off: number, end: number, out: SipInfo): SipKind {
  out.status = 0;
  out.method = "";
  if (end - off < 12) return SipKind.Malformed;
  // "SIP/2.0 " then 3 digits then SP (or end of line)
  if (
    buf[off] === 83 && buf[off + 1] === 73 && buf[off + 2] === 80 && buf[off + 3] === 47 && buf[off + 4] === 50 &&
    buf[off + 5] === 46 && buf[off + 6] === 48 && buf[off + 7] === SP
  ) {
    const a = buf[off + 8] - 48, b = buf[off + 9] - 48, c = buf[off + 10] - 48;
    if (a < 1 || a > 6 || b < 0 || b > 9 || c < 0 || c > 9) return SipKind.Malformed;
    const after = buf[off + 11];
    if (after !== SP && after !== CR && after !== LF) return SipKind.Malformed;
    out.status = a * 100 + b * 10 + c;
    let pos = nextLine(buf, off + 11, end);
    while (pos < end) {
      const c0 = buf[pos];
      if (c0 === CR || c0 === LF) break; // end of headers
      if ((c0 | 0x20) === 99) { // 'c'
        const v = headerValueStart(buf, pos, end, N_CSEQ);
        if (v >= 0) {
          out.method = parseCseqValue(buf, v, end);
          break;
        }
      }
      pos = nextLine(buf, pos, end);
    }
    return SipKind.Response;
  }
  // A request line: METHOD SP Request-URI SP SIP/2.0
  let p = off;
  while (p < end && isTokenChar(buf[p])) p++;
  if (p === off || p >= end || buf[p] !== SP) return SipKind.Malformed;
  return SipKind.Request;
}

/**
 * The Content-Length of the message whose header section spans `buf[off..hdrEnd)`: the value, -1 when absent, -2
 * when malformed. Understands the compact form `l:`.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function findContentLength(buf: Uint8Array, off: number, hdrEnd: number): number {
  let pos = nextLine(buf, off, hdrEnd);
  while (pos < hdrEnd) {
    const c0 = buf[pos] | 0x20;
    let v = -1;
    if (c0 === 99) v = headerValueStart(buf, pos, hdrEnd, N_CLEN);
    else if (c0 === 108) v = headerValueStart(buf, pos, hdrEnd, N_L);
    if (v >= 0) {
      let p = skipLws(buf, v, hdrEnd);
      const d0 = p;
      let n = 0;
      while (p < hdrEnd && buf[p] >= 48 && buf[p] <= 57) {
        n = n * 10 + buf[p] - 48;
        p++;
        if (n > 16 * 1024 * 1024) return -2;
      }
      if (p === d0) return -2;
      return n;
    }
    pos = nextLine(buf, pos, hdrEnd);
  }
  return -1;
}

/**
 * Find the end of the header section starting at `off`: the index just after the blank line (`CRLFCRLF`, or bare
 * `LFLF`), or -1 when it is not in `buf[off..end)` yet.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function findHeaderEnd(buf: Uint8Array, off: number, end: number): number {
  let p = off;
  for (;;) {
    const i = buf.indexOf(LF, p);
    if (i < 0 || i + 1 >= end) return -1;
    if (buf[i + 1] === LF) return i + 2;
    if (buf[i + 1] === CR && i + 2 < end && buf[i + 2] === LF) return i + 3;
    if (buf[i + 1] === CR && i + 2 >= end) return -1;
    p = i + 1;
  }
}
