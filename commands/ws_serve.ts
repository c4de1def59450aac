/**
 * `pbxkit ws-serve`: A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss://
 * reverse proxy for a PBX. Options and printing only; the logic is in `lib/ws/`.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import {
  announce,
  collect,
  log,
  MetricsRegistry,
  parseIntIn,
  printJsonLine,
  serveMetrics,
  usageError,
} from "../lib/common/mod.ts";
import { loadWsServeConfig, startWsServiceWorkers, WsMetrics, type WsServeConfig, WsService } from "../lib/ws/mod.ts";
import { webphoneAssets } from "../lib/call/webphone.ts";

/** Build the `ws-serve` subcommand. */
export function wsServeCommand(): Command {
  return newCommand("ws-serve", {
    summary:
      "A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss:// reverse proxy for a PBX",
    description: "A WebSocket server written from scratch (RFC 6455 + permessage-deflate) over raw sockets.\n" +
      "With no --proxy/--static/--webphone it is an echo server on ws://127.0.0.1:8080/.\n" +
      "--proxy puts a PBX's plain ws:// port behind this server (wss:// with --tls-cert/--tls-key).\n" +
      "--config FILE reads a TOML config (several listeners, an http->https redirect, proxies, limits); flags win.\n" +
      "SIGHUP reloads the config and the TLS certificates without dropping a connection.\n" +
      "Runs until Ctrl-C or SIGTERM, then closes every WebSocket with 1001. Reference: docs/ws-serve.md",
    examples: [
      "pbxkit ws-serve",
      "pbxkit ws-serve --echo --port 9001",
      "pbxkit ws-serve --host 0.0.0.0 --port 443 --tls-cert cert.pem --tls-key key.pem --proxy /pbxws=ws://127.0.0.1:8088/ws --subprotocol sip --webphone",
      "pbxkit ws-serve --static ./public --echo --origin https://pbx.example.com",
      "pbxkit ws-serve --config /etc/pbxkit/ws.toml          # then: kill -HUP <pid> after a certificate renewal",
      "pbxkit ws-serve --echo --metrics 127.0.0.1:9464",
      "pbxkit ws-serve --echo --port 9001 --workers 2",
    ],
  })
    .option("--config <file>", "TOML config (see docs/ws-serve.md); flags override its keys")
    .option("--host <addr>", "address to listen on (default 127.0.0.1; replaces the config's listeners)")
    .option("--port <n>", "TCP port, 0 picks a free one (default 8080; replaces the config's listeners)")
    .option("--tls-cert <file>", "PEM certificate chain: serve wss:// and https://")
    .option("--tls-key <file>", "PEM private key for --tls-cert")
    .option("--echo", "an echo endpoint on every path that is not a proxy (the default with nothing else)")
    .option("--proxy <path=url>", "forward WebSockets on PATH to an upstream ws:// URL (repeatable)", collect)
    .option("--static <dir>", "serve files from DIR over plain HTTP (GET/HEAD)")
    .option("--webphone", "serve the browser webphone page at / (uses the first --proxy path)")
    .option("--subprotocol <name>", "subprotocol to accept, e.g. sip (repeatable)", collect)
    .option("--origin <origin>", "allowed Origin, e.g. https://pbx.example.com (repeatable; default any)", collect)
    .option("--max-message <size>", "largest message; bigger ones close with 1009 (default 16MiB)")
    .option("--max-connections <n>", "most simultaneous connections per listener; more get 503 (default 10000)")
    .option("--idle-timeout <duration>", "close peers silent this long (a ping goes at half); 0 = never (default 120s)")
    .option("--handshake-timeout <duration>", "time allowed for the TLS + HTTP handshake (default 10s)")
    .option("--no-deflate", "never negotiate permessage-deflate")
    .option(
      "--deflate-no-context-takeover",
      "compress each message on its own (answer server_no_context_takeover): saves ~256 KiB per connection",
    )
    .option("--metrics <host:port>", "serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    .option("--workers <n>", "N servers on the same port (SO_REUSEPORT), one per worker thread", "1")
    .option("--json", "print the listening address as one JSON line")
    .action(async function (opts) {
      globalFlags(this);
      const { config: configPath, json, workers: workersFlag, ...flags } = opts;
      // validates the flags and the file (one-line errors, exit 2) before anything listens
      const config = await loadWsServeConfig(flags, configPath);
      const metricsAddr = config.metrics;
      const workers = parseIntIn(workersFlag, "--workers", { min: 1, max: 256 });
      const assets = (c: WsServeConfig) =>
        c.webphone ? webphoneAssets({ wsPath: c.proxies[0]?.path }) : Promise.resolve(undefined);
      if (workers > 1) {
        if (metricsAddr) {
          const from = flags.metrics !== undefined ? "--metrics" : `[metrics] listen in ${configPath}`;
          throw usageError(`${from}: not available with --workers yet; use one worker or no metrics`);
        }
        await runWorkers(config, workers, { json: json ?? false, assets });
        return;
      }
      const registry = metricsAddr ? new MetricsRegistry() : undefined;
      const metrics = registry ? new WsMetrics(registry) : undefined;
      const metricsServer = registry && metricsAddr ? serveMetrics(registry, metricsAddr) : undefined;
      let service: WsService;
      try {
        service = await WsService.start(config, { assets, metrics });
      } catch (err) {
        await metricsServer?.shutdown();
        throw err;
      }
      const roles = (c: WsServeConfig) => {
        const r: string[] = [];
        if (c.echo) r.push("echo");
        for (const p of c.proxies) r.push(`proxy ${p.path} -> ${p.upstream.href}`);
        if (c.staticDir) r.push(`static ${c.staticDir}`);
        if (c.webphone) r.push("webphone at /");
        return r.join(", ");
      };
      const listeners = service.listeners.map((l) => ({
        url: l.spec.redirect ? l.server.url("/").replace(/^ws:/, "http:") : l.server.url("/"),
        host: l.server.addr.hostname,
        port: l.server.addr.port,
        tls: l.server.secure,
        redirect: !!l.spec.redirect,
      }));
      if (json) {
        const main = service.main;
        printJsonLine({
          url: main.url("/"),
          host: main.addr.hostname,
          port: main.addr.port,
          tls: main.secure,
          echo: config.echo,
          proxies: config.proxies.map((p) => ({ path: p.path, upstream: p.upstream.href })),
          static: config.staticDir ?? null,
          webphone: config.webphone,
          listeners,
          metrics: metricsServer?.url ?? null,
        });
      } else {
        for (const l of listeners.filter((l) => !l.redirect)) {
          announce(`listening on ${l.url} (${roles(config)})`, { url: l.url });
        }
        for (const l of listeners.filter((l) => l.redirect)) {
          announce(`redirecting ${l.url} to https`, { url: l.url });
        }
        if (metricsServer) announce(`metrics on ${metricsServer.url}`, { url: metricsServer.url });
      }

      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info(`${sig}: closing ${service.websockets} connection(s) with 1001`);
        service.shutdown({ code: 1001, reason: "server shutting down", timeout: 3000 });
      };
      const reload = async () => {
        try {
          const next = await loadWsServeConfig(flags, configPath);
          const addr = (c: WsServeConfig) => c.metrics ? `${c.metrics.hostname}:${c.metrics.port}` : "off";
          if (addr(next) !== addr(config)) {
            log.warn(`SIGHUP: the metrics address (${addr(config)}) is kept; changing it needs a restart`);
          }
          const r = await service.reload(next);
          log.info(
            `SIGHUP: reloaded${configPath ? ` ${configPath}` : ""}: ${r.listeners} listener(s), ` +
              `${r.certificates} certificate(s) read again, ${service.websockets} connection(s) kept`,
          );
        } catch (err) {
          log.error(`SIGHUP: reload failed, still running the previous config: ${(err as Error).message}`);
        }
      };
      const onInt = () => stop("SIGINT"), onTerm = () => stop("SIGTERM"), onHup = () => void reload();
      Deno.addSignalListener("SIGINT", onInt);
      Deno.addSignalListener("SIGTERM", onTerm);
      Deno.addSignalListener("SIGHUP", onHup);
      await service.finished;
      await metricsServer?.shutdown();
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGHUP", onHup);
    });
}

