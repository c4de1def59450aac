/**
 * Messages between the parallel sweep and its workers, and the layout of a shared batch slot: one
 * `SharedArrayBuffer` per slot holding a {@linkcode RequestBatch}'s arrays (time, addr, size, next as float64,
 * dev as int32, op as bytes), so a batch crosses threads as one copy, not per request.
 *
 * @module
 */

import type { Result } from "./sweep_job.ts";
import type { AddressUnit, RequestBatch } from "./traces/batch.ts";

/** Main thread to worker. */
export type SweepToWorker =
  | {
    type: "init";
    /** The worker's share of the sweep (a {@linkcode SweepJob}). */
    job: unknown;
    unit: AddressUnit;
    /** Next-use index of every request, shared (policies that need the future). */
    nextUse?: SharedArrayBuffer;
    slots: SharedArrayBuffer[];
    capacity: number;
  }
  | { type: "batch"; slot: number; n: number; base: number; newVolumes: string[] }
  | { type: "finish" };

/** Worker to main thread. */
export type WorkerToSweep =
  | { type: "ack"; slot: number }
  | { type: "result"; results: Result[] }
  | { type: "error"; code: string; message: string };

/** Bytes of one slot of `capacity` requests. */
export function slotBytes(capacity: number): number {
  return capacity * (4 * 8 + 4 + 1);
}

/** A batch whose arrays are views of `sab` (a slot of `capacity` requests). */
export function slotBatch(sab: SharedArrayBuffer, capacity: number): RequestBatch {
  const f = (i: number) => new Float64Array(sab, i * 8 * capacity, capacity);
  return {
    n: 0,
    time: f(0),
    addr: f(1),
    size: f(2),
    next: f(3),
    dev: new Int32Array(sab, 32 * capacity, capacity),
    op: new Uint8Array(sab, 36 * capacity, capacity),
  };
}

/** Copy `n` requests of `from` starting at `start` into the slot batch `to`. */
export function copyIntoSlot(from: RequestBatch, start: number, n: number, to: RequestBatch): void {
  const end = start + n;
  to.time.set(from.time.subarray(start, end));
  to.addr.set(from.addr.subarray(start, end));
  to.size.set(from.size.subarray(start, end));
  to.next.set(from.next.subarray(start, end));
  to.dev.set(from.dev.subarray(start, end));
  to.op.set(from.op.subarray(start, end));
  to.n = n;
}
