/**
 * The frame shared by the policies whose queues live in one {@linkcode NodePool} (LRU, FIFO, CLOCK, SIEVE, 2Q,
 * S3-FIFO, ARC): the pool, the pin test and the eviction callback, `contains`/`size`, and the eviction steps
 * several of them take (drop a victim, evict the unpinned tail of a list, CLOCK's second-chance scan, demote to a
 * ghost FIFO). {@linkcode SingleListPolicy} adds the whole request path of the one-queue policies, which then only
 * say what a hit does and whom to evict. Each policy keeps its own file; these helpers allocate nothing.
 *
 * Layout convention: the resident lists are the pool's lists `0 … resident-1`, ghost lists (keys only) follow.
 *
 * @module
 */

import { NIL, NodePool } from "../nodes.ts";
import { NoVictimError, type Policy, type PolicyOptions, unpinnedFromTail } from "../policy.ts";

/** How a {@linkcode PoolPolicy} sizes its pool. */
export interface PoolLayout {
  /** Nodes to allocate up front (the pool grows if ever needed). */
  nodes: number;
  /** Number of lists. */
  lists: number;
  /** Number of resident lists (lists `0 … resident-1`); the others are ghost lists. */
  resident: number;
}

/** Base class of the policies built on one node pool. */
export abstract class PoolPolicy implements Policy {
  /** Policy name. */
  abstract readonly name: string;
  /** Capacity in objects. */
  readonly capacity: number;
  /** The nodes of every list. */
  protected readonly pool: NodePool;
  /** True when a key must not be evicted now (seed model), or undefined (object model). */
  protected readonly pinned: PolicyOptions["pinned"];
  /** Called with every resident key evicted. */
  protected readonly onEvict: PolicyOptions["onEvict"];
  readonly #resident: number;

  /** Set up the pool as `layout` says. */
  constructor(options: PolicyOptions, layout: PoolLayout) {
    this.capacity = options.capacity;
    this.pool = new NodePool(layout.nodes, layout.lists);
    this.#resident = layout.resident;
    this.pinned = options.pinned;
    this.onEvict = options.onEvict;
  }

  /** Request a key; true on hit. */
  abstract access(key: number, nextUse: number): boolean;

  /** True when resident (in one of the resident lists). */
  contains(key: number): boolean {
    const n = this.pool.find(key);
    return n !== NIL && this.pool.list[n] < this.#resident;
  }

  /** Resident objects. */
  size(): number {
    const len = this.pool.length;
    let s = 0;
    for (let l = 0; l < this.#resident; l++) s += len[l];
    return s;
  }

  /** Free resident node `v` and report its key as evicted. */
  protected evictNode(v: number): void {
    const k = this.pool.key[v];
    this.pool.drop(v);
    this.onEvict?.(k);
  }

  /** Evict the first unpinned node from the tail of list `l`; throws {@linkcode NoVictimError} if there is none. */
  protected evictTail(l: number): void {
    const v = unpinnedFromTail(this.pool, l, this.pinned);
    if (v === NIL) throw new NoVictimError(this.name);
    this.evictNode(v);
  }

  /**
   * CLOCK's hand on list `l`: from the tail, an entry with a non-zero counter in `aux` goes back to the head with
   * its counter (capped at 3) minus one, a pinned entry goes back unchanged, and the first other entry is evicted.
   * False (nothing evicted) when the list is empty or holds only pinned entries.
   */
  protected clockEvict(l: number): boolean {
    const pool = this.pool, pinned = this.pinned;
    let pinnedSeen = 0;
    while (pool.length[l] > 0) {
      const v = pool.tail[l];
      if (pinned !== undefined && pinned(pool.key[v])) {
        if (++pinnedSeen > pool.length[l]) return false;
        pool.moveHead(v, l);
        continue;
      }
      const f = pool.aux[v];
      if (f >= 1) {
        pool.moveHead(v, l);
        pool.aux[v] = Math.min(f, 3) - 1;
        continue;
      }
      this.evictNode(v);
      return true;
    }
    return false;
  }

  /**
   * Evict resident node `v` into the ghost FIFO `ghost` of at most `ghostSize` keys (dropping the oldest ghosts to
   * make room; with no ghost room the node is just freed). Its `aux` is cleared.
   */
  protected evictToGhost(v: number, ghost: number, ghostSize: number): void {
    const pool = this.pool;
    const k = pool.key[v];
    if (ghostSize > 0) {
      pool.unlink(v);
      while (pool.length[ghost] + 1 > ghostSize) pool.drop(pool.tail[ghost]);
      pool.pushHead(v, ghost);
      pool.aux[v] = 0;
    } else {
      pool.drop(v);
    }
    this.onEvict?.(k);
  }
}

/**
 * A policy with one resident queue (list 0, head = newest): a hit calls {@linkcode SingleListPolicy.onHit}; a miss
 * calls {@linkcode SingleListPolicy.evict} until there is room, then admits the key at the head.
 */
export abstract class SingleListPolicy extends PoolPolicy {
  /** A cache of `capacity` objects in one queue. */
  constructor(options: PolicyOptions) {
    super(options, { nodes: options.capacity + 1, lists: 1, resident: 1 });
  }

  /** What a hit on node `n` does. */
  protected abstract onHit(n: number): void;

  /** Evict one object (throws {@linkcode NoVictimError} when every resident entry is pinned). */
  protected abstract evict(): void;

  /** Request a key; true on hit. */
  access(key: number, _nextUse: number): boolean {
    const pool = this.pool;
    const n = pool.find(key);
    if (n >= 0) {
      this.onHit(n);
      return true;
    }
    while (pool.length[0] >= this.capacity) this.evict();
    pool.add(key, 0);
    return false;
  }
}
