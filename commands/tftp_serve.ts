/**
 * `pbxkit tftp-serve`: the TFTP server (RFC 1350/2347/2348/2349/7440) as a daemon, for the board loop as a service.
 * Options and printing only; the logic is in `lib/tftp/`.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import { collect } from "../lib/common/mod.ts";
import {
  DEFAULT_TFTP_ROOT,
  readTftpConfigFile,
  resolveTftpConfig,
  runTftpDaemon,
  type TftpRawSettings,
  type TftpServeConfig,
} from "../lib/tftp/mod.ts";

interface Opts {
  config?: string;
  root?: string;
  port?: string;
  address?: string[];
  allowWrite?: boolean;
  maxBlksize?: string;
  maxWindowsize?: string;
  maxTransfers?: string;
  metrics?: string;
}

async function configFrom(o: Opts): Promise<TftpServeConfig> {
  const file = o.config ? await readTftpConfigFile(o.config) : {};
  const flags: TftpRawSettings = {
    root: o.root,
    port: o.port,
    address: o.address,
    allowWrite: o.allowWrite ? "true" : undefined,
    maxBlksize: o.maxBlksize,
    maxWindowsize: o.maxWindowsize,
    maxTransfers: o.maxTransfers,
    metrics: o.metrics,
  };
  return resolveTftpConfig(file, flags);
}

/** Build the `tftp-serve` subcommand. */
export function tftpServeCommand(): Command {
  return newCommand("tftp-serve", {
    summary: "Serve a directory over TFTP until stopped (the board loop's server as a daemon; SIGHUP reloads --config)",
    description: "The TFTP server of bbb-pack --tftp (RFC 1350 with blksize, tsize, timeout and windowsize options, " +
      "IPv4 and IPv6, root confinement, atomic uploads with --allow-write) as a long-running daemon, e.g. under " +
      "systemd (pbxkit service install tftp). SIGHUP re-reads --config; a broken one is logged and the old one kept. " +
      "See docs/service.md and docs/bbb-pack.md.",
    examples: [
      "pbxkit tftp-serve --root build/ --port 6969",
      "pbxkit tftp-serve --config /etc/pbxkit/tftp.toml --log-format json",
      "pbxkit tftp-serve --root build/ --port 6969 --metrics 127.0.0.1:9465",
    ],
  })
    .option("--config <file>", "TOML config file; flags override it")
    .option("--root <dir>", `directory served (default: ${DEFAULT_TFTP_ROOT})`)
    .option("--port <port>", "UDP port (default: 69)")
    .option("--address <addr>", "address to bind, repeatable (default :: = IPv4 and IPv6)", collect)
    .option("--allow-write", "accept uploads (atomic: a partial upload never replaces a file)")
    .option("--max-blksize <n>", "largest blksize granted (default: 65464)")
    .option("--max-windowsize <n>", "largest windowsize granted (default: 64)")
    .option("--max-transfers <n>", "most transfers at once (default: 128)")
    .option("--metrics <host:port>", "serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    .action(async function (opts) {
      globalFlags(this);
      const o = opts as Opts;
      const cfg = await configFrom(o);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      Deno.addSignalListener("SIGINT", onSignal);
      Deno.addSignalListener("SIGTERM", onSignal);
      try {
        await runTftpDaemon(cfg, { signal: stop.signal, reload: o.config ? () => configFrom(o) : undefined });
      } finally {
        Deno.removeSignalListener("SIGINT", onSignal);
        Deno.removeSignalListener("SIGTERM", onSignal);
      }
    }) as unknown as Command;
}
