/**
 * The parallel sweep (`cache-sim --jobs N`): a {@linkcode Model} that deals a sweep's configurations round-robin to
 * N worker threads. The trace is read and parsed once, on this thread; each batch is copied once into a shared
 * slot (a small ring of `SharedArrayBuffer`s) that every worker replays through its own simulators, and a slot is
 * reused when every worker has acknowledged it. Progress counts the requests every worker has acknowledged (not
 * those handed out, which run up to a ring ahead). The rows come back in the order one thread would give them.
 *
 * @module
 */

import { type ErrorCode, PbxError } from "../common/mod.ts";
import type { Model, ModelContext } from "./model.ts";
import { type Result, splitJob, type SweepJob } from "./sweep_job.ts";
import { copyIntoSlot, slotBatch, slotBytes, type SweepToWorker, type WorkerToSweep } from "./sweep_protocol.ts";
import type { RequestBatch } from "./traces/batch.ts";

/** Options of {@linkcode ParallelModel}. */
export interface ParallelOptions {
  /** Worker threads (at least 1, at most the number of configurations). */
  jobs: number;
  /** Shared slots in the ring (default 4). */
  slots?: number;
  /** Requests per slot (default 65536; larger batches are split). */
  capacity?: number;
  /** Called with the requests every worker has replayed so far, each time a slot is released. */
  onProgress?: (done: number) => void;
}

interface Lane {
  worker: Worker;
  results?: Result[];
}

/** A sweep replayed by worker threads. Call {@linkcode ParallelModel.close} when done (also after an error). */
export class ParallelModel implements Model<Result> {
  readonly #lanes: Lane[] = [];
  readonly #slots: RequestBatch[] = [];
  readonly #pending: Int32Array;
  readonly #slotN: Int32Array;
  readonly #onProgress: ((done: number) => void) | undefined;
  #done = 0;
  readonly #free: number[] = [];
  readonly #ctx: ModelContext;
  readonly #capacity: number;
  #volumesSent = 0;
  #error: PbxError | undefined;
  #wake: (() => void) | undefined;
  #results: Result[] = [];
  #resultsLeft = 0;

  /** Start `options.jobs` workers for `job` over a trace described by `context`. */
  constructor(job: SweepJob, context: ModelContext, options: ParallelOptions) {
    this.#ctx = context;
    const n = Math.max(1, Math.min(options.jobs, job.configs.length));
    this.#capacity = options.capacity ?? 65536;
    const nSlots = options.slots ?? 4;
    const sabs: SharedArrayBuffer[] = [];
    for (let i = 0; i < nSlots; i++) {
      const sab = new SharedArrayBuffer(slotBytes(this.#capacity));
      sabs.push(sab);
      this.#slots.push(slotBatch(sab, this.#capacity));
      this.#free.push(i);
    }
    this.#pending = new Int32Array(nSlots);
    this.#slotN = new Int32Array(nSlots);
    this.#onProgress = options.onProgress;
    let nextUse: SharedArrayBuffer | undefined;
    if (context.nextUse) {
      nextUse = new SharedArrayBuffer(context.nextUse.byteLength);
      new Int32Array(nextUse).set(context.nextUse);
    }
    for (const part of splitJob(job, n)) {
      const worker = new Worker(new URL("./sweep_worker.ts", import.meta.url).href, { type: "module" });
      const lane: Lane = { worker };
      worker.onmessage = (e: MessageEvent<WorkerToSweep>) => this.#onMessage(lane, e.data);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#fail(new PbxError("E_INTERNAL", `cache-sim worker: ${e.message}`));
      };
      const init: SweepToWorker = {
        type: "init",
        job: part,
        unit: context.unit,
        nextUse,
        slots: sabs,
        capacity: this.#capacity,
      };
      worker.postMessage(init);
      this.#lanes.push(lane);
    }
  }

  /** Copy the batch into free slots (waiting for one when all are busy) and hand it to every worker. */
  async feed(b: RequestBatch, base: number): Promise<void> {
    for (let start = 0; start < b.n; start += this.#capacity) {
      const n = Math.min(this.#capacity, b.n - start);
      while (this.#free.length === 0 && !this.#error) await new Promise<void>((r) => this.#wake = r);
      if (this.#error) throw this.#error;
      const slot = this.#free.pop()!;
      copyIntoSlot(b, start, n, this.#slots[slot]);
      const names = this.#ctx.volumes ?? [];
      const newVolumes = names.slice(this.#volumesSent);
      this.#volumesSent = names.length;
      this.#pending[slot] = this.#lanes.length;
      this.#slotN[slot] = n;
      const msg: SweepToWorker = { type: "batch", slot, n, base: base + start, newVolumes };
      for (const lane of this.#lanes) lane.worker.postMessage(msg);
    }
  }

  /** Let every worker finish its simulations and collect the rows. */
  async finish(): Promise<void> {
    this.#resultsLeft = this.#lanes.length;
    const msg: SweepToWorker = { type: "finish" };
    for (const lane of this.#lanes) lane.worker.postMessage(msg);
    while (this.#resultsLeft > 0 && !this.#error) await new Promise<void>((r) => this.#wake = r);
    if (this.#error) throw this.#error;
    // configuration i went to lane i % n as its (i / n)-th row
    const n = this.#lanes.length;
    const total = this.#lanes.reduce((s, l) => s + l.results!.length, 0);
    this.#results = Array.from({ length: total }, (_, i) => this.#lanes[i % n].results![Math.floor(i / n)]);
    this.close();
  }

  /** Requests every worker has replayed (acknowledged) so far. */
  get done(): number {
    return this.#done;
  }

  /** One row per configuration, in single-thread order. */
  result(): Result[] {
    return this.#results;
  }

  /** Stop the workers (idempotent). */
  close(): void {
    for (const lane of this.#lanes) lane.worker.terminate();
  }

  #onMessage(lane: Lane, m: WorkerToSweep): void {
    if (m.type === "ack") {
      if (--this.#pending[m.slot] === 0) {
        this.#free.push(m.slot);
        this.#done += this.#slotN[m.slot];
        this.#onProgress?.(this.#done);
      }
    } else if (m.type === "result") {
      lane.results = m.results;
      this.#resultsLeft--;
    } else {
      this.#fail(new PbxError(m.code as ErrorCode, m.message));
      return;
    }
    this.#poke();
  }

  #fail(err: PbxError): void {
    this.#error ??= err;
    this.#poke();
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
