/**
 * ARC (Megiddo & Modha, FAST'03), following libCacheSim's `arc` step by step so miss ratios match exactly: T1/T2
 * resident LRU lists, B1/B2 ghost lists, the adaptive target `p` (a double, adapted by max(|B2|/|B1|, 1) on a B1
 * hit and the mirror on a B2 hit), REPLACE, and case IV's ghost trimming (|T1|+|B1| ≥ c, and the total ≥ 2c).
 *
 * All four lists live in one {@linkcode LinkedTable}: a ghost is a key-only entry of that table, so a resident
 * object demoted to B1/B2 only changes lists (no second index, no node to allocate), and a ghost hit becomes
 * resident again in place.
 *
 * @module
 */

import type { LinkedTable } from "../linked_table.ts";
import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";
import { TablePolicy } from "./_table_policy.ts";

const T1 = 0, T2 = 1, B1 = 2, B2 = 3;

/** Adaptive replacement cache. */
export class Arc extends TablePolicy {
  /** Policy name. */
  readonly name: string = "arc";
  #p = 0;

  /** Make an ARC cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    super(options, 2 * options.capacity + 2, 4, 2);
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const t: LinkedTable = this.table, len = t.length, c = this.capacity;
    const s = t.find(key);
    if (s !== NIL) {
      const l = t.list(s);
      if (l === T1 || l === T2) {
        t.moveHead(s, T2);
        return true;
      }
      // Ghost hit: adapt p, make room (REPLACE only demotes: nothing is dropped, so no entry moves and `s` stays
      // valid), then the ghost becomes resident in T2 (libCacheSim deletes it first; REPLACE does not look at |B1|
      // or |B2|).
      const inB2 = l === B2;
      if (inB2) this.#p = Math.max(this.#p - Math.max(len[B1] / len[B2], 1), 0);
      else this.#p = Math.min(this.#p + Math.max(len[B2] / len[B1], 1), c);
      while (len[T1] + len[T2] + 1 > c) this.#replace(inB2);
      t.moveHead(s, T2);
      return false;
    }
    while (len[T1] + len[T2] + 1 > c) this.#evictMissOnAll();
    t.add(key, T1);
    return false;
  }

  #replace(hitInB2: boolean): void {
    const len = this.table.length;
    const l1 = len[T1];
    const fromT1 = (l1 > 0 && (l1 > this.#p || (l1 === this.#p && hitInB2))) || len[T2] === 0;
    this.#demote(fromT1 ? T1 : T2);
  }

  /** Move the victim of resident list `l` to its ghost list (or of the other list if all of `l` is pinned). */
  #demote(l: number): void {
    const t = this.table;
    let v = this.unpinnedTail(l);
    if (v === NIL) {
      l = l === T1 ? T2 : T1;
      v = this.unpinnedTail(l);
      if (v === NIL) throw new NoVictimError(this.name);
    }
    t.moveHead(v, l === T1 ? B1 : B2);
    this.onEvict?.(t.key(v));
  }

  #evictMissOnAll(): void {
    const t = this.table, len = t.length, c = this.capacity;
    if (len[T1] + len[B1] + 1 > c) {
      if (len[B1] > 0) {
        t.drop(t.tail[B1]);
        this.#replace(false);
      } else {
        let v = this.unpinnedTail(T1);
        if (v === NIL) v = this.unpinnedTail(T2);
        if (v === NIL) throw new NoVictimError(this.name);
        this.evictSlot(v);
      }
    } else {
      if (len[T1] + len[B1] + len[T2] + len[B2] >= 2 * c && len[B2] > 0) t.drop(t.tail[B2]);
      this.#replace(false);
    }
  }
}

/** Make an ARC policy. */
export function arc(options: PolicyOptions): Policy {
  return new Arc(options);
}
