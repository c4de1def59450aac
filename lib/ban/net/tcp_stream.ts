/**
 * TCP stream reassembly and SIP message framing for `pbxkit ban`: segments of one direction of a flow are put in
 * sequence order (retransmissions trimmed, out-of-order segments held briefly), and the byte stream is cut into SIP
 * messages by their Content-Length: several messages in one segment, one message across several segments.
 * Everything is bounded (flows, bytes per flow, held segments) so a hostile stream cannot exhaust memory.
 *
 * @module
 */

import { findContentLength, findHeaderEnd } from "../sip_parse.ts";

/** Receives each framed message: `buf[off..end)`. */
export type MessageSink = (buf: Uint8Array, off: number, end: number) => void;

/** Counters of the reassembler. */
export interface TcpStats {
  /** Segments with payload seen. */
  segments: number;
  /** Messages framed. */
  messages: number;
  /** Retransmitted bytes dropped (segments fully seen before). */
  retransmissions: number;
  /** Times a gap was skipped (lost segment) and the stream resynchronized. */
  gaps: number;
  /** Buffers dropped for exceeding the per-flow limit or bad framing. */
  overflows: number;
  /** Flows evicted because the table was full. */
  evicted: number;
}

interface Flow {
  next: number; // next expected sequence number (uint32)
  buf: Uint8Array; // unframed bytes
  len: number;
  ooo: Map<number, Uint8Array>; // out-of-order segments by seq
  oooBytes: number;
  lastTs: number;
  synced: boolean; // the buffer starts at a message boundary
}

/** Options for {@linkcode TcpReassembler}. */
export interface TcpOptions {
  /** Flows tracked at most (default 4096). */
  maxFlows?: number;
  /** Unframed plus held bytes per flow at most (default 256 KiB). */
  maxFlowBytes?: number;
  /** Forget flows idle for this much packet time (default 5 min). */
  idleMs?: number;
}

const SIP20 = [83, 73, 80, 47, 50, 46, 48, 32]; // "SIP/2.0 "

/** Reassembles TCP flows and frames SIP messages. */
export class TcpReassembler {
  /** Counters. */
  readonly stats: TcpStats = { segments: 0, messages: 0, retransmissions: 0, gaps: 0, overflows: 0, evicted: 0 };
  #flows = new Map<string, Flow>();
  #maxFlows: number;
  #maxBytes: number;
  #idle: number;
  #sink: MessageSink;

  /** Make a reassembler that hands each framed message to `sink`. */
  constructor(sink: MessageSink, options: TcpOptions = {}) {
    this.#sink = sink;
    this.#maxFlows = options.maxFlows ?? 4096;
    this.#maxBytes = options.maxFlowBytes ?? 256 * 1024;
    this.#idle = options.idleMs ?? 300_000;
  }

  /** Flows tracked. */
  get size(): number {
    return this.#flows.size;
  }

  /**
   * One segment of flow `key`: sequence number `seq`, TCP `flags` (SYN 0x02, FIN 0x01, RST 0x04) and payload
   * `buf[off..end)`. Framed messages go to the sink before this returns.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  segment(key: string, seq: number, flags: number, buf: Uint8Array, off: number, end: number, ts: number): void {
    const syn = (flags & 0x02) !== 0, fin = (flags & 0x01) !== 0, rst = (flags & 0x04) !== 0;
    let flow = this.#flows.get(key);
    if (syn) {
      if (flow) this.#flows.delete(key);
      flow = this.#newFlow(key, (seq + 1) >>> 0, ts);
      flow.synced = true;
      seq = (seq + 1) >>> 0;
    }
    const n = end - off;
    if (n > 0) {
      this.stats.segments++;
      if (!flow) flow = this.#newFlow(key, seq, ts);
      flow.lastTs = ts;
      const diff = (seq - flow.next) | 0;
      if (diff === 0) {
        this.#deliver(flow, buf, off, end);
        this.#drainOoo(flow);
      } else if (diff < 0) {
        if (n + diff > 0) {
          this.#deliver(flow, buf, off - diff, end);
          this.#drainOoo(flow);
        } else this.stats.retransmissions++;
      } else {
        if (!flow.ooo.has(seq)) {
          flow.ooo.set(seq, buf.slice(off, end));
          flow.oooBytes += n;
        }
        if (flow.ooo.size > 32 || flow.oooBytes + flow.len > this.#maxBytes) this.#skipGap(flow);
      }
    }
    if (fin || rst) this.#flows.delete(key);
  }

  /**
   * Bytes `[seq, seq+len)` of flow `key` were not captured (cut by the snap length): drop any partial message and
   * resynchronize after them.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  skip(key: string, seq: number, len: number): void {
    const flow = this.#flows.get(key);
    if (!flow || flow.next !== seq) return;
    this.stats.gaps++;
    flow.next = (seq + len) >>> 0;
    flow.len = 0;
    flow.synced = false;
    this.#drainOoo(flow);
  }

  /** Forget flows idle for longer than the idle limit at packet time `ts`. */
  expire(ts: number): void {
    for (const [k, f] of this.#flows) if (ts - f.lastTs > this.#idle) this.#flows.delete(k);
  }

  #newFlow(key: string, next: number, ts: number): Flow {
    if (this.#flows.size >= this.#maxFlows) {
      this.expire(ts);
      if (this.#flows.size >= this.#maxFlows) {
        this.#flows.delete(this.#flows.keys().next().value as string);
        this.stats.evicted++;
      }
    }
    const f: Flow = { next, buf: new Uint8Array(0), len: 0, ooo: new Map(), oooBytes: 0, lastTs: ts, synced: false };
    this.#flows.set(key, f);
    return f;
  }

