/**
 * The elevator (SCAN in its LOOK form): serve requests in the current direction of head travel, nearest first;
 * reverse when nothing is left ahead.
 *
 * @module
 */

import { MinHeap } from "../heap.ts";
import type { IoTable, Scheduler, SchedulerOptions } from "./io.ts";

/** Elevator. */
export class ScanScheduler implements Scheduler {
  /** Name. */
  readonly name: string = "scan";
  #io: IoTable;
  #up = new MinHeap(); // positions ≥ head while going up, by position
  #down = new MinHeap(); // positions ≤ head while going down, by -position
  #goingUp = true;

  /** Make the scheduler. */
  constructor(options: SchedulerOptions) {
    this.#io = options.io;
  }

  /** Queued I/Os. */
  get size(): number {
    return this.#up.size + this.#down.size;
  }

  /** Queue an I/O. */
  push(io: number, head: number): void {
    const p = this.#io.pos[io];
    const ahead = this.#goingUp ? p >= head : p > head;
    if (ahead) this.#up.push(p, io);
    else this.#down.push(-p, io);
  }

  /** Next I/O. */
  pop(): number {
    if (this.#goingUp) {
      if (this.#up.size > 0) return this.#up.pop();
      this.#goingUp = false;
      return this.#down.pop();
    }
    if (this.#down.size > 0) return this.#down.pop();
    this.#goingUp = true;
    return this.#up.pop();
  }
}
