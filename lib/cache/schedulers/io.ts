/**
 * Disk I/O descriptors on typed arrays (cache slot, disk position in blocks, read/write, queue time), and the small
 * interface every I/O scheduler implements.
 *
 * @module
 */

import { growColumns } from "../grow.ts";

/** A table of I/O descriptors; ids are reused after {@linkcode IoTable.free}. */
export class IoTable {
  /** Cache entry slot the I/O fills or cleans. */
  slot: Int32Array = new Int32Array(256);
  /** Position on the disk, in blocks. */
  pos: Float64Array = new Float64Array(256);
  /** 1 for a write. */
  write: Uint8Array = new Uint8Array(256);
  /** Time it was queued (µs). */
  queuedAt: Float64Array = new Float64Array(256);
  /** Data version written (write I/Os; for the invariant checks). */
  version: Float64Array = new Float64Array(256);
  #free: number[] = [];
  #top = 0;

  /** Allocate an I/O id. */
  alloc(): number {
    const id = this.#free.pop();
    if (id !== undefined) return id;
    if (this.#top === this.slot.length) this.#grow();
    return this.#top++;
  }

  /** Release an I/O id. */
  free(id: number): void {
    this.#free.push(id);
  }

  #grow(): void {
    growColumns(this, ["slot", "pos", "write", "queuedAt", "version"], this.slot.length * 2);
  }
}

/** An I/O scheduler: queued I/Os in, the next one to issue out. */
export interface Scheduler {
  /** Name as given to `--scheduler`. */
  readonly name: string;
  /** Queued I/Os. */
  readonly size: number;
  /** Queue an I/O; `head` is the disk's current head position. */
  push(io: number, head: number): void;
  /** The next I/O to issue at time `now` with the head at `head`, removed from the queue; -1 when none. */
  pop(now: number, head: number): number;
}

/** Options of scheduler constructors. */
export interface SchedulerOptions {
  /** The descriptor table. */
  io: IoTable;
  /** Deadline: maximum age of a queued read before it is served first (µs). */
  readExpireUs?: number;
  /** Deadline: maximum age of a queued write before it is served first (µs). */
  writeExpireUs?: number;
}
