/**
 * `pbxkit ws-serve`: A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss://
 * reverse proxy for a PBX. Options and printing only; the logic is in `lib/ws/`.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import {
  collect,
  log,
  MAX_TIMER_MS,
  parseDuration,
  parseIntIn,
  parsePort,
  parseSize,
  printJsonLine,
  usageError,
} from "../lib/common/mod.ts";
import { isToken, parseProxySpec, startWsServe, startWsServeWorkers, wsServeConfig } from "../lib/ws/mod.ts";
import type { Asset } from "../lib/ws/mod.ts";
import { webphoneAssets } from "../lib/call/webphone.ts";

function isOrigin(text: string): boolean {
  try {
    return new URL(text).origin === text.toLowerCase();
  } catch {
    return false;
  }
}

/** Build the `ws-serve` subcommand. */
export function wsServeCommand(): Command {
  return newCommand("ws-serve", {
    summary:
      "A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss:// reverse proxy for a PBX",
    description: "A WebSocket server written from scratch (RFC 6455 + permessage-deflate) over raw sockets.\n" +
      "With no --proxy/--static/--webphone it is an echo server on ws://127.0.0.1:8080/.\n" +
      "--proxy puts a PBX's plain ws:// port behind this server (wss:// with --tls-cert/--tls-key).\n" +
      "Runs until Ctrl-C or SIGTERM, then closes every WebSocket with 1001. Reference: docs/ws-serve.md",
    examples: [
      "pbxkit ws-serve",
      "pbxkit ws-serve --echo --port 9001",
      "pbxkit ws-serve --host 0.0.0.0 --port 443 --tls-cert cert.pem --tls-key key.pem --proxy /pbxws=ws://127.0.0.1:8088/ws --subprotocol sip --webphone",
      "pbxkit ws-serve --static ./public --echo --origin https://pbx.example.com",
      "pbxkit ws-serve --echo --port 9001 --workers 2",
    ],
  })
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "TCP port (0 picks a free one)", "8080")
    .option("--tls-cert <file>", "PEM certificate chain: serve wss:// and https://")
    .option("--tls-key <file>", "PEM private key for --tls-cert")
    .option("--echo", "an echo endpoint on every path that is not a proxy (the default with nothing else)")
    .option("--proxy <path=url>", "forward WebSockets on PATH to an upstream ws:// URL (repeatable)", collect)
    .option("--static <dir>", "serve files from DIR over plain HTTP (GET/HEAD)")
    .option("--webphone", "serve the browser webphone page at / (uses the first --proxy path)")
    .option("--subprotocol <name>", "subprotocol to accept, e.g. sip (repeatable)", collect)
    .option("--origin <origin>", "allowed Origin, e.g. https://pbx.example.com (repeatable; default any)", collect)
    .option("--max-message <size>", "largest message; bigger ones close with 1009", "16MiB")
    .option("--max-connections <n>", "most simultaneous connections; more get 503", "10000")
    .option("--idle-timeout <duration>", "close peers silent this long (a ping goes at half); 0 = never", "120s")
    .option("--handshake-timeout <duration>", "time allowed for the TLS + HTTP handshake", "10s")
    .option("--no-deflate", "never negotiate permessage-deflate")
    .option(
      "--deflate-no-context-takeover",
      "compress each message on its own (answer server_no_context_takeover): saves ~256 KiB per connection",
    )
    .option("--workers <n>", "N servers on the same port (SO_REUSEPORT), one per worker thread", "1")
    .option("--json", "print the listening address as one JSON line")
    .action(async function (opts) {
      globalFlags(this);
      const port = parsePort(opts.port);
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw usageError("--tls-cert and --tls-key go together");
      }
      const tlsFiles = opts.tlsCert && opts.tlsKey ? { cert: opts.tlsCert, key: opts.tlsKey } : undefined;
      const proxies = (opts.proxy ?? []).map(parseProxySpec);
      const paths = new Set<string>();
      for (const p of proxies) {
        if (paths.has(p.path)) throw usageError(`--proxy: path ${p.path} given twice`);
        paths.add(p.path);
      }
      const maxMessage = parseSize(opts.maxMessage, "--max-message");
      if (maxMessage < 125 || maxMessage > 2 ** 31) throw usageError("--max-message must be from 125 bytes to 2GiB");
      const workers = parseIntIn(opts.workers, "--workers", { min: 1, max: 256 });
      const maxConnections = parseIntIn(opts.maxConnections, "--max-connections", { min: 1, max: 1_000_000 });
      const idleTimeout = opts.idleTimeout === "0"
        ? 0
        : parseDuration(opts.idleTimeout, "--idle-timeout", { max: MAX_TIMER_MS });
      const handshakeTimeout = parseDuration(opts.handshakeTimeout, "--handshake-timeout", {
        min: 1,
        max: MAX_TIMER_MS,
      });
      if (!opts.host.trim()) throw usageError("--host: give an address to listen on, e.g. 127.0.0.1 or ::");
      if (opts.static !== undefined && !opts.static) throw usageError("--static: give a directory");
      for (const o of opts.origin ?? []) {
        if (o !== "null" && !isOrigin(o)) {
          throw usageError(`--origin: '${o}' is not an origin like https://pbx.example.com (scheme://host[:port])`);
        }
      }
      if (opts.deflate === false && opts.deflateNoContextTakeover) {
        throw usageError("--no-deflate and --deflate-no-context-takeover exclude each other");
      }
      for (const s of opts.subprotocol ?? []) {
        if (!isToken(s)) throw usageError(`--subprotocol: '${s}' is not a token`);
      }
      const echo = opts.echo || (!proxies.length && !opts.static && !opts.webphone);
      // reads the PEM files and checks --static
      const config = wsServeConfig({
        hostname: opts.host,
        port,
        tlsFiles,
        echo,
        proxies,
        staticDir: opts.static,
        maxMessage,
        maxConnections,
        idleTimeout,
        handshakeTimeout,
        subprotocols: opts.subprotocol,
        origins: opts.origin,
        deflate: opts.deflate === false
          ? false
          : opts.deflateNoContextTakeover
          ? { serverNoContextTakeover: true }
          : undefined,
      });
      let assets: Map<string, Asset> | undefined;
      if (opts.webphone) assets = await webphoneAssets({ wsPath: proxies[0]?.path });

      const server = workers > 1
        ? await startWsServeWorkers({ ...config, assets }, workers)
        : startWsServe({ ...config, assets });
      const roles: string[] = [];
      if (echo) roles.push("echo");
      for (const p of proxies) roles.push(`proxy ${p.path} -> ${p.upstream.href}`);
      if (opts.static) roles.push(`static ${opts.static}`);
      if (assets) roles.push("webphone at /");
      if (workers > 1) roles.push(`${workers} workers`);
      const url = server.url("/");
      if (opts.json) {
        printJsonLine({
          url,
          host: server.addr.hostname,
          port: server.addr.port,
          tls: !!config.tls,
          echo,
          proxies: proxies.map((p) => ({ path: p.path, upstream: p.upstream.href })),
          static: opts.static ?? null,
          webphone: !!assets,
          workers,
        });
      } else {
        console.log(`listening on ${url} (${roles.join(", ")})`);
      }

      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info(`${sig}: closing ${server.stats.websockets} connection(s) with 1001`);
        server.shutdown({ code: 1001, reason: "server shutting down", timeout: 3000 });
      };
      const onInt = () => stop("SIGINT"), onTerm = () => stop("SIGTERM");
      Deno.addSignalListener("SIGINT", onInt);
      Deno.addSignalListener("SIGTERM", onTerm);
      await server.finished;
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    });
}
