/**
 * The seed model's public data: a configuration ({@linkcode SeedConfig}), the options shared by a sweep's runs
 * ({@linkcode SeedOptions}), and the result row ({@linkcode SeedResult}) with its latency summaries.
 *
 * @module
 */

import type { DiskParams } from "../disk.ts";
import type { Histogram } from "../histogram.ts";
import type { PolicyFactory } from "../policy.ts";
import type { ResultCounts } from "../result.ts";
import type { WritebackSpec } from "../writeback/mod.ts";

/** One seed-model configuration. */
export interface SeedConfig {
  /** Eviction policy. */
  policy: string;
  /** I/O scheduler. */
  scheduler: string;
  /** Write-back policy. */
  writeback: WritebackSpec;
  /** Cache entries (blocks). */
  cacheSize: number;
  /** Use this policy constructor instead of looking `policy` up (extensions, tests of the invariant checker). */
  policyFactory?: PolicyFactory;
}

/** Options shared by all seed-model runs. */
export interface SeedOptions {
  /** Block size in bytes (default 4096). */
  blockSize?: number;
  /** Disk model. */
  disk: DiskParams;
  /** Closed loop with this many threads; absent or 0 replays at the trace's timestamps. */
  threads?: number;
  /** Divide the trace's inter-arrival times by this (default 1). */
  speed?: number;
  /** Report the acknowledged-but-unwritten blocks at this simulated time (µs). */
  crashAtUs?: number;
  /** Check the model's invariants on every transition. */
  checkInvariants?: boolean;
  /** Deadline scheduler read expiry (µs). */
  readExpireUs?: number;
  /** Deadline scheduler write expiry (µs). */
  writeExpireUs?: number;
}

/** Results of one seed-model run. */
export interface SeedResult extends ResultCounts {
  /** Which model produced the row (always `"seed"`). */
  model: "seed";
  /** Block accesses that found the block cached (a request spans one or more blocks); includes `delayedHits`. */
  blockHits: number;
  /** Block accesses that found the block uncached (a read miss or a write that needed a fresh entry). */
  blockMisses: number;
  /** Block reads that found the block cached but READ_PENDING/FILL_PENDING and waited for it (counted in `blockHits`). */
  delayedHits: number;
  /** Disk read I/Os completed. */
  diskReads: number;
  /** Disk write I/Os completed (write-backs and write-throughs). */
  diskWrites: number;
  /** Writes to a block already dirty, merged into the pending write-back (periodic write-back only, else 0). */
  writesAbsorbed: number;
  /** Sum of head movements over all disk I/Os, in blocks. */
  seekTotal: number;
  /** `seekTotal` divided by the disk I/Os (reads + writes), in blocks; 0 with no I/O. */
  seekMean: number;
  /** Read requests' latency, arrival to completion (µs, rounded to 0.1). */
  readLatencyUs: LatencySummary;
  /** Write requests' latency, arrival to acknowledgement (µs, rounded to 0.1). */
  writeLatencyUs: LatencySummary;
  /** Peak number of acknowledged-but-unwritten blocks at any time. */
  maxDirtyBlocks: number;
  /** Longest time a block stayed acknowledged but unwritten (ms, rounded to 0.001). */
  oldestDirtyAgeMs: number;
  /** Time-weighted mean of acknowledged-but-unwritten blocks over the run (what a crash at a random time loses). */
  meanUnwrittenBlocks: number;
  /** Acknowledged writes not on disk at `--crash-at` (blocks), when asked. */
  lostAtCrash?: { atMs: number; blocks: number; bytes: number };
  /** Times a block access found every entry pending, dirty or in use and had to wait for one to free up. */
  waitsForFreeEntry: number;
  /** Simulated time of the last event (s). */
  simulatedSeconds: number;
  /** Invariant violations found (0 unless `checkInvariants`). */
  invariantViolations: number;
  /** The first 10 violations, each prefixed with its simulated time (`t=…µs: `). */
  invariantMessages: string[];
  /** Charts: latency CDFs and the dirty-blocks timeline (not printed in tables). */
  series: {
    readCdf: [number, number][];
    writeCdf: [number, number][];
    dirty: [number, number][];
  };
}

/** Latency summary in microseconds. */
export interface LatencySummary {
  /** Requests measured. */
  count: number;
  /** Mean latency (µs). */
  mean: number;
  /** Median latency (µs, from the histogram's buckets). */
  p50: number;
  /** 99th-percentile latency (µs, from the histogram's buckets). */
  p99: number;
  /** Largest latency (µs). */
  max: number;
}

/** The latency summary of histogram `h` (µs, rounded to 0.1). */
export function summary(h: Histogram): LatencySummary {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { count: h.count, mean: r(h.mean()), p50: r(h.percentile(50)), p99: r(h.percentile(99)), max: r(h.max) };
}

/** Options for `SeedSim.feed`. */
export interface FeedOptions {
  /** Next-use index of every request of the trace (-1 for none), for OPT. */
  nextUse?: Int32Array;
  /** Index in the trace of the batch's first request (default 0). */
  base?: number;
}
