/**
 * SIEVE (Zhang et al., NSDI'24): a FIFO queue with a visited bit and a hand that moves from the tail towards the
 * head, clearing visited bits and evicting the first unvisited object in place (no reordering). Pinned entries
 * are passed over.
 *
 * @module
 */

import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";
import { SingleListPolicy } from "./_pool_policy.ts";

/** SIEVE. */
export class Sieve extends SingleListPolicy {
  /** Policy name. */
  readonly name: string = "sieve";
  #hand = NIL;

  /** A hit sets the visited bit. */
  protected onHit(n: number): void {
    this.pool.aux[n] = 1;
  }

  /** Move the hand towards the head, clearing visited bits, and evict the first unvisited, unpinned object. */
  protected evict(): void {
    const pool = this.pool, pinned = this.pinned;
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
    this.evictNode(h);
  }
}

/** Make a SIEVE policy. */
export function sieve(options: PolicyOptions): Policy {
  return new Sieve(options);
}