  #drainOoo(flow: Flow): void {
    while (flow.ooo.size > 0) {
      let progressed = false;
      for (const [s, data] of flow.ooo) {
        const diff = (s - flow.next) | 0;
        if (diff > 0) continue;
        flow.ooo.delete(s);
        flow.oooBytes -= data.length;
        if (data.length + diff > 0) this.#deliver(flow, data, -diff, data.length);
        progressed = true;
      }
      if (!progressed) return;
    }
  }

  #skipGap(flow: Flow): void {
    // A segment is lost: drop the partial message and continue from the lowest held segment, resynchronizing.
    this.stats.gaps++;
    flow.len = 0;
    flow.synced = false;
    let best = -1, bestDiff = Infinity;
    for (const s of flow.ooo.keys()) {
      const d = (s - flow.next) | 0;
      if (d < bestDiff) {
        bestDiff = d;
        best = s;
      }
    }
    if (best >= 0) flow.next = best;
    this.#drainOoo(flow);
  }

  /** Append in-order bytes and frame. */
  #deliver(flow: Flow, buf: Uint8Array, off: number, end: number): void {
    flow.next = (flow.next + (end - off)) >>> 0;
    if (flow.len === 0) {
      // Fast path: frame straight from the segment, keep only the tail.
      const used = this.#frame(flow, buf, off, end);
      if (used < end) this.#keep(flow, buf, used, end);
      return;
    }
    this.#keep(flow, buf, off, end);
    const used = this.#frame(flow, flow.buf, 0, flow.len);
    if (used > 0) {
      flow.buf.copyWithin(0, used, flow.len);
      flow.len -= used;
    }
  }

  #keep(flow: Flow, buf: Uint8Array, off: number, end: number): void {
    const n = end - off;
    if (flow.len + n > this.#maxBytes) {
      this.stats.overflows++;
      flow.len = 0;
      flow.synced = false;
      return;
    }
    if (flow.buf.length < flow.len + n) {
      const nb = new Uint8Array(Math.max(flow.len + n, flow.buf.length * 2, 2048));
      nb.set(flow.buf.subarray(0, flow.len));
      flow.buf = nb;
    }
    flow.buf.set(buf.subarray(off, end), flow.len);
    flow.len += n;
  }

  /** Frame whole messages from `buf[off..end)`; returns the index where unframed bytes start. */
  #frame(flow: Flow, buf: Uint8Array, off: number, end: number): number {
    let p = off;
    while (p < end) {
      // keep-alives between messages: CRLF pings
      while (p < end && (buf[p] === 13 || buf[p] === 10)) p++;
      if (p >= end) return end;
      if (!flow.synced) {
        const s = this.#resync(buf, p, end);
        if (s < 0) return Math.max(p, end - 16); // keep a little in case the start line straddles segments
        p = s;
        flow.synced = true;
      }
      const hdrEnd = findHeaderEnd(buf, p, end);
      if (hdrEnd < 0) {
        if (end - p > 64 * 1024) {
          this.stats.overflows++;
          flow.synced = false;
          return end;
        }
        return p;
      }
      let cl = findContentLength(buf, p, hdrEnd);
      if (cl === -2) {
        this.stats.overflows++;
        flow.synced = false;
        p = hdrEnd;
        continue;
      }
      if (cl < 0) cl = 0;
      if (hdrEnd + cl > end) {
        if (hdrEnd - p + cl > this.#maxBytes) {
          this.stats.overflows++;
          flow.synced = false;
          return end;
        }
        return p;
      }
      this.stats.messages++;
      this.#sink(buf, p, hdrEnd);
      p = hdrEnd + cl;
    }
    return p;
  }

  /** Find a plausible message start ("SIP/2.0 " at a line start) in `buf[p..end)`, or -1. */
  #resync(buf: Uint8Array, p: number, end: number): number {
    for (let i = p; i + 8 <= end; i++) {
      if (i !== p && buf[i - 1] !== 10) continue;
      let ok = true;
      for (let k = 0; k < 8; k++) {
        if (buf[i + k] !== SIP20[k]) {
          ok = false;
          break;
        }
      }
      if (ok) return i;
      // a request line also starts a message: TOKEN SP ... SIP/2.0 CRLF
      const eol = buf.indexOf(10, i);
      if (eol > i + 8 && eol < end) {
        const e = buf[eol - 1] === 13 ? eol - 1 : eol;
        if (e - 8 >= i && buf[e - 8] === 32 && buf[e - 7] === 83 && buf[e - 6] === 73 && buf[e - 5] === 80) return i;
      }
    }
    return -1;
  }
}
