/**
 * The `cache-sim` engine entry: open the trace (or generator), build every requested configuration, replay the
 * trace once through all of them (and the stack-distance pass for `--mrc`), and return the report.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { DiskParams } from "./disk.ts";
import { type MrcPoint, StackDistance } from "./mrc.ts";
import type { Model, ModelContext } from "./model.ts";
import { batchKeys } from "./keys.ts";
import { computeNextUse } from "./next_use.ts";
import { ParallelModel } from "./parallel.ts";
import { needsFuture, policyName } from "./policies/mod.ts";
import type { SeedOptions } from "./seed/mod.ts";
import { buildModel, jobFields, type Result, type SeedJobConfig, type SweepJob } from "./sweep_job.ts";
import { schedulerName } from "./schedulers/mod.ts";
import { generatedSource, traceSource } from "./traces/mod.ts";
import type { AddressUnit, BatchFields, RequestBatch, TraceSource } from "./traces/batch.ts";
import { DEFAULT_GENERATOR, formatGeneratorSpec } from "./traces/generators.ts";
import type { WritebackSpec } from "./writeback/mod.ts";

/** A `--cache-size` item: a count of blocks/objects or bytes. */
export interface CacheSizeSpec {
  /** The number. */
  value: number;
  /** True when it had a unit (bytes). */
  bytes: boolean;
}

/** Everything a run needs. */
export interface CacheSimOptions {
  /** Trace file; absent = generator. */
  trace?: string;
  /** Trace format (sniffed when absent). */
  format?: string;
  /** Generator spec (default zipf). */
  gen?: string;
  /** Skip malformed lines. */
  skipBad?: boolean;
  /** seed or object. */
  model: "seed" | "object";
  /** Policies. */
  policies: string[];
  /** Schedulers (seed model). */
  schedulers: string[];
  /** Write-back policies (seed model). */
  writebacks: WritebackSpec[];
  /** Cache sizes. */
  cacheSizes: CacheSizeSpec[];
  /** Block size in bytes. */
  blockSize: number;
  /** Disk model (seed model). */
  disk: DiskParams;
  /** Closed-loop threads (0 = trace timestamps). */
  threads: number;
  /** Time scale for timestamped replay. */
  speed: number;
  /** Crash time (µs) for the lost-writes report. */
  crashAtUs?: number;
  /** Check invariants. */
  checkInvariants: boolean;
  /** Compute the LRU miss-ratio curve. */
  mrc: boolean;
  /** SHARDS sampling rate for the curve (1 = exact). */
  sample: number;
  /** Deadline scheduler: age after which a queued read is served first (µs; default 500 000). */
  readExpireUs?: number;
  /** Deadline scheduler: age after which a queued write is served first (µs; default 5 000 000). */
  writeExpireUs?: number;
  /**
   * Debug: audit the cache keys in an extra pass (distinct keys must equal distinct parsed (volume, block) pairs)
   * and fail with `E_INTERNAL` when they do not. On with `checkInvariants`; tests turn it on.
   */
  auditKeys?: boolean;
  /**
   * Worker threads for the sweep (default 1: this thread). With N > 1 the configurations are dealt to N workers
   * (at most one per configuration); the trace is still read once, and the rows are the same as with one.
   */
  jobs?: number;
  /** Progress callback (requests done, total if known). */
  onProgress?: (done: number, total?: number) => void;
}

export type { Result } from "./sweep_job.ts";

/** What a run returns. */
export interface CacheSimReport {
  /** The trace replayed. */
  trace: { name: string; unit: string; requests: number; skippedLines: number };
  /** Model. */
  model: "seed" | "object";
  /** Block size. */
  blockSize: number;
  /** One row per combination. */
  results: Result[];
  /** LRU miss-ratio curve when asked. */
  mrc?: { method: "exact" | "shards"; sampleRate: number; points: MrcPoint[] };
  /** Wall-clock seconds of the replay. */
  elapsedSeconds: number;
}

/** Resolve a cache-size spec to blocks. */
export function sizeInBlocks(s: CacheSizeSpec, blockSize: number): number {
  const n = s.bytes ? Math.floor(s.value / blockSize) : s.value;
  if (!Number.isInteger(n) || n < 1) {
    throw new PbxError("E_USAGE", `--cache-size ${s.value}${s.bytes ? " bytes" : ""} is less than one block`);
  }
  return n;
}

/** Open the trace or generator named by the options. */
export async function openSource(
  o: Pick<CacheSimOptions, "trace" | "format" | "gen" | "skipBad">,
): Promise<TraceSource> {
  if (o.trace) return await traceSource(o.trace, { format: o.format, skipBad: o.skipBad });
  return generatedSource(o.gen ?? formatGeneratorSpec(DEFAULT_GENERATOR));
}

