/**
 * The unit every trace reader and generator yields: a reusable struct-of-arrays batch of requests, so replaying a
 * trace allocates per batch buffer, never per request.
 *
 * @module
 */

/** Operation codes. */
export const READ = 0;
/** Write operation. */
export const WRITE = 1;

/** How a trace addresses data. */
export type AddressUnit = "byte" | "object";

/** A batch of requests; only the first `n` entries are valid. Readers reuse one batch: consume before the next. */
export interface RequestBatch {
  /** Valid entries. */
  n: number;
  /** Request time in microseconds from the trace's first request (NaN when the trace has no times). */
  time: Float64Array;
  /** Dense volume id (index into {@linkcode TraceSource.volumes}, interned as first seen); 0 with one volume. */
  dev: Int32Array;
  /** Byte offset (`unit` "byte") or object id (`unit` "object"). */
  addr: Float64Array;
  /** Size in bytes. */
  size: Float64Array;
  /** READ or WRITE. */
  op: Uint8Array;
  /** Index of the next request to the same object when the trace carries it (oracleGeneral), else -1. */
  next: Float64Array;
}

/** Default batch capacity. */
export const BATCH_SIZE = 65536;

/** Allocate a batch. */
export function newBatch(capacity: number = BATCH_SIZE): RequestBatch {
  return {
    n: 0,
    time: new Float64Array(capacity),
    dev: new Int32Array(capacity),
    addr: new Float64Array(capacity),
    size: new Float64Array(capacity),
    op: new Uint8Array(capacity),
    next: new Float64Array(capacity),
  };
}

/**
 * Which of a batch's optional columns the consumer reads (see {@linkcode TraceSource.batches}); both default to
 * true. The object model reads neither, so a reader can skip filling them.
 */
export interface BatchFields {
  /** `time` is read. */
  time?: boolean;
  /** `next` is read. */
  next?: boolean;
}

/** A stream of request batches plus what the consumer needs to know about it. */
export interface TraceSource {
  /** Human name (file path or generator spec). */
  readonly name: string;
  /** Whether addresses are byte offsets or object ids. */
  readonly unit: AddressUnit;
  /** Total requests if known in advance (generators, oracle files), for the progress bar. */
  readonly total?: number;
  /**
   * Volume names by dense id (`hm_0`, `8,16`, `asu1`, a fio file name), filled as batches are read; empty for
   * single-volume formats.
   */
  readonly volumes?: readonly string[];
  /** Malformed lines skipped so far (with `skipBad`). */
  readonly skipped: number;
  /**
   * The batches. The same batch object may be returned every time. A column that `fields` says is not read may be
   * left unfilled (today only the oracleGeneral reader skips them).
   */
  batches(fields?: BatchFields): AsyncIterable<RequestBatch>;
}
