/**
 * Dirty tracking for the seed model: the entries holding an acknowledged write not yet on disk, as a doubly linked
 * list in acknowledgement order (oldest first) over the entry indices, with the time each became unwritten, so
 * write-back policies flush by age and the model reports the unwritten blocks over time.
 *
 * @module
 */

/** Acknowledged-but-unwritten entries in acknowledgement order. Hot path: plain fields. */
export class DirtyList {
  /** 1 when the entry holds an acknowledged write not yet on disk. */
  readonly acked: Uint8Array;
  /** When the entry became unwritten (µs). */
  readonly since: Float64Array;
  /** Previous entry in the list (-1 = first). */
  readonly prev: Int32Array;
  /** Next entry in the list (-1 = last). */
  readonly next: Int32Array;
  /** Oldest entry (-1 = empty). */
  head = -1;
  /** Newest entry (-1 = empty). */
  tail = -1;
  /** Entries in the list. */
  count = 0;
  /** Peak of `count`. */
  max = 0;

  /** A list over `capacity` entries. */
  constructor(capacity: number) {
    this.acked = new Uint8Array(capacity);
    this.since = new Float64Array(capacity);
    this.prev = new Int32Array(capacity).fill(-1);
    this.next = new Int32Array(capacity).fill(-1);
  }

  /** Entry `s` holds an acknowledged write at time `now`: append it unless it is already listed. */
  add(s: number, now: number): void {
    if (this.acked[s]) return;
    this.acked[s] = 1;
    this.since[s] = now;
    this.prev[s] = this.tail;
    this.next[s] = -1;
    if (this.tail >= 0) this.next[this.tail] = s;
    else this.head = s;
    this.tail = s;
    this.count++;
    if (this.count > this.max) this.max = this.count;
  }

  /** Entry `s` is on disk: unlink it (nothing when it is not listed). */
  remove(s: number): void {
    if (!this.acked[s]) return;
    this.acked[s] = 0;
    const p = this.prev[s], n = this.next[s];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.count--;
  }
}
