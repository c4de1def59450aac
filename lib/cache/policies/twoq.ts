/**
 * 2Q (Johnson & Shasha, VLDB'94) with libCacheSim's defaults (`Ain-size-ratio=0.25,Aout-size-ratio=0.5`): new
 * objects enter the FIFO A1in (⌊0.25c⌋); objects leaving A1in are remembered in the ghost FIFO A1out (⌊0.5c⌋
 * keys); a miss that hits A1out goes to the LRU Am (c − ⌊0.25c⌋); hits in A1in change nothing. Like libCacheSim,
 * A1in may grow past its share while Am is small, and admission to Am evicts inside Am first.
 *
 * @module
 */

import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";
import { PoolPolicy } from "./_pool_policy.ts";

const AIN = 0, AM = 1, AOUT = 2;

/** 2Q with libCacheSim's default sizes. */
export class TwoQ extends PoolPolicy {
  /** Policy name. */
  readonly name: string = "twoq";
  #ainSize: number;
  #aoutSize: number;
  #amSize: number;

  /** Make a 2Q cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const c = options.capacity, aoutSize = Math.trunc(c * 0.5);
    super(options, { nodes: c + aoutSize + 4, lists: 3, resident: 2 });
    this.#ainSize = Math.trunc(c * 0.25);
    this.#aoutSize = aoutSize;
    this.#amSize = c - this.#ainSize;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.pool, len = pool.length;
    const n = pool.find(key);
    let hitOnGhost = false;
    if (n !== NIL) {
      const l = pool.list[n];
      if (l === AIN) return true;
      if (l === AM) {
        pool.moveHead(n, AM);
        return true;
      }
      pool.drop(n);
      hitOnGhost = true;
    }
    if (this.#ainSize < 1) return false; // libCacheSim cannot insert an object larger than A1in
    while (len[AIN] + len[AM] + 1 > this.capacity) this.#evict();
    if (hitOnGhost) {
      while (len[AM] + 1 > this.#amSize) {
        const v = unpinnedFromTail(pool, AM, this.pinned);
        if (v === NIL) break;
        this.evictNode(v);
      }
      pool.add(key, AM);
    } else {
      pool.add(key, AIN);
    }
    return false;
  }

  /** Evict from A1in to the ghost A1out when A1in is over its share, else from Am, else from A1in. */
  #evict(): void {
    const pool = this.pool, len = pool.length;
    if (len[AIN] > this.#ainSize) {
      const v = unpinnedFromTail(pool, AIN, this.pinned);
      if (v !== NIL) return this.evictToGhost(v, AOUT, this.#aoutSize);
    }
    let v = unpinnedFromTail(pool, AM, this.pinned);
    if (v !== NIL) return this.evictNode(v);
    v = unpinnedFromTail(pool, AIN, this.pinned);
    if (v !== NIL) return this.evictToGhost(v, AOUT, this.#aoutSize);
    throw new NoVictimError(this.name);
  }
}

/** Make a 2Q policy. */
export function twoq(options: PolicyOptions): Policy {
  return new TwoQ(options);
}
