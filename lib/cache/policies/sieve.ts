/**
 * SIEVE (Zhang et al., NSDI'24): a FIFO queue with a visited bit and a hand that moves from the tail towards the
 * head, clearing visited bits and evicting the first unvisited object in place (no reordering). Pinned entries
 * are passed over.
 *
 * @module
 */

import { NIL, NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

/** SIEVE. */
export class Sieve implements Policy {
  /** Policy name. */
  readonly name: string = "sieve";
  /** Capacity in objects. */
  readonly capacity: number;
  #pool: NodePool;
  #hand = NIL;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make a SIEVE cache of `capacity` objects. */
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
    let h = this.#hand === NIL ? pool.tail[0] : this.#hand;
    let steps = 0;
    const limit = pool.length[0] * 3 + 2;
    while (pool.aux[h] === 1 || (pinned !== undefined && pinned(pool.key[h]))) {
      if (++steps > limit) throw new NoVictimError(this.name);
      pool.aux[h] = 0;
      h = pool.prev[h];
      if (h === NIL) h = pool.tail[0];
    }
    this.#hand = pool.prev[h];
    const k = pool.key[h];
    pool.drop(h);
    this.#onEvict?.(k);
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

/** Make a SIEVE policy. */
export function sieve(options: PolicyOptions): Policy {
  return new Sieve(options);
}
