/**
 * permessage-deflate (RFC 7692): parsing `Sec-WebSocket-Extensions`, negotiating the parameters on the server and
 * the client side, and compressing/decompressing whole messages with `node:zlib`, with the inflated size bounded.
 *
 * Outgoing, pbxkit compresses every message on its own with native zlib: its answer always carries
 * `server_no_context_takeover` (RFC 7692 §7.1.1.1 lets a server add it), so it keeps no compressor per connection.
 * Incoming, the client may use context takeover (its default): those messages are inflated by a streaming
 * inflater that keeps the 32 KiB window between messages ({@linkcode StreamInflater}); when the client offered
 * `client_no_context_takeover`, each message is inflated on its own with native zlib.
 *
 * @module
 */

import zlib from "node:zlib";
import { Inflate } from "fflate";
import { PbxError } from "../common/mod.ts";

/** One extension from a `Sec-WebSocket-Extensions` header: its name and parameters (value `true` when bare). */
export interface ExtensionOffer {
  name: string;
  params: [string, string | true][];
}

/** Parse a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1). Throws `E_PROTOCOL` when malformed. */
export function parseExtensions(header: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  // Split on commas outside quotes, then on semicolons outside quotes.
  const splitOutside = (s: string, sep: string): string[] => {
    const parts: string[] = [];
    let cur = "", q = false;
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === '"') q = !q;
      else if (c === "\\" && q) {
        cur += c + (s[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === sep && !q) {
        parts.push(cur);
        cur = "";
      } else cur += c;
    }
    if (q) throw new PbxError("E_PROTOCOL", "unterminated quoted string in Sec-WebSocket-Extensions");
    parts.push(cur);
    return parts;
  };
  for (const ext of splitOutside(header, ",")) {
    if (ext.trim() === "") continue;
    const [name, ...rest] = splitOutside(ext, ";").map((s) => s.trim());
    if (!token.test(name)) throw new PbxError("E_PROTOCOL", `bad extension name '${name}'`);
    const params: [string, string | true][] = [];
    for (const p of rest) {
      const eq = p.indexOf("=");
      const key = (eq < 0 ? p : p.slice(0, eq)).trim();
      if (!token.test(key)) throw new PbxError("E_PROTOCOL", `bad extension parameter '${p}'`);
      if (eq < 0) {
        params.push([key, true]);
        continue;
      }
      let value = p.slice(eq + 1).trim();
      if (value.startsWith('"')) {
        if (!value.endsWith('"') || value.length < 2) throw new PbxError("E_PROTOCOL", `bad quoted value in '${p}'`);
        value = value.slice(1, -1).replace(/\\(.)/g, "$1");
      }
      if (!token.test(value)) throw new PbxError("E_PROTOCOL", `bad extension parameter value '${p}'`);
      params.push([key, value]);
    }
    out.push({ name: name.toLowerCase(), params });
  }
  return out;
}

/** Settings of a negotiated permessage-deflate extension, as this endpoint applies them. */
export interface DeflateParams {
  /** zlib window bits (9-15) this endpoint compresses with. */
  windowBits: number;
  /** zlib compression level (0-9). */
  level: number;
  /** Messages smaller than this many bytes are sent uncompressed (compressing tiny messages costs more than it saves). */
  threshold: number;
  /** The peer compresses with context takeover: its messages must be inflated with the previous ones' window. */
  peerContextTakeover?: boolean;
}

/** Server options for permessage-deflate. */
export interface DeflateOptions {
  /** Compression level 0-9 (default 6; 1 is fastest). */
  level?: number;
  /** Send messages smaller than this uncompressed (default 64 bytes). */
  threshold?: number;
  /** Largest window the server compresses with (9-15, default 15). */
  maxWindowBits?: number;
  /** Ask clients not to use context takeover (saves ~40 KiB per connection; default false). */
  clientNoContextTakeover?: boolean;
}

const PMD = "permessage-deflate";

