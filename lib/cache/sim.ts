/**
 * The discrete-event core: a time-ordered queue of typed events (kind + two int arguments) on typed arrays,
 * deterministic for equal times (FIFO). The seed model drives it.
 *
 * @module
 */

import { grown } from "./grow.ts";
import { MinHeap } from "./heap.ts";

/** Event queue: schedule (time, kind, a, b); pop in time order. */
export class EventQueue {
  #heap = new MinHeap(1024);
  #kind: Int32Array = new Int32Array(1024);
  #a: Int32Array = new Int32Array(1024);
  #b: Int32Array = new Int32Array(1024);
  #free: number[] = [];
  #top = 0;
  /** Current simulated time (µs). */
  now = 0;
  /** Kind of the last popped event. */
  kind = 0;
  /** First argument of the last popped event. */
  a = 0;
  /** Second argument of the last popped event. */
  b = 0;

  /** Pending events. */
  get size(): number {
    return this.#heap.size;
  }

  /** Time of the next event (Infinity when none). */
  nextTime(): number {
    return this.#heap.peekPrio();
  }

  /**
   * Schedule an event.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  at(time: number, kind: number, a = 0, b = 0): void {
    let slot = this.#free.pop();
    if (slot === undefined) {
      if (this.#top === this.#kind.length) this.#grow();
      slot = this.#top++;
    }
    this.#kind[slot] = kind;
    this.#a[slot] = a;
    this.#b[slot] = b;
    this.#heap.push(time, slot);
  }

  /** Pop the next event into now/kind/a/b; false when empty. */
  pop(): boolean {
    const time = this.#heap.peekPrio();
    const slot = this.#heap.pop();
    if (slot < 0) return false;
    this.now = Math.max(this.now, time);
    this.kind = this.#kind[slot];
    this.a = this.#a[slot];
    this.b = this.#b[slot];
    this.#free.push(slot);
    return true;
  }

  #grow(): void {
    const n = this.#kind.length * 2;
    this.#kind = grown(this.#kind, n);
    this.#a = grown(this.#a, n);
    this.#b = grown(this.#b, n);
  }
}
