/**
 * C-LOOK: serve upwards from the head in position order; when nothing is left above the head, jump back to the
 * lowest queued position.
 *
 * @module
 */

import { MinHeap } from "../heap.ts";
import type { IoTable, Scheduler, SchedulerOptions } from "./io.ts";

/** Circular LOOK. */
export class ClookScheduler implements Scheduler {
  /** Name. */
  readonly name: string = "clook";
  #io: IoTable;
  #ahead = new MinHeap();
  #behind = new MinHeap();

  /** Make the scheduler. */
  constructor(options: SchedulerOptions) {
    this.#io = options.io;
  }

  /** Queued I/Os. */
  get size(): number {
    return this.#ahead.size + this.#behind.size;
  }

  /** Queue an I/O. */
  push(io: number, head: number): void {
    const p = this.#io.pos[io];
    (p >= head ? this.#ahead : this.#behind).push(p, io);
  }

  /** Next I/O. */
  pop(): number {
    if (this.#ahead.size === 0) {
      const t = this.#ahead;
      this.#ahead = this.#behind;
      this.#behind = t;
    }
    return this.#ahead.pop();
  }
}
