/**
 * {@linkcode WebSocket}: one open WebSocket connection over a Deno socket (TCP or TLS) or any {@linkcode WsConn}, for both server-accepted
 * and client-opened connections. A thin I/O adapter around the sans-I/O {@linkcode Protocol}: it reads into one
 * reused buffer, writes in coalesced batches, applies backpressure both ways and performs the close handshake
 * (half-close, drain what the peer still sends, then close: never a reset that could destroy the close frame).
 *
 * @module
 */

import { Protocol, type ProtocolOptions } from "./protocol.ts";
import { CloseCode } from "./frame.ts";
import { acquireKernel, KERNEL_BYTES, releaseKernel, type SimdKernel } from "./simd.ts";
import type { HttpRequest } from "./http.ts";
import { fdOf, rawReader, syncSender } from "./fast_io.ts";
import { epollMode, type PolledReader, polledReader } from "./epoll_io.ts";
import { flushSends, queuedSender, type SendDone, uringMode } from "./uring_io.ts";
import { log, PbxError } from "../common/mod.ts";

/** `PBXKIT_WS_URING=all`: every plain TCP connection's sends go through the ring (not only the poller's). */
const URING_ALWAYS = uringMode() === "always";

const wslog = log.child("ws");
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The part of a connected stream a {@linkcode WebSocket} uses: a `Deno.Conn` (TCP or TLS) fits, and so does an
 * adapter such as the `node:tls` one in `node_tls.ts`.
 */
export interface WsConn {
  /** Read into `p`; the byte count, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Write (part of) `p`; the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Close both directions at once. */
  close(): void;
  /** Half-close: send FIN, keep reading (optional; skipped when absent). */
  closeWrite?(): Promise<void>;
  /** The peer's address. */
  readonly remoteAddr: Deno.Addr;
}

/** Close a socket (or listener), ignoring that it is already closed. */
export function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch { /* already closed */ }
}

/** Write every byte. */
export async function writeAll(conn: Pick<WsConn, "write">, data: Uint8Array): Promise<void> {
  let o = 0;
  while (o < data.length) o += await conn.write(o === 0 ? data : data.subarray(o));
}

/** A received message. */
export class Message {
  /** The payload bytes (UTF-8 for text messages). */
  readonly bytes: Uint8Array;
  /** True for binary messages, false for text. */
  readonly binary: boolean;
  #text: string | undefined;

  /** Wrap a payload. */
  constructor(bytes: Uint8Array, binary: boolean) {
    this.bytes = bytes;
    this.binary = binary;
  }

  /** The payload decoded as UTF-8 (cached). */
  get text(): string {
    return this.#text ??= decoder.decode(this.bytes);
  }

  /** A string for text messages, the bytes for binary ones (like the browser's `MessageEvent.data`). */
  get data(): string | Uint8Array {
    return this.binary ? this.bytes : this.text;
  }
}

/** How a connection ended. */
export interface CloseInfo {
  /** The close code: the peer's (1005 when its close frame had none), ours when we failed it, 1006 when abnormal. */
  code: number;
  /** The close reason. */
  reason: string;
  /** True when both close frames were exchanged. */
  wasClean: boolean;
}

/** Listeners a connection calls. */
export interface WebSocketEvents {
  /** Every message (when any `message` listener is set, messages skip the async iterator). */
  message: (msg: Message) => void;
  /** A ping arrived (already answered). */
  ping: (data: Uint8Array) => void;
  /** A pong arrived. */
  pong: (data: Uint8Array) => void;
  /** The connection ended. */
  close: (info: CloseInfo) => void;
}

