/**
 * `ws-serve --workers N`: N copies of the whole server ({@linkcode startWsServe}: echo, proxy routes, static files,
 * webphone) in N Deno Workers, each with its own listener on the same port (`SO_REUSEPORT`, so the kernel spreads
 * new connections over them). The main thread only starts them, sums their counters and relays `shutdown`, so
 * SIGTERM still closes every client with 1001. With N = 1 {@linkcode startWsServeWorkers} is not used: the server
 * runs on the main thread as before.
 *
 * Messages between the main thread and a worker (structured clones):
 * - to the worker: `{ type: "start", index, options, logLevel }` (index from 1) then `{ type: "shutdown", code, reason, timeout }`;
 * - from the worker: `{ type: "listening", port }` or `{ type: "failed", code, message }`, `{ type: "stats", stats }`
 *   whenever its counters change (at most every 250 ms), `{ type: "finished" }` once its server has stopped.
 *
 * @module
 */

import { log, type LogLevel, PbxError } from "../common/mod.ts";
import { listenError, type ServerStats } from "./server.ts";
import type { WsServeOptions } from "./service.ts";

/** {@linkcode WsServeOptions} in a form a Worker can receive (URLs as text, no callbacks). */
export interface WorkerServeOptions extends Omit<WsServeOptions, "proxies" | "onListen"> {
  /** Proxy routes with the upstream URL as text. */
  proxies?: { path: string; upstream: string }[];
}

/** A message from a worker to the main thread. */
export type FromWorker =
  | { type: "listening"; port: number }
  | { type: "failed"; code: string; message: string }
  | { type: "stats"; stats: ServerStats }
  | { type: "finished" };

/** A message from the main thread to a worker. */
export type ToWorker =
  | { type: "start"; index: number; options: WorkerServeOptions; logLevel: LogLevel }
  | { type: "shutdown"; code?: number; reason?: string; timeout?: number };

/** N servers on one port, one per worker (see the module doc). Same surface as the single server that ws-serve uses. */
export class WorkerServers {
  /** The bound address (the port every worker listens on). */
  readonly addr: Deno.NetAddr;
  /** True when serving TLS. */
  readonly secure: boolean;
  /** Resolves when every worker's server has stopped and the workers are gone. */
  readonly finished: Promise<void>;
  readonly #workers: Worker[];
  readonly #stats: ServerStats[];
  readonly #done: Promise<void>[];

  /** Use {@linkcode startWsServeWorkers}. */
  constructor(
    parts: { addr: Deno.NetAddr; secure: boolean; workers: Worker[]; stats: ServerStats[]; done: Promise<void>[] },
  ) {
    this.addr = parts.addr;
    this.secure = parts.secure;
    this.#workers = parts.workers;
    this.#stats = parts.stats;
    this.#done = parts.done;
    this.finished = Promise.all(this.#done).then(() => {
      for (const w of this.#workers) w.terminate();
    });
  }

  /** How many workers serve. */
  get workers(): number {
    return this.#workers.length;
  }

  /** The `ws://` or `wss://` URL of this server (for a path). */
  url(path = "/"): string {
    const host = this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname;
    return `${this.secure ? "wss" : "ws"}://${host}:${this.addr.port}${path}`;
  }

  /** The workers' counters summed (as last reported: up to 250 ms old). */
  get stats(): ServerStats {
    const sum: ServerStats = { websockets: 0, sockets: 0, accepted: 0, refused: 0 };
    for (const s of this.#stats) {
      sum.websockets += s.websockets;
      sum.sockets += s.sockets;
      sum.accepted += s.accepted;
      sum.refused += s.refused;
    }
    return sum;
  }

  /** Each worker's last reported counters, in worker order. */
  get perWorker(): ServerStats[] {
    return this.#stats.map((s) => ({ ...s }));
  }

  /** Shut every worker's server down (close code default 1001); resolves when all have finished. */
  shutdown(options: { code?: number; reason?: string; timeout?: number } = {}): Promise<void> {
    const msg: ToWorker = { type: "shutdown", ...options };
    for (const w of this.#workers) w.postMessage(msg);
    return this.finished;
  }
}

function toWorkerOptions(options: WsServeOptions): WorkerServeOptions {
  const { proxies, onListen: _onListen, ...rest } = options;
  return { ...rest, proxies: proxies?.map((p) => ({ path: p.path, upstream: p.upstream.href })) };
}

/** Start one worker and wait until it listens (or fails). */
function startWorker(
  index: number,
  options: WorkerServeOptions,
  onStats: (s: ServerStats) => void,
): { worker: Worker; listening: Promise<number>; done: Promise<void> } {
  const worker = new Worker(new URL("./worker_main.ts", import.meta.url).href, { type: "module" });
  let listened: (port: number) => void, failed: (e: Error) => void, finished: () => void;
  const listening = new Promise<number>((res, rej) => {
    listened = res;
    failed = rej;
  });
  const done = new Promise<void>((r) => finished = r);
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === "listening") listened(m.port);
    else if (m.type === "failed") failed(new PbxError(m.code as "E_NETWORK", m.message));
    else if (m.type === "stats") onStats(m.stats);
    else if (m.type === "finished") finished();
  };
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    log.error(`ws-serve worker failed: ${e.message}`);
    failed(new PbxError("E_INTERNAL", `ws-serve worker failed: ${e.message}`));
    finished();
  };
  const start: ToWorker = { type: "start", index, options, logLevel: log.level };
  worker.postMessage(start);
  return { worker, listening, done };
}

/** Throw `E_NETWORK` (through {@linkcode listenError}) when something already listens on the port. */
function probePort(hostname: string, port: number): void {
  let l: Deno.Listener;
  try {
    l = Deno.listen({ hostname, port });
  } catch (err) {
    throw listenError(err, { hostname, port });
  }
  l.close();
}

/**
 * Start `n` (at least 2) workers, each running the whole server on the same port with `SO_REUSEPORT`. With port 0
 * the first worker picks the port and the others join it. Throws the first worker's listen error (`E_NETWORK`
 * when the port is taken) after stopping the workers already started.
 */
export async function startWsServeWorkers(options: WsServeOptions, n: number): Promise<WorkerServers> {
  if (!Number.isInteger(n) || n < 2) throw new PbxError("E_INTERNAL", `startWsServeWorkers: n must be >= 2, got ${n}`);
  const base = toWorkerOptions(options);
  const workers: Worker[] = [];
  const stats: ServerStats[] = [];
  const done: Promise<void>[] = [];
  const add = (port: number) => {
    const i = workers.length;
    stats.push({ websockets: 0, sockets: 0, accepted: 0, refused: 0 });
    const w = startWorker(i + 1, { ...base, port }, (s) => stats[i] = s);
    workers.push(w.worker);
    done.push(w.done);
    return w.listening;
  };
  // SO_REUSEPORT would let the workers join another process already on the port without a word: a plain bind first.
  const wanted = options.port ?? 8080;
  if (wanted !== 0) probePort(options.hostname ?? "127.0.0.1", wanted);
  try {
    const port = await add(wanted);
    await Promise.all(Array.from({ length: n - 1 }, () => add(port)));
    const addr: Deno.NetAddr = { transport: "tcp", hostname: options.hostname ?? "127.0.0.1", port };
    options.onListen?.(addr);
    return new WorkerServers({ addr, secure: options.tls !== undefined, workers, stats, done });
  } catch (err) {
    for (const w of workers) w.terminate();
    throw err;
  }
}
