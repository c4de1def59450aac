/**
 * The sans-I/O WebSocket connection (RFC 6455 §5-7, RFC 7692 §6-7): bytes in, events out, and bytes to send.
 * It owns no socket and no timer, so it is unit-tested by feeding it bytes.
 *
 * ```ts
 * const ws = new Protocol({ role: "server" });
 * ws.receive(bytesFromSocket);           // may modify the bytes in place (unmasking)
 * for (const ev of ws.events()) { if (ev.type === "message") ws.send(ev.data, { text: ev.text }); }
 * for (const piece of ws.dataToSend()) await writeAll(socket, piece);
 * if (ws.shouldCloseTransport) socket.close();
 * ```
 *
 * Hot path: frames are unmasked in place in the caller's buffer a 32-bit word at a time (through a cached
 * `Uint32Array` view of that buffer), text is validated there too, and each message costs one copy out.
 * Outgoing frames are written into two reused buffers (double buffering), so sending allocates nothing.
 *
 * @module
 */

import {
  CloseCode,
  headerSize,
  isValidCloseCode,
  maskInPlace,
  Opcode,
  unmaskAscii,
  WordView,
  writeHeaderRaw,
} from "./frame.ts";
import { Utf8Validator } from "./utf8.ts";
import type { SimdKernel } from "./simd.ts";
import { compressMessage, decompressMessage, type DeflateParams, StreamDeflater, StreamInflater } from "./deflate.ts";
import { concatBytes, PbxError } from "../common/mod.ts";

/** Which end of the connection this is: servers require masked frames and send unmasked ones; clients the reverse. */
export type Role = "server" | "client";

/** Options for {@linkcode Protocol}. */
export interface ProtocolOptions {
  /** Default `server`. */
  role?: Role;
  /** Largest message accepted, in bytes (after inflating); larger ones close with 1009. Default 16 MiB. */
  maxMessage?: number;
  /** Most frames one message may be split into; default max(1024, maxMessage / 64), so 64-byte fragments fit. */
  maxFragments?: number;
  /** Negotiated permessage-deflate parameters (from the handshake), if any. */
  deflate?: DeflateParams;
  /** Answer pings with pongs automatically (default true). */
  autoPong?: boolean;
  /** A WebAssembly SIMD kernel whose memory holds the caller's read buffer (see `simd.ts`). */
  simd?: SimdKernel;
}

/** Something that happened on the connection. */
export type ProtocolEvent =
  /** A complete data message; `text` messages are valid UTF-8. */
  | { type: "message"; data: Uint8Array; text: boolean }
  /** A ping (already answered when `autoPong`). */
  | { type: "ping"; data: Uint8Array }
  /** A pong. */
  | { type: "pong"; data: Uint8Array }
  /** The peer's close frame (1005 when it carried no code); the answer is already queued. */
  | { type: "close"; code: number; reason: string }
  /** The peer broke the protocol: a close frame with `code` (1002, 1007, 1009) is queued and input is ignored. */
  | { type: "error"; code: number; reason: string };

/** Connection state. */
export type ProtocolState = "open" | "closing" | "closed";

const EMPTY = new Uint8Array(0);
const LARGE = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The sans-I/O WebSocket connection state machine. */
export class Protocol {
  /** Server or client. */
  readonly role: Role;
  /** Largest accepted message. */
  readonly maxMessage: number;
  /** Most fragments per message. */
  readonly maxFragments: number;
  readonly #deflate: DeflateParams | undefined;
  readonly #autoPong: boolean;
  readonly #expectMask: boolean;
  readonly #simd: SimdKernel | undefined;
  #inflater: StreamInflater | undefined;
  #deflater: StreamDeflater | undefined;
  /**
   * When true, a message that arrived in one frame within one `receive()` call is delivered as a view into the
   * bytes given to `receive()` (no copy): valid only until the next `receive()`. For consumers that use or copy
   * the data at once (an echo, a relay into a send buffer). Default false: every message is its own copy.
   */
  borrow = false;

  // Events: two arrays swapped by events().
  #ev: ProtocolEvent[] = [];
  #evSpare: ProtocolEvent[] = [];

  // Receive state.
  readonly #view = new WordView();
  readonly #hdr = new Uint8Array(14);
  #hdrHave = 0;
  #inPayload = false;
  #left = 0;
  #frameLen = 0;
  #phase = 0;
  #fin = false;
  #opcode = 0;
  readonly #key = new Uint8Array(4);
  #masked = false;
  #frameBuf: Uint8Array | undefined;
  #frameFill = 0;
  readonly #ctrl = new Uint8Array(125);
  #ctrlFill = 0;
  #msgOpcode = 0;
  #msgCompressed = false;
  #msgSize = 0;
  #fragments = 0;
  #pieces: Uint8Array[] = [];
  #validate = false;
  readonly #utf8 = new Utf8Validator();

