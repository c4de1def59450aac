/**
 * The entry of one `ws-serve --workers N` worker (see `workers.ts`): waits for its `start` message, runs the
 * whole server ({@linkcode startWsServe}) with `reusePort` on the given port, reports its counters when they
 * change and shuts down on `shutdown` (logging `worker I: closing N connection(s) with CODE`).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { log, PbxError } from "../common/mod.ts";
import { startWsServe } from "./service.ts";
import type { WebSocketServer } from "./server.ts";
import type { FromWorker, ToWorker } from "./workers.ts";

let server: WebSocketServer | undefined;
let statsTimer: ReturnType<typeof setInterval> | undefined;
let lastStats = "";
let index = 0;

function post(m: FromWorker): void {
  self.postMessage(m);
}

function reportStats(): void {
  if (!server) return;
  const s = server.stats;
  const text = `${s.websockets}/${s.sockets}/${s.accepted}/${s.refused}`;
  if (text === lastStats) return;
  lastStats = text;
  post({ type: "stats", stats: s });
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === "start") {
    log.level = m.logLevel;
    index = m.index;
    const { proxies, ...rest } = m.options;
    try {
      server = startWsServe({
        ...rest,
        reusePort: true,
        proxies: proxies?.map((p) => ({ path: p.path, upstream: new URL(p.upstream) })),
      });
    } catch (err) {
      post({
        type: "failed",
        code: err instanceof PbxError ? err.code : "E_NETWORK",
        message: (err as Error).message,
      });
      return;
    }
    post({ type: "listening", port: server.addr.port });
    statsTimer = setInterval(reportStats, 250);
  } else if (m.type === "shutdown") {
    if (statsTimer !== undefined) clearInterval(statsTimer);
    if (server) {
      log.info(`worker ${index}: closing ${server.stats.websockets} connection(s) with ${m.code ?? 1001}`);
      await server.shutdown({ code: m.code, reason: m.reason, timeout: m.timeout });
      reportStats();
    }
    post({ type: "finished" });
  }
};
