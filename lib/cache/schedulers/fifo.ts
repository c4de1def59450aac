/**
 * FIFO by arrival (Linux `none`/noop): reads and writes in the order they were queued.
 *
 * @module
 */

import { MinHeap } from "../heap.ts";
import type { Scheduler, SchedulerOptions } from "./io.ts";

/** First come, first served. */
export class FifoScheduler implements Scheduler {
  /** Name. */
  readonly name: string = "fifo";
  #q = new MinHeap();
  #seq = 0;

  /** Make the scheduler. */
  constructor(_options: SchedulerOptions) {}

  /** Queued I/Os. */
  get size(): number {
    return this.#q.size;
  }

  /** Queue an I/O. */
  push(io: number): void {
    this.#q.push(this.#seq++, io);
  }

  /** Next I/O. */
  pop(): number {
    return this.#q.pop();
  }
}
