/**
 * Minimal HTTP/1.1 message heads for the WebSocket opening handshake and the small plain-HTTP side of the server
 * (static files, the webphone, errors): finding the end of a head in a byte buffer, reading a head from a
 * connection (the one loop the server and the client share), parsing request and response heads strictly, and
 * serializing responses. The only I/O is {@linkcode readHead}'s reads from the connection it is given.
 *
 * @module
 */

/** A parsed HTTP request head. Header names are lower-case; repeated headers are joined with ", ". */
export interface HttpRequest {
  /** The method as sent, case preserved (e.g. `GET`). */
  method: string;
  /** The request target as sent (e.g. `/pbxws?x=1`). */
  target: string;
  /** The path part of the target, percent-decoding left to the handler. */
  path: string;
  /** The query string without `?` (may be empty). */
  query: string;
  /** `1.0` or `1.1`. */
  version: string;
  /** Header values by lower-case name, trimmed; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Remote address as `host:port` (set by the server). */
  remote?: string;
}

/** A parsed HTTP response head. */
export interface HttpResponseHead {
  /** Status code (three digits). */
  status: number;
  /** Reason phrase as sent (empty when absent). */
  reason: string;
  /** HTTP version from the status line (e.g. `1.1`). */
  version: string;
  /** Header values by lower-case name, trimmed; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

/** A response to write: status, headers and an optional body (omitted for HEAD). */
export interface HttpResponse {
  /** Status code; the reason phrase is taken from {@linkcode REASONS}. */
  status: number;
  /** Headers to send; `Date`, `Server` and (except for 101/204/304) `Content-Length` are added when missing. */
  headers?: Record<string, string>;
  /** Body (a string is sent as UTF-8); absent means empty. */
  body?: Uint8Array | string;
}

/** Result of {@linkcode findHeadEnd}: index just past the blank line, or -1 when not there yet. */
export function findHeadEnd(buf: Uint8Array, from = 0): number {
  for (let i = Math.max(3, from + 3); i < buf.length; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i + 1;
  }
  return -1;
}

/** A growable buffer an HTTP head is read into; what follows the head (a pipelined request, frames) stays in it. */
export interface HeadBuffer {
  /** The bytes (replaced by a buffer twice as large when full). */
  buf: Uint8Array;
  /** How many bytes of `buf` hold data. */
  have: number;
}

/** Options for {@linkcode readHead}. */
export interface ReadHeadOptions {
  /** Largest buffer, bytes: a head that does not end within it is "too-large" (the buffer doubles up to this). */
  maxBytes: number;
}

/**
 * Read from `conn` into `buffer` until it holds a whole head (through the blank line) and return the index just
 * past it; bytes already buffered are looked at first. Returns `"closed"` when the peer closes first and
 * `"too-large"` when the buffer is full at `maxBytes` without a head. Read errors (a timeout closing `conn`) are
 * thrown.
 */
export async function readHead(
  conn: { read(p: Uint8Array): Promise<number | null> },
  buffer: HeadBuffer,
  options: ReadHeadOptions,
): Promise<number | "closed" | "too-large"> {
  let end = findHeadEnd(buffer.buf.subarray(0, buffer.have));
  while (end < 0) {
    if (buffer.have === buffer.buf.length) {
      if (buffer.buf.length >= options.maxBytes) return "too-large";
      const bigger = new Uint8Array(buffer.buf.length * 2);
      bigger.set(buffer.buf);
      buffer.buf = bigger;
    }
    const n = await conn.read(buffer.buf.subarray(buffer.have));
    if (n === null) return "closed";
    const from = Math.max(0, buffer.have - 3);
    buffer.have += n;
    end = findHeadEnd(buffer.buf.subarray(0, buffer.have), from);
  }
  return end;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** True when `text` is an HTTP token (RFC 9110 section 5.6.2): a header name, a subprotocol. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

const latin1 = new TextDecoder("latin1");

/** An HTTP parse failure: carries the status to answer with. */
export class HttpError extends Error {
  /** Status code to answer (400, 414, 431, 505). */
  readonly status: number;
  /** Make an error with a status and a message for the body. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function parseHeaderLines(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (line === "") continue;
    if (line[0] === " " || line[0] === "\t") throw new HttpError(400, "obsolete header folding is not allowed");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, `malformed header line`);
    const name = line.slice(0, colon);
    if (!isToken(name)) throw new HttpError(400, `malformed header name`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new HttpError(400, "control character in a header value");
    const key = name.toLowerCase();
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return headers;
}

/** Parse a request head (`head` ends with the blank line). Throws {@linkcode HttpError}. */
export function parseRequestHead(head: Uint8Array): HttpRequest {
  const text = latin1.decode(head);
  const lines = text.split("\r\n");
  const m = /^([A-Z!#$%&'*+\-.^_`|~0-9a-z]+) (\S+) HTTP\/(\d\.\d)$/.exec(lines[0]);
  if (!m) throw new HttpError(400, "malformed request line");
  const [, method, target, version] = m;
  if (version !== "1.1" && version !== "1.0") throw new HttpError(505, `HTTP/${version} is not supported`);
  if (target.length > 8192) throw new HttpError(414, "request target too long");
  let path = target, query = "";
  if (/^https?:\/\//i.test(target)) {
    try {
      const u = new URL(target);
      path = u.pathname;
      query = u.search.slice(1);
    } catch {
      throw new HttpError(400, "malformed request target");
    }
  } else {
    if (target[0] !== "/" && !(method === "OPTIONS" && target === "*")) {
      throw new HttpError(400, "malformed request target");
    }
    const q = target.indexOf("?");
    if (q >= 0) {
      path = target.slice(0, q);
      query = target.slice(q + 1);
    }
  }
  return { method, target, path, query, version, headers: parseHeaderLines(lines.slice(1)) };
}

/** Parse a response head. Throws {@linkcode HttpError}. */
export function parseResponseHead(head: Uint8Array): HttpResponseHead {
  const lines = latin1.decode(head).split("\r\n");
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new HttpError(502, "malformed status line");
  return { version: m[1], status: Number(m[2]), reason: m[3] ?? "", headers: parseHeaderLines(lines.slice(1)) };
}

/** Standard reason phrases for the statuses pbxkit sends. */
export const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/**
 * Serialize a response head and body. `Content-Length` is added from the body (even for HEAD, where `head` makes
 * the body be left out) unless given; `Date` and `Server` are added.
 */
export function serializeResponse(res: HttpResponse, options: { head?: boolean } = {}): Uint8Array {
  const body = typeof res.body === "string" ? encoder.encode(res.body) : res.body;
  const headers: Record<string, string> = { ...res.headers };
  const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
  if (!has("date")) headers["Date"] = new Date().toUTCString();
  if (!has("server")) headers["Server"] = "pbxkit";
  if (!has("content-length") && res.status !== 101 && res.status !== 204 && res.status !== 304) {
    headers["Content-Length"] = String(body?.length ?? 0);
  }
  let head = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? "Status"}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    // deno-lint-ignore no-control-regex
    if (/[\r\n\x00]/.test(k + v)) throw new Error(`header ${k} contains a line break`);
    head += `${k}: ${v}\r\n`;
  }
  head += "\r\n";
  const h = encoder.encode(head);
  if (!body || options.head || body.length === 0) return h;
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

/** Options for {@linkcode errorResponse}. */
export interface ErrorResponseOptions {
  /** Extra response headers (they override the defaults). */
  headers?: Record<string, string>;
}

/** A plain-text error response (`status` + a one-line message). */
export function errorResponse(status: number, message: string, options: ErrorResponseOptions = {}): HttpResponse {
  return {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Connection": "close", ...options.headers },
    body: `${status} ${REASONS[status] ?? ""}: ${message}\n`,
  };
}

/** True when a comma-separated header value contains `token` (case-insensitive). */
export function headerHasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  const t = token.toLowerCase();
  return value.split(",").some((p) => p.trim().toLowerCase() === t);
}
