/**
 * S3-FIFO (Yang et al., SOSP'23) with libCacheSim's defaults (`fifo-size-ratio=0.10,ghost-size-ratio=0.90,
 * move-to-main-threshold=2`): a small FIFO S (⌊0.1c⌋), a main FIFO M (the rest) with 2-bit-style reinsertion
 * (frequency capped at 3, minus one per pass), and a ghost FIFO G of ⌊0.9c⌋ keys. Objects leaving S with
 * frequency ≥ 2 move to M (frequency reset to 0, as libCacheSim does), the others go to G; a miss found in G is
 * admitted straight to M.
 *
 * @module
 */

import { NIL, NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

const SMALL = 0, GHOST = 1, MAIN = 2;

/** S3-FIFO with libCacheSim's default sizes. */
export class S3Fifo implements Policy {
  /** Policy name. */
  readonly name: string = "s3fifo";
  /** Capacity in objects. */
  readonly capacity: number;
  #smallSize: number;
  #mainSize: number;
  #ghostSize: number;
  #pool: NodePool;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make an S3-FIFO cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const c = options.capacity;
    this.capacity = c;
    this.#smallSize = Math.trunc(c * 0.1);
    this.#mainSize = c - this.#smallSize;
    this.#ghostSize = Math.trunc(c * 0.9);
    this.#pool = new NodePool(c + this.#ghostSize + 4, 3);
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.#pool, len = pool.length;
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
    const len = this.#pool.length;
    if (len[MAIN] > this.#mainSize || len[SMALL] === 0) {
      if (this.#evictMain() || this.#evictSmall()) return;
    } else if (this.#evictSmall() || this.#evictMain()) return;
    throw new NoVictimError(this.name);
  }

  /** One eviction from S (moving frequent objects to M on the way); false if S holds only pinned entries. */
  #evictSmall(): boolean {
    const pool = this.#pool, pinned = this.#pinned;
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
      const k = pool.key[v];
      if (this.#ghostSize > 0) {
        pool.unlink(v);
        while (pool.length[GHOST] + 1 > this.#ghostSize) pool.drop(pool.tail[GHOST]);
        pool.pushHead(v, GHOST);
        pool.aux[v] = 0;
      } else {
        pool.drop(v);
      }
      this.#onEvict?.(k);
      return true;
    }
    return false;
  }

  /** One eviction from M (reinserting objects with frequency ≥ 1); false if M holds only pinned entries. */
  #evictMain(): boolean {
    const pool = this.#pool, pinned = this.#pinned;
    let pinnedSeen = 0;
    while (pool.length[MAIN] > 0) {
      const v = pool.tail[MAIN];
      if (pinned !== undefined && pinned(pool.key[v])) {
        if (++pinnedSeen > pool.length[MAIN]) return false;
        pool.moveHead(v, MAIN);
        continue;
      }
      const f = pool.aux[v];
      if (f >= 1) {
        pool.moveHead(v, MAIN);
        pool.aux[v] = Math.min(f, 3) - 1;
        continue;
      }
      const k = pool.key[v];
      pool.drop(v);
      this.#onEvict?.(k);
      return true;
    }
    return false;
  }

  /** True when resident. */
  contains(key: number): boolean {
    const n = this.#pool.find(key);
    return n !== NIL && this.#pool.list[n] !== GHOST;
  }

  /** Resident objects. */
  size(): number {
    return this.#pool.length[SMALL] + this.#pool.length[MAIN];
  }
}

/** Make an S3-FIFO policy. */
export function s3fifo(options: PolicyOptions): Policy {
  return new S3Fifo(options);
}