/** Options for {@linkcode WebSocket}. */
export interface WebSocketOptions extends ProtocolOptions {
  /** Subprotocol agreed in the handshake. */
  protocol?: string;
  /** `Sec-WebSocket-Extensions` agreed in the handshake. */
  extensions?: string;
  /** The upgrade request (server side). */
  request?: HttpRequest;
  /** Bytes read past the handshake, to feed first. */
  initial?: Uint8Array;
  /** `send()` resolves once the output backlog is at most this many bytes (default 1 MiB). */
  highWaterMark?: number;
  /** Stop reading when this many received messages wait unconsumed (default 64). */
  maxQueued?: number;
  /** How long to wait for the peer's close frame and FIN after sending ours (ms, default 5000). */
  closeTimeout?: number;
  /** Size of the read buffer (default 64 KiB). */
  readBufferSize?: number;
  /**
   * May read plain TCP through the shared epoll poller (`epoll_io.ts`) once several connections are open (default:
   * true unless `PBXKIT_WS_EPOLL=0`).
   */
  epoll?: boolean;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** One open WebSocket connection. Iterate it for messages; `send`, `ping`, `close`; listen with `on`. */
export class WebSocket implements AsyncIterable<Message> {
  /** The chosen subprotocol ("" when none). */
  readonly protocol: string;
  /** The negotiated extensions ("" when none). */
  readonly extensions: string;
  /** The upgrade request (server-side connections). */
  readonly request: HttpRequest | undefined;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** Resolves when the connection has ended (never rejects). */
  readonly closed: Promise<CloseInfo>;
  /** Count of reads that returned data; the server's idle check compares it between ticks. */
  reads = 0;
  /** Messages received (for metrics). */
  messagesIn = 0;
  /** Messages sent (queued with `send`/`sendBytes`; for metrics). */
  messagesOut = 0;
  /** Bytes read from the transport (frames, after TLS; for metrics). */
  bytesIn = 0;
  /** Bytes written to the transport (frames, before TLS; for metrics). */
  bytesOut = 0;

  readonly #conn: WsConn;
  readonly #proto: Protocol;
  readonly #hwm: number;
  readonly #maxQueued: number;
  readonly #closeTimeout: number;
  readonly #readBuf: Uint8Array;
  #queue: Message[] = [];
  #qHead = 0;
  #queuedBytes = 0;
  #waiter: ((r: IteratorResult<Message>) => void) | undefined;
  #resumeRead: (() => void) | undefined;
  #drainWaiters: (() => void)[] = [];
  #writing = false;
  #flushQueued = false;
  #inflight = 0;
  #done = false;
  #closeInfo: CloseInfo | undefined;
  #resolveClosed!: (info: CloseInfo) => void;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #listeners: { [K in keyof WebSocketEvents]: WebSocketEvents[K][] } = { message: [], ping: [], pong: [], close: [] };
  #transportClosing = false;
  #inDispatch = false;
  readonly #kernel: SimdKernel | undefined;
  /** Synchronous libc send for plain TCP (see `fast_io.ts`), or undefined. */
  readonly #send: ((bytes: Uint8Array) => number) | undefined;
  /** io_uring's batched send for plain TCP (see `uring_io.ts`, `PBXKIT_WS_URING`), or undefined. */
  readonly #queueSend: ((bytes: Uint8Array, done: SendDone) => void) | undefined;
  /** A piece is queued on the ring and its completion has not come yet. */
  #sendQueued = false;
  /** Deno's read op without `TcpConn.read()`'s wrapper (0 at EOF), or undefined. */
  readonly #rawRead: ((buf: Uint8Array) => Promise<number>) | undefined;
  /** The epoll read path (see `epoll_io.ts`), or undefined. */
  readonly #poll: PolledReader | undefined;
  /** Waiting for the poller's next readiness event. */
  #armed = false;
  /** Inside `#pollRead` (a read asked for meanwhile loops there instead of recursing). */
  #pollReading = false;
  #pollAgain = false;

