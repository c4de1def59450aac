/**
 * S3-FIFO (Yang et al., SOSP'23) with libCacheSim's defaults (`fifo-size-ratio=0.10,ghost-size-ratio=0.90,
 * move-to-main-threshold=2`): a small FIFO S (⌊0.1c⌋), a main FIFO M (the rest) with 2-bit-style reinsertion
 * (frequency capped at 3, minus one per pass), and a ghost FIFO G of ⌊0.9c⌋ keys. Objects leaving S with
 * frequency ≥ 2 move to M (frequency reset to 0, as libCacheSim does), the others go to G; a miss found in G is
 * admitted straight to M.
 *
 * @module
 */

import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";
import { PoolPolicy } from "./_pool_policy.ts";

const SMALL = 0, MAIN = 1, GHOST = 2;

/** S3-FIFO with libCacheSim's default sizes. */
export class S3Fifo extends PoolPolicy {
  /** Policy name. */
  readonly name: string = "s3fifo";
  #smallSize: number;
  #mainSize: number;
  #ghostSize: number;

  /** Make an S3-FIFO cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const c = options.capacity, ghostSize = Math.trunc(c * 0.9);
    super(options, { nodes: c + ghostSize + 4, lists: 3, resident: 2 });
    this.#smallSize = Math.trunc(c * 0.1);
    this.#mainSize = c - this.#smallSize;
    this.#ghostSize = ghostSize;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.pool, len = pool.length;
    const n = pool.find(key);
    let hitOnGhost = false;
    if (n !== NIL) {
      const l = pool.list[n];
      if (l !== GHOST) {
        pool.aux[n]++;
        return true;
      }
      pool.drop(n);
      hitOnGhost = true;
    }
    // libCacheSim admits only objects smaller than S (size 1 needs |S| ≥ 2).
    if (this.#smallSize < 1 || (!hitOnGhost && this.#smallSize <= 1)) return false;
    while (len[SMALL] + len[MAIN] + 1 > this.capacity) this.#evict();
    pool.add(key, hitOnGhost ? MAIN : SMALL);
    return false;
  }

  #evict(): void {
    const len = this.pool.length;
    if (len[MAIN] > this.#mainSize || len[SMALL] === 0) {
      if (this.clockEvict(MAIN) || this.#evictSmall()) return;
    } else if (this.#evictSmall() || this.clockEvict(MAIN)) return;
    throw new NoVictimError(this.name);
  }

  /** One eviction from S (moving frequent objects to M on the way); false if S holds only pinned entries. */
  #evictSmall(): boolean {
    const pool = this.pool, pinned = this.pinned;
    let pinnedSeen = 0;
    while (pool.length[SMALL] > 0) {
      const v = pool.tail[SMALL];
      if (pinned !== undefined && pinned(pool.key[v])) {
        if (++pinnedSeen > pool.length[SMALL]) return false;
        pool.moveHead(v, SMALL);
        continue;
      }
      if (pool.aux[v] >= 2) {
        pool.unlink(v);
        pool.pushHead(v, MAIN);
        pool.aux[v] = 0;
        continue;
      }
      this.evictToGhost(v, GHOST, this.#ghostSize);
      return true;
    }
    return false;
  }
}

/** Make an S3-FIFO policy. */
export function s3fifo(options: PolicyOptions): Policy {
  return new S3Fifo(options);
}
