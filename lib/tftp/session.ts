/**
 * Sans-I/O TFTP transfer state machines for the server side: {@linkcode ReadSession} sends a file (RRQ), with
 * option negotiation (RFC 2347), blksize (RFC 2348), tsize and timeout (RFC 2349) and windowsize (RFC 7440, with
 * go-back-N retransmission from the first unacknowledged block); {@linkcode WriteSession} receives one (WRQ).
 * They take packets and clock ticks and give packets to send; no sockets, no files, no timers.
 *
 * Block numbers are 16 bits on the wire and roll over to 0; the sessions count blocks absolutely inside.
 *
 * @module
 */

import { blockOf, encodeAck, encodeError, encodeOack, ERR, OP, opcode, parseError, writeDataHeader } from "./packet.ts";

/** Server limits and defaults for negotiation. */
export interface SessionConfig {
  /** Largest blksize granted (default 65464, the RFC 2348 maximum). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Retransmission timeout when the client does not ask for one (default 1000 ms). */
  timeoutMs?: number;
  /** Retransmissions of the same packet before giving up (default 5). */
  retries?: number;
}

/** Negotiated transfer parameters. */
export interface Negotiated {
  /** Data bytes per DATA packet (default 512). */
  blksize: number;
  /** DATA packets sent before waiting for an ACK (default 1). */
  windowsize: number;
  /**
   * Retransmission timeout in milliseconds: the client's `timeout` option, else `SessionConfig.timeoutMs` (default
   * 1000).
   */
  timeoutMs: number;
  /** The options to put in the OACK (empty: no OACK, start directly). */
  oack: Map<string, string>;
}

/** Transfer states. */
export type SessionState = "oack" | "transfer" | "done" | "failed";

/**
 * Negotiate RFC 2347/2348/2349/7440 options. Unknown options and invalid values are ignored (left out of the OACK),
 * as RFC 2347 says. `tsize` is answered with `size` for reads and echoed for writes.
 */
export function negotiate(
  options: ReadonlyMap<string, string>,
  size: number | undefined,
  config: SessionConfig = {},
): Negotiated {
  const oack = new Map<string, string>();
  let blksize = 512, windowsize = 1, timeoutMs = config.timeoutMs ?? 1000;
  const int = (v: string) => (/^\d{1,10}$/.test(v) ? Number(v) : NaN);
  for (const [k, v] of options) {
    const n = int(v);
    if (k === "blksize" && n >= 8) {
      blksize = Math.min(n, 65464, config.maxBlksize ?? 65464);
      oack.set(k, String(blksize));
    } else if (k === "windowsize" && n >= 1 && n <= 65535) {
      windowsize = Math.min(n, config.maxWindowsize ?? 64);
      oack.set(k, String(windowsize));
    } else if (k === "timeout" && n >= 1 && n <= 255) {
      timeoutMs = n * 1000;
      oack.set(k, String(n));
    } else if (k === "tsize" && Number.isFinite(n)) {
      oack.set(k, String(size ?? n));
    }
  }
  return { blksize, windowsize, timeoutMs, oack };
}

/**
 * A packet neither session expects at this point: the client's ERROR ends the transfer without a reply, anything
 * else ends it with an "illegal operation" reply. Returns why (for the session's error) and the packets to send.
 */
function strayPacket(p: Uint8Array, op: number): { why: string; reply: Uint8Array[] } {
  if (op === OP.ERROR) {
    const e = parseError(p);
    return { why: `client sent error ${e.code}: ${e.message || "(no message)"}`, reply: [] };
  }
  return {
    why: `unexpected packet (opcode ${op}, ${p.length} bytes)`,
    reply: [encodeError(ERR.ILLEGAL_OP, "unexpected packet")],
  };
}

/** How a read transfer ended, as the server logs and reports it (from either engine). */
export interface ReadOutcome {
  /** Final state (`done` or `failed`). */
  state: string;
  /** Why it failed. */
  error?: string;
  /** Bytes delivered: the whole file when done, else the bytes the client acknowledged. */
  bytes: number;
  /** Negotiated block size in bytes. */
  blksize: number;
  /** Negotiated window size in blocks. */
  windowsize: number;
  /** DATA blocks sent more than once. */
  retransmits: number;
}