  /** Wrap a connected socket whose opening handshake is done. Starts reading at once. */
  constructor(conn: WsConn, options: WebSocketOptions = {}) {
    this.#conn = conn;
    this.#send = syncSender(conn);
    this.#queueSend = this.#send === undefined ? undefined : queuedSender(conn);
    this.#rawRead = rawReader(conn);
    const fd = (options.epoll ?? epollMode() !== "off") ? fdOf(conn) : undefined;
    this.#poll = fd === undefined ? undefined : polledReader(fd, this.#onReadable);
    const size = options.readBufferSize ?? 64 * 1024;
    // Only servers unmask (client-bound frames are unmasked), so only they take a SIMD kernel.
    this.#kernel = options.role !== "client" && size <= KERNEL_BYTES ? acquireKernel() : undefined;
    this.#proto = new Protocol({ ...options, simd: this.#kernel });
    this.protocol = options.protocol ?? "";
    this.extensions = options.extensions ?? "";
    this.request = options.request;
    this.remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.#hwm = options.highWaterMark ?? 1024 * 1024;
    this.#maxQueued = options.maxQueued ?? 64;
    this.#closeTimeout = options.closeTimeout ?? 5000;
    // The read buffer lives in the SIMD kernel's memory when there is one, so unmasking works where reads land.
    this.#readBuf = this.#kernel ? this.#kernel.bytes.subarray(0, size) : new Uint8Array(size);
    this.closed = new Promise((r) => this.#resolveClosed = r);
    // Start reading after the current task so a handler can attach listeners first.
    queueMicrotask(() => {
      try {
        this.#startReading(options.initial);
      } catch (err) {
        this.#abort(err);
      }
    });
  }

  /**
   * Deliver messages to `message` listeners as views into the read buffer, without copying them: each message's
   * bytes are valid only during the listener call. For listeners that send or copy the data at once (the echo
   * endpoint). Messages for the async iterator are still copied.
   */
  borrowMessages(): void {
    this.#proto.borrow = true;
  }

  /** True while messages can still be sent (no close frame written yet). */
  get writable(): boolean {
    return !this.#done && this.#proto.canSend;
  }

  /** The protocol state (`open`, `closing`, `closed`). */
  get readyState(): "open" | "closing" | "closed" {
    return this.#done ? "closed" : this.#proto.state === "open" ? "open" : "closing";
  }

  /** Bytes queued for sending and not yet written to the socket. */
  get bufferedAmount(): number {
    return this.#proto.bufferedAmount + this.#inflight;
  }

  /** Add a listener. */
  on<K extends keyof WebSocketEvents>(type: K, listener: WebSocketEvents[K]): this {
    this.#listeners[type].push(listener);
    if (type === "message" && this.#qHead < this.#queue.length) {
      // Hand over what arrived before the listener.
      const queued = this.#queue.slice(this.#qHead);
      this.#queue.length = 0;
      this.#qHead = 0;
      this.#queuedBytes = 0;
      for (const m of queued) this.#call(listener as WebSocketEvents["message"], m);
      if (this.#resumeRead) {
        const r = this.#resumeRead;
        this.#resumeRead = undefined;
        r();
      }
    }
    return this;
  }

  /** Remove a listener. */
  off<K extends keyof WebSocketEvents>(type: K, listener: WebSocketEvents[K]): this {
    const l = this.#listeners[type] as WebSocketEvents[K][];
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
    return this;
  }

  /**
   * Send a message: a string as text, bytes as binary (or as text with `{ text: true }` when they are valid
   * UTF-8). Resolves at once while the send backlog is under the high-water mark, else when it drains: await it
   * to apply backpressure. Throws `E_STATE` once closing.
   */
  send(data: string | Uint8Array | ArrayBuffer, options?: { text?: boolean }): Promise<void> {
    if (typeof data === "string") return this.sendBytes(encoder.encode(data), true);
    return this.sendBytes(data instanceof ArrayBuffer ? new Uint8Array(data) : data, options?.text ?? false);
  }

  /**
   * {@linkcode WebSocket.send} for bytes with a positional text flag (the echo and proxy hot path). `text` bytes
   * must be valid UTF-8 (e.g. a received text message's `bytes`).
   */
  sendBytes(bytes: Uint8Array, text: boolean): Promise<void> {
    if (this.#done || !this.#proto.canSend) {
      return Promise.reject(new PbxError("E_STATE", "cannot send: the WebSocket is closing or closed"));
    }
    this.#proto.sendBytes(bytes, text);
    this.messagesOut++;
    if (!this.#inDispatch) this.#scheduleFlush();
    if (this.#proto.bufferedAmount + this.#inflight <= this.#hwm) return RESOLVED;
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /** Send a ping (e.g. a heartbeat); the answer arrives as a `pong` event. */
  ping(data: string | Uint8Array = new Uint8Array(0)): void {
    if (this.#done || this.#proto.closeSent) return;
    this.#proto.ping(data);
    this.#scheduleFlush();
  }

  /**
   * Start the closing handshake (default 1000). Resolves when the connection has ended: the peer answered and
   * closed, or `closeTimeout` passed.
   */
  close(code: number = CloseCode.Normal, reason = ""): Promise<CloseInfo> {
    if (!this.#done && !this.#proto.closeSent) {
      this.#proto.close(code, reason);
      this.#scheduleFlush();
      this.#armCloseTimer();
    }
    return this.closed;
  }

  /** Close the socket at once without a closing handshake (1006). */
  abort(): void {
    this.#abort(new Error("aborted"));
  }

  /** Async iterator of messages; ends when the connection closes. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }

  #next(): Promise<IteratorResult<Message>> {
    if (this.#qHead < this.#queue.length) {
      const m = this.#queue[this.#qHead++];
      this.#queuedBytes -= m.bytes.length;
      if (this.#qHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#qHead = 0;
      }
      if (
        this.#resumeRead && this.#queue.length - this.#qHead <= this.#maxQueued >>> 1 &&
        this.#queuedBytes <= this.#hwm >>> 1
      ) {
        const r = this.#resumeRead;
        this.#resumeRead = undefined;
        r();
      }
      return Promise.resolve({ done: false, value: m });
    }
    if (this.#done || this.#proto.closeReceived || this.#proto.state === "closed") {
      return Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((r) => this.#waiter = r);
  }

  /** Feed the bytes read past the handshake, then start the read cycle. */
  #startReading(initial: Uint8Array | undefined): void {
    const proto = this.#proto;
    const buf = this.#readBuf;
    if (initial && initial.length > 0) {
      // Copy into the read buffer (unmasking happens in place) in pieces.
      for (let o = 0; o < initial.length; o += buf.length) {
        const part = initial.subarray(o, o + buf.length);
        buf.set(part);
        this.bytesIn += part.length;
        proto.receive(buf, part.length);
        this.#dispatch();
      }
      this.#flush();
    }
    this.#readNext();
  }

  // Reading is a callback cycle too (read -> receive -> dispatch -> start writing -> read), pausing itself for
  // backpressure: while the consumer is behind, or while the send backlog is over the high-water mark.
  #readNext = (): void => {
    if (this.#done) return;
    if (this.#proto.state === "closed") return this.#endOfInput();
    if (this.#queue.length - this.#qHead >= this.#maxQueued || this.#queuedBytes >= this.#hwm) {
      this.#resumeRead = this.#readNext;
      return;
    }
    if (this.bufferedAmount > this.#hwm) {
      this.#drainWaiters.push(this.#readNext);
      return;
    }
    const poll = this.#poll;
    if (this.#pollReading) {
      this.#pollAgain = true;
      return;
    }
    if (poll !== undefined && poll.use()) {
      if (poll.readable) this.#pollRead();
      else this.#armed = true;
      return;
    }
    this.#armed = false;
    const raw = this.#rawRead;
    (raw !== undefined ? raw(this.#readBuf) : this.#conn.read(this.#readBuf)).then(this.#onRead, this.#onReadError);
  };

  #onReadable = (): void => {
    if (!this.#armed || this.#done) return;
    this.#armed = false;
    this.#pollRead();
  };

  /** Read through the poller while data is there (a few reads; then again on a later turn of the event loop). */
  #pollRead(): void {
    const poll = this.#poll as PolledReader;
    this.#pollReading = true;
    let rounds = 0;
    try {
      do {
        this.#pollAgain = false;
        if (rounds > 0 && !poll.use()) {
          // back to Deno's read op (few connections now)
          this.#pollReading = false;
          return this.#readNext();
        }
        if (!poll.readable) {
          this.#armed = true;
          break;
        }
        const n = poll.recv(this.#readBuf);
        if (n < 0) {
          this.#armed = true;
          break;
        }
        this.#onRead(n);
      } while (this.#pollAgain && ++rounds < 4);
    } catch (err) {
      this.#pollAgain = false;
      this.#abort(err);
    } finally {
      this.#pollReading = false;
    }
    if (this.#pollAgain) {
      this.#pollAgain = false;
      setTimeout(this.#readNext, 0);
    }
  }

  #onRead = (n: number | null): void => {
    if (this.#done) return;
    const proto = this.#proto;
    try {
      if (n === null || n === 0) { // 0: end of stream from the raw read op (conn.read gives null)
        proto.receiveEof();
        return this.#endOfInput();
      }
      this.reads++;
      this.bytesIn += n;
      proto.receive(this.#readBuf, n);
      this.#inDispatch = true;
      try {
        this.#dispatch();
      } finally {
        this.#inDispatch = false;
      }
      // Start writing the answers (not awaited: the next read is issued at once).
      if (!this.#writing && proto.bufferedAmount > 0) this.#flush();
      this.#readNext();
    } catch (err) {
      this.#abort(err);
    }
  };

  #onReadError = (err: unknown): void => {
    this.#abort(err);
  };

  /** No more input (EOF, or the protocol is closed): finish, or run the close handshake's end. */
  #endOfInput(): void {
    if (this.#done) return;
    if (this.#proto.closeCode === CloseCode.Abnormal) this.#finish(false);
    else this.#closeTransport();
  }

  #dispatch(): void {
    const events = this.#proto.events();
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      switch (ev.type) {
        case "message": {
          this.messagesIn++;
          let msg = new Message(ev.data, !ev.text);
          const ls = this.#listeners.message;
          if (ls.length > 0) {
            for (const l of ls) this.#call(l, msg);
          } else if (this.#waiter) {
            const w = this.#waiter;
            this.#waiter = undefined;
            if (this.#proto.borrow) msg = new Message(ev.data.slice(), !ev.text);
            w({ done: false, value: msg });
          } else {
            if (this.#proto.borrow) msg = new Message(ev.data.slice(), !ev.text); // queued: must own its bytes
            this.#queue.push(msg);
            this.#queuedBytes += msg.bytes.length;
          }
          break;
        }
        case "ping":
          for (const l of this.#listeners.ping) this.#call(l, ev.data);
          break;
        case "pong":
          for (const l of this.#listeners.pong) this.#call(l, ev.data);
          break;
        case "close":
          wslog.debug("peer closed", { peer: this.#peer(), code: ev.code, reason: ev.reason || undefined });
          break;
        case "error":
          wslog.debug("protocol error", { peer: this.#peer(), code: ev.code, reason: ev.reason });
          break;
      }
    }
  }

  #call<A>(fn: (a: A) => void, arg: A): void {
    try {
      fn(arg);
    } catch (err) {
      wslog.warn(`listener threw: ${(err as Error).message}`, { peer: this.#peer() });
    }
  }

  #peer(): string {
    return `${this.remoteAddr.hostname}:${this.remoteAddr.port}`;
  }

  #scheduleFlush(): void {
    if (this.#flushQueued || this.#writing || this.#inDispatch) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#writing || this.#done) return;
    if (this.#proto.bufferedAmount === 0) {
      if (this.#proto.state === "closed") this.#closeTransport();
      return;
    }
    this.#writing = true;
    this.#writeBatch();
  }

  // The writer is a small callback state machine rather than an async loop: one promise per socket write and no
  // async-function frames on the per-message path.
  #pieces: Uint8Array[] = [];
  #pieceIdx = 0;
  #pieceOff = 0;

  /** Take the next batch from the protocol and write it; ends the writer when there is none. */
  #writeBatch(): void {
    if (this.#done) {
      this.#writing = false;
      return;
    }
    const pieces = this.#proto.dataToSend();
    if (pieces.length === 0) return this.#endWriter();
    this.#startBatch(pieces);
    this.#writePiece();
  }

  #startBatch(pieces: Uint8Array[]): void {
    let total = 0;
    for (let i = 0; i < pieces.length; i++) total += pieces[i].length;
    this.#inflight = total;
    this.#pieces = pieces;
    this.#pieceIdx = 0;
    this.#pieceOff = 0;
  }

  /** Nothing left to write: the writer stops (wakes drain waiters, finishes a close). */
  #endWriter(): void {
    this.#writing = false;
    this.#inflight = 0;
    if (this.#drainWaiters.length > 0 && this.bufferedAmount <= this.#hwm) this.#wakeDrain();
    if (this.#proto.state === "closed") this.#closeTransport();
  }

  #writePiece(): void {
    const queue = this.#queueSend;
    if (queue !== undefined && (this.#poll?.watched === true || URING_ALWAYS)) {
      // queued on the ring; the poller's turn (or a microtask) submits it with the other sockets' sends
      const p = this.#pieces[this.#pieceIdx];
      const o = this.#pieceOff;
      this.#sendQueued = true;
      queue(o === 0 ? p : p.subarray(o), this.#onSent);
      return;
    }
    const send = this.#send;
    if (send !== undefined) {
      // Synchronous send while the kernel takes whole pieces; the first short write goes on with conn.write().
      for (;;) {
        const p = this.#pieces[this.#pieceIdx];
        const o = this.#pieceOff;
        const n = send(o === 0 ? p : p.subarray(o));
        this.#pieceOff += n;
        this.bytesOut += n;
        if (this.#pieceOff < p.length) break;
        this.#inflight -= p.length;
        this.#pieceOff = 0;
        if (++this.#pieceIdx < this.#pieces.length) continue;
        if (this.#drainWaiters.length > 0 && this.bufferedAmount <= this.#hwm) this.#wakeDrain();
        // the next batch (usually none: the writer ends here without a promise)
        const pieces = this.#done ? [] : this.#proto.dataToSend();
        if (pieces.length === 0) return this.#endWriter();
        this.#startBatch(pieces);
      }
    }
    const p = this.#pieces[this.#pieceIdx];
    const o = this.#pieceOff;
    this.#conn.write(o === 0 ? p : p.subarray(o)).then(this.#onWritten, this.#onWriteError);
  }

  /** A queued send completed: `res` bytes taken, or none (0, a negative errno): then `conn.write()` goes on. */
  #onSent = (res: number): void => {
    this.#sendQueued = false;
    if (this.#done) {
      this.#writing = false;
      return;
    }
    if (res > 0) return this.#onWritten(res);
    const p = this.#pieces[this.#pieceIdx];
    const o = this.#pieceOff;
    this.#conn.write(o === 0 ? p : p.subarray(o)).then(this.#onWritten, this.#onWriteError);
  };

  #onWritten = (n: number): void => {
    try {
      const p = this.#pieces[this.#pieceIdx];
      this.#pieceOff += n;
      this.bytesOut += n;
      if (this.#pieceOff < p.length) return this.#writePiece();
      this.#inflight -= p.length;
      this.#pieceOff = 0;
      if (++this.#pieceIdx < this.#pieces.length) return this.#writePiece();
      if (this.#drainWaiters.length > 0 && this.bufferedAmount <= this.#hwm) this.#wakeDrain();
      this.#writeBatch();
    } catch (err) {
      this.#onWriteError(err);
    }
  };

  #onWriteError = (err: unknown): void => {
    this.#writing = false;
    this.#inflight = 0;
    this.#abort(err);
  };

  #wakeDrain(): void {
    const ws = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of ws) w();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      if (!this.#done) this.#finish(false);
    }, this.#closeTimeout);
  }

  /**
   * The close exchange is done (or we failed the connection): once our close frame is written, half-close
   * (FIN), read and discard until the peer's FIN (bounded by closeTimeout), then close the socket.
   */
  async #closeTransport(): Promise<void> {
    if (this.#transportClosing || this.#done) return;
    if (this.#writing || this.#proto.bufferedAmount > 0) return; // the write loop calls again when done
    this.#transportClosing = true;
    this.#armCloseTimer();
    const conn = this.#conn;
    try {
      await conn.closeWrite?.();
    } catch { /* already gone */ }
    try {
      const scratch = this.#readBuf;
      for (;;) {
        const n = await conn.read(scratch);
        if (n === null) break;
      }
    } catch { /* reset or closed by the timer */ }
    this.#finish(this.#proto.closeSent && this.#proto.closeReceived);
  }

  #abort(err: unknown): void {
    if (this.#done) return;
    if (
      !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset ||
        err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.Interrupted ||
        (err as Error)?.message === "aborted")
    ) {
      wslog.debug(`connection error: ${(err as Error)?.message ?? err}`, { peer: this.#peer() });
    }
    this.#finish(false);
  }

  #finish(clean: boolean): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    // a send still queued on the ring goes (or fails) now, while its fd and buffer are still this connection's
    if (this.#sendQueued) flushSends();
    this.#poll?.close();
    closeQuietly(this.#conn);
    if (this.#kernel) releaseKernel(this.#kernel);
    const p = this.#proto;
    p.release();
    const info: CloseInfo = p.closeReceived || p.closeCode !== undefined
      ? { code: p.closeCode ?? CloseCode.Abnormal, reason: p.closeReason, wasClean: clean }
      : { code: CloseCode.Abnormal, reason: "", wasClean: false };
    this.#closeInfo = info;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w({ done: true, value: undefined });
    }
    if (this.#resumeRead) this.#resumeRead();
    this.#wakeDrain();
    for (const l of this.#listeners.close) this.#call(l, info);
    this.#resolveClosed(info);
  }

  /** The code of the close frame this side sent (1005 when it had none), or undefined when none was sent. */
  get closeSentCode(): number | undefined {
    return this.#proto.closeSentCode;
  }

  /** The code of the peer's close frame (1005 when it had none), or 1006 when none arrived. */
  get closeReceivedCode(): number {
    const p = this.#proto;
    return p.closeReceived ? p.closeCode ?? CloseCode.Abnormal : CloseCode.Abnormal;
  }

  /** How the connection ended (undefined while open). */
  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }
}
