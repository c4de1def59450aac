/**
 * permessage-deflate (RFC 7692): parsing `Sec-WebSocket-Extensions`, negotiating the parameters on the server and
 * the client side, and compressing/decompressing whole messages with `node:zlib`, with the inflated size bounded.
 *
 * Outgoing, a server uses context takeover unless the client's offer asks for `server_no_context_takeover` or the
 * server is configured with {@linkcode DeflateOptions.serverNoContextTakeover}: one native zlib compressor per
 * connection keeps its window from message to message ({@linkcode StreamDeflater}), so repeated content (SIP
 * headers, JSON keys) compresses to a few bytes. That costs zlib's state per connection (about
 * `2^(windowBits+2) + 2^(memLevel+9)` bytes: 256 KiB at 15/8). Without context takeover each message is compressed
 * on its own ({@linkcode compressMessage}) and nothing is kept between messages.
 * Incoming, the client may use context takeover (its default): those messages are inflated by a streaming
 * inflater that keeps the 32 KiB window between messages ({@linkcode StreamInflater}); when the client offered
 * `client_no_context_takeover`, each message is inflated on its own with native zlib.
 *
 * @module
 */

import zlib from "node:zlib";
import { Inflate } from "fflate";
import { concatBytes, PbxError } from "../common/mod.ts";
import { isToken } from "./http.ts";

/** One extension from a `Sec-WebSocket-Extensions` header: its name and parameters (value `true` when bare). */
export interface ExtensionOffer {
  /** Extension token, lower-cased (e.g. `permessage-deflate`). */
  name: string;
  /** Parameters in header order as [name, value]; names keep their case, quoted values are unquoted. */
  params: [string, string | true][];
}

