/**
 * The seed model's block operations: what one thread does to one block of its request. A read hits (or waits for
 * the block's pending read: a delayed hit) or misses (a READ_PENDING entry and a disk read); a write fills a fresh
 * entry or updates a cached one (waiting while an I/O is pending) and hands it to the write-back policy. A full
 * array evicts the policy's victim among unpinned entries, or the thread waits for one to free up. Threads wait on
 * an entry in a list through {@linkcode ThreadTable.next}; the disk side wakes them.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { NoVictimError, type Policy, type PolicyFactory } from "../policy.ts";
import type { EventQueue } from "../sim.ts";
import type { WritebackHost, WritebackPolicy } from "../writeback/mod.ts";
import type { DirtyList } from "./dirty.ts";
import type { EntryTable } from "./entries.ts";
import { FILL_PENDING, flagNames, PENDING, READ_PENDING, VALID } from "./flags.ts";
import type { InvariantChecker } from "./invariants.ts";
import { RESUME_CONTINUE, RESUME_RETRY, type ThreadTable } from "./threads.ts";

/** What the block operations work on: the model's tables, clock and write-back policy. */
export interface BlockContext {
  /** The cache entries. */
  entries: EntryTable;
  /** The threads (one per request in flight). */
  threads: ThreadTable;
  /** Acknowledged-but-unwritten entries. */
  dirty: DirtyList;
  /** The invariant checker (and violation log). */
  checker: InvariantChecker;
  /** The simulation clock. */
  ev: EventQueue;
  /** The write-back policy and the model as it sees it. */
  wb: WritebackPolicy;
  /** The model as the write-back policy sees it. */
  wbHost: WritebackHost;
  /** Threads ready to run (woken), in order. */
  runnable: number[];
  /** Queue a disk read (`write` false) or write of entry `s`. */
  queueIo: (s: number, write: boolean) => void;
  /** Keys per volume (`keySpace(blockSize).span`). */
  span: number;
  /** Policy name for error messages. */
  policyName: string;
}

/** The block operations over one model's tables. */
export class BlockOps {
  /** The eviction policy (made here: it asks the entries what is pinned and evicts through {@linkcode evicted}). */
  readonly policy: Policy;
  /** Times a block access found every entry pending, dirty or in use and had to wait. */
  waitsForFreeEntry = 0;
  readonly #c: BlockContext;
  readonly #e: EntryTable;
  readonly #th: ThreadTable;
  readonly #ev: EventQueue;
  readonly #check: boolean;
  readonly #checker: InvariantChecker;
  readonly #dirty: DirtyList;
  readonly #runnable: number[];
  readonly #wb: WritebackPolicy;
  readonly #wbHost: WritebackHost;
  readonly #span: number;
  #verCounter = 0;
  #slotWaitHead = -1;
  #slotWaitTail = -1;
  #slotWaiters = 0;

  /** Block operations over `context`, with a policy made by `factory`. */
  constructor(context: BlockContext, factory: PolicyFactory) {
    this.#c = context;
    this.#e = context.entries;
    this.#th = context.threads;
    this.#ev = context.ev;
    this.#checker = context.checker;
    this.#check = context.checker.enabled;
    this.#dirty = context.dirty;
    this.#runnable = context.runnable;
    this.#wb = context.wb;
    this.#wbHost = context.wbHost;
    this.#span = context.span;
    const e = this.#e;
    e.onUnpin = () => {
      if (this.#slotWaiters > 0) this.#wakeSlotWaiters();
    };
    this.policy = factory({
      capacity: e.capacity,
      pinned: (k) => e.isPinned(e.map.get(k)),
      onEvict: (k) => this.evicted(k),
    });
  }

  #keyOf(t: number): number {
    return this.#th.dev[t] * this.#span + this.#th.block[t];
  }

  /** Thread `t` reads its current block: true when done, false when it blocked. */
  read(t: number): boolean {
    const e = this.#e;
    const key = this.#keyOf(t);
    const slot = this.#touch(t, key, e.map.get(key));
    if (slot >= 0) {
      const f = e.flags[slot];
      if (f & (READ_PENDING | FILL_PENDING)) {
        this.#th.delayed[t] = 1;
        this.waitOn(t, slot, RESUME_RETRY);
        return false;
      }
      if (this.#check) this.#checker.checkRead(e, slot);
      return true;
    }
    const s = this.#allocate(t, key);
    if (s < 0) return false;
    this.#th.missed[t] = 1;
    e.setFlags(s, READ_PENDING);
    this.#c.queueIo(s, false);
    this.waitOn(t, s, RESUME_CONTINUE);
    return false;
  }

  /** Thread `t` writes its current block: true when done, false when it blocked. */
  write(t: number): boolean {
    const e = this.#e;
    const key = this.#keyOf(t);
    let slot = this.#touch(t, key, e.map.get(key));
    if (slot >= 0) {
      if (e.flags[slot] & PENDING) {
        this.waitOn(t, slot, RESUME_RETRY);
        return false;
      }
    } else {
      slot = this.#allocate(t, key);
      if (slot < 0) return false;
      this.#th.missed[t] = 1;
      // FILL_PENDING while the thread copies the new data in (instantaneous here), then valid.
      e.setFlags(slot, FILL_PENDING);
      e.version[slot] = this.#checker.diskVersion(key);
      e.setFlags(slot, VALID);
    }
    const v = ++this.#verCounter;
    e.version[slot] = v;
    return this.#wb.onWrite(this.#wbHost, t, slot, v);
  }

  /**
   * A lookup that found `slot`: count one policy access per block per thread and update lastAccess. Returns the
   * slot, or -1 when the policy's bookkeeping evicted this very entry (libCacheSim's LIRS can demote a hit HIR
   * block out and back in): the caller then takes the miss path.
   */
  #touch(t: number, key: number, slot: number): number {
    if (slot < 0) return -1;
    const th = this.#th;
    if (!th.accessed[t]) {
      th.accessed[t] = 1;
      try {
        this.policy.access(key, th.nextUse[t]);
      } catch (err) {
        // the policy's hit bookkeeping needed a victim and all candidates are pinned: serve the hit without it
        if (!(err instanceof NoVictimError)) throw err;
      }
      slot = this.#e.map.get(key);
      if (slot < 0) {
        th.accessed[t] = 0;
        return -1;
      }
    }
    this.#e.lastAccess[slot] = this.#ev.now;
    return slot;
  }

