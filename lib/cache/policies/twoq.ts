/**
 * 2Q (Johnson & Shasha, VLDB'94) with libCacheSim's defaults (`Ain-size-ratio=0.25,Aout-size-ratio=0.5`): new
 * objects enter the FIFO A1in (⌊0.25c⌋); objects leaving A1in are remembered in the ghost FIFO A1out (⌊0.5c⌋
 * keys); a miss that hits A1out goes to the LRU Am (c − ⌊0.25c⌋); hits in A1in change nothing. Like libCacheSim,
 * A1in may grow past its share while Am is small, and admission to Am evicts inside Am first.
 *
 * @module
 */

import { NIL, NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";

const AIN = 0, AOUT = 1, AM = 2;

/** 2Q with libCacheSim's default sizes. */
export class TwoQ implements Policy {
  /** Policy name. */
  readonly name: string = "twoq";
  /** Capacity in objects. */
  readonly capacity: number;
  #ainSize: number;
  #aoutSize: number;
  #amSize: number;
  #pool: NodePool;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make a 2Q cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const c = options.capacity;
    this.capacity = c;
    this.#ainSize = Math.trunc(c * 0.25);
    this.#aoutSize = Math.trunc(c * 0.5);
    this.#amSize = c - this.#ainSize;
    this.#pool = new NodePool(c + this.#aoutSize + 4, 3);
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
        const v = unpinnedFromTail(pool, AM, this.#pinned);
        if (v === NIL) break;
        this.#dropResident(v);
      }
      pool.add(key, AM);
    } else {
      pool.add(key, AIN);
    }
    return false;
  }

  #dropResident(v: number): void {
    const k = this.#pool.key[v];
    this.#pool.drop(v);
    this.#onEvict?.(k);
  }

  #evict(): void {
    const pool = this.#pool, len = pool.length;
    if (len[AIN] > this.#ainSize) {
      const v = unpinnedFromTail(pool, AIN, this.#pinned);
      if (v !== NIL) return this.#toGhost(v);
    }
    let v = unpinnedFromTail(pool, AM, this.#pinned);
    if (v !== NIL) return this.#dropResident(v);
    v = unpinnedFromTail(pool, AIN, this.#pinned);
    if (v !== NIL) return this.#toGhost(v);
    throw new NoVictimError(this.name);
  }

  /** Move an A1in victim into the ghost A1out (a FIFO of keys). */
  #toGhost(v: number): void {
    const pool = this.#pool;
    const k = pool.key[v];
    if (this.#aoutSize < 1) {
      pool.drop(v);
    } else {
      pool.unlink(v);
      while (pool.length[AOUT] + 1 > this.#aoutSize) pool.drop(pool.tail[AOUT]);
      pool.pushHead(v, AOUT);
    }
    this.#onEvict?.(k);
  }

  /** True when resident. */
  contains(key: number): boolean {
    const n = this.#pool.find(key);
    return n !== NIL && this.#pool.list[n] !== AOUT;
  }

  /** Resident objects. */
  size(): number {
    return this.#pool.length[AIN] + this.#pool.length[AM];
  }
}

/** Make a 2Q policy. */
export function twoq(options: PolicyOptions): Policy {
  return new TwoQ(options);
}
