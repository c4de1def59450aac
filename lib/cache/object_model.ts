/**
 * The object model (`--model object`): every request is one object of size one, no timing, no write-back — what
 * libCacheSim's `cachesim --ignore-obj-size 1` computes, so miss ratios can be compared exactly. Runs every
 * (policy, size) pair in one streamed pass over the trace. OPT needs next-use indices ({@linkcode computeNextUse}).
 *
 * @module
 */

import type { Model, ModelContext } from "./model.ts";
import { batchKeys, type KeyOptions } from "./keys.ts";
import { computeNextUse } from "./next_use.ts";
import { needsFuture, policyFactory, policyName } from "./policies/mod.ts";
import type { Policy } from "./policy.ts";
import { type ResultCounts, setRatios, zeroCounts } from "./result.ts";
import type { BatchFields, RequestBatch, TraceSource } from "./traces/batch.ts";
import { VolumeCounter } from "./volumes.ts";

/** The object model reads neither request times nor the trace's next-access column. */
export const OBJECT_FIELDS: BatchFields = { time: false, next: false };

/** One (policy, size) to run. */
export interface ObjectConfig {
  /** Policy name. */
  policy: string;
  /** Capacity in objects. */
  cacheSize: number;
}

/** Results of one (policy, size). */
export interface ObjectResult extends ResultCounts {
  /** Which model produced the row (always `"object"`). */
  model: "object";
  /** Misses on read requests (`misses - writeMisses`). */
  readMisses: number;
  /** Misses on write requests (a write miss inserts the object like a read miss). */
  writeMisses: number;
}

/** Options for {@linkcode runObjectModel}. */
export interface ObjectModelOptions {
  /** Block size for byte-addressed traces (default 4096). */
  blockSize?: number;
  /** Called after each batch with requests done so far. */
  onProgress?: (done: number) => void;
}

/** Run every config over the trace in one pass (the {@linkcode ObjectModel} driven over the whole source). */
export async function runObjectModel(
  source: TraceSource,
  configs: readonly ObjectConfig[],
  options: ObjectModelOptions = {},
): Promise<ObjectResult[]> {
  const blockSize = options.blockSize ?? 4096;
  const needNext = needsFuture(configs.map((c) => c.policy));
  const nextUse = needNext ? await computeNextUse(source, blockSize) : undefined;
  const model = new ObjectModel(configs, { unit: source.unit, volumes: source.volumes, nextUse }, blockSize);
  let idx = 0;
  for await (const b of source.batches(OBJECT_FIELDS)) {
    model.feed(b, idx);
    idx += b.n;
    options.onProgress?.(idx);
  }
  model.finish();
  return model.result();
}

/** The object model as a {@linkcode Model}: every (policy, size) fed from one key computation per batch. */
export class ObjectModel implements Model<ObjectResult> {
  readonly #ctx: ModelContext;
  readonly #keyOptions: KeyOptions;
  readonly #sims: { policy: Policy; r: ObjectResult; vols: VolumeCounter }[];
  #keys = new Float64Array(0);

  /** Make the simulators for `configs` (block size for byte traces, default 4096). */
  constructor(configs: readonly ObjectConfig[], context: ModelContext, blockSize = 4096) {
    this.#ctx = context;
    this.#keyOptions = { unit: context.unit, blockSize, volumes: context.volumes };
    this.#sims = configs.map((c) => ({
      policy: policyFactory(c.policy)({ capacity: c.cacheSize }),
      r: emptyResult(policyName(c.policy), c.cacheSize),
      vols: new VolumeCounter(),
    }));
  }

  /** Replay one batch through every simulator. */
  feed(b: RequestBatch, base: number): void {
    let k = b.addr;
    if (this.#ctx.unit !== "object") {
      if (this.#keys.length < b.n) this.#keys = new Float64Array(b.n);
      batchKeys(b, this.#keys, this.#keyOptions);
      k = this.#keys;
    }
    const vn = this.#multi() ? this.#ctx.volumes!.length : 0;
    const nextUse = this.#ctx.nextUse;
    for (const sim of this.#sims) {
      if (vn) sim.vols.ensure(vn);
      runBatch(sim.policy, b, k, { nextUse, base, vols: vn ? sim.vols : undefined }, sim.r);
    }
  }

  /** Derive the totals and the per-volume rows. */
  finish(): void {
    for (const s of this.#sims) {
      finish(s.r);
      if (this.#multi()) s.r.volumes = s.vols.rows(this.#ctx.volumes!, false);
    }
  }

  /** One row per (policy, size). */
  result(): ObjectResult[] {
    return this.#sims.map((s) => s.r);
  }

  #multi(): boolean {
    return (this.#ctx.volumes?.length ?? 0) > 1;
  }
}

interface BatchContext {
  nextUse: Int32Array | undefined;
  base: number;
  /** Per-volume counters (multi-volume traces only; `ensure`d for the batch). */
  vols: VolumeCounter | undefined;
}

/** Replay one batch through one policy, accumulating into `r` (no per-request allocation). */
function runBatch(policy: Policy, b: RequestBatch, keys: Float64Array, ctx: BatchContext, r: ObjectResult): void {
  const { nextUse, base } = ctx;
  const n = b.n, size = b.size, op = b.op, dev = b.dev;
  const vReq = ctx.vols?.requests, vMiss = ctx.vols?.misses;
  let hits = 0, bytes = 0, missBytes = 0, writes = 0, writeMisses = 0;
  if (nextUse === undefined && vReq === undefined) {
    // The common case (no future, one volume): the request loop does only what a miss needs; totals follow.
    for (let i = 0; i < n; i++) {
      if (policy.access(keys[i], Infinity)) hits++;
      else {
        missBytes += size[i];
        writeMisses += op[i];
      }
    }
    for (let i = 0; i < n; i++) {
      bytes += size[i];
      writes += op[i];
    }
  } else {
    for (let i = 0; i < n; i++) {
      let next = Infinity;
      if (nextUse !== undefined) {
        const nx = nextUse[base + i];
        if (nx >= 0) next = nx;
      }
      const sz = size[i];
      const w = op[i];
      bytes += sz;
      writes += w;
      if (vReq !== undefined) vReq[dev[i]]++;
      if (policy.access(keys[i], next)) hits++;
      else {
        missBytes += sz;
        writeMisses += w;
        if (vMiss !== undefined) vMiss[dev[i]]++;
      }
    }
  }
  r.requests += n;
  r.hits += hits;
  r.bytes += bytes;
  r.missBytes += missBytes;
  r.writes += writes;
  r.writeMisses += writeMisses;
}

function emptyResult(policy: string, cacheSize: number): ObjectResult {
  return {
    policy,
    scheduler: "-",
    writeback: "-",
    model: "object",
    cacheSize,
    ...zeroCounts(),
    readMisses: 0,
    writeMisses: 0,
  };
}

function finish(r: ObjectResult): void {
  r.misses = r.requests - r.hits;
  r.reads = r.requests - r.writes;
  r.readMisses = r.misses - r.writeMisses;
  setRatios(r);
}
