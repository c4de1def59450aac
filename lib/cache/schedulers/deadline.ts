/**
 * Deadline (like Linux's mq-deadline): C-LOOK order normally, but a read queued longer than `readExpire`
 * (default 500 ms) or a write queued longer than `writeExpire` (default 5 s) is served first, oldest first — so
 * both reads and writes are bounded in age. The queue is an arrival-ordered list on typed arrays; the C-LOOK pick
 * scans it (queues are short).
 *
 * @module
 */

import { grown } from "../grow.ts";
import type { IoTable, Scheduler, SchedulerOptions } from "./io.ts";

/** Deadline scheduler. */
export class DeadlineScheduler implements Scheduler {
  /** Name. */
  readonly name: string = "deadline";
  #io: IoTable;
  #readExpire: number;
  #writeExpire: number;
  #prev = new Int32Array(256).fill(-1);
  #next = new Int32Array(256).fill(-1);
  #head = -1;
  #tail = -1;
  #n = 0;

  /** Make the scheduler. */
  constructor(options: SchedulerOptions) {
    this.#io = options.io;
    this.#readExpire = options.readExpireUs ?? 500_000;
    this.#writeExpire = options.writeExpireUs ?? 5_000_000;
  }

  /** Queued I/Os. */
  get size(): number {
    return this.#n;
  }

  /** Queue an I/O. */
  push(io: number): void {
    if (io >= this.#prev.length) {
      let n = this.#prev.length;
      while (n <= io) n *= 2;
      this.#prev = grown(this.#prev, n, { fill: -1 });
      this.#next = grown(this.#next, n, { fill: -1 });
    }
    this.#prev[io] = this.#tail;
    this.#next[io] = -1;
    if (this.#tail >= 0) this.#next[this.#tail] = io;
    else this.#head = io;
    this.#tail = io;
    this.#n++;
  }

  /** Next I/O. */
  pop(now: number, head: number): number {
    if (this.#n === 0) return -1;
    const io = this.#io;
    let oldestRead = -1, oldestWrite = -1, up = -1, low = -1;
    for (let i = this.#head; i >= 0; i = this.#next[i]) {
      if (io.write[i]) {
        if (oldestWrite < 0) oldestWrite = i;
      } else if (oldestRead < 0) oldestRead = i;
      const p = io.pos[i];
      if (p >= head && (up < 0 || p < io.pos[up])) up = i;
      if (low < 0 || p < io.pos[low]) low = i;
    }
    let pick: number;
    if (oldestRead >= 0 && now - io.queuedAt[oldestRead] >= this.#readExpire) pick = oldestRead;
    else if (oldestWrite >= 0 && now - io.queuedAt[oldestWrite] >= this.#writeExpire) pick = oldestWrite;
    else pick = up >= 0 ? up : low;
    const p = this.#prev[pick], x = this.#next[pick];
    if (p >= 0) this.#next[p] = x;
    else this.#head = x;
    if (x >= 0) this.#prev[x] = p;
    else this.#tail = p;
    this.#n--;
    return pick;
  }
}
