/**
 * The seed design's scheduler: the first READ_PENDING entry in cache-array order; writes only when no read is
 * pending (again the first in array order). Reads can starve writes indefinitely — that is the point to measure.
 *
 * @module
 */

import { MinHeap } from "../heap.ts";
import type { IoTable, Scheduler, SchedulerOptions } from "./io.ts";

/** First pending read in array order, writes only when no read is pending. */
export class FirstPending implements Scheduler {
  /** Name. */
  readonly name: string = "first-pending";
  #io: IoTable;
  #reads = new MinHeap();
  #writes = new MinHeap();

  /** Make the scheduler. */
  constructor(options: SchedulerOptions) {
    this.#io = options.io;
  }

  /** Queued I/Os. */
  get size(): number {
    return this.#reads.size + this.#writes.size;
  }

  /** Queue an I/O (ordered by its cache slot). */
  push(io: number): void {
    (this.#io.write[io] ? this.#writes : this.#reads).push(this.#io.slot[io], io);
  }

  /** Next I/O. */
  pop(): number {
    return this.#reads.size > 0 ? this.#reads.pop() : this.#writes.pop();
  }
}
