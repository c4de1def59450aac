/**
 * A binary min-heap of (priority, id) pairs on typed arrays, growable, with ties broken by insertion order so
 * simulations are deterministic. Used by the event queue and the I/O schedulers.
 *
 * @module
 */

import { grown } from "./grow.ts";

/** Min-heap of int ids by float priority (FIFO among equal priorities). */
export class MinHeap {
  #prio: Float64Array;
  #seq: Float64Array;
  #id: Int32Array;
  #n = 0;
  #counter = 0;

  /** Make a heap with room for `capacity` entries (it grows). */
  constructor(capacity = 64) {
    this.#prio = new Float64Array(capacity);
    this.#seq = new Float64Array(capacity);
    this.#id = new Int32Array(capacity);
  }

  /** Entries in the heap. */
  get size(): number {
    return this.#n;
  }

  /** Add `id` with priority `prio`. */
  push(prio: number, id: number): void {
    if (this.#n === this.#id.length) this.#grow();
    let i = this.#n++;
    const seq = this.#counter++;
    const P = this.#prio, S = this.#seq, I = this.#id;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (P[p] < prio || (P[p] === prio && S[p] < seq)) break;
      P[i] = P[p];
      S[i] = S[p];
      I[i] = I[p];
      i = p;
    }
    P[i] = prio;
    S[i] = seq;
    I[i] = id;
  }

  /** Priority of the minimum (Infinity when empty). */
  peekPrio(): number {
    return this.#n > 0 ? this.#prio[0] : Infinity;
  }

  /** Id of the minimum (-1 when empty). */
  peek(): number {
    return this.#n > 0 ? this.#id[0] : -1;
  }

  /** Remove and return the minimum's id (-1 when empty). */
  pop(): number {
    if (this.#n === 0) return -1;
    const P = this.#prio, S = this.#seq, I = this.#id;
    const top = I[0];
    const n = --this.#n;
    if (n > 0) {
      const prio = P[n], seq = S[n], id = I[n];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (P[r] < P[l] || (P[r] === P[l] && S[r] < S[l])) ? r : l;
        if (P[c] > prio || (P[c] === prio && S[c] > seq)) break;
        P[i] = P[c];
        S[i] = S[c];
        I[i] = I[c];
        i = c;
      }
      P[i] = prio;
      S[i] = seq;
      I[i] = id;
    }
    return top;
  }

  #grow(): void {
    const n = this.#id.length * 2;
    this.#prio = grown(this.#prio, n);
    this.#seq = grown(this.#seq, n);
    this.#id = grown(this.#id, n);
  }
}
