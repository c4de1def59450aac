/**
 * TFTP packets (RFC 1350) with options (RFC 2347): decoding works on the received bytes without allocating for
 * DATA/ACK (the hot path reads the opcode and block number in place); requests and OACKs are parsed into objects.
 *
 * @module
 */

/** Opcodes. */
export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes (RFC 1350, RFC 2347). */
export const ERR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL_OP: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTION: 8,
} as const;

/** A parsed read or write request. */
export interface Request {
  /** `OP.RRQ` or `OP.WRQ`. */
  op: 1 | 2;
  /** File name as sent. */
  filename: string;
  /** Transfer mode, lowercased (`octet`, `netascii`, `mail`). */
  mode: string;
  /** Options in the order sent, names lowercased (RFC 2347: case-insensitive). */
  options: Map<string, string>;
}

/** Why a request could not be parsed. */
export class PacketError extends Error {
  /** TFTP error code to answer with. */
  readonly code: number;
  /** Make an error with a TFTP code. */
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

const latin1 = new TextDecoder("latin1");
const enc = new TextEncoder();

/** The opcode of a packet, or 0 when it is too short. */
export function opcode(p: Uint8Array): number {
  return p.length >= 2 ? (p[0] << 8) | p[1] : 0;
}

/** The block number of a DATA or ACK packet (no check of the opcode). */
export function blockOf(p: Uint8Array): number {
  return (p[2] << 8) | p[3];
}

/** Parse an RRQ/WRQ; throws {@linkcode PacketError} for malformed ones. */
export function parseRequest(p: Uint8Array): Request {
  const op = opcode(p);
  if (op !== OP.RRQ && op !== OP.WRQ) throw new PacketError(ERR.ILLEGAL_OP, "not a read or write request");
  if (p[p.length - 1] !== 0) throw new PacketError(ERR.ILLEGAL_OP, "malformed request (not NUL-terminated)");
  const fields: string[] = [];
  let start = 2;
  for (let i = 2; i < p.length; i++) {
    if (p[i] === 0) {
      fields.push(latin1.decode(p.subarray(start, i)));
      start = i + 1;
    }
  }
  if (fields.length < 2) throw new PacketError(ERR.ILLEGAL_OP, "malformed request (no mode)");
  const [filename, modeRaw] = fields;
  if (!filename) throw new PacketError(ERR.ILLEGAL_OP, "empty file name");
  const mode = modeRaw.toLowerCase();
  if (mode !== "octet" && mode !== "netascii" && mode !== "mail") {
    throw new PacketError(ERR.ILLEGAL_OP, `unknown transfer mode '${modeRaw}'`);
  }
  if ((fields.length - 2) % 2 !== 0) throw new PacketError(ERR.OPTION, "malformed options (odd count)");
  const options = new Map<string, string>();
  for (let i = 2; i < fields.length; i += 2) {
    const k = fields[i].toLowerCase();
    if (!options.has(k)) options.set(k, fields[i + 1]);
  }
  return { op: op as 1 | 2, filename, mode, options };
}

/** Options for {@linkcode encodeRequest}. */
export interface EncodeRequestOptions {
  /** Transfer mode, sent as given (default `octet`). */
  mode?: string;
  /** TFTP options (RFC 2347) to append, in this order (`{ blksize: "1428" }`). */
  options?: Record<string, string>;
}

/** Build an RRQ or WRQ (for clients and tests). */
export function encodeRequest(op: 1 | 2, filename: string, options: EncodeRequestOptions = {}): Uint8Array {
  const parts = [filename, options.mode ?? "octet"];
  for (const [k, v] of Object.entries(options.options ?? {})) parts.push(k, v);
  const body = enc.encode(parts.join("\0") + "\0");
  const out = new Uint8Array(2 + body.length);
  out[1] = op;
  out.set(body, 2);
  return out;
}

/** Write a DATA header into `p` (which must have 4 bytes of room before the payload). */
export function writeDataHeader(p: Uint8Array, block: number): void {
  p[0] = 0;
  p[1] = OP.DATA;
  p[2] = (block >>> 8) & 0xff;
  p[3] = block & 0xff;
}

/** An ACK packet. */
export function encodeAck(block: number): Uint8Array {
  return new Uint8Array([0, OP.ACK, (block >>> 8) & 0xff, block & 0xff]);
}

/** A DATA packet (allocates; the server's hot path writes headers in place instead). */
export function encodeData(block: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(4 + payload.length);
  writeDataHeader(p, block);
  p.set(payload, 4);
  return p;
}

/** An ERROR packet. */
export function encodeError(code: number, message: string): Uint8Array {
  const m = enc.encode(message.replace(/\0/g, ""));
  const p = new Uint8Array(5 + m.length);
  p[1] = OP.ERROR;
  p[2] = (code >>> 8) & 0xff;
  p[3] = code & 0xff;
  p.set(m, 4);
  return p;
}

/** Code and message of an ERROR packet. */
export function parseError(p: Uint8Array): { code: number; message: string } {
  const end = p.indexOf(0, 4);
  return { code: p.length >= 4 ? blockOf(p) : 0, message: latin1.decode(p.subarray(4, end < 0 ? p.length : end)) };
}

/** An OACK packet with the accepted options. */
export function encodeOack(options: ReadonlyMap<string, string>): Uint8Array {
  const parts: string[] = [];
  for (const [k, v] of options) parts.push(k, v);
  const body = enc.encode(parts.join("\0") + "\0");
  const p = new Uint8Array(2 + body.length);
  p[1] = OP.OACK;
  p.set(body, 2);
  return p;
}

/** Options of an OACK packet (for clients and tests). */
export function parseOack(p: Uint8Array): Map<string, string> {
  const fields = latin1.decode(p.subarray(2)).split("\0");
  fields.pop();
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i].toLowerCase(), fields[i + 1]);
  return m;
}

/** Convert bytes to netascii for sending: LF -> CR LF, CR -> CR NUL. */
export function toNetascii(data: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 10 || data[i] === 13) extra++;
  if (extra === 0) return data;
  const out = new Uint8Array(data.length + extra);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 10) {
      out[o++] = 13;
      out[o++] = 10;
    } else if (b === 13) {
      out[o++] = 13;
      out[o++] = 0;
    } else out[o++] = b;
  }
  return out;
}

/** Convert received netascii back: CR LF -> LF, CR NUL -> CR. `pendingCr` carries a CR split across packets. */
export function fromNetascii(data: Uint8Array, state: { pendingCr: boolean }): Uint8Array {
  const out = new Uint8Array(data.length + 1);
  let o = 0;
  let i = 0;
  if (state.pendingCr) {
    state.pendingCr = false;
    if (data.length === 0) {
      state.pendingCr = true;
      return out.subarray(0, 0);
    }
    if (data[0] === 10) {
      out[o++] = 10;
      i = 1;
    } else if (data[0] === 0) {
      out[o++] = 13;
      i = 1;
    } else out[o++] = 13;
  }
  for (; i < data.length; i++) {
    const b = data[i];
    if (b === 13) {
      if (i + 1 >= data.length) {
        state.pendingCr = true;
        break;
      }
      const n = data[i + 1];
      if (n === 10) out[o++] = 10;
      else if (n === 0) out[o++] = 13;
      else {
        out[o++] = 13;
        continue;
      }
      i++;
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}
