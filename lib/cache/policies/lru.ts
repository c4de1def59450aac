/**
 * LRU: evict the least recently used object (the seed design's "oldest lastAccess"). One list in a
 * {@linkcode LinkedTable}; a hit moves the object to the head. Matches libCacheSim's `lru`.
 *
 * @module
 */

import type { LinkedTable } from "../linked_table.ts";
import { NIL } from "../nodes.ts";
import type { Policy, PolicyOptions } from "../policy.ts";
import { TablePolicy } from "./_table_policy.ts";

/** Least recently used. */
export class Lru extends TablePolicy {
  /** Policy name. */
  readonly name: string = "lru";

  /** A cache of `capacity` objects. */
  constructor(options: PolicyOptions) {
    super(options, options.capacity + 1, 1, 1);
  }

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const t: LinkedTable = this.table;
    const s = t.find(key);
    if (s !== NIL) {
      t.moveHead(s, 0);
      return true;
    }
    while (t.length[0] >= this.capacity) this.evictTail(0);
    t.add(key, 0);
    return false;
  }
}

/** Make an LRU policy. */
export function lru(options: PolicyOptions): Policy {
  return new Lru(options);
}