/** The outcome of a finished {@linkcode ReadSession}. */
export function readOutcome(s: ReadSession): ReadOutcome {
  return {
    state: s.state,
    error: s.error,
    bytes: s.state === "done" ? s.size : s.bytesAcked,
    blksize: s.params.blksize,
    windowsize: s.params.windowsize,
    retransmits: s.stats.retransmits,
  };
}

/** The outcome of a read transfer that failed before a session ran (defaults: blksize 512, windowsize 1). */
export function failedReadOutcome(error: string): ReadOutcome {
  return { state: "failed", error, bytes: 0, blksize: 512, windowsize: 1, retransmits: 0 };
}

/** Where a read transfer's bytes come from: a fixed size and synchronous positioned reads. */
export interface BlockSource {
  /** Total bytes. */
  readonly size: number;
  /** Fill `into` with the bytes at `offset`; returns how many were read (throws or returns short on trouble). */
  read(offset: number, into: Uint8Array): number;
}

/** A {@linkcode BlockSource} over bytes in memory. */
export function bytesSource(data: Uint8Array): BlockSource {
  return {
    size: data.length,
    read(offset, into) {
      const n = Math.min(into.length, data.length - offset);
      into.set(data.subarray(offset, offset + n));
      return n;
    },
  };
}

/**
 * Sending a file: call {@linkcode ReadSession.start}, then {@linkcode ReadSession.receive} for each packet from the
 * client and {@linkcode ReadSession.timeout} when {@linkcode ReadSession.deadline} passes. Each returns packets to
 * send in order. Returned DATA packets live in buffers the session reuses: send them before the next call.
 */
export class ReadSession {
  /** Negotiated parameters. */
  readonly params: Negotiated;
  #src: BlockSource;
  #size: number;
  #state: SessionState;
  #lastBlock: number;
  #base = 1; // first unacknowledged block
  #next = 1; // next block to send
  #slots: Uint8Array[];
  #retries = 0;
  #maxRetries: number;
  #deadline = 0;
  #error: string | undefined;
  #sentPackets = 0;
  #retransmits = 0;

