/**
 * The `pbxkit tftp-serve` daemon: a {@linkcode TftpServer} for a config, running until the signal aborts. SIGHUP
 * re-reads the config: a broken one is one logged line and the running server carries on; a good one replaces the
 * server (transfers running at that moment are cut, clients retry). This is the board loop's TFTP server as a
 * service; `bbb-pack --tftp` serves a build directory the same way from a terminal.
 *
 * @module
 */

import { log as rootLog, MetricsRegistry, serveMetrics, toPbxError } from "../common/mod.ts";
import type { Logger, MetricsServer } from "../common/mod.ts";
import type { TftpServeConfig } from "./config.ts";
import { TftpMetrics } from "./metrics.ts";
import { formatPeer, TftpServer } from "./server.ts";

/** Options for {@linkcode runTftpDaemon}. */
export interface TftpDaemonOptions {
  /** Ends the daemon (the command wires SIGINT/SIGTERM to it). */
  signal: AbortSignal;
  /** Re-read the config on SIGHUP (undefined: SIGHUP only logs that there is nothing to reload). */
  reload?: () => Promise<TftpServeConfig>;
  /** Logger (default the `tftp` child of pbxkit's logger). */
  log?: Logger;
  /** Called with each server once it listens (tests, `--json`). */
  onListening?: (server: TftpServer) => void;
}

function start(cfg: TftpServeConfig, log: Logger, metrics: TftpMetrics | undefined): Promise<TftpServer> {
  return TftpServer.listen({
    root: cfg.root,
    port: cfg.port,
    hostnames: cfg.hostnames,
    allowWrite: cfg.allowWrite,
    maxBlksize: cfg.maxBlksize,
    maxWindowsize: cfg.maxWindowsize,
    maxTransfers: cfg.maxTransfers,
    maxUploadSize: cfg.maxUploadSize,
    progress: false,
    log,
    onEvent: metrics ? (e) => metrics.onEvent(e) : undefined,
  });
}

/** Serve `cfg` until `options.signal` aborts; the server is closed on the way out. */
export async function runTftpDaemon(cfg: TftpServeConfig, options: TftpDaemonOptions): Promise<void> {
  const log = options.log ?? rootLog.child("tftp");
  // One set of series for the daemon's life: a reload replaces the server, not the counts.
  const metrics = cfg.metrics ? new TftpMetrics(new MetricsRegistry()) : undefined;
  const metricsServer: MetricsServer | undefined = cfg.metrics && metrics
    ? serveMetrics(metrics.registry, cfg.metrics)
    : undefined;
  let server: TftpServer;
  try {
    server = await start(cfg, log, metrics);
  } catch (err) {
    await metricsServer?.shutdown();
    throw err;
  }
  if (metricsServer) log.info(`metrics on ${metricsServer.url}`, { metrics: metricsServer.url });
  const announce = (s: TftpServer) => {
    log.info(`serving ${s.root} on udp ${s.addrs.map(formatPeer).join(", ")}`, {
      root: s.root,
      port: s.port,
      write: cfg.allowWrite,
      engine: s.engine,
    });
    options.onListening?.(s);
  };
  announce(server);
  let reloading: Promise<void> = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      if (!options.reload) return log.info("SIGHUP: no --config to reload");
      let next: TftpServeConfig;
      try {
        next = await options.reload();
      } catch (err) {
        const e = toPbxError(err);
        return log.error(`reload failed, old config kept: ${e.message}`, { code: e.code });
      }
      if (`${next.metrics?.hostname}:${next.metrics?.port}` !== `${cfg.metrics?.hostname}:${cfg.metrics?.port}`) {
        log.warn("SIGHUP: a metrics address change needs a restart; keeping the old one");
        next = { ...next, metrics: cfg.metrics };
      }
      await server.close();
      try {
        server = await start(next, log, metrics);
        cfg = next;
        log.info("config reloaded");
      } catch (err) {
        const e = toPbxError(err);
        log.error(`reload failed, old config kept: ${e.message}`, { code: e.code });
        server = await start(cfg, log, metrics);
      }
      announce(server);
    });
  };
  Deno.addSignalListener("SIGHUP", onHup);
  try {
    await new Promise<void>((res) => {
      if (options.signal.aborted) res();
      options.signal.addEventListener("abort", () => res(), { once: true });
    });
    await reloading;
  } finally {
    Deno.removeSignalListener("SIGHUP", onHup);
    log.info(`stopping: ${server.activeTransfers} transfer(s) running`);
    await server.close();
    await metricsServer?.shutdown();
  }
}
