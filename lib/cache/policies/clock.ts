/**
 * CLOCK (second chance) with a 1-bit reference counter, as libCacheSim's `clock`: a hit sets the bit; the hand
 * starts at the oldest entry, gives a referenced entry a second chance (clears the bit, moves it to the head) and
 * evicts the first unreferenced one. Pinned entries (seed model) are passed over like referenced ones, bit kept.
 *
 * @module
 */

import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";
import { SingleListPolicy } from "./_pool_policy.ts";

/** CLOCK with one reference bit. */
export class Clock extends SingleListPolicy {
  /** Policy name. */
  readonly name: string = "clock";

  /** A hit sets the reference bit. */
  protected onHit(n: number): void {
    this.pool.aux[n] = 1;
  }

  /** Move the hand until an unreferenced, unpinned object is found, and evict it. */
  protected evict(): void {
    if (!this.clockEvict(0)) throw new NoVictimError(this.name);
  }
}

/** Make a CLOCK policy. */
export function clock(options: PolicyOptions): Policy {
  return new Clock(options);
}
