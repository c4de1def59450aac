/**
 * IP fragment reassembly (IPv4 and IPv6), bounded: at most `maxDatagrams` in flight, each at most 65535 bytes,
 * dropped after `timeoutMs` of packet time. Overlapping fragments drop the whole datagram (RFC 5722 style), so a
 * hostile overlap can never rewrite bytes that were already seen.
 *
 * @module
 */

interface Part {
  off: number;
  data: Uint8Array;
}

interface Pending {
  parts: Part[];
  total: number; // -1 until the last fragment arrives
  bytes: number;
  firstTs: number;
}

/** Counters of the reassembler. */
export interface FragStats {
  /** Fragments seen. */
  fragments: number;
  /** Datagrams completed. */
  reassembled: number;
  /** Datagrams dropped (overlap, too large, timeout, table full). */
  dropped: number;
}

/** Options for {@linkcode FragReassembler}. */
export interface FragOptions {
  /** Datagrams in flight at most (default 1024). */
  maxDatagrams?: number;
  /** Give up on a datagram after this much packet time (default 30 s). */
  timeoutMs?: number;
}

/** Reassembles fragments keyed by the caller (source, destination, id, protocol). */
export class FragReassembler {
  /** Counters. */
  readonly stats: FragStats = { fragments: 0, reassembled: 0, dropped: 0 };
  #pending = new Map<string, Pending>();
  #max: number;
  #timeout: number;

  /** Make a reassembler. */
  constructor(options: FragOptions = {}) {
    this.#max = options.maxDatagrams ?? 1024;
    this.#timeout = options.timeoutMs ?? 30_000;
  }

  /** Datagrams in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Add the fragment `data` at byte offset `off`; `more` is the More Fragments flag. Returns the whole payload when
   * this fragment completes the datagram, else undefined. `data` is copied.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  add(key: string, off: number, more: boolean, data: Uint8Array, ts: number): Uint8Array | undefined {
    this.stats.fragments++;
    let p = this.#pending.get(key);
    if (p && ts - p.firstTs > this.#timeout) {
      this.#pending.delete(key);
      this.stats.dropped++;
      p = undefined;
    }
    if (!p) {
      if (this.#pending.size >= this.#max) this.expire(ts);
      if (this.#pending.size >= this.#max) {
        // evict the oldest
        const first = this.#pending.keys().next().value as string;
        this.#pending.delete(first);
        this.stats.dropped++;
      }
      p = { parts: [], total: -1, bytes: 0, firstTs: ts };
      this.#pending.set(key, p);
    }
    const end = off + data.length;
    if (end > 65535 || (!more && p.total >= 0) || (p.total >= 0 && end > p.total) || (more && data.length === 0)) {
      this.#pending.delete(key);
      this.stats.dropped++;
      return undefined;
    }
    for (const q of p.parts) {
      if (off < q.off + q.data.length && q.off < end) {
        this.#pending.delete(key);
        this.stats.dropped++;
        return undefined;
      }
    }
    if (!more) {
      p.total = end;
      for (const q of p.parts) {
        if (q.off + q.data.length > end) {
          this.#pending.delete(key);
          this.stats.dropped++;
          return undefined;
        }
      }
    }
    p.parts.push({ off, data: data.slice() });
    p.bytes += data.length;
    if (p.total < 0 || p.bytes !== p.total) return undefined;
    const out = new Uint8Array(p.total);
    for (const q of p.parts) out.set(q.data, q.off);
    this.#pending.delete(key);
    this.stats.reassembled++;
    return out;
  }

  /** Drop datagrams older than the timeout at packet time `ts`. */
  expire(ts: number): void {
    for (const [k, p] of this.#pending) {
      if (ts - p.firstTs > this.#timeout) {
        this.#pending.delete(k);
        this.stats.dropped++;
      }
    }
  }
}