  // Close state. A close decided by the protocol (an answer, a failure) is pending until dataToSend(), so
  // answers to messages that arrived before it still go out first.
  #closeSent = false;
  #closePending: Uint8Array | undefined;
  #closePendingCode: number = CloseCode.NoStatus;
  #closeSentCode: number | undefined;
  #closeReceived = false;
  #failed = false;
  #closeCode: number | undefined;
  #closeReason = "";

  // Send state: double-buffered output.
  #bufA = new Uint8Array(4096); // grows on demand (doubling) and keeps its size
  #bufB = new Uint8Array(4096);
  #cur: Uint8Array;
  #start = 0;
  #len = 0;
  #out: Uint8Array[] = [];
  #outSpare: Uint8Array[] = [];
  #outBytes = 0;
  #rand = new Uint8Array(0);
  #randPos = 0;

  /** Make a connection in the OPEN state (after a successful handshake). */
  constructor(options: ProtocolOptions = {}) {
    this.role = options.role ?? "server";
    this.maxMessage = options.maxMessage ?? 16 * 1024 * 1024;
    this.maxFragments = options.maxFragments ?? Math.max(1024, Math.ceil(this.maxMessage / 64));
    this.#deflate = options.deflate;
    this.#autoPong = options.autoPong ?? true;
    this.#expectMask = this.role === "server";
    this.#simd = options.simd;
    if (options.deflate?.peerContextTakeover) this.#inflater = new StreamInflater();
    this.#cur = this.#bufA;
  }

