/**
 * FIFO: evict in insertion order; hits change nothing. Matches libCacheSim's `fifo`.
 *
 * @module
 */

import type { Policy, PolicyOptions } from "../policy.ts";
import { SingleListPolicy } from "./_pool_policy.ts";

/** First in, first out. */
export class Fifo extends SingleListPolicy {
  /** Policy name. */
  readonly name: string = "fifo";

  /** A hit changes nothing. */
  protected onHit(_n: number): void {}

  /** Evict the oldest unpinned object. */
  protected evict(): void {
    this.evictTail(0);
  }
}

/** Make a FIFO policy. */
export function fifo(options: PolicyOptions): Policy {
  return new Fifo(options);
}
