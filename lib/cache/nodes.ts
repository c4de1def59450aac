/**
 * A pool of list nodes on typed arrays shared by several doubly-linked lists (queues), plus one key → node
 * {@linkcode KeyMap}. Policies build their queues (LRU lists, FIFO queues, ghost lists, frequency buckets) on it
 * without allocating per request (the pool doubles when full, which steady-state policies never need). Head = most recently inserted; tail = next to evict.
 *
 * @module
 */

import { grown } from "./grow.ts";
import { ABSENT, KeyMap } from "./keymap.ts";

/** No node. */
export const NIL = -1;

/** Node pool with `lists` independent doubly-linked lists and a key index. */
export class NodePool {
  /** Key of each node. */
  key: Float64Array;
  /** Previous node (towards the head) or NIL. */
  prev: Int32Array;
  /** Next node (towards the tail) or NIL. */
  next: Int32Array;
  /** Which list a node is in (or 255 when free). */
  list: Uint8Array;
  /** A free int per node for the policy (frequency, flags). */
  aux: Int32Array;
  /** Head node of each list. */
  readonly head: Int32Array;
  /** Tail node of each list. */
  readonly tail: Int32Array;
  /** Length of each list. */
  readonly length: Int32Array;
  /** Key → node index. */
  readonly map: KeyMap;
  #free: Int32Array;
  #freeTop: number;

  /** A pool of `capacity` nodes for `lists` lists. */
  constructor(capacity: number, lists = 1) {
    const n = Math.max(1, capacity);
    this.key = new Float64Array(n);
    this.prev = new Int32Array(n).fill(NIL);
    this.next = new Int32Array(n).fill(NIL);
    this.list = new Uint8Array(n).fill(255);
    this.aux = new Int32Array(n);
    this.head = new Int32Array(lists).fill(NIL);
    this.tail = new Int32Array(lists).fill(NIL);
    this.length = new Int32Array(lists);
    this.map = new KeyMap(n);
    this.#free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.#free[i] = n - 1 - i;
    this.#freeTop = n;
  }

  /** Node of `key`, or NIL. */
  find(key: number): number {
    const v = this.map.get(key);
    return v === ABSENT ? NIL : v;
  }

  /** Allocate a node for `key` at the head of list `l`. */
  add(key: number, l: number): number {
    const n = this.#alloc(key);
    this.pushHead(n, l);
    return n;
  }

  /** Allocate a node for `key` at the tail of list `l`. */
  addTail(key: number, l: number): number {
    const n = this.#alloc(key);
    this.pushTail(n, l);
    return n;
  }

  /** Take a free node (growing the pool if none is left) and index it under `key`; `aux` starts at 0. */
  #alloc(key: number): number {
    if (this.#freeTop === 0) this.#grow();
    const n = this.#free[--this.#freeTop];
    this.key[n] = key;
    this.aux[n] = 0;
    this.map.set(key, n);
    return n;
  }

  #grow(): void {
    const old = this.key.length, n = old * 2;
    this.key = grown(this.key, n);
    this.prev = grown(this.prev, n, { fill: NIL });
    this.next = grown(this.next, n, { fill: NIL });
    this.list = grown(this.list, n, { fill: 255 });
    this.aux = grown(this.aux, n);
    this.#free = new Int32Array(n);
    for (let i = 0; i < n - old; i++) this.#free[i] = n - 1 - i;
    this.#freeTop = n - old;
  }

  /** Unlink node `n` from its list and free it (and its key). */
  drop(n: number): void {
    this.unlink(n);
    this.map.delete(this.key[n]);
    this.list[n] = 255;
    this.#free[this.#freeTop++] = n;
  }

  /** Link a detached node at the head of list `l`. */
  pushHead(n: number, l: number): void {
    const h = this.head[l];
    this.prev[n] = NIL;
    this.next[n] = h;
    if (h !== NIL) this.prev[h] = n;
    else this.tail[l] = n;
    this.head[l] = n;
    this.list[n] = l;
    this.length[l]++;
  }

  /** Link a detached node at the tail of list `l`. */
  pushTail(n: number, l: number): void {
    const t = this.tail[l];
    this.next[n] = NIL;
    this.prev[n] = t;
    if (t !== NIL) this.next[t] = n;
    else this.head[l] = n;
    this.tail[l] = n;
    this.list[n] = l;
    this.length[l]++;
  }

  /** Detach node `n` from its list (it keeps its key and map entry). */
  unlink(n: number): void {
    const l = this.list[n];
    const p = this.prev[n], x = this.next[n];
    if (p !== NIL) this.next[p] = x;
    else this.head[l] = x;
    if (x !== NIL) this.prev[x] = p;
    else this.tail[l] = p;
    this.prev[n] = NIL;
    this.next[n] = NIL;
    this.length[l]--;
  }

  /** Move node `n` to the head of list `l` (its own list or another). */
  moveHead(n: number, l: number): void {
    if (this.head[l] === n) return;
    this.unlink(n);
    this.pushHead(n, l);
  }

  /** Nodes in use. */
  get used(): number {
    return this.key.length - this.#freeTop;
  }

  /** Approximate bytes of the pool. */
  get bytes(): number {
    return this.key.length * (8 + 4 + 4 + 1 + 4 + 4) + this.map.bytes;
  }
}
