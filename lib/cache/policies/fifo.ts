/**
 * FIFO: evict in insertion order; hits change nothing. Matches libCacheSim's `fifo`.
 *
 * @module
 */

import { NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";

/** First in, first out. */
export class Fifo implements Policy {
  /** Policy name. */
  readonly name: string = "fifo";
  /** Capacity in objects. */
  readonly capacity: number;
  #pool: NodePool;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make a FIFO cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    this.capacity = options.capacity;
    this.#pool = new NodePool(options.capacity + 1, 1);
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.#pool;
    if (pool.find(key) >= 0) return true;
    while (pool.length[0] >= this.capacity) {
      const v = unpinnedFromTail(pool, 0, this.#pinned);
      if (v < 0) throw new NoVictimError(this.name);
      const k = pool.key[v];
      pool.drop(v);
      this.#onEvict?.(k);
    }
    pool.add(key, 0);
    return false;
  }

  /** True when resident. */
  contains(key: number): boolean {
    return this.#pool.find(key) >= 0;
  }

  /** Resident objects. */
  size(): number {
    return this.#pool.length[0];
  }
}

/** Make a FIFO policy. */
export function fifo(options: PolicyOptions): Policy {
  return new Fifo(options);
}
