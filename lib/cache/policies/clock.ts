/**
 * CLOCK (second chance) with a 1-bit reference counter, as libCacheSim's `clock`: a hit sets the bit; the hand
 * starts at the oldest entry, gives a referenced entry a second chance (clears the bit, moves it to the head) and
 * evicts the first unreferenced one. Pinned entries (seed model) are passed over like referenced ones, bit kept.
 *
 * @module
 */

import { NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

/** CLOCK with one reference bit. */
export class Clock implements Policy {
  /** Policy name. */
  readonly name: string = "clock";
  /** Capacity in objects. */
  readonly capacity: number;
  #pool: NodePool;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make a CLOCK cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    this.capacity = options.capacity;
    this.#pool = new NodePool(options.capacity + 1, 1);
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.#pool;
    const n = pool.find(key);
    if (n >= 0) {
      pool.aux[n] = 1;
      return true;
    }
    while (pool.length[0] >= this.capacity) this.#evict();
    pool.add(key, 0);
    return false;
  }

  #evict(): void {
    const pool = this.#pool, pinned = this.#pinned;
    let pinnedSeen = 0;
    for (;;) {
      const v = pool.tail[0];
      if (pinned !== undefined && pinned(pool.key[v])) {
        if (++pinnedSeen > pool.length[0]) throw new NoVictimError(this.name);
        pool.unlink(v);
        pool.pushHead(v, 0);
        continue;
      }
      if (pool.aux[v] >= 1) {
        pool.aux[v] -= 1;
        pool.unlink(v);
        pool.pushHead(v, 0);
        continue;
      }
      const k = pool.key[v];
      pool.drop(v);
      this.#onEvict?.(k);
      return;
    }
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

/** Make a CLOCK policy. */
export function clock(options: PolicyOptions): Policy {
  return new Clock(options);
}