function windowBitsValue(v: string | true, allowBare: boolean): number | undefined {
  if (v === true) return allowBare ? 15 : undefined;
  if (!/^\d{1,2}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 8 && n <= 15 ? n : undefined;
}

/**
 * Server side of the negotiation: pick the first acceptable permessage-deflate offer from the client's
 * `Sec-WebSocket-Extensions` and return the response header value and the parameters to use, or undefined when
 * no offer is acceptable (the connection then runs uncompressed). Offers with unknown, duplicate or out-of-range
 * parameters are declined, as RFC 7692 §5 requires.
 */
export function negotiateDeflateServer(
  header: string | undefined,
  options: DeflateOptions = {},
): { response: string; params: DeflateParams } | undefined {
  if (!header) return undefined;
  let offers: ExtensionOffer[];
  try {
    offers = parseExtensions(header);
  } catch {
    return undefined;
  }
  const maxBits = options.maxWindowBits ?? 15;
  for (const offer of offers) {
    if (offer.name !== PMD) continue;
    const seen = new Set<string>();
    let ok = true;
    let serverBits: number | undefined;
    for (const [k, v] of offer.params) {
      if (seen.has(k)) {
        ok = false;
        break;
      }
      seen.add(k);
      if (k === "server_no_context_takeover" || k === "client_no_context_takeover") {
        if (v !== true) ok = false;
      } else if (k === "server_max_window_bits") {
        serverBits = windowBitsValue(v, false);
        if (serverBits === undefined) ok = false;
      } else if (k === "client_max_window_bits") {
        if (windowBitsValue(v, true) === undefined) ok = false;
      } else ok = false;
      if (!ok) break;
    }
    if (!ok) continue;
    const clientNoContext = seen.has("client_no_context_takeover") || (options.clientNoContextTakeover ?? false);
    let response = `${PMD}; server_no_context_takeover`;
    if (clientNoContext) response += "; client_no_context_takeover";
    let bits = maxBits;
    if (serverBits !== undefined) {
      bits = Math.min(serverBits, maxBits);
      response += `; server_max_window_bits=${bits}`;
    } else if (bits < 15) response += `; server_max_window_bits=${bits}`;
    return {
      response,
      // zlib cannot make a raw stream with an 8-bit window; with 9 bits its distances stay under 256 anyway.
      params: {
        windowBits: Math.max(9, bits),
        level: options.level ?? 6,
        threshold: options.threshold ?? 64,
        peerContextTakeover: !clientNoContext,
      },
    };
  }
  return undefined;
}

/** The offer a pbxkit client sends: every message independent in both directions. */
export const CLIENT_DEFLATE_OFFER = `${PMD}; server_no_context_takeover; client_no_context_takeover`;

/**
 * Client side: check the server's answer to {@linkcode CLIENT_DEFLATE_OFFER}. Returns the parameters to use,
 * undefined when the server declined, and throws `E_PROTOCOL` when the answer is not one the offer allows.
 */
export function acceptDeflateClient(
  header: string | undefined,
  options: DeflateOptions = {},
): DeflateParams | undefined {
  if (!header) return undefined;
  const exts = parseExtensions(header);
  if (exts.length === 0) return undefined;
  if (exts.length > 1 || exts[0].name !== PMD) {
    throw new PbxError("E_PROTOCOL", `server accepted an extension that was not offered: ${header}`);
  }
  let bits = 15;
  let serverNoContext = false;
  const seen = new Set<string>();
  for (const [k, v] of exts[0].params) {
    if (seen.has(k)) throw new PbxError("E_PROTOCOL", `duplicate parameter ${k} in ${header}`);
    seen.add(k);
    if (k === "server_no_context_takeover" && v === true) serverNoContext = true;
    else if (k === "client_no_context_takeover" && v === true) continue;
    else if (k === "server_max_window_bits" && windowBitsValue(v, false) !== undefined) continue;
    else if (k === "client_max_window_bits") {
      const b = windowBitsValue(v, false);
      if (b === undefined) throw new PbxError("E_PROTOCOL", `bad client_max_window_bits in ${header}`);
      bits = b;
    } else throw new PbxError("E_PROTOCOL", `bad permessage-deflate parameter '${k}' in ${header}`);
  }
  if (!serverNoContext) throw new PbxError("E_PROTOCOL", "server refused server_no_context_takeover");
  return { windowBits: Math.max(9, bits), level: options.level ?? 6, threshold: options.threshold ?? 64 };
}

const SYNC = zlib.constants.Z_SYNC_FLUSH;
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY_BLOCK = new Uint8Array([0x00]);

/** Compress one message (RFC 7692 §7.2.1: raw deflate, sync flush, the final `00 00 ff ff` removed). */
export function compressMessage(data: Uint8Array, params: DeflateParams): Uint8Array {
  const out: Uint8Array = zlib.deflateRawSync(data, {
    finishFlush: SYNC,
    windowBits: params.windowBits,
    level: params.level,
  });
  const n = out.length;
  if (n >= 4 && out[n - 4] === 0 && out[n - 3] === 0 && out[n - 2] === 0xff && out[n - 1] === 0xff) {
    return n === 4 ? EMPTY_BLOCK : out.subarray(0, n - 4);
  }
  return out;
}

/** Why {@linkcode decompressMessage} failed. */
export type InflateFailure = "too-big" | "corrupt";

/**
 * Decompress one message from its compressed pieces (the payloads of its frames). Returns the bytes, or the
 * reason it failed: `too-big` when it would inflate past `maxSize` (detected while inflating, so a small
 * compressed "bomb" never allocates more than `maxSize`), `corrupt` for bad deflate data.
 */
export function decompressMessage(pieces: Uint8Array[], maxSize: number): Uint8Array | InflateFailure {
  let total = TAIL.length;
  for (const p of pieces) total += p.length;
  const input = new Uint8Array(total);
  let o = 0;
  for (const p of pieces) {
    input.set(p, o);
    o += p.length;
  }
  input.set(TAIL, o);
  try {
    return zlib.inflateRawSync(input, { finishFlush: SYNC, maxOutputLength: Math.max(1, maxSize) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) return "too-big";
    return "corrupt";
  }
}

/**
 * A raw-deflate inflater that keeps its window from message to message (the peer's context takeover). Input is
 * fed in 1 KiB slices and the output counted after each, so a "bomb" is stopped within about 1 MiB past the limit.
 */
export class StreamInflater {
  #inflate: Inflate;
  #out: Uint8Array[] = [];
  #size = 0;

  /** A fresh inflater (empty window). */
  constructor() {
    this.#inflate = new Inflate((chunk: Uint8Array) => {
      this.#out.push(chunk);
      this.#size += chunk.length;
    });
  }

  /** Inflate one message from its compressed pieces; same results as {@linkcode decompressMessage}. */
  inflate(pieces: Uint8Array[], maxSize: number): Uint8Array | InflateFailure {
    this.#out = [];
    this.#size = 0;
    const SLICE = 1024;
    try {
      for (const piece of [...pieces, TAIL]) {
        for (let o = 0; o < piece.length; o += SLICE) {
          this.#inflate.push(piece.subarray(o, o + SLICE), false);
          if (this.#size > maxSize) return "too-big";
        }
      }
    } catch {
      return "corrupt";
    }
    const out = this.#out;
    this.#out = [];
    if (out.length === 1) return out[0];
    const all = new Uint8Array(this.#size);
    let p = 0;
    for (const c of out) {
      all.set(c, p);
      p += c.length;
    }
    return all;
  }
}
