/**
 * The frame of the policies built on one {@linkcode LinkedTable} (LRU, ARC: the ones the benchmark runs), the
 * counterpart of `_pool_policy.ts`'s `PoolPolicy`: the table, the pin test and the eviction callback,
 * `contains`/`size`, and the unpinned-victim search. Each policy keeps its own file; nothing here allocates.
 *
 * Layout convention: the resident lists are the table's lists `0 … resident-1`; ghost lists (keys only) follow.
 *
 * @module
 */

import { LinkedTable } from "../linked_table.ts";
import { NIL } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions } from "../policy.ts";

/** Base class of the policies built on one linked table. */
export abstract class TablePolicy implements Policy {
  /** Policy name. */
  abstract readonly name: string;
  /** Capacity in objects. */
  readonly capacity: number;
  /** Every entry, resident or ghost, with its list links. */
  protected readonly table: LinkedTable;
  /** True when a key must not be evicted now (seed model), or undefined (object model). */
  protected readonly pinned: PolicyOptions["pinned"];
  /** Called with every resident key evicted. */
  protected readonly onEvict: PolicyOptions["onEvict"];
  readonly #resident: number;

  /** A table for `entries` entries in `lists` lists, the first `resident` of them resident. */
  constructor(options: PolicyOptions, entries: number, lists: number, resident: number) {
    this.capacity = options.capacity;
    this.table = new LinkedTable(entries, lists);
    this.#resident = resident;
    this.pinned = options.pinned;
    this.onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  abstract access(key: number, nextUse: number): boolean;

  /** True when resident (in one of the resident lists). */
  contains(key: number): boolean {
    const s = this.table.find(key);
    return s !== NIL && this.table.list(s) < this.#resident;
  }

  /** Resident objects. */
  size(): number {
    const len = this.table.length;
    let n = 0;
    for (let l = 0; l < this.#resident; l++) n += len[l];
    return n;
  }

  /** First slot from the tail of list `l` whose key is not pinned, or NIL (the tail itself without `pinned`). */
  protected unpinnedTail(l: number): number {
    const t = this.table, pinned = this.pinned;
    let s = t.tail[l];
    if (pinned === undefined) return s;
    while (s !== NIL && pinned(t.key(s))) s = t.prev(s);
    return s;
  }

  /** Remove resident entry `s` and report its key as evicted. */
  protected evictSlot(s: number): void {
    const k = this.table.key(s);
    this.table.drop(s);
    this.onEvict?.(k);
  }

  /** Evict the first unpinned entry from the tail of list `l`; throws {@linkcode NoVictimError} if there is none. */
  protected evictTail(l: number): void {
    const s = this.unpinnedTail(l);
    if (s === NIL) throw new NoVictimError(this.name);
    this.evictSlot(s);
  }
}
