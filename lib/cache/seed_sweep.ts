/**
 * The seed model as a {@linkcode Model}: a set of {@linkcode SeedSim}s (one per policy × scheduler × write-back ×
 * size) fed the same batches, with per-volume rows when the trace has several volumes.
 *
 * @module
 */

import type { Model, ModelContext } from "./model.ts";
import type { SeedResult, SeedSim } from "./seed/mod.ts";
import type { RequestBatch } from "./traces/batch.ts";

/** Several seed-model simulations driven as one model. */
export class SeedModel implements Model<SeedResult> {
  readonly #sims: readonly SeedSim[];
  readonly #ctx: ModelContext;
  #results: SeedResult[] = [];

  /** Drive `sims` over a trace described by `context`. */
  constructor(sims: readonly SeedSim[], context: ModelContext) {
    this.#sims = sims;
    this.#ctx = context;
  }

  /** Replay one batch through every simulation. */
  feed(b: RequestBatch, base: number): void {
    const isObject = this.#ctx.unit === "object", nextUse = this.#ctx.nextUse;
    for (const sim of this.#sims) sim.feed(b, isObject, { nextUse, base });
  }

  /** Sync every dirty block and run each simulation to completion. */
  finish(): void {
    this.#results = this.#sims.map((s) => s.finish());
    const names = this.#ctx.volumes ?? [];
    if (names.length > 1) {
      this.#results.forEach((r, i) => r.volumes = this.#sims[i].volumeCounts.rows(names, true));
    }
  }

  /** One row per simulation, after `finish()`. */
  result(): SeedResult[] {
    return this.#results;
  }
}
