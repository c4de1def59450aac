/**
 * OPT (Belady's MIN): evict the object whose next request is farthest in the future. Needs each request's next-use
 * index, which the runner computes in a pre-pass over the trace (or reads from an oracleGeneral file). A binary
 * max-heap on typed arrays keyed by next use. In the object model a miss whose next use is later than every
 * resident object's is not admitted (bypass), which makes it the true floor; the seed model always admits (a read
 * needs its buffer).
 *
 * @module
 */

import { KeyMap } from "../keymap.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

/** Belady's optimal policy. */
export class Opt implements Policy {
  /** Policy name. */
  readonly name: string = "opt";
  /** Capacity in objects. */
  readonly capacity: number;
  #map: KeyMap;
  #key: Float64Array;
  #prio: Float64Array;
  #heap: Int32Array; // heap position -> node
  #pos: Int32Array; // node -> heap position
  #size = 0;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make an OPT cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const n = options.capacity + 1;
    this.capacity = options.capacity;
    this.#map = new KeyMap(n);
    this.#key = new Float64Array(n);
    this.#prio = new Float64Array(n);
    this.#heap = new Int32Array(n);
    this.#pos = new Int32Array(n);
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
  }

  /** Request a key; `nextUse` is the index of its next request (Infinity if none). */
  access(key: number, nextUse: number): boolean {
    const n = this.#map.get(key);
    if (n >= 0) {
      this.#prio[n] = nextUse;
      this.#fix(this.#pos[n]);
      return true;
    }
    if (this.#size >= this.capacity) {
      if (this.#pinned === undefined && this.#size > 0 && nextUse >= this.#prio[this.#heap[0]]) return false;
      this.#evict();
    }
    // the new node is the last heap slot
    const node = this.#size;
    this.#key[node] = key;
    this.#prio[node] = nextUse;
    this.#heap[node] = node;
    this.#pos[node] = node;
    this.#size++;
    this.#map.set(key, node);
    this.#up(node);
    return false;
  }

  #evict(): void {
    let at = 0;
    const pinned = this.#pinned;
    if (pinned !== undefined && pinned(this.#key[this.#heap[0]])) {
      at = -1;
      let best = -Infinity;
      for (let i = 0; i < this.#size; i++) {
        const nd = this.#heap[i];
        if (this.#prio[nd] > best && !pinned(this.#key[nd])) {
          best = this.#prio[nd];
          at = i;
        }
      }
      if (at < 0) throw new NoVictimError(this.name);
    }
    const victim = this.#heap[at];
    const k = this.#key[victim];
    this.#map.delete(k);
    // move the last node into the victim's storage slot so nodes stay dense in 0..size-1
    const last = this.#size - 1;
    // first remove victim from heap: put heap's last entry at `at`
    const tailNode = this.#heap[last];
    this.#heap[at] = tailNode;
    this.#pos[tailNode] = at;
    this.#size--;
    if (at < this.#size) this.#fix(at);
    if (victim !== last) {
      // relocate node `last` into `victim`
      const p = this.#pos[last];
      this.#key[victim] = this.#key[last];
      this.#prio[victim] = this.#prio[last];
      this.#heap[p] = victim;
      this.#pos[victim] = p;
      this.#map.set(this.#key[victim], victim);
    }
    this.#onEvict?.(k);
  }

  #fix(i: number): void {
    const nd = this.#heap[i];
    this.#up(i);
    this.#down(this.#pos[nd]);
  }

  #up(i: number): void {
    const heap = this.#heap, pos = this.#pos, prio = this.#prio;
    const nd = heap[i];
    const pr = prio[nd];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pn = heap[p];
      if (prio[pn] >= pr) break;
      heap[i] = pn;
      pos[pn] = i;
      i = p;
    }
    heap[i] = nd;
    pos[nd] = i;
  }

  #down(i: number): void {
    const heap = this.#heap, pos = this.#pos, prio = this.#prio, n = this.#size;
    const nd = heap[i];
    const pr = prio[nd];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && prio[heap[r]] > prio[heap[l]] ? r : l;
      if (prio[heap[c]] <= pr) break;
      heap[i] = heap[c];
      pos[heap[c]] = i;
      i = c;
    }
    heap[i] = nd;
    pos[nd] = i;
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

/** Make an OPT policy. */
export function opt(options: PolicyOptions): Policy {
  return new Opt(options);
}
opt.needsFuture = true;
