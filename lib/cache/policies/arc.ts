/**
 * ARC (Megiddo & Modha, FAST'03), following libCacheSim's `arc` step by step so miss ratios match exactly: T1/T2
 * resident LRU lists, B1/B2 ghost lists, the adaptive target `p` (a double, adapted by max(|B2|/|B1|, 1) on a B1
 * hit and the mirror on a B2 hit), REPLACE, and case IV's ghost trimming (|T1|+|B1| ≥ c, and the total ≥ 2c).
 *
 * @module
 */

import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";
import { PoolPolicy } from "./_pool_policy.ts";

const T1 = 0, T2 = 1, B1 = 2, B2 = 3;

/** Adaptive replacement cache. */
export class Arc extends PoolPolicy {
  /** Policy name. */
  readonly name: string = "arc";
  #p = 0;
  #ghostHitB2 = false;

  /** Make an ARC cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    super(options, { nodes: 2 * options.capacity + 2, lists: 4, resident: 2 });
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.pool, len = pool.length;
    const n = pool.find(key);
    let ghost = NIL;
    if (n !== NIL) {
      const l = pool.list[n];
      if (l === T1 || l === T2) {
        pool.moveHead(n, T2);
        return true;
      }
      const c = this.capacity;
      if (l === B1) {
        this.#ghostHitB2 = false;
        const delta = Math.max(len[B2] / len[B1], 1);
        this.#p = Math.min(this.#p + delta, c);
      } else {
        this.#ghostHitB2 = true;
        const delta = Math.max(len[B1] / len[B2], 1);
        this.#p = Math.max(this.#p - delta, 0);
      }
      // Leave the ghost list now (libCacheSim deletes it); the node is reused for the admission below.
      pool.unlink(n);
      ghost = n;
    }
    while (len[T1] + len[T2] + 1 > this.capacity) {
      if (ghost !== NIL) this.#replace(this.#ghostHitB2);
      else this.#evictMissOnAll();
    }
    if (ghost !== NIL) pool.pushHead(ghost, T2);
    else pool.add(key, T1);
    return false;
  }

  #replace(hitInB2: boolean): void {
    const len = this.pool.length;
    const l1 = len[T1];
    const fromT1 = (l1 > 0 && (l1 > this.#p || (l1 === this.#p && hitInB2))) || len[T2] === 0;
    this.#demote(fromT1 ? T1 : T2);
  }

  /** Move the victim of resident list `l` to its ghost list (or of the other list if all of `l` is pinned). */
  #demote(l: number): void {
    const pool = this.pool;
    let v = unpinnedFromTail(pool, l, this.pinned);
    if (v === NIL) {
      l = l === T1 ? T2 : T1;
      v = unpinnedFromTail(pool, l, this.pinned);
      if (v === NIL) throw new NoVictimError(this.name);
    }
    pool.unlink(v);
    pool.pushHead(v, l === T1 ? B1 : B2);
    this.onEvict?.(pool.key[v]);
  }

  #evictMissOnAll(): void {
    const pool = this.pool, len = pool.length, c = this.capacity;
    if (len[T1] + len[B1] + 1 > c) {
      if (len[B1] > 0) {
        pool.drop(pool.tail[B1]);
        this.#replace(false);
      } else {
        let v = unpinnedFromTail(pool, T1, this.pinned);
        if (v === NIL) v = unpinnedFromTail(pool, T2, this.pinned);
        if (v === NIL) throw new NoVictimError(this.name);
        this.evictNode(v);
      }
    } else {
      if (len[T1] + len[B1] + len[T2] + len[B2] >= 2 * c && len[B2] > 0) pool.drop(pool.tail[B2]);
      this.#replace(false);
    }
  }
}

/** Make an ARC policy. */
export function arc(options: PolicyOptions): Policy {
  return new Arc(options);
}