  /**
   * A session sending `data` (bytes already converted for netascii when needed, or a {@linkcode BlockSource} read
   * block by block) with the client's options.
   */
  constructor(data: Uint8Array | BlockSource, options: ReadonlyMap<string, string>, config: SessionConfig = {}) {
    this.#src = data instanceof Uint8Array ? bytesSource(data) : data;
    this.#size = this.#src.size;
    this.params = negotiate(options, this.#size, config);
    this.#lastBlock = Math.floor(this.#size / this.params.blksize) + 1;
    this.#state = this.params.oack.size ? "oack" : "transfer";
    this.#maxRetries = config.retries ?? 5;
    const n = Math.min(this.params.windowsize, this.#lastBlock);
    this.#slots = Array.from({ length: n }, () => new Uint8Array(4 + this.params.blksize));
  }

  /** Current state. */
  get state(): SessionState {
    return this.#state;
  }
  /** True while the transfer is going on. */
  get active(): boolean {
    return this.#state === "oack" || this.#state === "transfer";
  }
  /** When (same clock as the `now` arguments) {@linkcode timeout} should be called. */
  get deadline(): number {
    return this.#deadline;
  }
  /** Why the transfer failed. */
  get error(): string | undefined {
    return this.#error;
  }
  /** Bytes the client has acknowledged. */
  get bytesAcked(): number {
    return Math.min((this.#base - 1) * this.params.blksize, this.#size);
  }
  /** Total bytes to send. */
  get size(): number {
    return this.#size;
  }
  /** DATA packets sent, and how many of them were retransmissions. */
  get stats(): { packets: number; retransmits: number } {
    return { packets: this.#sentPackets, retransmits: this.#retransmits };
  }

  /** The first packets: the OACK, or the first window of DATA. */
  start(now: number): Uint8Array[] {
    this.#deadline = now + this.params.timeoutMs;
    if (this.#state === "oack") return [encodeOack(this.params.oack)];
    return this.#window(now, false);
  }

  #window(now: number, retransmit: boolean): Uint8Array[] {
    const { blksize } = this.params;
    const end = Math.min(this.#base + this.params.windowsize - 1, this.#lastBlock);
    const out: Uint8Array[] = [];
    for (let b = this.#base, i = 0; b <= end; b++, i++) {
      const off = (b - 1) * blksize;
      const len = Math.min(blksize, this.#size - off);
      const slot = this.#slots[i];
      writeDataHeader(slot, b & 0xffff);
      let got: number;
      try {
        got = len > 0 ? this.#src.read(off, slot.subarray(4, 4 + len)) : 0;
      } catch (err) {
        got = -1;
        this.#fail(`read failed: ${(err as Error)?.message ?? err}`);
      }
      if (got !== len) {
        if (got >= 0) this.#fail("the file changed size during the transfer");
        return [encodeError(ERR.UNDEFINED, "server read error")];
      }
      out.push(slot.subarray(0, 4 + len));
    }
    if (retransmit || end < this.#next) this.#retransmits += Math.min(end, this.#next - 1) - this.#base + 1;
    this.#sentPackets += out.length;
    this.#next = Math.max(this.#next, end + 1);
    this.#deadline = now + this.params.timeoutMs;
    return out;
  }

  /** Handle a packet from the client's address and port. */
  receive(p: Uint8Array, now: number): Uint8Array[] {
    if (!this.active) return [];
    const op = opcode(p);
    if (op === OP.ACK && p.length >= 4) {
      const w = blockOf(p);
      if (this.#state === "oack") {
        if (w !== 0) return [];
        this.#state = "transfer";
        this.#retries = 0;
        return this.#window(now, false);
      }
      const acked = this.#base - 1;
      const delta = (w - acked) & 0xffff;
      if (delta === 0 || delta > this.#next - 1 - acked) return []; // duplicate or stale ACK: wait for the timer
      const abs = acked + delta;
      this.#base = abs + 1;
      this.#retries = 0;
      if (abs >= this.#lastBlock) {
        this.#state = "done";
        return [];
      }
      // A partial-window ACK means the client lost the block after it: go back to it (RFC 7440).
      return this.#window(now, this.#base < this.#next);
    }
    const stray = strayPacket(p, op);
    this.#fail(stray.why);
    return stray.reply;
  }

  /** End the transfer from outside (server shutting down). */
  abort(why: string): void {
    if (this.active) this.#fail(why);
  }

  /** The deadline passed: retransmit the OACK or the window, or give up after the retries. */
  timeout(now: number): Uint8Array[] {
    if (!this.active) return [];
    if (++this.#retries > this.#maxRetries) {
      this.#fail(`timed out after ${this.#maxRetries} retransmissions`);
      return [];
    }
    if (this.#state === "oack") {
      this.#deadline = now + this.params.timeoutMs;
      return [encodeOack(this.params.oack)];
    }
    return this.#window(now, true);
  }

  #fail(why: string): void {
    this.#state = "failed";
    this.#error = why;
  }
}

/** Options for {@linkcode WriteSession}. */
export interface WriteConfig extends SessionConfig {
  /** Refuse uploads larger than this (default 1 GiB), with "disk full". */
  maxSize?: number;
}

/**
 * Receiving a file (WRQ): ACKs every `windowsize` blocks (and on the last block), re-ACKs the last in-order block
 * on a duplicate or a gap. Payloads are handed out with {@linkcode WriteSession.take} (copies; the caller writes them).
 */
export class WriteSession {
  /** Negotiated parameters. */
  readonly params: Negotiated;
  #state: SessionState = "transfer";
  #expected = 1;
  #inWindow = 0;
  #received = 0;
  #chunks: Uint8Array[] = [];
  #lastSent: Uint8Array;
  #retries = 0;
  #maxRetries: number;
  #maxSize: number;
  #deadline = 0;
  #error: string | undefined;
  #errorPacket: Uint8Array | undefined;

  /** A session receiving a file with the client's options. */
  constructor(options: ReadonlyMap<string, string>, config: WriteConfig = {}) {
    this.params = negotiate(options, undefined, config);
    this.#maxRetries = config.retries ?? 5;
    this.#maxSize = config.maxSize ?? 1 << 30;
    this.#lastSent = this.params.oack.size ? encodeOack(this.params.oack) : encodeAck(0);
    const tsize = Number(options.get("tsize"));
    if (Number.isFinite(tsize) && tsize > this.#maxSize) {
      this.#errorPacket = encodeError(ERR.DISK_FULL, `file too large (limit ${this.#maxSize} bytes)`);
      this.#fail(`announced size ${tsize} is over the limit`);
    }
  }

  /** Current state. */
  get state(): SessionState {
    return this.#state;
  }
  /** True while receiving. */
  get active(): boolean {
    return this.#state === "transfer";
  }
  /** When {@linkcode timeout} should be called. */
  get deadline(): number {
    return this.#deadline;
  }
  /** Why it failed. */
  get error(): string | undefined {
    return this.#error;
  }
  /** Bytes received in order. */
  get bytesReceived(): number {
    return this.#received;
  }

  /** The first packet: ACK 0 or the OACK (or an error when the announced size is refused). */
  start(now: number): Uint8Array[] {
    this.#deadline = now + this.params.timeoutMs;
    if (this.#errorPacket) return [this.#errorPacket];
    return [this.#lastSent];
  }

  /** Payload bytes received since the last call, in order. */
  take(): Uint8Array[] {
    const c = this.#chunks;
    this.#chunks = [];
    return c;
  }

  /** Handle a packet from the client's address and port. */
  receive(p: Uint8Array, now: number): Uint8Array[] {
    if (this.#state === "done") {
      // Dallying: the final ACK was lost and the client resent the last block.
      return opcode(p) === OP.DATA ? [this.#lastSent] : [];
    }
    if (!this.active) return [];
    const op = opcode(p);
    if (op === OP.DATA && p.length >= 4) {
      const w = blockOf(p);
      if (w !== (this.#expected & 0xffff)) {
        this.#inWindow = 0;
        this.#lastSent = encodeAck((this.#expected - 1) & 0xffff);
        this.#deadline = now + this.params.timeoutMs;
        return [this.#lastSent];
      }
      const payload = p.subarray(4);
      if (payload.length > this.params.blksize) {
        this.#fail("DATA larger than the negotiated blksize");
        return [encodeError(ERR.ILLEGAL_OP, "DATA larger than blksize")];
      }
      this.#received += payload.length;
      if (this.#received > this.#maxSize) {
        this.#fail("upload over the size limit");
        return [encodeError(ERR.DISK_FULL, `file too large (limit ${this.#maxSize} bytes)`)];
      }
      this.#chunks.push(payload.slice());
      this.#retries = 0;
      const last = payload.length < this.params.blksize;
      this.#expected++;
      if (last || ++this.#inWindow >= this.params.windowsize) {
        this.#inWindow = 0;
        this.#lastSent = encodeAck(w);
        this.#deadline = now + this.params.timeoutMs;
        if (last) this.#state = "done";
        return [this.#lastSent];
      }
      this.#deadline = now + this.params.timeoutMs;
      return [];
    }
    const stray = strayPacket(p, op);
    this.#fail(stray.why);
    return stray.reply;
  }

  /** The deadline passed: re-send the last ACK/OACK, or give up. */
  timeout(now: number): Uint8Array[] {
    if (!this.active) return [];
    if (++this.#retries > this.#maxRetries) {
      this.#fail(`timed out after ${this.#maxRetries} retransmissions`);
      return [];
    }
    this.#inWindow = 0;
    this.#deadline = now + this.params.timeoutMs;
    return [this.#lastSent];
  }

  #fail(why: string): void {
    this.#state = "failed";
    this.#error = why;
  }
}
