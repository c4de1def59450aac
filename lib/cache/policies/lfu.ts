/**
 * LFU in O(1) (frequency buckets in a sorted list), as libCacheSim's `lfu`: evict from the lowest frequency, and
 * among equal frequencies the object that reached that frequency first (FIFO tie-break). Frequencies are not kept
 * after eviction (objects re-enter at 1).
 *
 * @module
 */

import { KeyMap } from "../keymap.ts";
import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

/** Least frequently used with FIFO tie-breaking. */
export class Lfu implements Policy {
  /** Policy name. */
  readonly name: string = "lfu";
  /** Capacity in objects. */
  readonly capacity: number;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];
  #map: KeyMap;
  // objects
  #key: Float64Array;
  #prev: Int32Array;
  #next: Int32Array;
  #bucket: Int32Array;
  #freeObj: Int32Array;
  #freeObjTop: number;
  #size = 0;
  // buckets (a list sorted by frequency, ascending)
  #freq: Float64Array;
  #bHead: Int32Array;
  #bTail: Int32Array;
  #bPrev: Int32Array;
  #bNext: Int32Array;
  #freeB: Int32Array;
  #freeBTop: number;
  #minB = NIL;

  /** Make an LFU cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const n = options.capacity + 1;
    this.capacity = options.capacity;
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
    this.#map = new KeyMap(n);
    this.#key = new Float64Array(n);
    this.#prev = new Int32Array(n);
    this.#next = new Int32Array(n);
    this.#bucket = new Int32Array(n);
    this.#freeObj = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
    this.#freeObjTop = n;
    const nb = n + 1;
    this.#freq = new Float64Array(nb);
    this.#bHead = new Int32Array(nb).fill(NIL);
    this.#bTail = new Int32Array(nb).fill(NIL);
    this.#bPrev = new Int32Array(nb).fill(NIL);
    this.#bNext = new Int32Array(nb).fill(NIL);
    this.#freeB = Int32Array.from({ length: nb }, (_, i) => nb - 1 - i);
    this.#freeBTop = nb;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const o = this.#map.get(key);
    if (o >= 0) {
      this.#bump(o);
      return true;
    }
    while (this.#size >= this.capacity) this.#evict();
    const n = this.#freeObj[--this.#freeObjTop];
    this.#key[n] = key;
    this.#map.set(key, n);
    let b = this.#minB;
    if (b === NIL || this.#freq[b] !== 1) b = this.#newBucket(1, NIL);
    this.#append(n, b);
    this.#size++;
    return false;
  }

  #newBucket(freq: number, after: number): number {
    const b = this.#freeB[--this.#freeBTop];
    this.#freq[b] = freq;
    this.#bHead[b] = NIL;
    this.#bTail[b] = NIL;
    const nx = after === NIL ? this.#minB : this.#bNext[after];
    this.#bPrev[b] = after;
    this.#bNext[b] = nx;
    if (after === NIL) this.#minB = b;
    else this.#bNext[after] = b;
    if (nx !== NIL) this.#bPrev[nx] = b;
    return b;
  }

  #freeBucket(b: number): void {
    const p = this.#bPrev[b], nx = this.#bNext[b];
    if (p === NIL) this.#minB = nx;
    else this.#bNext[p] = nx;
    if (nx !== NIL) this.#bPrev[nx] = p;
    this.#freeB[this.#freeBTop++] = b;
  }

  #append(n: number, b: number): void {
    const t = this.#bTail[b];
    this.#prev[n] = t;
    this.#next[n] = NIL;
    if (t === NIL) this.#bHead[b] = n;
    else this.#next[t] = n;
    this.#bTail[b] = n;
    this.#bucket[n] = b;
  }

  #unlink(n: number): void {
    const b = this.#bucket[n];
    const p = this.#prev[n], nx = this.#next[n];
    if (p === NIL) this.#bHead[b] = nx;
    else this.#next[p] = nx;
    if (nx === NIL) this.#bTail[b] = p;
    else this.#prev[nx] = p;
  }

  #bump(n: number): void {
    const b = this.#bucket[n];
    const f = this.#freq[b] + 1;
    let nb = this.#bNext[b];
    if (nb === NIL || this.#freq[nb] !== f) nb = this.#newBucket(f, b);
    this.#unlink(n);
    this.#append(n, nb);
    if (this.#bHead[b] === NIL) this.#freeBucket(b);
  }

  #evict(): void {
    const pinned = this.#pinned;
    let b = this.#minB;
    let n = this.#bHead[b];
    if (pinned !== undefined) {
      while (b !== NIL) {
        n = this.#bHead[b];
        while (n !== NIL && pinned(this.#key[n])) n = this.#next[n];
        if (n !== NIL) break;
        b = this.#bNext[b];
      }
      if (b === NIL) throw new NoVictimError(this.name);
    }
    this.#unlink(n);
    if (this.#bHead[b] === NIL) this.#freeBucket(b);
    const k = this.#key[n];
    this.#map.delete(k);
    this.#freeObj[this.#freeObjTop++] = n;
    this.#size--;
    this.#onEvict?.(k);
  }

  /** True when resident. */
  contains(key: number): boolean {
    return this.#map.get(key) >= 0;
  }

  /** Resident objects. */
  size(): number {
    return this.#size;
  }
}

/** Make an LFU policy. */
export function lfu(options: PolicyOptions): Policy {
  return new Lfu(options);
}
