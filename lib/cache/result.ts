/**
 * The counters every model's result row starts with (the seed model and the object model add their own), so the
 * tables, JSON and charts can treat rows alike.
 *
 * @module
 */

/** What a result row of either model reports. */
export interface ResultCounts {
  policy: string;
  scheduler: string;
  writeback: string;
  cacheSize: number;
  requests: number;
  hits: number;
  misses: number;
  missRatio: number;
  bytes: number;
  missBytes: number;
  byteMissRatio: number;
  reads: number;
  writes: number;
}

/** The counters of a result row, all zero. */
export type ZeroCounts = Omit<ResultCounts, "policy" | "scheduler" | "writeback" | "cacheSize">;

/** Zeroed counters for a new row (spread right after `cacheSize`, which keeps the JSON key order). */
export function zeroCounts(): ZeroCounts {
  return {
    requests: 0,
    hits: 0,
    misses: 0,
    missRatio: 0,
    bytes: 0,
    missBytes: 0,
    byteMissRatio: 0,
    reads: 0,
    writes: 0,
  };
}

/** Set the miss ratio and the byte miss ratio from the counts (0 when nothing was requested). */
export function setRatios(r: ResultCounts): void {
  r.missRatio = r.requests ? r.misses / r.requests : 0;
  r.byteMissRatio = r.bytes ? r.missBytes / r.bytes : 0;
}