/** Run the simulation(s) described by `o`. */
export async function runCacheSim(o: CacheSimOptions): Promise<CacheSimReport> {
  const t0 = performance.now();
  const source = await openSource(o);
  const sizes = o.cacheSizes.map((s) => sizeInBlocks(s, o.blockSize));
  const policies = o.policies.map(policyName);
  const progress = (done: number) => o.onProgress?.(done, source.total);
  let sd: StackDistance | undefined;
  if (o.mrc) sd = new StackDistance(o.sample, 1 << 16);
  const nextUse = needsFuture(policies) ? await computeNextUse(source, o.blockSize) : undefined;
  const context: ModelContext = { unit: source.unit, volumes: source.volumes, nextUse };
  const mrc = sd && mrcFeeder(sd, source.unit, o.blockSize, source.volumes);
  const job = sweepJob(o, policies, sizes);
  const jobs = Math.min(o.jobs ?? 1, job.configs.length);
  // with workers the progress bar follows their acknowledgements, not the batches handed to them
  const model: Model<Result> & { close?(): void } = jobs > 1
    ? new ParallelModel(job, context, { jobs, onProgress: progress })
    : buildModel(job, context);
  let requests = 0;
  try {
    requests = await replay(model, source, {
      also: (b) => mrc?.(b),
      progress: jobs > 1 ? undefined : progress,
      fields: jobFields(job),
    });
  } finally {
    model.close?.();
  }
  const results = model.result();
  if (o.auditKeys || o.checkInvariants) await auditKeys(source, o.blockSize);
  if (requests === 0 && o.trace) {
    const skipped = source.skipped ? ` (${source.skipped} malformed lines skipped)` : "";
    throw new PbxError("E_PARSE", `${o.trace}: no requests found${skipped}; is --format right?`);
  }
  const report: CacheSimReport = {
    trace: { name: source.name, unit: source.unit, requests, skippedLines: source.skipped },
    model: o.model,
    blockSize: o.blockSize,
    results,
    elapsedSeconds: (performance.now() - t0) / 1000,
  };
  if (sd) {
    const extra = sizes.length ? sd.curve(sizes) : [];
    const points = [...sd.curve(undefined, 48), ...extra].sort((a, b) => a.cacheSize - b.cacheSize)
      .filter((p, i, a) => i === 0 || p.cacheSize !== a[i - 1].cacheSize);
    report.mrc = { method: o.sample < 1 ? "shards" : "exact", sampleRate: o.sample, points };
  }
  return report;
}

/**
 * Feed every batch of `source` (reading `fields`) to `model` (and to `also`), then finish it; returns the requests
 * fed.
 */
async function replay(
  model: Model<Result>,
  source: TraceSource,
  o: {
    also: (b: RequestBatch) => void;
    progress: ((done: number) => void) | undefined;
    fields: BatchFields | undefined;
  },
): Promise<number> {
  const { also, progress, fields } = o;
  let idx = 0;
  for await (const b of source.batches(fields)) {
    const wait = model.feed(b, idx);
    also(b);
    if (wait) await wait;
    idx += b.n;
    progress?.(idx);
  }
  await model.finish();
  return idx;
}

/** The sweep as data: one configuration per policy × size (object), or policy × scheduler × write-back × size. */
function sweepJob(o: CacheSimOptions, policies: readonly string[], sizes: readonly number[]): SweepJob {
  if (o.model === "object") {
    return {
      model: "object",
      blockSize: o.blockSize,
      configs: policies.flatMap((policy) => sizes.map((cacheSize) => ({ policy, cacheSize }))),
    };
  }
  const configs: SeedJobConfig[] = [];
  for (const policy of policies) {
    for (const scheduler of o.schedulers.map(schedulerName)) {
      for (const writeback of o.writebacks) {
        for (const cacheSize of sizes) configs.push({ policy, scheduler, writeback: writeback.text, cacheSize });
      }
    }
  }
  const options: SeedOptions = {
    blockSize: o.blockSize,
    disk: o.disk,
    threads: o.threads,
    speed: o.speed,
    crashAtUs: o.crashAtUs,
    checkInvariants: o.checkInvariants,
    readExpireUs: o.readExpireUs,
    writeExpireUs: o.writeExpireUs,
  };
  return { model: "seed", options, configs };
}

/**
 * The debug assertion behind {@linkcode CacheSimOptions.auditKeys}: replay the trace's key path and compare the
 * distinct keys with the distinct (volume, block) pairs the parser produced. Fewer keys than pairs means two
 * blocks share a key — a bug that would print an impossible miss ratio.
 */
export async function auditKeys(source: TraceSource, blockSize: number): Promise<void> {
  const keySet = new Set<number>();
  const pairs = new Set<string>();
  const keyOptions = { unit: source.unit, blockSize, volumes: source.volumes };
  let keys = new Float64Array(0);
  for await (const b of source.batches()) {
    if (keys.length < b.n) keys = new Float64Array(b.n);
    batchKeys(b, keys, keyOptions);
    for (let i = 0; i < b.n; i++) {
      keySet.add(keys[i]);
      const block = source.unit === "object" ? b.addr[i] : Math.floor(b.addr[i] / blockSize);
      pairs.add(`${source.unit === "object" ? 0 : b.dev[i]}/${block}`);
    }
  }
  if (keySet.size !== pairs.size) {
    throw new PbxError(
      "E_INTERNAL",
      `cache keys merged blocks: ${keySet.size} distinct keys for ${pairs.size} distinct (volume, block) pairs`,
    );
  }
}

/** A function that feeds one batch's cache keys to `sd` (reusing one key buffer across batches). */
function mrcFeeder(
  sd: StackDistance,
  unit: AddressUnit,
  blockSize: number,
  volumes?: readonly string[],
): (b: RequestBatch) => void {
  const keyOptions = { unit, blockSize, volumes };
  let keys = new Float64Array(0);
  return (b) => {
    if (keys.length < b.n) keys = new Float64Array(b.n);
    batchKeys(b, keys, keyOptions);
    for (let i = 0; i < b.n; i++) sd.access(keys[i]);
  };
}
