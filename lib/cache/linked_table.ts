/**
 * Keyed list nodes laid out for the hit path of LRU and ARC, the policies the benchmark runs: a dense pool of
 * 16-byte nodes `{f64 key, i32 prev, i32 next}` (four to a cache line), a byte per node for its list, and an
 * open-addressing index that holds only node numbers (4 bytes a slot, at most 1/4 full) and compares keys on the
 * node, which a hit reads anyway. A hit thus touches one index line and the node's own line (plus its neighbours'),
 * where `NodePool` + `KeyMap` read seven arrays. Linear probing, backward-shift deletion, no
 * allocation per operation (both parts double when full, which a bounded policy never needs).
 *
 * Node numbers are stable: {@linkcode LinkedTable.drop} frees only the node it is given.
 *
 * @module
 */

import { grown } from "./grow.ts";
import { NIL } from "./nodes.ts";

/** List byte of a node that is indexed but in no list. */
const DETACHED = 254;
/** List byte of a free node. */
const FREE = 255;
/** Index slot with no node. */
const NONE = -1;

/** Keyed list nodes (see the module comment). */
export class LinkedTable {
  /** Node keys at n * 2 (the same buffer as #links). */
  #keys: Float64Array;
  /** Node prev at n * 4 + 2, next at n * 4 + 3. */
  #links: Int32Array;
  #list: Uint8Array;
  #index: Int32Array;
  #mask: number;
  /** 32 - log2(index slots): a hash's top bits pick its home slot. */
  #shift: number;
  #free: Int32Array;
  #freeTop: number;
  /** Head node of each list (NIL when empty). */
  readonly head: Int32Array;
  /** Tail node of each list. */
  readonly tail: Int32Array;
  /** Length of each list. */
  readonly length: Int32Array;

  /**
   * Nodes for `capacity` entries in `lists` (at most 254) lists, the index sized at 4 slots per key of `keys`
   * (default `capacity`; never under 2 per node).
   */
  constructor(capacity: number, lists = 1, keys = capacity) {
    const n = Math.max(1, capacity);
    const buf = new ArrayBuffer(n * 16);
    this.#keys = new Float64Array(buf);
    this.#links = new Int32Array(buf);
    this.#list = new Uint8Array(n).fill(FREE);
    this.#free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.#free[i] = n - 1 - i;
    this.#freeTop = n;
    this.#index = new Int32Array(indexSize(Math.max(n / 2, keys))).fill(NONE);
    this.#mask = this.#index.length - 1;
    this.#shift = 32 - Math.log2(this.#index.length);
    this.head = new Int32Array(lists).fill(NIL);
    this.tail = new Int32Array(lists).fill(NIL);
    this.length = new Int32Array(lists);
  }

  /** Nodes in use (in a list or detached). */
  get used(): number {
    return this.#list.length - this.#freeTop;
  }

  /** Bytes of the nodes and the index. */
  get bytes(): number {
    return this.#keys.byteLength + this.#list.byteLength + this.#free.byteLength + this.#index.byteLength;
  }

