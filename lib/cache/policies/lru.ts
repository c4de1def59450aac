/**
 * LRU: evict the least recently used object (the seed design's "oldest lastAccess"). One list; a hit moves the
 * object to the head. Matches libCacheSim's `lru`.
 *
 * @module
 */

import type { Policy, PolicyOptions } from "../policy.ts";
import { SingleListPolicy } from "./_pool_policy.ts";

/** Least recently used. */
export class Lru extends SingleListPolicy {
  /** Policy name. */
  readonly name: string = "lru";

  /** A hit moves the object to the head. */
  protected onHit(n: number): void {
    this.pool.moveHead(n, 0);
  }

  /** Evict the least recently used unpinned object. */
  protected evict(): void {
    this.evictTail(0);
  }
}

/** Make an LRU policy. */
export function lru(options: PolicyOptions): Policy {
  return new Lru(options);
}