  /** Get a free entry for `key`: the policy admits it, evicting an unpinned victim if needed; -1 = wait. */
  #allocate(t: number, key: number): number {
    const e = this.#e, th = this.#th;
    if (e.freeTop === 0 && e.pinnedCount >= e.map.size) {
      this.#waitForSlot(t);
      return -1;
    }
    th.accessed[t] = 1;
    try {
      this.policy.access(key, th.nextUse[t]);
    } catch (err) {
      if (err instanceof NoVictimError) {
        this.#waitForSlot(t);
        return -1;
      }
      throw err;
    }
    if (!this.policy.contains(key)) {
      throw new PbxError(
        "E_USAGE",
        `policy ${this.#c.policyName} does not admit blocks at cache size ${e.capacity} (use at least 20 blocks)`,
      );
    }
    if (e.freeTop === 0) throw new PbxError("E_INTERNAL", `policy ${this.#c.policyName} admitted without evicting`);
    const s = e.freeSlots[--e.freeTop];
    e.map.set(key, s);
    e.key[s] = key;
    e.dev[s] = th.dev[t];
    e.block[s] = th.block[t];
    e.flags[s] = 0;
    e.users[s] = 0;
    this.#dirty.acked[s] = 0;
    e.lastAccess[s] = this.#ev.now;
    return s;
  }

  /** The policy evicted `key`: free its entry (it must not be pending, dirty or in use). */
  evicted(key: number): void {
    const e = this.#e, checker = this.#checker;
    const s = e.map.get(key);
    if (s < 0) {
      checker.violation(`policy evicted block ${key} that is not in the cache`);
      return;
    }
    if (e.isPinned(s)) {
      // Fatal: the entry's pending I/O and waiting threads would now point at a reused slot.
      const msg = `evicted block ${key} while pending/dirty/in use (flags ${flagNames(e.flags[s])})`;
      checker.violation(msg);
      throw new PbxError("E_STATE", `invariant violated: policy ${this.#c.policyName} ${msg}`);
    }
    if (this.#check && this.#dirty.acked[s]) {
      checker.violation(`evicted block ${key} holding an unwritten acknowledged write`);
    }
    e.map.delete(key);
    e.flags[s] = 0;
    e.freeSlots[e.freeTop++] = s;
  }

  /** Thread `t` waits on entry `slot`; when woken it goes on as `resume` says. */
  waitOn(t: number, slot: number, resume: number): void {
    const e = this.#e, th = this.#th;
    th.resume[t] = resume;
    th.next[t] = e.waitHead[slot];
    e.waitHead[slot] = t;
    e.setUsers(slot, e.users[slot] + 1);
  }

  /** Make every thread waiting on entry `slot` runnable. */
  wake(slot: number): void {
    const e = this.#e, th = this.#th, q = this.#runnable;
    let t = e.waitHead[slot];
    e.waitHead[slot] = -1;
    let n = 0;
    while (t >= 0) {
      q.push(t);
      t = th.next[t];
      n++;
    }
    if (n > 0) e.setUsers(slot, e.users[slot] - n);
  }

  #waitForSlot(t: number): void {
    const th = this.#th;
    this.waitsForFreeEntry++;
    th.resume[t] = RESUME_RETRY;
    th.next[t] = -1;
    if (this.#slotWaitTail >= 0) th.next[this.#slotWaitTail] = t;
    else this.#slotWaitHead = t;
    this.#slotWaitTail = t;
    this.#slotWaiters++;
    // Dirty blocks (periodic write-back) are not queued yet: queue the oldest so the wait ends.
    this.#wbHost.flushOldestDirty();
  }

  #wakeSlotWaiters(): void {
    const e = this.#e;
    let budget = e.freeTop + (e.map.size - e.pinnedCount);
    while (this.#slotWaitHead >= 0 && budget-- > 0) {
      const t = this.#slotWaitHead;
      this.#slotWaitHead = this.#th.next[t];
      if (this.#slotWaitHead < 0) this.#slotWaitTail = -1;
      this.#slotWaiters--;
      this.#runnable.push(t);
    }
  }
}
