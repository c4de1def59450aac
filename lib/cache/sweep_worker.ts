/**
 * Worker side of the parallel sweep ({@linkcode ParallelModel}): builds its share of the sweep's simulators, replays
 * the batches the main thread puts in shared slots, acknowledges each slot, and returns its rows at the end.
 *
 * @module
 */

import type { Model, ModelContext } from "./model.ts";
import { buildModel, type Result, type SweepJob } from "./sweep_job.ts";
import { slotBatch, type SweepToWorker, type WorkerToSweep } from "./sweep_protocol.ts";
import type { RequestBatch } from "./traces/batch.ts";

const port = self as unknown as {
  postMessage(m: WorkerToSweep): void;
  onmessage: ((e: MessageEvent<SweepToWorker>) => void) | null;
};

let model: Model<Result> | undefined;
let batches: RequestBatch[] = [];
const volumes: string[] = [];

function fail(err: unknown): void {
  const e = err as { code?: string; message?: string };
  port.postMessage({ type: "error", code: e?.code ?? "E_INTERNAL", message: e?.message ?? String(err) });
}

port.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.type === "init") {
      const context: ModelContext = {
        unit: m.unit,
        volumes,
        nextUse: m.nextUse ? new Int32Array(m.nextUse) : undefined,
      };
      batches = m.slots.map((sab) => slotBatch(sab, m.capacity));
      model = buildModel(m.job as SweepJob, context);
    } else if (m.type === "batch") {
      for (const v of m.newVolumes) volumes.push(v);
      const b = batches[m.slot];
      b.n = m.n;
      await model!.feed(b, m.base);
      port.postMessage({ type: "ack", slot: m.slot });
    } else if (m.type === "finish") {
      await model!.finish();
      port.postMessage({ type: "result", results: model!.result() });
    }
  } catch (err) {
    fail(err);
  }
};