/** Parse a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1). Throws `E_PROTOCOL` when malformed. */
export function parseExtensions(header: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
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
    if (!isToken(name)) throw new PbxError("E_PROTOCOL", `bad extension name '${name}'`);
    const params: [string, string | true][] = [];
    for (const p of rest) {
      const eq = p.indexOf("=");
      const key = (eq < 0 ? p : p.slice(0, eq)).trim();
      if (!isToken(key)) throw new PbxError("E_PROTOCOL", `bad extension parameter '${p}'`);
      if (eq < 0) {
        params.push([key, true]);
        continue;
      }
      let value = p.slice(eq + 1).trim();
      if (value.startsWith('"')) {
        if (!value.endsWith('"') || value.length < 2) throw new PbxError("E_PROTOCOL", `bad quoted value in '${p}'`);
        value = value.slice(1, -1).replace(/\\(.)/g, "$1");
      }
      if (!isToken(value)) throw new PbxError("E_PROTOCOL", `bad extension parameter value '${p}'`);
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
  /** This endpoint compresses with context takeover (one compressor kept across messages). Default false. */
  contextTakeover?: boolean;
  /** zlib memLevel (1-9) of the kept compressor (default 8). */
  memLevel?: number;
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
  /**
   * Never compress with context takeover, even when the client allows it: answer `server_no_context_takeover` and
   * keep no compressor per connection (saves about 256 KiB per connection at the default window; default false).
   */
  serverNoContextTakeover?: boolean;
  /** zlib memLevel (1-9) of the per-connection compressor with context takeover (default 8; lower saves memory). */
  memLevel?: number;
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
    const serverNoContext = seen.has("server_no_context_takeover") || (options.serverNoContextTakeover ?? false);
    let response = PMD;
    if (serverNoContext) response += "; server_no_context_takeover";
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
        contextTakeover: !serverNoContext,
        memLevel: Math.min(9, Math.max(1, Math.trunc(options.memLevel ?? 8))),
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
  return withoutTail(out, out.length);
}

/** `out[0, used)` without the `00 00 ff ff` a sync flush ends with (an empty message is one `00` byte). */
function withoutTail(out: Uint8Array, used: number): Uint8Array {
  if (
    used >= 4 && out[used - 4] === 0 && out[used - 3] === 0 && out[used - 2] === 0xff && out[used - 1] === 0xff
  ) {
    return used === 4 ? EMPTY_BLOCK : out.subarray(0, used - 4);
  }
  return out.subarray(0, used);
}

/** The parts of node's zlib handle {@linkcode StreamDeflater} drives (the same binding in Node and Deno). */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

/**
 * A raw-deflate compressor that keeps its window from message to message: the server side of context takeover
 * (RFC 7692 §7.2.1). Each message is compressed and flushed with `Z_SYNC_FLUSH`, and the trailing `00 00 ff ff`
 * removed. It drives a native `zlib.createDeflateRaw()` synchronously through its handle (node's own
 * `_processChunk` closes the stream after one synchronous call). Call {@linkcode StreamDeflater.close} when the
 * connection ends to free zlib's memory at once.
 */
export class StreamDeflater {
  #stream: zlib.DeflateRaw | undefined;
  #handle: ZlibHandle;
  #state: Uint32Array;
  #error: Error | undefined;

  /** A compressor with `params.windowBits`, `params.level` and `params.memLevel` (default 8). */
  constructor(params: DeflateParams) {
    const stream = zlib.createDeflateRaw({
      windowBits: params.windowBits,
      level: params.level,
      memLevel: params.memLevel ?? 8,
    });
    const internal = stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (!internal._handle || !internal._writeState) {
      stream.close();
      throw new PbxError("E_INTERNAL", "node:zlib offers no synchronous streaming handle");
    }
    stream.on("error", (err: Error) => this.#error ??= err);
    this.#stream = stream;
    this.#handle = internal._handle;
    this.#state = internal._writeState;
  }

  /** Compress one message, using the window of the previous ones. Throws `E_STATE` after {@linkcode close}. */
  compress(data: Uint8Array): Uint8Array {
    if (!this.#stream) throw new PbxError("E_STATE", "the compressor is closed");
    // one output buffer fits nearly always (a sync flush adds at most a few bytes per 16 KiB stored block)
    let out = new Uint8Array(data.length + (data.length >> 10) + 64);
    let used = 0;
    let inOff = 0;
    let inLen = data.length;
    for (;;) {
      this.#handle.writeSync(SYNC, data, inOff, inLen, out, used, out.length - used);
      if (this.#error) throw new PbxError("E_INTERNAL", `deflate failed: ${this.#error.message}`);
      const availOut = this.#state[0];
      const availIn = this.#state[1];
      used = out.length - availOut;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut !== 0) break; // zlib stops short of a full buffer only once the flush is complete
      const bigger = new Uint8Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    return withoutTail(out, used);
  }

  /** Free the compressor (idempotent). */
  close(): void {
    this.#stream?.close();
    this.#stream = undefined;
  }
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
  const input = concatBytes([...pieces, TAIL], total);
  try {
    return zlib.inflateRawSync(input, { finishFlush: SYNC, maxOutputLength: Math.max(1, maxSize) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) return "too-big";
    return "corrupt";
  }
}

/**
 * A raw-deflate inflater that keeps its window from message to message (the peer's context takeover). Native
 * zlib (`zlib.createInflateRaw()` driven synchronously through its handle, as {@linkcode StreamDeflater} does)
 * when available, fflate otherwise. Output is produced into a buffer of at most 64 KiB at a time and counted, so
 * a "bomb" is stopped within 64 KiB (native) or about 1 MiB (fflate, fed 1 KiB slices) past the limit. Call
 * {@linkcode StreamInflater.close} when the connection ends to free zlib's memory at once.
 */
export class StreamInflater {
  #inflate: Inflate | undefined;
  #native: { stream: zlib.InflateRaw; handle: ZlibHandle; state: Uint32Array } | undefined;
  #error: Error | undefined;
  #out: Uint8Array[] = [];
  #size = 0;

  /** A fresh inflater (empty window). */
  constructor() {
    const stream = zlib.createInflateRaw({ windowBits: 15 });
    const internal = stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (internal._handle && internal._writeState) {
      stream.on("error", (err: Error) => this.#error ??= err);
      this.#native = { stream, handle: internal._handle, state: internal._writeState };
    } else {
      stream.close();
      this.#inflate = new Inflate((chunk: Uint8Array) => {
        this.#out.push(chunk);
        this.#size += chunk.length;
      });
    }
  }

  /** Inflate one message from its compressed pieces; same results as {@linkcode decompressMessage}. */
  inflate(pieces: Uint8Array[], maxSize: number): Uint8Array | InflateFailure {
    this.#out = [];
    this.#size = 0;
    const r = this.#native ? this.#inflateNative(pieces, maxSize) : this.#inflateJs(pieces, maxSize);
    if (r !== undefined) return r;
    const out = this.#out;
    this.#out = [];
    if (out.length === 0) return new Uint8Array(0);
    return out.length === 1 ? out[0] : concatBytes(out, this.#size);
  }

  #inflateNative(pieces: Uint8Array[], maxSize: number): InflateFailure | undefined {
    const { handle, state } = this.#native!;
    let chunk = 1024; // output buffers grow 1 KiB -> 64 KiB: small messages stay small, a bomb is cut early
    for (const piece of [...pieces, TAIL]) {
      let inOff = 0;
      let inLen = piece.length;
      for (;;) {
        const out = new Uint8Array(Math.min(chunk, maxSize - this.#size + 1));
        handle.writeSync(SYNC, piece, inOff, inLen, out, 0, out.length);
        if (this.#error) return "corrupt";
        const availOut = state[0], availIn = state[1];
        const produced = out.length - availOut;
        if (produced > 0) {
          this.#out.push(availOut === 0 ? out : out.subarray(0, produced));
          this.#size += produced;
          if (this.#size > maxSize) return "too-big";
        }
        const consumed = inLen - availIn;
        inOff += consumed;
        inLen = availIn;
        if (availOut === 0) { // output full: zlib may hold more, go again with a bigger buffer
          chunk = Math.min(chunk * 4, 64 * 1024);
          continue;
        }
        // zlib stopped short of a full buffer: the sync flush is complete for the input it could take
        if (inLen === 0) break;
        if (consumed === 0 && produced === 0) {
          if (piece === TAIL) break; // the stream ended (a final block): the stripped tail is not needed
          return "corrupt"; // input left after the end of the stream
        }
      }
    }
    return undefined;
  }

  #inflateJs(pieces: Uint8Array[], maxSize: number): InflateFailure | undefined {
    const SLICE = 1024;
    try {
      for (const piece of [...pieces, TAIL]) {
        for (let o = 0; o < piece.length; o += SLICE) {
          this.#inflate!.push(piece.subarray(o, o + SLICE), false);
          if (this.#size > maxSize) return "too-big";
        }
      }
    } catch {
      return "corrupt";
    }
    return undefined;
  }

  /** Free the native inflater (idempotent; the fflate one needs nothing). */
  close(): void {
    this.#native?.stream.close();
    this.#native = undefined;
    this.#inflate ??= new Inflate((chunk: Uint8Array) => {
      this.#out.push(chunk);
      this.#size += chunk.length;
    });
  }
}
