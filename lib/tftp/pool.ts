/**
 * A pool of transfer workers ({@linkcode WorkerJob}): each runs one read transfer at a time over blocking libc UDP.
 * When every worker is busy and the pool is full, {@linkcode TransferPool.run} returns undefined and the server
 * uses its async path instead.
 *
 * @module
 */

import { failedReadOutcome } from "./session.ts";
import type { WorkerJob, WorkerMessage } from "./transfer_worker.ts";

export type { WorkerJob, WorkerMessage };

/** A worker's final message for a job: the job id and how the read transfer ended. */
export type Done = Extract<WorkerMessage, { type: "done" }>;

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
  abort: SharedArrayBuffer;
  resolve?: (m: Done) => void;
  onProgress?: (bytes: number) => void;
}

/** Worker pool for fast read transfers. */
export class TransferPool {
  #slots: Slot[] = [];
  #max: number;
  #nextId = 1;
  #closed = false;

  /** Resolves when the workers started by the constructor have loaded (so the first transfer is not delayed). */
  readonly ready: Promise<void>;

  /** A pool of up to `max` workers; `warm` are started right away. */
  constructor(max = 8, warm = 1) {
    this.#max = max;
    const slots = Array.from({ length: warm }, () => this.#spawn());
    this.ready = Promise.all(slots.map((s) => s.ready)).then(() => {});
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./transfer_worker.ts", import.meta.url).href, { type: "module" });
    let loaded!: () => void;
    const slot: Slot = {
      worker,
      ready: new Promise<void>((r) => (loaded = r)),
      busy: false,
      abort: new SharedArrayBuffer(4),
    };
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.type === "ready") loaded();
      else if (m.type === "progress") slot.onProgress?.(m.bytes);
      else {
        const r = slot.resolve;
        slot.resolve = undefined;
        slot.onProgress = undefined;
        slot.busy = false;
        r?.(m);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      loaded();
      const r = slot.resolve;
      slot.resolve = undefined;
      slot.busy = true; // never reuse a broken worker
      r?.({ type: "done", id: 0, ...failedReadOutcome(e.message) });
    };
    this.#slots.push(slot);
    return slot;
  }

  /** Run a job on a free worker; undefined when none is free (the caller falls back). */
  run(job: Omit<WorkerJob, "id" | "abort">, onProgress?: (bytes: number) => void): Promise<Done> | undefined {
    if (this.#closed) return undefined;
    let slot = this.#slots.find((s) => !s.busy);
    if (!slot) {
      if (this.#slots.length >= this.#max) return undefined;
      slot = this.#spawn();
    }
    const s = slot;
    s.busy = true;
    Atomics.store(new Int32Array(s.abort), 0, 0);
    s.onProgress = onProgress;
    const full: WorkerJob = { ...job, id: this.#nextId++, abort: s.abort };
    return new Promise<Done>((resolve) => {
      s.resolve = resolve;
      s.worker.postMessage(full, typeof job.data === "string" ? [] : [job.data]);
    });
  }

  /** Ask running transfers to stop, wait for them (at most ~1 s), and terminate the workers. */
  async close(): Promise<void> {
    this.#closed = true;
    const running = this.#slots.filter((s) => s.resolve);
    for (const s of running) Atomics.store(new Int32Array(s.abort), 0, 1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(running.map((s) =>
        new Promise<void>((r) => {
          const prev = s.resolve!;
          s.resolve = (m) => {
            prev(m);
            r();
          };
        })
      )),
      new Promise((r) => (timer = setTimeout(r, 1000))),
    ]);
    clearTimeout(timer);
    for (const s of this.#slots) s.worker.terminate();
    this.#slots = [];
  }
}
