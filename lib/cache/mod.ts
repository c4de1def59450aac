/**
 * `cache-sim`'s engine: eviction policies (one small interface, one file each), I/O schedulers, disk models,
 * write-back policies, the seed model (the user's block cache as a discrete-event simulation), the object model
 * (libCacheSim-comparable), streamed trace readers and generators, miss-ratio curves, reports and charts.
 *
 * @module
 */

export * from "./policy.ts";
export { KeyMap } from "./keymap.ts";
export { LinkedTable } from "./linked_table.ts";
export { DEFAULT_SEED_POLICIES, needsFuture, POLICIES, policyFactory, policyName } from "./policies/mod.ts";
export { schedulerName, SCHEDULERS } from "./schedulers/mod.ts";
export type { IoTable, Scheduler, SchedulerOptions } from "./schedulers/mod.ts";
export type { NodePool } from "./nodes.ts";
export type { ResultCounts } from "./result.ts";
export type { Compression, OpenedTrace } from "./traces/open.ts";
export * from "./disk.ts";
export * from "./writeback/mod.ts";
export * from "./seed/mod.ts";
export * from "./object_model.ts";
export * from "./next_use.ts";
export * from "./mrc.ts";
export * from "./run.ts";
export * from "./report.ts";
export * from "./chart.ts";
export * from "./keys.ts";
export * from "./model.ts";
export * from "./seed_sweep.ts";
export * from "./volumes.ts";
export * from "./traces/mod.ts";
