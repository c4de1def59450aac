/**
 * WebSocket framing primitives (RFC 6455 §5): opcodes, close-code rules, frame header encoding and word-wise
 * (un)masking. No I/O and no per-frame allocation on the hot path.
 *
 * @module
 */

/** Frame opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes pbxkit sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  TryAgainLater: 1013,
} as const;

/**
 * True when `code` may appear in a close frame on the wire: 1000-1003, 1007-1011 (and the later-registered
 * 1012-1014), or 3000-4999. 1004, 1005, 1006, 1015 and everything else are invalid (a peer sending them is a
 * protocol error, 1002).
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  return code >= 1007 && code <= 1014;
}

/** Maximum size of a frame header (2 + 8 length + 4 mask). */
export const MAX_HEADER = 14;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Write a frame header into `out` at `offset` and return its size. `mask` (4 bytes) is written when given
 * (client frames); `rsv1` marks a compressed message.
 */
export function writeHeader(
  out: Uint8Array,
  offset: number,
  header: { fin: boolean; opcode: number; length: number; rsv1?: boolean; mask?: Uint8Array },
): number {
  return writeHeaderRaw(out, offset, header.fin, header.opcode, header.length, header.rsv1 ?? false, header.mask);
}

/**
 * {@linkcode writeHeader} with positional arguments, used for every frame sent.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function writeHeaderRaw(
  out: Uint8Array,
  offset: number,
  fin: boolean,
  opcode: number,
  length: number,
  rsv1: boolean,
  mask: Uint8Array | undefined,
): number {
  out[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const m = mask ? 0x80 : 0;
  let n: number;
  if (length < 126) {
    out[offset + 1] = m | length;
    n = 2;
  } else if (length < 65536) {
    out[offset + 1] = m | 126;
    out[offset + 2] = length >>> 8;
    out[offset + 3] = length & 0xff;
    n = 4;
  } else {
    out[offset + 1] = m | 127;
    const hi = Math.floor(length / 0x1_0000_0000);
    out[offset + 2] = 0;
    out[offset + 3] = 0;
    out[offset + 4] = (hi >>> 8) & 0xff;
    out[offset + 5] = hi & 0xff;
    out[offset + 6] = (length >>> 24) & 0xff;
    out[offset + 7] = (length >>> 16) & 0xff;
    out[offset + 8] = (length >>> 8) & 0xff;
    out[offset + 9] = length & 0xff;
    n = 10;
  }
  if (mask) {
    out[offset + n] = mask[0];
    out[offset + n + 1] = mask[1];
    out[offset + n + 2] = mask[2];
    out[offset + n + 3] = mask[3];
    n += 4;
  }
  return n;
}

/** Size of the header {@linkcode writeHeader} writes for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * XOR `bytes[start, end)` in place with the 4-byte `key`, starting at key position `phase` (0-3, the payload
 * offset modulo 4 of `start` within its frame). When `words` (a `Uint32Array` over `bytes.buffer` from offset 0)
 * is given, the aligned middle is done a 32-bit word at a time. Returns the phase after `end`.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function maskInPlace(
  bytes: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  phase: number,
  words?: Uint32Array,
): number {
  let i = start;
  let p = phase & 3;
  if (words !== undefined && LITTLE_ENDIAN && end - start >= 16) {
    const base = bytes.byteOffset;
    while (((base + i) & 3) !== 0) {
      bytes[i++] ^= key[p];
      p = (p + 1) & 3;
    }
    const m = (key[p] | (key[(p + 1) & 3] << 8) | (key[(p + 2) & 3] << 16) | (key[(p + 3) & 3] << 24)) >>> 0;
    let w = (base + i) >>> 2;
    const wEnd = (base + end) >>> 2;
    // Unrolled by four: the hot loop for large payloads.
    const wEnd4 = wEnd - ((wEnd - w) & 3);
    while (w < wEnd4) {
      words[w] ^= m;
      words[w + 1] ^= m;
      words[w + 2] ^= m;
      words[w + 3] ^= m;
      w += 4;
    }
    while (w < wEnd) words[w++] ^= m;
    i = (w << 2) - base;
    // p is unchanged: whole words keep the phase.
  }
  while (i < end) {
    bytes[i++] ^= key[p];
    p = (p + 1) & 3;
  }
  return p;
}

/**
 * {@linkcode maskInPlace} fused with an ASCII check (one pass over text payloads): unmask `bytes[start, end)`
 * and return true when every resulting byte is below 0x80. The phase after is `(phase + end - start) & 3`.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function unmaskAscii(
  bytes: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  phase: number,
  words: Uint32Array,
): boolean {
  let i = start;
  let p = phase & 3;
  let acc = 0;
  if (LITTLE_ENDIAN && end - start >= 16) {
    const base = bytes.byteOffset;
    while (((base + i) & 3) !== 0) {
      acc |= bytes[i] ^= key[p];
      i++;
      p = (p + 1) & 3;
    }
    const m = (key[p] | (key[(p + 1) & 3] << 8) | (key[(p + 2) & 3] << 16) | (key[(p + 3) & 3] << 24)) >>> 0;
    let w = (base + i) >>> 2;
    const wEnd = (base + end) >>> 2;
    let wacc = 0;
    const wEnd4 = wEnd - ((wEnd - w) & 3);
    while (w < wEnd4) {
      const a = words[w] ^ m, b = words[w + 1] ^ m, c = words[w + 2] ^ m, d = words[w + 3] ^ m;
      words[w] = a;
      words[w + 1] = b;
      words[w + 2] = c;
      words[w + 3] = d;
      wacc |= a | b | c | d;
      w += 4;
    }
    while (w < wEnd) {
      const a = words[w] ^ m;
      words[w++] = a;
      wacc |= a;
    }
    if ((wacc & 0x80808080) !== 0) acc |= 0x80;
    i = (w << 2) - base;
  }
  while (i < end) {
    acc |= bytes[i] ^= key[p];
    i++;
    p = (p + 1) & 3;
  }
  return (acc & 0x80) === 0;
}

/** A cached `Uint32Array` over the start of an `ArrayBuffer` (for word-wise masking and validation). */
export class WordView {
  #buffer: ArrayBufferLike | undefined;
  #words: Uint32Array | undefined;

  /** The word view of `bytes.buffer`, made once per distinct buffer. */
  of(bytes: Uint8Array): Uint32Array | undefined {
    const b = bytes.buffer;
    if (b === this.#buffer) return this.#words;
    this.#buffer = b;
    this.#words = b.byteLength >= 16 ? new Uint32Array(b, 0, b.byteLength >>> 2) : undefined;
    return this.#words;
  }
}
