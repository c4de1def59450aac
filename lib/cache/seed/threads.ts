/**
 * The seed model's thread table: one simulated thread per request in flight, as parallel typed arrays indexed by
 * thread id (the block it is on, the end of its request, what it waits for), with a free list so ids are reused and
 * memory follows the requests in flight, not the trace.
 *
 * @module
 */

import { growColumns } from "../grow.ts";

/** How a thread woken on a block goes on: retry the block, or treat it as done (its I/O completed). */
export const RESUME_RETRY = 0, RESUME_CONTINUE = 1;

/** Per-thread state, indexed by thread id. Hot path: plain fields, read and written by the model directly. */
export class ThreadTable {
  /** Volume id of the request. */
  dev: Int32Array = new Int32Array(64);
  /** The block the thread is on (advances from the request's first block). */
  block: Float64Array = new Float64Array(64);
  /** One past the request's last block. */
  end: Float64Array = new Float64Array(64);
  /** 1 for a write, 0 for a read. */
  op: Uint8Array = new Uint8Array(64);
  /** Arrival time of the request (µs). */
  arrival: Float64Array = new Float64Array(64);
  /** Next-use index of the request (Infinity for none), for OPT. */
  nextUse: Float64Array = new Float64Array(64);
  /** The current block missed. */
  missed: Uint8Array = new Uint8Array(64);
  /** Some block of the request missed. */
  anyMiss: Uint8Array = new Uint8Array(64);
  /** The policy already counted an access to the current block. */
  accessed: Uint8Array = new Uint8Array(64);
  /** The current block was a delayed hit (waited for a pending read). */
  delayed: Uint8Array = new Uint8Array(64);
  /** {@linkcode RESUME_RETRY} or {@linkcode RESUME_CONTINUE} when woken. */
  resume: Uint8Array = new Uint8Array(64);
  /** Next thread in the wait list the thread is on (-1 = last). */
  next: Int32Array = new Int32Array(64);
  /** Bytes of the request. */
  bytes: Float64Array = new Float64Array(64);
  #free: number[] = [];
  #top = 0;

  /** A free thread id (grows the table when none is free). */
  alloc(): number {
    const t = this.#free.pop();
    if (t !== undefined) return t;
    if (this.#top === this.dev.length) this.#grow();
    return this.#top++;
  }

  /** Return thread `t` to the free list (its request completed). */
  release(t: number): void {
    this.#free.push(t);
  }

  #grow(): void {
    growColumns(this, THREAD_COLUMNS, this.dev.length * 2);
  }
}

/** The per-thread columns of {@linkcode ThreadTable}, grown together. */
const THREAD_COLUMNS = [
  "dev",
  "block",
  "end",
  "op",
  "arrival",
  "nextUse",
  "missed",
  "anyMiss",
  "accessed",
  "delayed",
  "resume",
  "next",
  "bytes",
] as const;
