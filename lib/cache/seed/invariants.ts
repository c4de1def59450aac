/**
 * The seed model's invariant checker (`--check-invariants`): no impossible flag combination, no acknowledged write
 * lost (after the final sync the disk holds the last acknowledged version of every block) and no read returning
 * stale data. It keeps the acknowledged and on-disk version of every block written (one entry per distinct block,
 * only when enabled) and the log of violations, which the model also uses for its own fatal findings (evicting a
 * pinned entry, a deadlock) whether or not checking is on.
 *
 * @module
 */

import { grown } from "../grow.ts";
import { KeyMap } from "../keymap.ts";
import type { EventQueue } from "../sim.ts";
import type { EntryTable } from "./entries.ts";
import { DIRTY, FILL_PENDING, flagNames, PENDING, READ_PENDING, VALID, WRITE_PENDING } from "./flags.ts";

/** Violations found so far and, when enabled, the version ledger that finds them. */
export class InvariantChecker {
  /** Whether every transition is checked (else only the model's own fatal findings are logged). */
  readonly enabled: boolean;
  /** Violations found. */
  count = 0;
  /** The first 10 violations, each prefixed with its simulated time (`t=…µs: `). */
  readonly messages: string[] = [];
  readonly #ev: EventQueue;
  // key -> dense index, versions acknowledged / on disk
  readonly #index: KeyMap | undefined;
  #ackedVer = new Float64Array(0);
  #diskVer = new Float64Array(0);

  /** A checker reading the simulated time from `ev`; `enabled` turns the per-transition checks on. */
  constructor(ev: EventQueue, enabled: boolean) {
    this.#ev = ev;
    this.enabled = enabled;
    if (enabled) this.#index = new KeyMap(1024);
  }

  /** Log one violation at the current simulated time. */
  violation(msg: string): void {
    this.count++;
    if (this.messages.length < 10) this.messages.push(`t=${this.#ev.now.toFixed(0)}µs: ${msg}`);
  }

  /** Entry `s`'s flags must be a possible combination (DIRTY only with a write-back that keeps blocks dirty). */
  checkFlags(entries: EntryTable, s: number, keepsDirty: boolean): void {
    const f = entries.flags[s];
    const bad = (f & READ_PENDING && f & (WRITE_PENDING | FILL_PENDING | VALID | DIRTY)) ||
      (f & FILL_PENDING && f & (WRITE_PENDING | VALID | DIRTY)) ||
      (f & WRITE_PENDING && !(f & VALID)) ||
      (f & DIRTY && !(f & VALID)) ||
      (f & DIRTY && f & WRITE_PENDING) ||
      (f & DIRTY && !keepsDirty);
    if (bad) this.violation(`block ${entries.key[s]}: impossible flags ${flagNames(f)}`);
  }

  #idx(key: number): number {
    const m = this.#index!;
    let i = m.get(key);
    if (i < 0) {
      i = m.size;
      m.set(key, i);
      if (i >= this.#ackedVer.length) {
        const n = Math.max(1024, this.#ackedVer.length * 2);
        this.#ackedVer = grown(this.#ackedVer, n);
        this.#diskVer = grown(this.#diskVer, n);
      }
    }
    return i;
  }

  /** Version `v` of block `key` was acknowledged to its writer (enabled only). */
  setAcked(key: number, v: number): void {
    this.#ackedVer[this.#idx(key)] = v;
  }

  /** Version `v` of block `key` reached the disk (enabled only). */
  setDiskVersion(key: number, v: number): void {
    this.#diskVer[this.#idx(key)] = v;
  }

  /** The version of block `key` on disk (0 when not enabled: versions are not tracked). */
  diskVersion(key: number): number {
    if (!this.enabled) return 0;
    return this.#diskVer[this.#idx(key)];
  }

  /** A read of entry `s` must see the last acknowledged write (or newer data still being written through). */
  checkRead(entries: EntryTable, s: number): void {
    const i = this.#idx(entries.key[s]);
    if (entries.version[s] < this.#ackedVer[i]) {
      this.violation(
        `block ${entries.key[s]}: read returned version ${entries.version[s]}, last acknowledged ${this.#ackedVer[i]}`,
      );
    }
  }

  /** After the final sync: every acknowledged write on disk, nothing dirty (`dirtyCount`), nothing pending. */
  finalCheck(entries: EntryTable, dirtyCount: number): void {
    const n = this.#index!.size;
    let lost = 0;
    for (let i = 0; i < n; i++) if (this.#ackedVer[i] !== this.#diskVer[i]) lost++;
    if (lost > 0) this.violation(`${lost} acknowledged writes are not on disk after the final sync`);
    if (dirtyCount !== 0) this.violation(`${dirtyCount} blocks still dirty after the final sync`);
    for (let s = 0; s < entries.capacity; s++) {
      if (entries.map.get(entries.key[s]) === s && entries.flags[s] & PENDING) {
        this.violation(`block ${entries.key[s]} still pending at the end (flags ${flagNames(entries.flags[s])})`);
      }
    }
  }
}
