/**
 * The one small interface every eviction policy implements, shared by the object model (libCacheSim-style: one
 * request = one object of size 1) and the seed model (a block cache whose pending entries are pinned).
 *
 * @module
 */

import { NIL, type NodePool } from "./nodes.ts";

/** Options every policy constructor takes. */
export interface PolicyOptions {
  /** Number of objects (blocks) the cache holds. */
  capacity: number;
  /**
   * True when a resident key must not be evicted now (the seed model pins pending and in-use entries). Policies
   * skip pinned keys when choosing a victim. Absent in the object model.
   */
  pinned?: (key: number) => boolean;
  /** Called with every resident key the policy evicts. */
  onEvict?: (key: number) => void;
}

/** An eviction policy: `access` is the whole get path (hit, or miss + evictions + admission). */
export interface Policy {
  /** Policy name as given to `--policy` (e.g. `lru`). */
  readonly name: string;
  /** Capacity in objects. */
  readonly capacity: number;
  /**
   * Request `key`; returns true on a hit. On a miss the key is admitted (evicting as needed) unless the policy
   * decides not to. `nextUse` is the index of the key's next request (Infinity if none); only `opt` uses it.
   */
  access(key: number, nextUse: number): boolean;
  /** True when `key` is resident (no state change). */
  contains(key: number): boolean;
  /** Resident objects. */
  size(): number;
}

/** A policy constructor. */
export type PolicyFactory = ((options: PolicyOptions) => Policy) & {
  /**
   * True when the policy needs each request's next-use index (the future, as OPT does): the models then compute it
   * in a pre-pass (or take it from an oracleGeneral trace). Absent means false.
   */
  readonly needsFuture?: boolean;
};

/** Raised when every resident entry is pinned: the requester has to wait (the seed model checks before asking). */
export class NoVictimError extends Error {
  /** Make the error. */
  constructor(policy: string) {
    super(`${policy}: every resident entry is pinned`);
    this.name = "NoVictimError";
  }
}

/**
 * First node from the tail of list `l` whose key is not pinned, or NIL. Without `pinned` this is the tail itself,
 * so the object model pays one branch.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function unpinnedFromTail(pool: NodePool, l: number, pinned: ((key: number) => boolean) | undefined): number {
  let n = pool.tail[l];
  if (pinned === undefined) return n;
  while (n !== NIL && pinned(pool.key[n])) n = pool.prev[n];
  return n;
}