/** `--workers N`: N whole servers on one port; SIGTERM/SIGINT close them all with 1001, SIGHUP says it needs a restart. */
async function runWorkers(
  config: WsServeConfig,
  n: number,
  o: { json: boolean; assets: (c: WsServeConfig) => Promise<Awaited<ReturnType<typeof webphoneAssets>> | undefined> },
): Promise<void> {
  const server = await startWsServiceWorkers(config, n, { assets: o.assets });
  const url = server.url("/");
  if (o.json) {
    printJsonLine({
      url,
      host: server.addr.hostname,
      port: server.addr.port,
      tls: server.secure,
      echo: config.echo,
      proxies: config.proxies.map((p) => ({ path: p.path, upstream: p.upstream.href })),
      static: config.staticDir ?? null,
      webphone: config.webphone,
      workers: n,
    });
  } else {
    const roles: string[] = [];
    if (config.echo) roles.push("echo");
    for (const p of config.proxies) roles.push(`proxy ${p.path} -> ${p.upstream.href}`);
    if (config.staticDir) roles.push(`static ${config.staticDir}`);
    if (config.webphone) roles.push("webphone at /");
    roles.push(`${n} workers`);
    announce(`listening on ${url} (${roles.join(", ")})`, { url });
  }
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${sig}: closing ${server.stats.websockets} connection(s) with 1001`);
    server.shutdown({ code: 1001, reason: "server shutting down", timeout: 3000 });
  };
  const onInt = () => stop("SIGINT"), onTerm = () => stop("SIGTERM");
  const onHup = () => log.warn("SIGHUP: reloading is not available with --workers; restart ws-serve to apply a change");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGHUP", onHup);
  await server.finished;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  Deno.removeSignalListener("SIGHUP", onHup);
}