  /** Node of `key`, or NIL. */
  find(key: number): number {
    const index = this.#index, keys = this.#keys, mask = this.#mask;
    let s = home(key, this.#shift);
    for (;;) {
      const n = index[s];
      if (n === NONE || keys[n * 2] === key) return n;
      s = (s + 1) & mask;
    }
  }

  /** Key of node `n`. */
  key(n: number): number {
    return this.#keys[n * 2];
  }

  /** List of node `n` (254 when detached, 255 when free). */
  list(n: number): number {
    return this.#list[n];
  }

  /** Node towards the head from `n`, or NIL. */
  prev(n: number): number {
    return this.#links[n * 4 + 2];
  }

  /** Node towards the tail from `n`, or NIL. */
  next(n: number): number {
    return this.#links[n * 4 + 3];
  }

  /** Index absent `key` on a new node at the head of list `l`; returns the node. */
  add(key: number, l: number): number {
    const n = this.#alloc(key);
    this.pushHead(n, l);
    return n;
  }

  /** Index absent `key` on a new node at the tail of list `l`; returns the node. */
  addTail(key: number, l: number): number {
    const n = this.#alloc(key);
    this.pushTail(n, l);
    return n;
  }

  #alloc(key: number): number {
    if (this.#freeTop === 0) this.#grow();
    const n = this.#free[--this.#freeTop];
    this.#keys[n * 2] = key;
    const index = this.#index, mask = this.#mask;
    let s = home(key, this.#shift);
    while (index[s] !== NONE) s = (s + 1) & mask;
    index[s] = n;
    return n;
  }

  /** Link a detached node at the head of list `l`. */
  pushHead(n: number, l: number): void {
    const links = this.#links;
    const h = this.head[l];
    links[n * 4 + 2] = NIL;
    links[n * 4 + 3] = h;
    if (h !== NIL) links[h * 4 + 2] = n;
    else this.tail[l] = n;
    this.head[l] = n;
    this.#list[n] = l;
    this.length[l]++;
  }

  /** Link a detached node at the tail of list `l`. */
  pushTail(n: number, l: number): void {
    const links = this.#links;
    const t = this.tail[l];
    links[n * 4 + 3] = NIL;
    links[n * 4 + 2] = t;
    if (t !== NIL) links[t * 4 + 3] = n;
    else this.head[l] = n;
    this.tail[l] = n;
    this.#list[n] = l;
    this.length[l]++;
  }

  /** Detach node `n` from its list (it stays indexed). */
  unlink(n: number): void {
    const l = this.#list[n];
    if (l >= DETACHED) return;
    const links = this.#links;
    const p = links[n * 4 + 2], x = links[n * 4 + 3];
    if (p !== NIL) links[p * 4 + 3] = x;
    else this.head[l] = x;
    if (x !== NIL) links[x * 4 + 2] = p;
    else this.tail[l] = p;
    this.#list[n] = DETACHED;
    this.length[l]--;
  }

  /** Move node `n` to the head of list `l` (its own or another). */
  moveHead(n: number, l: number): void {
    const h = this.head[l];
    if (h === n) return;
    if (this.#list[n] !== l) {
      this.unlink(n);
      this.pushHead(n, l);
      return;
    }
    // Within its own list and not its head (so it has a prev): relink in place.
    const links = this.#links;
    const p = links[n * 4 + 2], x = links[n * 4 + 3];
    links[p * 4 + 3] = x;
    if (x !== NIL) links[x * 4 + 2] = p;
    else this.tail[l] = p;
    links[n * 4 + 2] = NIL;
    links[n * 4 + 3] = h;
    links[h * 4 + 2] = n;
    this.head[l] = n;
  }

  /** Unlink node `n`, remove its key from the index and free it. */
  drop(n: number): void {
    this.unlink(n);
    const index = this.#index, keys = this.#keys, mask = this.#mask, shift = this.#shift;
    let hole = home(keys[n * 2], shift);
    while (index[hole] !== n) hole = (hole + 1) & mask;
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const m = index[j];
      if (m === NONE) break;
      const h = home(keys[m * 2], shift);
      if (hole <= j ? h > hole && h <= j : h > hole || h <= j) continue;
      index[hole] = m;
      hole = j;
    }
    index[hole] = NONE;
    this.#list[n] = FREE;
    this.#free[this.#freeTop++] = n;
  }

  #grow(): void {
    const old = this.#list.length, n = old * 2;
    const buf = new ArrayBuffer(n * 16);
    new Uint8Array(buf).set(new Uint8Array(this.#keys.buffer));
    this.#keys = new Float64Array(buf);
    this.#links = new Int32Array(buf);
    this.#list = grown(this.#list, n, { fill: FREE });
    this.#free = new Int32Array(n);
    for (let i = 0; i < n - old; i++) this.#free[i] = n - 1 - i;
    this.#freeTop = n - old;
    const index = new Int32Array(indexSize(Math.max(n / 2, this.#index.length / 4))).fill(NONE);
    const mask = index.length - 1, shift = 32 - Math.log2(index.length);
    for (let m = 0; m < old; m++) {
      if (this.#list[m] === FREE) continue;
      let s = home(this.#keys[m * 2], shift);
      while (index[s] !== NONE) s = (s + 1) & mask;
      index[s] = m;
    }
    this.#index = index;
    this.#mask = mask;
    this.#shift = shift;
  }
}

/** Index slots for `keys` keys: a power of two, at least 4 per key. */
function indexSize(keys: number): number {
  let cap = 16;
  while (cap < keys * 4) cap *= 2;
  return cap;
}

/**
 * Home slot of `key` in an index of 2^(32 - shift) slots: Fibonacci hashing (the top bits of the word times
 * 2^32/φ), one multiply on the hot path. Dense ids (object ids, block numbers) spread evenly, with fewer probes
 * than a finalizer-style hash gave; the word first takes in its own top half (ids that are multiples of a large
 * power of two keep their entropy) and the high word (volume, ids ≥ 2^32).
 */
function home(key: number, shift: number): number {
  const lo = key >>> 0;
  const hi = (key * 2.3283064365386963e-10) >>> 0; // key / 2^32, exact
  const x = lo ^ (lo >>> 16);
  return Math.imul(hi === 0 ? x : x ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> shift;
}
