/**
 * The dev loop behind `bbb-pack --tftp` / `--watch`: serve the output directory over TFTP and rebuild when the
 * inputs change, until the signal aborts. A failed rebuild keeps the last good outputs and the loop goes on.
 *
 * @module
 */

import { log, MetricsRegistry, type MetricsServer, serveMetrics, toPbxError } from "../common/mod.ts";
import { formatPeer, TftpMetrics, TftpServer } from "../tftp/mod.ts";
import type { TftpServerOptions } from "../tftp/mod.ts";
import type { PackOptions, PackReport } from "./mod.ts";
import { pack } from "./mod.ts";
import { watchInputs } from "./watch.ts";

/** Options for {@linkcode devLoop}. */
export interface DevLoopOptions {
  /** Serve the output directory over TFTP with these settings. */
  tftp?: Omit<TftpServerOptions, "root">;
  /** Serve the TFTP server's Prometheus metrics here (`--metrics`; needs `tftp`). */
  metrics?: { hostname: string; port: number };
  /** Rebuild when an input (kernel, apps, MLO, u-boot, eMMC layout) changes. */
  watch?: boolean;
  /** Ends the loop (and the server). */
  signal: AbortSignal;
  /** Called after each successful rebuild with its report and the changed paths. */
  onRebuild?: (report: PackReport, changed: string[]) => void;
}

/** The files `--watch` follows for a build with `opts`. */
export function packInputs(opts: PackOptions): string[] {
  return [opts.kernel, ...opts.apps, opts.mlo, opts.uboot, opts.emmcMbr].filter((x): x is string => !!x);
}

/** Serve and/or watch (as `options` says) until `options.signal` aborts; the server is closed on the way out. */
export async function devLoop(opts: PackOptions, options: DevLoopOptions): Promise<void> {
  const { signal } = options;
  let server: TftpServer | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    if (options.tftp) {
      let tftp = options.tftp;
      if (options.metrics) {
        const registry = new MetricsRegistry();
        const m = new TftpMetrics(registry);
        const theirs = tftp.onEvent;
        tftp = {
          ...tftp,
          onEvent: (e) => {
            m.onEvent(e);
            theirs?.(e);
          },
        };
        metricsServer = serveMetrics(registry, options.metrics);
        log.info(`tftp: metrics on ${metricsServer.url}`);
      }
      server = await TftpServer.listen({ ...tftp, root: opts.outDir });
      log.info(`tftp: serving ${server.root} on udp ${server.addrs.map(formatPeer).join(", ")} (Ctrl-C to stop)`);
    }
    const work: Promise<void>[] = [new Promise((res) => signal.addEventListener("abort", () => res()))];
    if (options.watch) {
      const inputs = packInputs(opts);
      work.push(watchInputs(inputs, async (changed) => {
        try {
          options.onRebuild?.(await pack(opts), changed);
        } catch (err) {
          // Keep the last good outputs and keep watching.
          const e = toPbxError(err);
          log.error(`rebuild failed, previous outputs kept: ${e.message} [${e.code}]`);
        }
      }, { signal, onReady: () => log.info(`watching ${inputs.length} input(s) for changes`) }));
    }
    await Promise.race(work);
  } finally {
    await server?.close();
    await metricsServer?.shutdown();
  }
}
