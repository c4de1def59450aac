/**
 * The one interface every simulation model implements (the object model, the seed model): the driver feeds it the
 * trace's batches in order, calls `finish()` once at the end, then reads `result()`. `run.ts` drives any model the
 * same way; a new model touches one file.
 *
 * @module
 */

import type { ResultCounts } from "./result.ts";
import type { RequestBatch } from "./traces/batch.ts";

/** What a model is told about the trace before the first batch. */
export interface ModelContext {
  /** Whether addresses are byte offsets or object ids. */
  unit: "byte" | "object";
  /** Volume names, filled as batches are read (multi-volume byte traces). */
  volumes?: readonly string[];
  /** Next-use index of every request (-1 for none), when a policy declares `needsFuture`. */
  nextUse?: Int32Array;
}

/** A simulation model over one trace: any number of configurations, one streamed pass. */
export interface Model<R extends ResultCounts = ResultCounts> {
  /**
   * Replay one batch; `base` is the index in the trace of its first request. A model that works off the thread
   * (the parallel sweep) returns a promise when it must be awaited before the next batch; the batch may be reused
   * as soon as `feed` returns.
   */
  feed(batch: RequestBatch, base: number): void | Promise<void>;
  /** End of trace: drain whatever is pending (write-backs, queued I/O). Called once. */
  finish(): void | Promise<void>;
  /** One row per configuration, after `finish()`. */
  result(): R[];
}
