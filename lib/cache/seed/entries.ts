/**
 * The seed model's cache array: a fixed number of entries {key, device, block, flags, users, lastAccess, version}
 * as parallel typed arrays, the key → entry map, the free entries, and the count of pinned entries (pending, dirty
 * or in use: not evictable), kept as flags and users change.
 *
 * @module
 */

import { KeyMap } from "../keymap.ts";
import { DIRTY, IN_USE, PENDING } from "./flags.ts";

/** The cache entries. Hot path: plain fields, read and written by the model directly. */
export class EntryTable {
  /** Number of entries. */
  readonly capacity: number;
  /** Cache key → entry index (-1 when uncached). */
  readonly map: KeyMap;
  /** Cache key of each entry. */
  readonly key: Float64Array;
  /** Volume id of each entry. */
  readonly dev: Int32Array;
  /** Block number of each entry (its disk position). */
  readonly block: Float64Array;
  /** Flags of each entry (see `flags.ts`). */
  readonly flags: Uint8Array;
  /** Threads waiting on each entry (IN_USE while above 0). */
  readonly users: Int32Array;
  /** Last access time of each entry (µs). */
  readonly lastAccess: Float64Array;
  /** Data version each entry holds (the invariant checker's write counter). */
  readonly version: Float64Array;
  /** First waiting thread of each entry (-1 = none; threads chain through their `next`). */
  readonly waitHead: Int32Array;
  /** Stack of free entry indices, `freeTop` deep. */
  readonly freeSlots: Int32Array;
  /** Free entries. */
  freeTop: number;
  /** Entries pending, dirty or in use. */
  pinnedCount = 0;
  /** Called whenever an entry stops being pinned (a waiter for a free entry may go on). */
  onUnpin: () => void = () => {};
  /** Called after every flag change through {@linkcode EntryTable.setFlags} (the invariant checker), if set. */
  onFlags: ((s: number) => void) | undefined;

  /** `capacity` free entries. */
  constructor(capacity: number) {
    const c = capacity;
    this.capacity = c;
    this.map = new KeyMap(c);
    this.key = new Float64Array(c);
    this.dev = new Int32Array(c);
    this.block = new Float64Array(c);
    this.flags = new Uint8Array(c);
    this.users = new Int32Array(c);
    this.lastAccess = new Float64Array(c);
    this.version = new Float64Array(c);
    this.waitHead = new Int32Array(c).fill(-1);
    this.freeSlots = Int32Array.from({ length: c }, (_, i) => c - 1 - i);
    this.freeTop = c;
  }

  /** Whether entry `s` (-1 = none) is pending, dirty or in use. */
  isPinned(s: number): boolean {
    return s >= 0 && ((this.flags[s] & (PENDING | DIRTY)) !== 0 || this.users[s] > 0);
  }

  /** Set entry `s`'s flags to `f` (IN_USE follows its users), keeping the pinned count. */
  setFlags(s: number, f: number): void {
    const was = this.isPinned(s);
    if (this.users[s] > 0) f |= IN_USE;
    else f &= ~IN_USE;
    this.flags[s] = f;
    if (this.onFlags !== undefined) this.onFlags(s);
    const now = this.isPinned(s);
    if (was !== now) this.#pinChanged(now);
  }

  /** Set entry `s`'s number of waiting threads, keeping IN_USE and the pinned count. */
  setUsers(s: number, n: number): void {
    const was = this.isPinned(s);
    this.users[s] = n;
    this.flags[s] = n > 0 ? this.flags[s] | IN_USE : this.flags[s] & ~IN_USE;
    const now = this.isPinned(s);
    if (was !== now) this.#pinChanged(now);
  }

  #pinChanged(pinned: boolean): void {
    if (pinned) this.pinnedCount++;
    else {
      this.pinnedCount--;
      this.onUnpin();
    }
  }
}
