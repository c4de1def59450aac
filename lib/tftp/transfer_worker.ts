/**
 * Worker entry for fast read transfers: one {@linkcode ReadSession} at a time, driven synchronously over a blocking
 * libc UDP socket ({@linkcode BlockingUdp}). The main thread keeps accepting requests; this thread only moves data.
 * An abort flag in shared memory is checked at least every 50 ms.
 *
 * @module
 */

import { BlockingUdp, sameSockaddr, sockaddr } from "./ffi.ts";
import { encodeError, ERR, OP, opcode } from "./packet.ts";
import { failedReadOutcome, readOutcome, ReadSession } from "./session.ts";
import { FileSource } from "./source.ts";
import type { ReadOutcome, SessionConfig } from "./session.ts";

/** A transfer handed to a worker. */
export interface WorkerJob {
  /** Job number the pool assigns; echoed in the worker's `progress` and `done` messages. */
  id: number;
  /** File bytes (transferred, not copied), or the resolved path of the file to read block by block. */
  data: ArrayBuffer | string;
  /** The request's options (name, value), in request order, for negotiation. */
  options: [string, string][];
  /** Server limits and defaults for negotiation. */
  config: SessionConfig;
  /** Local address to bind (the listener's). */
  bindIp: string;
  /** Address family of `bindIp`: 4 or 6 (an IPv4 client of an IPv6 socket is v4-mapped). */
  family: 4 | 6;
  /** Client IP address (the transfer's peer). */
  clientIp: string;
  /** Client UDP port (its TID). */
  clientPort: number;
  /** Busy-poll this long for the client's answer before sleeping (microseconds; 0 = never). */
  spinUs?: number;
  /** Int32Array over it: non-zero asks the transfer to stop. */
  abort: SharedArrayBuffer;
}

/** Messages a worker posts. */
export type WorkerMessage =
  | { type: "ready" }
  | { type: "progress"; id: number; bytes: number }
  | ({ type: "done"; id: number } & ReadOutcome);

/** Run one job to the end (blocking). */
export function runJob(job: WorkerJob, post: (m: WorkerMessage) => void): WorkerMessage {
  const file = typeof job.data === "string" ? new FileSource(job.data) : undefined;
  let sock: BlockingUdp;
  try {
    sock = new BlockingUdp(job.bindIp, job.family);
  } catch (err) {
    file?.close();
    throw err;
  }
  const s = new ReadSession(file ?? new Uint8Array(job.data as ArrayBuffer), new Map(job.options), job.config);
  try {
    const client = sockaddr(job.clientIp, job.clientPort, { family: job.family });
    if (!client) throw new Error(`bad client address ${job.clientIp}`);
    const abort = new Int32Array(job.abort);
    const buf = new Uint8Array(65536 + 4);
    for (const p of s.start(performance.now())) sock.sendTo(p, client);
    let lastProgress = performance.now();
    while (s.active) {
      if (Atomics.load(abort, 0) !== 0) {
        s.abort("server shutting down");
        break;
      }
      const now = performance.now();
      const wait = s.deadline - now;
      const n = wait > 0 ? sock.recv(buf, wait, job.spinUs ?? 0) : -1;
      let out: Uint8Array[];
      if (n < 0) {
        if (performance.now() < s.deadline) continue;
        out = s.timeout(performance.now());
      } else {
        const from = sock.from;
        if (!sameSockaddr(from, client)) {
          if (n >= 2 && opcode(buf) !== OP.ERROR) {
            sock.sendTo(encodeError(ERR.UNKNOWN_TID, "unknown transfer ID"), from.slice());
          }
          continue;
        }
        out = s.receive(buf.subarray(0, n), performance.now());
      }
      for (const p of out) sock.sendTo(p, client);
      if (performance.now() - lastProgress > 100) {
        lastProgress = performance.now();
        post({ type: "progress", id: job.id, bytes: s.bytesAcked });
      }
    }
  } finally {
    sock.close();
    file?.close();
  }
  return { type: "done", id: job.id, ...readOutcome(s) };
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<WorkerJob>) => void) | null;
  postMessage(m: WorkerMessage): void;
  document?: unknown;
};
// Only when loaded as a worker (the main thread has `window`-style globals with a `Deno.mainModule` and no parent).
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  scope.onmessage = (e) => {
    const post = (m: WorkerMessage) => scope.postMessage(m);
    try {
      post(runJob(e.data, post));
    } catch (err) {
      post({ type: "done", id: e.data.id, ...failedReadOutcome((err as Error).message) });
    }
  };
  scope.postMessage({ type: "ready" });
}
