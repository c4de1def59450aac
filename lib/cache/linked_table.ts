/**
 * Keyed list nodes laid out for the hit path of LRU and ARC, the policies the benchmark runs: an open-addressing
 * hash table whose 16-byte slots are themselves the list nodes `{f64 key, i32 prev, i32 next}`, plus a byte per
 * slot for its list. A lookup lands on the node: a hit reads that one line (and its list neighbours' for the move),
 * where `NodePool` + `KeyMap` read an index line, then the node's, in seven arrays. Linear probing at most half
 * full, Fibonacci hashing, backward-shift deletion that relinks the neighbours of the entries it moves, no
 * allocation per operation (the table doubles when full, which a bounded policy never needs).
 *
 * A slot number names an entry only until the next {@linkcode LinkedTable.drop} (which may move later entries of
 * its probe run) or {@linkcode LinkedTable.add} (which may grow the table).
 *
 * @module
 */

import { hugeRegion } from "./huge_pages.ts";
import { NIL } from "./nodes.ts";

/** List byte of an entry that is in the table but in no list. */
const DETACHED = 254;
/** List byte of a free slot (whose key is NaN, which equals no key). */
const EMPTY = 255;

/** Keyed list nodes (see the module comment). */
export class LinkedTable {
  /** Slot keys at s * 2 (NaN when free); the same buffer as #links. */
  #keys: Float64Array;
  /** Slot prev at s * 4 + 2, next at s * 4 + 3. */
  #links: Int32Array;
  #list: Uint8Array;
  #mask: number;
  /** 32 - log2(slots): a hash's top bits pick its home slot. */
  #shift: number;
  #size = 0;
  #limit: number;
  /** Head slot of each list (NIL when empty). */
  readonly head: Int32Array;
  /** Tail slot of each list. */
  readonly tail: Int32Array;
  /** Length of each list. */
  readonly length: Int32Array;
  readonly #lists: number;

  /** A table for `capacity` entries (2 slots each) in `lists` (at most 254) lists. */
  constructor(capacity: number, lists = 1) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    [this.#keys, this.#links, this.#list] = slots(cap);
    this.#mask = cap - 1;
    this.#shift = 32 - Math.log2(cap);
    this.#limit = cap >>> 1;
    this.head = new Int32Array(lists).fill(NIL);
    this.tail = new Int32Array(lists).fill(NIL);
    this.length = new Int32Array(lists);
    this.#lists = lists;
  }

  /** Entries (in a list or detached). */
  get used(): number {
    return this.#size;
  }

  /** Bytes of the table. */
  get bytes(): number {
    return this.#keys.byteLength + this.#list.byteLength;
  }