  /** `open` until a close frame was sent or received, `closing` after only one side's, `closed` after both (or a failure). */
  get state(): ProtocolState {
    const sent = this.closeSent;
    if (this.#failed || (sent && this.#closeReceived)) return "closed";
    if (sent || this.#closeReceived) return "closing";
    return "open";
  }

  /** True once this side has decided to send its close frame (it may still be pending). */
  get closeSent(): boolean {
    return this.#closeSent || this.#closePending !== undefined;
  }
  /** The code of the close frame this side wrote to the output (1005 when it carried none); undefined before. */
  get closeSentCode(): number | undefined {
    return this.#closeSentCode;
  }
  /** True while data may still be queued (before the close frame is written to the output). */
  get canSend(): boolean {
    return !this.#closeSent;
  }
  /** True once the peer's close frame arrived. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }
  /** The peer's close code (1005 for none), once received; or the code this side failed the connection with. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }
  /** The peer's close reason (or the failure reason). */
  get closeReason(): string {
    return this.#closeReason;
  }
  /** True when the transport should be closed once the queued bytes are written (close exchange done, or failed). */
  get shouldCloseTransport(): boolean {
    return this.state === "closed";
  }
  /** True when permessage-deflate is active. */
  get compressed(): boolean {
    return this.#deflate !== undefined;
  }
  /** Bytes queued and not yet taken by {@linkcode Protocol.dataToSend}. */
  get bufferedAmount(): number {
    return this.#outBytes + (this.#len - this.#start) + (this.#closePending ? this.#closePending.length + 2 : 0);
  }

  /** Events produced since the last call. The array stays valid until the next call. */
  events(): ProtocolEvent[] {
    const ev = this.#ev;
    this.#ev = this.#evSpare;
    this.#evSpare = ev;
    this.#ev.length = 0;
    return ev;
  }

  /** True when events are waiting. */
  get hasEvents(): boolean {
    return this.#ev.length > 0;
  }

  /**
   * Feed bytes received from the peer: `data[0, length)` (default: all of it). Unmasking happens in place:
   * `data` is modified. `data` is not kept after the call returns (messages are copied out), so a reused read
   * buffer is safe.
   */
  receive(data: Uint8Array, length: number = data.length): void {
    if (this.#failed || this.#closeReceived) return;
    const words = this.#view.of(data);
    const end = Math.min(length, data.length);
    let pos = 0;
    while (pos < end) {
      if (!this.#inPayload) {
        // Frame header.
        let src: Uint8Array, at: number;
        const avail = end - pos;
        if (this.#hdrHave === 0 && avail >= 2 && avail >= this.#headerLen(data[pos + 1])) {
          src = data;
          at = pos;
          pos += this.#headerLen(data[pos + 1]);
        } else {
          const hdr = this.#hdr;
          if (this.#hdrHave < 2) {
            const k = Math.min(2 - this.#hdrHave, avail);
            hdr.set(data.subarray(pos, pos + k), this.#hdrHave);
            this.#hdrHave += k;
            pos += k;
            if (this.#hdrHave < 2) return;
          }
          const need = this.#headerLen(hdr[1]);
          const k = Math.min(need - this.#hdrHave, end - pos);
          hdr.set(data.subarray(pos, pos + k), this.#hdrHave);
          this.#hdrHave += k;
          pos += k;
          if (this.#hdrHave < need) return;
          this.#hdrHave = 0;
          src = hdr;
          at = 0;
        }
        if (!this.#parseHeader(src, at)) return;
        if (this.#left === 0) {
          if (!this.#frameEnd(EMPTY)) return;
          continue;
        }
        this.#inPayload = true;
        continue;
      }
      // Payload bytes.
      const n = Math.min(this.#left, end - pos);
      const stop = pos + n;
      let validated = false;
      if (this.#masked) {
        const k = this.#simd;
        if (k !== undefined && n >= 32 && k.owns(data)) {
          // WebAssembly SIMD: unmask 16 bytes per step, checking for ASCII on the way.
          const ascii = k.unmask(data, pos, stop, this.#key, this.#phase);
          validated = ascii && this.#validate && this.#utf8.complete;
          this.#phase = (this.#phase + n) & 3;
        } else if (this.#validate && words !== undefined && this.#utf8.complete) {
          // Text: unmask and check for ASCII in one pass; only non-ASCII runs go through the full validator.
          validated = unmaskAscii(data, pos, stop, this.#key, this.#phase, words);
          this.#phase = (this.#phase + n) & 3;
        } else this.#phase = maskInPlace(data, pos, stop, this.#key, this.#phase, words);
      }
      let piece: Uint8Array | undefined;
      if (this.#opcode >= 8) {
        this.#ctrl.set(data.subarray(pos, stop), this.#ctrlFill);
        this.#ctrlFill += n;
      } else {
        if (this.#validate && !validated && !this.#utf8.push(data, pos, stop, words)) {
          this.#fail(CloseCode.InvalidPayload, "invalid UTF-8 in a text message");
          return;
        }
        if (this.#frameFill === 0 && n === this.#left) {
          // The whole payload is in this chunk: one copy out, or none when borrowing a one-frame message.
          piece = this.borrow && this.#fin && this.#fragments === 1 ? data.subarray(pos, stop) : data.slice(pos, stop);
        } else {
          if (this.#frameBuf === undefined) this.#frameBuf = new Uint8Array(this.#frameLen);
          this.#frameBuf.set(data.subarray(pos, stop), this.#frameFill);
          this.#frameFill += n;
          if (n === this.#left) piece = this.#frameBuf;
        }
      }
      pos = stop;
      this.#left -= n;
      if (this.#left === 0) {
        this.#inPayload = false;
        if (!this.#frameEnd(piece ?? EMPTY)) return;
      }
    }
  }

  /** The peer closed the transport (EOF). Without a close frame first this is an abnormal closure (1006). */
  receiveEof(): void {
    if (this.#closeReceived || this.#failed) return;
    this.#closeReceived = true;
    this.#failed = true;
    this.#closeCode = CloseCode.Abnormal;
    this.#closeReason = "connection closed without a close frame";
  }

  #headerLen(b1: number): number {
    const l7 = b1 & 0x7f;
    return 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
  }

  #parseHeader(x: Uint8Array, p: number): boolean {
    const b0 = x[p], b1 = x[p + 1];
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const op = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const l7 = b1 & 0x7f;
    if ((b0 & 0x30) !== 0) return this.#fail(CloseCode.ProtocolError, "reserved bits RSV2/RSV3 set");
    if (op >= 8) {
      if (op > 0xa) return this.#fail(CloseCode.ProtocolError, `reserved control opcode ${op}`);
      if (!fin) return this.#fail(CloseCode.ProtocolError, "fragmented control frame");
      if (l7 > 125) return this.#fail(CloseCode.ProtocolError, "control frame payload over 125 bytes");
      if (rsv1) return this.#fail(CloseCode.ProtocolError, "RSV1 set on a control frame");
    } else if (op > 2) {
      return this.#fail(CloseCode.ProtocolError, `reserved data opcode ${op}`);
    } else if (op === 0) {
      if (this.#msgOpcode === 0) return this.#fail(CloseCode.ProtocolError, "continuation frame without a message");
      if (rsv1) return this.#fail(CloseCode.ProtocolError, "RSV1 set on a continuation frame");
    } else {
      if (this.#msgOpcode !== 0) {
        return this.#fail(CloseCode.ProtocolError, "new data frame while a fragmented message is unfinished");
      }
      if (rsv1 && this.#deflate === undefined) {
        return this.#fail(CloseCode.ProtocolError, "RSV1 set without permessage-deflate");
      }
    }
    if (masked !== this.#expectMask) {
      return this.#fail(CloseCode.ProtocolError, this.#expectMask ? "unmasked client frame" : "masked server frame");
    }
    let len: number;
    let q = p + 2;
    if (l7 === 126) {
      len = (x[q] << 8) | x[q + 1];
      q += 2;
    } else if (l7 === 127) {
      if ((x[q] & 0x80) !== 0) {
        return this.#fail(CloseCode.ProtocolError, "64-bit payload length with the high bit set");
      }
      const hi = ((x[q] << 24) | (x[q + 1] << 16) | (x[q + 2] << 8) | x[q + 3]) >>> 0;
      const lo = ((x[q + 4] << 24) | (x[q + 5] << 16) | (x[q + 6] << 8) | x[q + 7]) >>> 0;
      len = hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
      q += 8;
    } else len = l7;
    if (op < 8) {
      const limit = (op !== 0 ? rsv1 : this.#msgCompressed) ? this.maxMessage + 1024 : this.maxMessage;
      const before = op === 0 ? this.#msgSize : 0;
      if (before + len > limit) {
        return this.#fail(CloseCode.TooBig, `message over the ${this.maxMessage}-byte limit`);
      }
      if (op === 0) {
        if (++this.#fragments > this.maxFragments) {
          return this.#fail(CloseCode.TooBig, `message in more than ${this.maxFragments} fragments`);
        }
      } else {
        this.#msgOpcode = op;
        this.#msgCompressed = rsv1;
        this.#msgSize = 0;
        this.#fragments = 1;
        this.#validate = op === Opcode.Text && !rsv1;
        if (this.#validate) this.#utf8.reset();
      }
    }
    if (masked) {
      const k = this.#key;
      k[0] = x[q];
      k[1] = x[q + 1];
      k[2] = x[q + 2];
      k[3] = x[q + 3];
    }
    this.#fin = fin;
    this.#opcode = op;
    this.#masked = masked;
    this.#left = len;
    this.#frameLen = len;
    this.#phase = 0;
    this.#frameBuf = undefined;
    this.#frameFill = 0;
    this.#ctrlFill = 0;
    return true;
  }

  /** A frame's payload is complete. Returns false when the connection failed or closed. */
  #frameEnd(piece: Uint8Array): boolean {
    const op = this.#opcode;
    if (op >= 8) {
      const data = this.#ctrlFill === 0 ? EMPTY : this.#ctrl.slice(0, this.#ctrlFill);
      if (op === Opcode.Ping) {
        if (this.#autoPong && !this.closeSent) this.#queueFrame(Opcode.Pong, data, false, true);
        this.#ev.push({ type: "ping", data });
      } else if (op === Opcode.Pong) {
        this.#ev.push({ type: "pong", data });
      } else return this.#onClose(data);
      return true;
    }
    this.#frameBuf = undefined;
    const pieces = this.#pieces;
    if (this.#fin && pieces.length === 0 && !this.#msgCompressed) {
      // One-frame message (the common case): no pieces array, so nothing to grow and reset.
      const text = this.#msgOpcode === Opcode.Text;
      if (text && !this.#utf8.complete) {
        return this.#fail(CloseCode.InvalidPayload, "text message ends inside a UTF-8 sequence");
      }
      this.#msgOpcode = 0;
      this.#msgSize = 0;
      this.#ev.push({ type: "message", data: piece, text });
      return true;
    }
    if (piece.length > 0) {
      pieces.push(piece);
      this.#msgSize += piece.length;
    }
    if (!this.#fin) return true;
    let data: Uint8Array;
    const text = this.#msgOpcode === Opcode.Text;
    if (this.#msgCompressed) {
      const r = this.#inflater
        ? this.#inflater.inflate(pieces, this.maxMessage)
        : decompressMessage(pieces, this.maxMessage);
      if (r === "too-big") {
        return this.#fail(CloseCode.TooBig, `message inflates past the ${this.maxMessage}-byte limit`);
      }
      if (r === "corrupt") return this.#fail(CloseCode.InvalidPayload, "corrupt permessage-deflate data");
      data = r;
      if (text) {
        this.#utf8.reset();
        if (!this.#utf8.push(data) || !this.#utf8.complete) {
          return this.#fail(CloseCode.InvalidPayload, "invalid UTF-8 in a text message");
        }
      }
    } else {
      if (text && !this.#utf8.complete) {
        return this.#fail(CloseCode.InvalidPayload, "text message ends inside a UTF-8 sequence");
      }
      data = pieces.length === 1 ? pieces[0] : pieces.length === 0 ? EMPTY : concatBytes(pieces, this.#msgSize);
    }
    pieces.length = 0;
    this.#msgOpcode = 0;
    this.#msgSize = 0;
    this.#ev.push({ type: "message", data, text });
    return true;
  }

  #onClose(payload: Uint8Array): boolean {
    if (payload.length === 1) return this.#fail(CloseCode.ProtocolError, "close frame with a 1-byte payload");
    let code: number = CloseCode.NoStatus;
    let reason = "";
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) return this.#fail(CloseCode.ProtocolError, `invalid close code ${code}`);
      try {
        reason = decoder.decode(payload.subarray(2));
      } catch {
        return this.#fail(CloseCode.InvalidPayload, "close reason is not valid UTF-8");
      }
    }
    this.#closeReceived = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#ev.push({ type: "close", code, reason });
    if (!this.closeSent) {
      // Echo the status code (not the reason: nothing to gain, and it keeps the frame small).
      this.#closePending = closePayload(code === CloseCode.NoStatus ? undefined : code, "");
      this.#closePendingCode = code;
    }
    return false;
  }

  /** Fail the connection: queue a close frame with `code` and ignore further input. Returns false. */
  #fail(code: number, reason: string): false {
    if (this.#failed) return false;
    this.#ev.push({ type: "error", code, reason });
    this.#failed = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    if (!this.closeSent) {
      this.#closePending = closePayload(code, reason);
      this.#closePendingCode = code;
    }
    this.#inPayload = false;
    this.#pieces.length = 0;
    return false;
  }

  /**
   * Free the per-connection compressor (context takeover keeps native zlib state) once the connection is over.
   * Idempotent. Sending after it still works (a new compressor starts with an empty window, which any peer inflates),
   * only compressing less: call it when nothing more is to be sent.
   */
  release(): void {
    this.#deflater?.close();
    this.#deflater = undefined;
    this.#inflater?.close();
    this.#inflater = undefined;
  }

  /** Fail the connection from outside (e.g. 1011 on an internal error, 1008 on a policy). */
  fail(code: number, reason = ""): void {
    this.#fail(code, reason);
  }

  // ---- sending ----

  /**
   * Queue a data message. Strings go as text; bytes as binary unless `text` is set (then the bytes must be valid
   * UTF-8, e.g. a received text message). Throws `E_STATE` after a close frame was sent.
   */
  send(data: Uint8Array | string, options?: { text?: boolean }): void {
    if (typeof data === "string") this.sendBytes(encoder.encode(data), true);
    else this.sendBytes(data, options?.text ?? false);
  }

  /** {@linkcode Protocol.send} for bytes with a positional flag (no options object on the hot path). */
  sendBytes(bytes: Uint8Array, text: boolean): void {
    if (this.#closeSent) throw new PbxError("E_STATE", "cannot send: the connection is closing");
    const d = this.#deflate;
    if (d !== undefined && bytes.length >= d.threshold) {
      let packed: Uint8Array;
      if (d.contextTakeover) packed = (this.#deflater ??= new StreamDeflater(d)).compress(bytes);
      else packed = compressMessage(bytes, d);
      this.#queueFrame(text ? Opcode.Text : Opcode.Binary, packed, true, true);
    } else this.#queueFrame(text ? Opcode.Text : Opcode.Binary, bytes, false, false);
  }

  /** Queue a ping (payload up to 125 bytes). */
  ping(data: Uint8Array | string = EMPTY): void {
    this.#control(Opcode.Ping, data);
  }

  /** Queue an unsolicited pong (a heartbeat; RFC 6455 §5.5.3). */
  pong(data: Uint8Array | string = EMPTY): void {
    this.#control(Opcode.Pong, data);
  }

  #control(op: number, data: Uint8Array | string): void {
    if (this.#closeSent) throw new PbxError("E_STATE", "cannot send: the connection is closing");
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length > 125) throw new PbxError("E_INVALID_INPUT", "control frame payload over 125 bytes");
    this.#queueFrame(op, bytes, false, false);
  }

  /**
   * Start (or answer) the closing handshake with `code` (1000, 1001, 1003, 1007-1014, 3000-4999) and a reason
   * (cut to 123 bytes at a character boundary). Does nothing when a close frame was already sent.
   */
  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.closeSent) return;
    if (!isValidCloseCode(code)) throw new PbxError("E_INVALID_INPUT", `close code ${code} cannot be sent`);
    this.#queueFrame(Opcode.Close, closePayload(code, reason), false, false);
    this.#closeSent = true;
    this.#closeSentCode = code;
  }

  /** Write one frame (header + payload) into the output. `owned`: payload may be kept by reference. */
  #queueFrame(op: number, payload: Uint8Array, rsv1: boolean, owned: boolean): void {
    const mask = this.role === "client";
    const n = payload.length;
    const h = headerSize(n, mask);
    let key: Uint8Array | undefined;
    if (mask) key = this.#maskKey();
    if (n >= LARGE) {
      // Large payload: header into the buffer, payload by reference (masked into a copy for clients).
      this.#reserve(h);
      this.#len += writeHeaderRaw(this.#cur, this.#len, true, op, n, rsv1, key);
      this.#seal();
      // Not owned (the caller's buffer, maybe a borrowed view): copy, so later changes to it cannot leak in.
      const body = owned ? payload : payload.slice();
      if (mask) {
        maskInPlace(body, 0, n, key!, 0, new Uint32Array(body.buffer, 0, body.buffer.byteLength >>> 2));
      }
      this.#out.push(body);
      this.#outBytes += n;
      return;
    }
    this.#reserve(h + n);
    const buf = this.#cur;
    const at = this.#len + writeHeaderRaw(buf, this.#len, true, op, n, rsv1, key);
    if (n > 0) {
      buf.set(payload, at);
      if (mask) maskInPlace(buf, at, at + n, key!, 0, this.#view.of(buf));
    }
    this.#len = at + n;
  }

  #maskKey(): Uint8Array {
    if (this.#randPos + 4 > this.#rand.length) {
      this.#rand = crypto.getRandomValues(new Uint8Array(4096));
      this.#randPos = 0;
    }
    const k = this.#rand.subarray(this.#randPos, this.#randPos + 4);
    this.#randPos += 4;
    return k;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#cur.length) return;
    // Grow: keep the unsealed region; sealed pieces keep referencing the old buffer.
    const used = this.#len - this.#start;
    let size = this.#cur.length;
    while (size < used + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#cur.subarray(this.#start, this.#len));
    if (this.#cur === this.#bufA) this.#bufA = next;
    else this.#bufB = next;
    this.#cur = next;
    this.#start = 0;
    this.#len = used;
  }

  #seal(): void {
    if (this.#len > this.#start) {
      this.#out.push(this.#cur.subarray(this.#start, this.#len));
      this.#outBytes += this.#len - this.#start;
      this.#start = this.#len;
    }
  }

  /**
   * Bytes to write to the transport, in order. They stay valid until the next call, so write them all before
   * calling again (double buffering).
   */
  dataToSend(): Uint8Array[] {
    if (this.#closePending !== undefined && !this.#closeSent) {
      this.#queueFrame(Opcode.Close, this.#closePending, false, false);
      this.#closeSent = true;
      this.#closeSentCode = this.#closePendingCode;
      this.#closePending = undefined;
    }
    this.#seal();
    const out = this.#out;
    this.#out = this.#outSpare;
    this.#outSpare = out;
    this.#out.length = 0;
    this.#outBytes = 0;
    // Switch buffers: the other one's bytes were written before this call.
    this.#cur = this.#cur === this.#bufA ? this.#bufB : this.#bufA;
    this.#start = 0;
    this.#len = 0;
    return out;
  }
}

/** A close frame's payload: the code (none for 1005) and the reason cut to 123 bytes at a character boundary. */
function closePayload(code: number | undefined, reason: string): Uint8Array {
  if (code === undefined) return EMPTY;
  let r = encoder.encode(reason);
  if (r.length > 123) {
    let cut = 123;
    while (cut > 0 && (r[cut] & 0xc0) === 0x80) cut--;
    r = r.subarray(0, cut);
  }
  const payload = new Uint8Array(2 + r.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(r, 2);
  return payload;
}
