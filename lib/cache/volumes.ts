/**
 * Per-volume figures: with a trace of several volumes (`hm_0`, `src1_2`, `8,16`), hits, misses and disk I/O are
 * also counted by volume, as users of MSR traces compare volumes.
 *
 * @module
 */

import { grown } from "./grow.ts";

/** One volume's figures in a result row. */
export interface VolumeRow {
  /** Volume name as the trace names it (`hm_0`, `8,16`, `asu1`, a fio file name). */
  volume: string;
  /** Requests to the volume. */
  requests: number;
  /** Requests served entirely from the cache. */
  hits: number;
  /** Requests with at least one miss. */
  misses: number;
  /** `misses / requests`. */
  missRatio: number;
  /** Disk read I/Os (seed model only). */
  diskReads?: number;
  /** Disk write I/Os (seed model only). */
  diskWrites?: number;
}

/** Counters indexed by dense volume id (grown on demand). */
export class VolumeCounter {
  /** Requests by volume. */
  requests: Float64Array = new Float64Array(4);
  /** Misses by volume. */
  misses: Float64Array = new Float64Array(4);
  /** Disk reads by volume. */
  diskReads: Float64Array = new Float64Array(4);
  /** Disk writes by volume. */
  diskWrites: Float64Array = new Float64Array(4);

  /** Make room for volume ids below `n`. */
  ensure(n: number): void {
    if (n <= this.requests.length) return;
    let cap = this.requests.length;
    while (cap < n) cap *= 2;
    this.requests = grown(this.requests, cap);
    this.misses = grown(this.misses, cap);
    this.diskReads = grown(this.diskReads, cap);
    this.diskWrites = grown(this.diskWrites, cap);
  }

  /** Count one request to `vol`. Hot path: positional parameters by design. */
  request(vol: number, miss: boolean): void {
    if (vol >= this.requests.length) this.ensure(vol + 1);
    this.requests[vol]++;
    if (miss) this.misses[vol]++;
  }

  /** Count one disk I/O on `vol`. Hot path: positional parameters by design. */
  disk(vol: number, write: boolean): void {
    if (vol >= this.requests.length) this.ensure(vol + 1);
    if (write) this.diskWrites[vol]++;
    else this.diskReads[vol]++;
  }

  /** The rows for `names` (one per volume), with disk figures when `withDisk`. */
  rows(names: readonly string[], withDisk: boolean): VolumeRow[] {
    this.ensure(names.length);
    return names.map((volume, v) => {
      const requests = this.requests[v], misses = this.misses[v];
      const row: VolumeRow = {
        volume,
        requests,
        hits: requests - misses,
        misses,
        missRatio: requests ? misses / requests : 0,
      };
      if (withDisk) {
        row.diskReads = this.diskReads[v];
        row.diskWrites = this.diskWrites[v];
      }
      return row;
    });
  }
}
