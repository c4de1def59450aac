/**
 * A sweep as plain data: the model and its configurations, structured-cloneable so that a worker can build the
 * same simulators as the main thread. `buildModel` is the one place both build them.
 *
 * @module
 */

import type { Model, ModelContext } from "./model.ts";
import { OBJECT_FIELDS, type ObjectConfig, ObjectModel, type ObjectResult } from "./object_model.ts";
import type { BatchFields } from "./traces/batch.ts";
import { type SeedOptions, type SeedResult, SeedSim } from "./seed/mod.ts";
import { SeedModel } from "./seed_sweep.ts";
import { parseWriteback } from "./writeback/mod.ts";

/** One result row (either model). */
export type Result = SeedResult | ObjectResult;

/** One seed-model configuration as data (the write-back as its `--writeback` text). */
export interface SeedJobConfig {
  /** Eviction policy name. */
  policy: string;
  /** I/O scheduler name. */
  scheduler: string;
  /** `--writeback` item, e.g. `periodic,expire=10s`. */
  writeback: string;
  /** Cache entries (blocks). */
  cacheSize: number;
}

/** Every configuration of a sweep, as data. */
export type SweepJob =
  | { model: "object"; blockSize: number; configs: ObjectConfig[] }
  | { model: "seed"; options: SeedOptions; configs: SeedJobConfig[] };

/** Build the model that simulates every configuration of `job`. */
export function buildModel(job: SweepJob, context: ModelContext): Model<Result> {
  if (job.model === "object") return new ObjectModel(job.configs, context, job.blockSize);
  const sims = job.configs.map((c) => new SeedSim({ ...c, writeback: parseWriteback(c.writeback) }, job.options));
  return new SeedModel(sims, context);
}

/** The batch columns `job`'s model reads (undefined: all), so that the reader can skip the rest. */
export function jobFields(job: SweepJob): BatchFields | undefined {
  return job.model === "object" ? OBJECT_FIELDS : undefined;
}

/** Number of configurations in `job`. */
export function jobSize(job: SweepJob): number {
  return job.configs.length;
}

/** Deal `job`'s configurations round-robin into `n` jobs (configuration `i` goes to job `i % n`). */
export function splitJob(job: SweepJob, n: number): SweepJob[] {
  const configs: readonly unknown[] = job.configs;
  return Array.from({ length: n }, (_, w) => ({ ...job, configs: configs.filter((_, i) => i % n === w) }) as SweepJob);
}
