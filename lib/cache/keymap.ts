/**
 * An open-addressing hash map from integer keys (0 ≤ key < 2^53) to int32 values, stored in typed arrays:
 * linear probing at most 1/3 full, backward-shift deletion (no tombstones), no allocation per operation. Grows by
 * doubling.
 *
 * @module
 */

/** Value returned by {@linkcode KeyMap.get} for an absent key. */
export const ABSENT = -1;

/** Integer-keyed hash map on typed arrays. */
export class KeyMap {
  #keys: Float64Array;
  #vals: Int32Array;
  #mask: number;
  #size = 0;

  /** Make a map sized for about `expected` keys. */
  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 4) cap *= 2;
    this.#keys = new Float64Array(cap);
    this.#vals = new Int32Array(cap).fill(ABSENT);
    this.#mask = cap - 1;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /** Approximate bytes used by the table. */
  get bytes(): number {
    return this.#keys.byteLength + this.#vals.byteLength;
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
    const keys = this.#keys, vals = this.#vals, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = vals[i];
      if (v === ABSENT) return ABSENT;
      if (keys[i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  /** Set `key` to `value` (value must be ≥ 0). */
  set(key: number, value: number): void {
    if ((this.#size + 1) * 3 > this.#vals.length) this.#grow();
    const keys = this.#keys, vals = this.#vals, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = vals[i];
      if (v === ABSENT) {
        keys[i] = key;
        vals[i] = value;
        this.#size++;
        return;
      }
      if (keys[i] === key) {
        vals[i] = value;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  /** Remove `key`; returns its value or {@linkcode ABSENT}. */
  delete(key: number): number {
    const keys = this.#keys, vals = this.#vals, mask = this.#mask;
    let i = this.#slot(key);
    for (;;) {
      const v = vals[i];
      if (v === ABSENT) return ABSENT;
      if (keys[i] === key) break;
      i = (i + 1) & mask;
    }
    const removed = vals[i];
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (vals[j] === ABSENT) break;
      const home = this.#slot(keys[j]);
      // Entry at j may move to hole if home is not cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        keys[hole] = keys[j];
        vals[hole] = vals[j];
        hole = j;
      }
    }
    vals[hole] = ABSENT;
    this.#size--;
    return removed;
  }

  /** Remove every key. */
  clear(): void {
    this.#vals.fill(ABSENT);
    this.#size = 0;
  }

  #grow(): void {
    const oldKeys = this.#keys, oldVals = this.#vals;
    const cap = oldVals.length * 2;
    this.#keys = new Float64Array(cap);
    this.#vals = new Int32Array(cap).fill(ABSENT);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let i = 0; i < oldVals.length; i++) if (oldVals[i] !== ABSENT) this.set(oldKeys[i], oldVals[i]);
  }
}