  /** Slot of `key`, or NIL. */
  find(key: number): number {
    const keys = this.#keys, mask = this.#mask;
    let s = home(key, this.#shift);
    for (;;) {
      const k = keys[s * 2];
      if (k === key) return s;
      if (k !== k) return NIL;
      s = (s + 1) & mask;
    }
  }

  /** Key of the entry at slot `n`. */
  key(n: number): number {
    return this.#keys[n * 2];
  }

  /** List of the entry at slot `n` (254 when detached, 255 when the slot is free). */
  list(n: number): number {
    return this.#list[n];
  }

  /** Slot towards the head from `n`, or NIL. */
  prev(n: number): number {
    return this.#links[n * 4 + 2];
  }

  /** Slot towards the tail from `n`, or NIL. */
  next(n: number): number {
    return this.#links[n * 4 + 3];
  }

  /** Insert absent `key` at the head of list `l`; returns its slot. */
  add(key: number, l: number): number {
    const n = this.#insert(key);
    this.pushHead(n, l);
    return n;
  }

  /** Insert absent `key` at the tail of list `l`; returns its slot. */
  addTail(key: number, l: number): number {
    const n = this.#insert(key);
    this.pushTail(n, l);
    return n;
  }

  #insert(key: number): number {
    if (this.#size >= this.#limit) this.#grow();
    const keys = this.#keys, mask = this.#mask;
    let s = home(key, this.#shift);
    while (keys[s * 2] === keys[s * 2]) s = (s + 1) & mask;
    keys[s * 2] = key;
    this.#list[s] = DETACHED;
    this.#size++;
    return s;
  }

  /** Link a detached entry at the head of list `l`. */
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

  /** Link a detached entry at the tail of list `l`. */
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

  /** Detach the entry at `n` from its list (it stays in the table). */
  unlink(n: number): void {
    const l = this.#list[n];
    if (l >= this.#lists) return;
    const links = this.#links;
    const p = links[n * 4 + 2], x = links[n * 4 + 3];
    if (p !== NIL) links[p * 4 + 3] = x;
    else this.head[l] = x;
    if (x !== NIL) links[x * 4 + 2] = p;
    else this.tail[l] = p;
    this.#list[n] = DETACHED;
    this.length[l]--;
  }

  /** Move the entry at `n` to the head of list `l` (its own or another). */
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

  /** Unlink and remove the entry at `n`; later entries of its probe run may move (their links follow). */
  drop(n: number): void {
    this.unlink(n);
    const keys = this.#keys, links = this.#links, list = this.#list, mask = this.#mask, shift = this.#shift;
    let hole = n, j = n;
    // The entry at j may fill the hole unless its home is cyclically in (hole, j].
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j * 2];
      if (k !== k) break;
      const h = home(k, shift);
      if (hole <= j ? h > hole && h <= j : h > hole || h <= j) continue;
      const l = list[j];
      const p = links[j * 4 + 2], x = links[j * 4 + 3];
      keys[hole * 2] = k;
      links[hole * 4 + 2] = p;
      links[hole * 4 + 3] = x;
      list[hole] = l;
      if (l < this.#lists) {
        if (p !== NIL) links[p * 4 + 3] = hole;
        else this.head[l] = hole;
        if (x !== NIL) links[x * 4 + 2] = hole;
        else this.tail[l] = hole;
      }
      hole = j;
    }
    list[hole] = EMPTY;
    keys[hole * 2] = NaN;
    this.#size--;
  }

  #grow(): void {
    const ok = this.#keys, ol = this.#links, oli = this.#list, ocap = this.#mask + 1;
    const cap = ocap * 2;
    const [keys, links, list] = slots(cap);
    const mask = cap - 1, shift = 32 - Math.log2(cap);
    const moved = new Int32Array(ocap).fill(NIL);
    for (let o = 0; o < ocap; o++) {
      if (oli[o] === EMPTY) continue;
      let s = home(ok[o * 2], shift);
      while (list[s] !== EMPTY) s = (s + 1) & mask;
      keys[s * 2] = ok[o * 2];
      list[s] = oli[o];
      moved[o] = s;
    }
    for (let o = 0; o < ocap; o++) {
      const s = moved[o];
      if (s === NIL) continue;
      const p = ol[o * 4 + 2], x = ol[o * 4 + 3];
      links[s * 4 + 2] = p === NIL ? NIL : moved[p];
      links[s * 4 + 3] = x === NIL ? NIL : moved[x];
    }
    for (let l = 0; l < this.head.length; l++) {
      if (this.head[l] !== NIL) this.head[l] = moved[this.head[l]];
      if (this.tail[l] !== NIL) this.tail[l] = moved[this.tail[l]];
    }
    this.#keys = keys;
    this.#links = links;
    this.#list = list;
    this.#mask = mask;
    this.#shift = shift;
    this.#limit = cap >>> 1;
  }
}

/** Key+links and list views of `cap` free slots (on huge pages where possible: see `huge_pages.ts`). */
function slots(cap: number): [Float64Array, Int32Array, Uint8Array] {
  const { buffer, offset } = hugeRegion(cap * 17); // the list bytes follow the slots
  const keys = new Float64Array(buffer, offset, cap * 2);
  for (let s = 0; s < cap; s++) keys[s * 2] = NaN;
  return [keys, new Int32Array(buffer, offset, cap * 4), new Uint8Array(buffer, offset + cap * 16, cap).fill(EMPTY)];
}

/**
 * Home slot of `key` in a table of 2^(32 - shift) slots: Fibonacci hashing (the top bits of the word times
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
