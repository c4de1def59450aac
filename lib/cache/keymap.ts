/**
 * An open-addressing hash map from integer keys (0 ≤ key < 2^53) to int32 values, stored in one typed array:
 * slot `i` holds its key at `2i` and its value at `2i + 1`, so a probe reads one cache line. Linear probing at
 * most 1/3 full, backward-shift deletion (no tombstones), no allocation per operation. Grows by doubling.
 *
 * @module
 */

/** Value returned by {@linkcode KeyMap.get} for an absent key. */
export const ABSENT = -1;

/** Integer-keyed hash map on a typed array. */
export class KeyMap {
  /** Interleaved slots: key at 2i, value (or ABSENT) at 2i + 1. */
  #slots: Float64Array;
  #mask: number;
  #size = 0;

  /** Make a map sized for about `expected` keys. */
  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 4) cap *= 2;
    this.#slots = emptySlots(cap);
    this.#mask = cap - 1;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /** Approximate bytes used by the table. */
  get bytes(): number {
    return this.#slots.byteLength;
  }

  #slot(key: number): number {
    const lo = key >>> 0;
    const hi = (key / 4294967296) >>> 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.#mask;
  }

  /** The value for `key`, or {@linkcode ABSENT}. */
  get(key: number): number {
    const s = this.#slots, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = s[2 * i + 1];
      if (v === ABSENT) return ABSENT;
      if (s[2 * i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  /** Set `key` to `value` (value must be ≥ 0). */
  set(key: number, value: number): void {
    if ((this.#size + 1) * 3 > this.#mask + 1) this.#grow();
    const s = this.#slots, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = s[2 * i + 1];
      if (v === ABSENT) {
        s[2 * i] = key;
        s[2 * i + 1] = value;
        this.#size++;
        return;
      }
      if (s[2 * i] === key) {
        s[2 * i + 1] = value;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  /** Remove `key`; returns its value or {@linkcode ABSENT}. */
  delete(key: number): number {
    const s = this.#slots, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = s[2 * i + 1];
      if (v === ABSENT) return ABSENT;
      if (s[2 * i] === key) break;
      i = (i + 1) & mask;
    }
    const removed = s[2 * i + 1];
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (s[2 * j + 1] === ABSENT) break;
      const home = this.#slot(s[2 * j]);
      // Entry at j may move to hole if home is not cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        s[2 * hole] = s[2 * j];
        s[2 * hole + 1] = s[2 * j + 1];
        hole = j;
      }
    }
    s[2 * hole + 1] = ABSENT;
    this.#size--;
    return removed;
  }

  /** Remove every key. */
  clear(): void {
    const s = this.#slots;
    for (let i = 1; i < s.length; i += 2) s[i] = ABSENT;
    this.#size = 0;
  }

  #grow(): void {
    const old = this.#slots;
    const cap = old.length; // slots double: old.length / 2 -> old.length
    this.#slots = emptySlots(cap);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let i = 1; i < old.length; i += 2) if (old[i] !== ABSENT) this.set(old[i - 1], old[i]);
  }
}

function emptySlots(cap: number): Float64Array {
  const s = new Float64Array(2 * cap);
  for (let i = 1; i < s.length; i += 2) s[i] = ABSENT;
  return s;
}
