/**
 * The counters every model's result row starts with (the seed model and the object model add their own), so the
 * tables, JSON and charts can treat rows alike.
 *
 * @module
 */

import type { VolumeRow } from "./volumes.ts";

/** What a result row of either model reports. */
export interface ResultCounts {
  /** Eviction policy: its canonical name, or the name given with a custom `policyFactory`. */
  policy: string;
  /** I/O scheduler (canonical name); `"-"` for the object model. */
  scheduler: string;
  /** Write-back policy label; `"-"` for the object model. */
  writeback: string;
  /** Capacity: blocks (seed model) or objects (object model). */
  cacheSize: number;
  /** Requests completed. */
  requests: number;
  /** Requests served entirely from the cache. */
  hits: number;
  /** Requests with at least one miss (`requests - hits`). */
  misses: number;
  /** `misses / requests` (0 with no requests). */
  missRatio: number;
  /** Bytes requested (sum of the requests' sizes). */
  bytes: number;
  /** Bytes of the missed requests. */
  missBytes: number;
  /** `missBytes / bytes` (0 with no bytes). */
  byteMissRatio: number;
  /** Read requests. */
  reads: number;
  /** Write requests. */
  writes: number;
  /** The same figures by volume, when the trace has more than one volume. */
  volumes?: VolumeRow[];
}

/** The counters of a result row, all zero. */
export type ZeroCounts = Omit<ResultCounts, "policy" | "scheduler" | "writeback" | "cacheSize" | "volumes">;

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
