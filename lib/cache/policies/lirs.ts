/**
 * LIRS (Jiang & Zhang, SIGMETRICS'02), following libCacheSim's `lirs` step by step so miss ratios match exactly:
 * the LIR stack S, the resident-HIR queue Q (1% of the cache, at least one object), a list of non-resident HIR
 * entries used to bound S at twice the cache size, and libCacheSim's exact order of demotions, pruning and
 * accounting (including its choice to make room in the LIR set before a resident HIR in Q enters S).
 *
 * @module
 */

import { NIL, NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";

const LIR = 1, IN_CACHE = 2;

/** LIRS as libCacheSim implements it. */
export class Lirs implements Policy {
  /** Policy name. */
  readonly name: string = "lirs";
  /** Capacity in objects. */
  readonly capacity: number;
  #s: NodePool;
  #q: NodePool;
  #nh: NodePool;
  #hirsLimit: number;
  #lirsLimit: number;
  #hirs = 0;
  #lirs = 0;
  #occ = 0;
  #pinned: PolicyOptions["pinned"];
  #onEvict: PolicyOptions["onEvict"];

  /** Make a LIRS cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    const c = options.capacity;
    this.capacity = c;
    this.#hirsLimit = Math.max(1, Math.trunc(0.01 * c));
    this.#lirsLimit = c - this.#hirsLimit;
    this.#s = new NodePool(2 * c + 8, 1);
    this.#q = new NodePool(this.#hirsLimit + 4, 1);
    this.#nh = new NodePool(c + 8, 1);
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    if (
      this.#pinned !== undefined && this.#hirs + 1 > this.#hirsLimit &&
      unpinnedFromTail(this.#q, 0, this.#pinned) === NIL
    ) {
      // Every eviction path goes through Q; with Q full and all pinned only a hit on a LIR block can proceed.
      // Refuse the rest before changing any state (the seed model then makes the requester wait).
      const s = this.#s.find(key);
      if (s === NIL || !(this.#s.aux[s] & LIR)) throw new NoVictimError(this.name);
    }
    const hit = this.#find(key);
    if (!hit && this.#canInsert(key)) {
      let guard = 0;
      while (this.#occ + 1 > this.capacity) {
        this.#evict(key);
        if (++guard > 4 * this.capacity + 16) throw new NoVictimError(this.name);
      }
      this.#insert(key);
    }
    this.#limitStack();
    return hit;
  }

  #find(key: number): boolean {
    const S = this.#s, Q = this.#q;
    const s = S.find(key);
    if (s !== NIL) S.moveHead(s, 0);
    const q = Q.find(key);
    if (q !== NIL) Q.moveHead(q, 0);
    if (s !== NIL) {
      if (S.aux[s] & LIR) {
        this.#prune();
        return true;
      }
      if (S.aux[s] & IN_CACHE) {
        // hit on a resident HIR block in S: it becomes LIR
        if (q !== NIL) {
          this.#hirs--;
          Q.drop(q);
          this.#occ--;
        }
        while (this.#lirs + 1 > this.#lirsLimit) this.#evictLir();
        S.aux[s] |= LIR;
        this.#lirs++;
        this.#occ++;
        return true;
      }
      return false;
    }
    if (q !== NIL) {
      // hit on a resident HIR block only in Q: it enters S as HIR
      while (this.#lirs + 1 > this.#lirsLimit) this.#evictLir();
      const n = S.find(key) === NIL ? S.add(key, 0) : S.find(key);
      S.aux[n] = IN_CACHE;
      return true;
    }
    return false;
  }

  #canInsert(key: number): boolean {
    if (1 > this.capacity) return false;
    const s = this.#s.find(key);
    const q = this.#q.find(key);
    if (s !== NIL && (this.#s.aux[s] & (LIR | IN_CACHE)) === 0) {
      while (this.#lirs + 1 > this.#lirsLimit) this.#evictLir();
      const nh = this.#nh.find(key);
      if (nh !== NIL) this.#nh.drop(nh);
      return true;
    }
    if (s === NIL && q === NIL) {
      if (1 > this.#lirsLimit || 1 > this.#hirsLimit) return false;
      if (this.#lirs + 1 > this.#lirsLimit && this.#hirs + 1 > this.#hirsLimit) {
        while (this.#hirs + 1 > this.#hirsLimit) this.#evictHir();
      }
      return true;
    }
    throw new Error("lirs: unexpected state in can_insert");
  }

  #evict(key: number): void {
    const s = this.#s.find(key);
    const q = this.#q.find(key);
    if (s !== NIL && (this.#s.aux[s] & (LIR | IN_CACHE)) === 0) {
      while (this.#hirs >= this.#hirsLimit) this.#evictHir();
      this.#evictLir();
    }
    if (s === NIL && q !== NIL && (this.#q.aux[q] & IN_CACHE) === 0) {
      while (this.#hirs >= this.#hirsLimit) this.#evictHir();
    }
    if (s === NIL && q === NIL) {
      if (this.#lirs + 1 > this.#lirsLimit && this.#hirs + 1 > this.#hirsLimit) this.#evictHir();
    }
  }

  #insert(key: number): void {
    const S = this.#s, Q = this.#q;
    const s = S.find(key);
    const q = Q.find(key);
    if (s !== NIL && (S.aux[s] & (LIR | IN_CACHE)) === 0) {
      S.aux[s] = LIR | IN_CACHE;
      this.#lirs++;
      this.#occ++;
    }
    if (s === NIL && q === NIL) {
      if (this.#lirs + 1 <= this.#lirsLimit) {
        S.aux[S.add(key, 0)] = LIR | IN_CACHE;
        this.#lirs++;
      } else {
        S.aux[S.add(key, 0)] = IN_CACHE;
        Q.aux[Q.add(key, 0)] = IN_CACHE;
        this.#hirs++;
      }
      this.#occ++;
    }
  }

  /** Demote the LIR block at the bottom of S to a resident HIR in Q, then prune S. */
  #evictLir(): void {
    const S = this.#s, Q = this.#q;
    const v = S.tail[0];
    const key = S.key[v];
    this.#lirs--;
    S.drop(v);
    this.#occ--;
    if (1 <= this.#hirsLimit) {
      while (this.#hirs + 1 > this.#hirsLimit) this.#evictHir();
      const old = Q.find(key);
      const n = old === NIL ? Q.add(key, 0) : old;
      if (old !== NIL) Q.moveHead(n, 0);
      Q.aux[n] = IN_CACHE;
      this.#hirs++;
      this.#occ++;
    } else {
      this.#onEvict?.(key);
    }
    this.#prune();
  }

  /** Evict the resident HIR block at the bottom of Q (it stays in S as non-resident). */
  #evictHir(): void {
    const S = this.#s, Q = this.#q;
    const v = unpinnedFromTail(Q, 0, this.#pinned);
    if (v === NIL) throw new NoVictimError(this.name);
    const key = Q.key[v];
    this.#hirs--;
    Q.drop(v);
    const s = S.find(key);
    if (s !== NIL) {
      S.aux[s] &= ~IN_CACHE;
      if (this.#nh.find(key) === NIL) this.#nh.add(key, 0);
    }
    this.#occ--;
    this.#onEvict?.(key);
  }

  /** Remove HIR blocks from the bottom of S until a LIR block is there. */
  #prune(): void {
    const S = this.#s, NH = this.#nh;
    let t = S.tail[0];
    while (t !== S.head[0]) {
      if (S.aux[t] & LIR) break;
      if ((S.aux[t] & IN_CACHE) === 0) {
        const nh = NH.find(S.key[t]);
        if (nh !== NIL) NH.drop(nh);
      }
      S.drop(t);
      t = S.tail[0];
    }
  }

  /** Bound S at twice the cache size by forgetting the oldest non-resident HIR entries. */
  #limitStack(): void {
    const S = this.#s, NH = this.#nh;
    while (S.length[0] > 2 * this.capacity) {
      const v = NH.tail[0];
      if (v === NIL) break;
      const s = S.find(NH.key[v]);
      if (s !== NIL) S.drop(s);
      NH.drop(v);
    }
  }

  /** True when resident. */
  contains(key: number): boolean {
    const s = this.#s.find(key);
    if (s !== NIL && this.#s.aux[s] & IN_CACHE) return true;
    const q = this.#q.find(key);
    return q !== NIL && (this.#q.aux[q] & IN_CACHE) !== 0;
  }

  /** Resident objects. */
  size(): number {
    return this.#occ;
  }
}

/** Make a LIRS policy. */
export function lirs(options: PolicyOptions): Policy {
  return new Lirs(options);
}
