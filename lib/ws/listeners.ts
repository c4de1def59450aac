/**
 * The listeners of `pbxkit ws-serve` and their reload: one {@linkcode WebSocketServer} per configured listener
 * (TLS, plain, or a plain one that redirects to https), started together (if one cannot listen, none stays open),
 * and {@linkcode WsService.reload} for SIGHUP.
 *
 * A reload takes a new {@linkcode WsServeConfig}: routes, limits, origins, subprotocols and deflate settings apply to
 * connections that come next, and every TLS listener gets its certificate and key read again. `Deno.listenTls`
 * fixes the certificate when it listens, so the reload opens a second TLS socket on the same address (both have
 * `SO_REUSEPORT`), swaps it in under the server's accept loop ({@linkcode SwappableListener}) and closes the old
 * socket. Connections already accepted (WebSockets, proxied SIP sessions, TLS handshakes under way) belong to the
 * server, not to the socket, and carry on. If anything of the new config fails (a file, a certificate TLS rejects,
 * a changed listener address) nothing is swapped and the error is thrown: the old config keeps running.
 *
 * The one race: a connection whose TCP handshake completes in the moment between the old socket's last accept
 * and its close sits in that socket's queue and is reset by the close (the client sees a reset and retries). On
 * Linux 5.14+ `sysctl net.ipv4.tcp_migrate_req=1` makes the kernel move such connections to the new socket, so
 * nothing is lost; docs/ws-serve.md says so and tests/ws/reload_test.ts measures both.
 *
 * @module
 */

import { log, PbxError, usageError } from "../common/mod.ts";
import type { ListenerConfig, WsServeConfig } from "./config.ts";
import { httpsRedirect } from "./redirect.ts";
import { type ConnListener, listenError, serve, type ServeOptions, type WebSocketServer } from "./server.ts";
import { checkDirectory, readPem, wsServeOptions } from "./service.ts";
import { closeQuietly } from "./socket.ts";
import type { Asset } from "./static.ts";
import type { WsMetrics } from "./metrics.ts";
import { startWsServeWorkers, type WorkerServers } from "./workers.ts";

const llog = log.child("ws-serve");

/** A listener whose socket can be replaced while `accept()` is waiting: the next accept comes from the new one. */
export class SwappableListener implements ConnListener {
  #current: Deno.Listener;
  #closed = false;
  #swaps = 0;

  /** Wrap the first socket. */
  constructor(first: Deno.Listener) {
    this.#current = first;
  }

  /** The bound address (the same for every socket swapped in). */
  get addr(): Deno.Addr {
    return this.#current.addr;
  }

  /** How many times a socket was swapped in. */
  get swaps(): number {
    return this.#swaps;
  }

  /** The next connection, from whichever socket is current. */
  async accept(): Promise<Deno.Conn> {
    for (;;) {
      const l = this.#current;
      try {
        return await l.accept();
      } catch (err) {
        // the old socket was closed under a waiting accept: wait on the new one
        if (this.#closed || l === this.#current) throw err;
      }
    }
  }

  /** Make `next` current and close the old socket (connections it accepted carry on). */
  swap(next: Deno.Listener): void {
    if (this.#closed) {
      closeQuietly(next);
      return;
    }
    const old = this.#current;
    this.#current = next;
    this.#swaps++;
    closeQuietly(old);
  }

  /** Stop listening. */
  close(): void {
    this.#closed = true;
    closeQuietly(this.#current);
  }
}

/** Options for {@linkcode WsService.start}. */
export interface WsServiceOptions {
  /** In-memory assets (the webphone) for a config; called at start and on each reload. */
  assets?: (config: WsServeConfig) => Promise<Map<string, Asset> | undefined>;
  /** Prometheus counters shared by every listener (kept across reloads). */
  metrics?: WsMetrics;
}

/** One running listener. */
export interface RunningListener {
  /** What the config asked for. */
  spec: ListenerConfig;
  /** Its server. */
  server: WebSocketServer;
  /** For TLS listeners: the socket holder a reload swaps. */
  swappable?: SwappableListener;
}

/** What a reload changed. */
export interface ReloadResult {
  /** TLS listeners that got the certificate and key read again. */
  certificates: number;
  /** Listeners reconfigured. */
  listeners: number;
}

/**
 * Open a TLS listener that a reload can join. `SO_REUSEPORT` would also let a second ws-serve (same user) share the
 * port without a word, so a first listener (`probe`) checks with a plain bind that nothing holds the port yet.
 */
function openTls(
  hostname: string,
  port: number,
  tls: { cert: string; key: string },
  probe = false,
): Deno.TlsListener {
  if (probe && port !== 0) closeQuietly(openPlain(hostname, port));
  try {
    return Deno.listenTls({
      hostname,
      port,
      cert: tls.cert,
      key: tls.key,
      alpnProtocols: ["http/1.1"],
      reusePort: true,
    });
  } catch (err) {
    throw listenError(err, { hostname, port, tls: true });
  }
}

function openPlain(hostname: string, port: number): Deno.Listener {
  try {
    return Deno.listen({ hostname, port });
  } catch (err) {
    throw listenError(err, { hostname, port });
  }
}

function readTlsFiles(files: { cert: string; key: string }): { cert: string; key: string } {
  return { cert: readPem(files.cert, "TLS certificate"), key: readPem(files.key, "TLS key") };
}

const sameListener = (a: ListenerConfig, b: ListenerConfig) =>
  a.hostname === b.hostname && a.port === b.port && !a.tlsFiles === !b.tlsFiles && !a.redirect === !b.redirect;

/** All listeners of a `ws-serve` run. */
export class WsService {
  /** The listeners, in config order. */
  readonly listeners: readonly RunningListener[];
  /** Resolves when every server has stopped. */
  readonly finished: Promise<void>;
  #config: WsServeConfig;
  readonly #options: WsServiceOptions;
  #reloading: Promise<unknown> = Promise.resolve();

  private constructor(config: WsServeConfig, options: WsServiceOptions, listeners: RunningListener[]) {
    this.#config = config;
    this.#options = options;
    this.listeners = listeners;
    this.finished = Promise.all(listeners.map((l) => l.server.finished)).then(() => {});
  }

  /**
   * Open every listener of `config` and serve. Throws (with every socket it opened closed again) when a PEM file
   * cannot be read, TLS rejects a certificate, the static directory is missing or an address cannot be bound.
   */
  static async start(config: WsServeConfig, options: WsServiceOptions = {}): Promise<WsService> {
    if (config.staticDir) checkDirectory(config.staticDir, "static");
    const pems = config.listeners.map((l) => l.tlsFiles ? readTlsFiles(l.tlsFiles) : undefined);
    const assets = await options.assets?.(config);
    const sockets: Deno.Listener[] = [];
    try {
      for (const [i, l] of config.listeners.entries()) {
        const pem = pems[i];
        sockets.push(pem ? openTls(l.hostname, l.port, pem, true) : openPlain(l.hostname, l.port));
      }
    } catch (err) {
      for (const s of sockets) closeQuietly(s);
      throw err;
    }
    const running = config.listeners.map((spec, i): RunningListener => {
      const swappable = spec.tlsFiles ? new SwappableListener(sockets[i]) : undefined;
      const listener = swappable ?? sockets[i];
      const opts = serveOptions(config, spec, assets, sockets.map((s) => s.addr as Deno.NetAddr), options.metrics);
      return { spec, swappable, server: serve({ ...opts, listener, secure: swappable !== undefined }) };
    });
    return new WsService(config, options, running);
  }

  /** The running config. */
  get config(): WsServeConfig {
    return this.#config;
  }

  /** The first listener that serves (not a redirect). */
  get main(): WebSocketServer {
    return (this.listeners.find((l) => !l.spec.redirect) ?? this.listeners[0]).server;
  }

  /** Open WebSockets over all listeners. */
  get websockets(): number {
    return this.listeners.reduce((n, l) => n + l.server.stats.websockets, 0);
  }

  /**
   * Apply a new config (see the module doc). All or nothing: on any error the running config stays and the error
   * is thrown. Reloads run one at a time.
   */
  reload(config: WsServeConfig): Promise<ReloadResult> {
    const run = this.#reloading.then(() => this.#reload(config));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(config: WsServeConfig): Promise<ReloadResult> {
    const now = this.listeners;
    if (config.listeners.length !== now.length || config.listeners.some((l, i) => !sameListener(l, now[i].spec))) {
      throw new PbxError("E_UNSUPPORTED", "the listeners' addresses or kinds changed: restart ws-serve to apply that");
    }
    if (config.staticDir) checkDirectory(config.staticDir, "static");
    const pems = config.listeners.map((l) => l.tlsFiles ? readTlsFiles(l.tlsFiles) : undefined);
    const assets = await this.#options.assets?.(config);
    const fresh = new Map<number, Deno.Listener>();
    try {
      for (const [i, l] of now.entries()) {
        const pem = pems[i];
        if (!pem || !l.swappable) continue;
        const addr = l.server.addr;
        fresh.set(i, openTls(addr.hostname, addr.port, pem));
      }
    } catch (err) {
      for (const s of fresh.values()) closeQuietly(s);
      throw err;
    }
    const addrs = now.map((l) => l.server.addr);
    for (const [i, l] of now.entries()) {
      l.server.reconfigure(serveOptions(config, config.listeners[i], assets, addrs, this.#options.metrics));
      const next = fresh.get(i);
      if (next) l.swappable!.swap(next);
      l.spec = config.listeners[i];
    }
    this.#config = config;
    llog.debug("reloaded", { listeners: now.length, certificates: fresh.size });
    return { certificates: fresh.size, listeners: now.length };
  }

  /** Close every WebSocket with 1001 (by default) and stop every listener. */
  async shutdown(options: { code?: number; reason?: string; timeout?: number } = {}): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.server.shutdown(options)));
  }
}

/**
 * `ws-serve --workers N`: start N copies of the server of a one-listener config in N workers on the same port
 * ({@linkcode startWsServeWorkers}). A config with several listeners (or a redirect) is refused (`E_USAGE`): each
 * worker would need them all, and SIGHUP reloads are not offered with workers yet.
 */
export async function startWsServiceWorkers(
  config: WsServeConfig,
  n: number,
  options: Pick<WsServiceOptions, "assets"> = {},
): Promise<WorkerServers> {
  const l = config.listeners[0];
  if (config.listeners.length !== 1 || l.redirect) {
    throw usageError("--workers: needs exactly one listener (no redirect listener); run one ws-serve per listener");
  }
  if (config.staticDir) checkDirectory(config.staticDir, "static");
  const assets = await options.assets?.(config);
  return await startWsServeWorkers({
    hostname: l.hostname,
    port: l.port,
    tls: l.tlsFiles ? readTlsFiles(l.tlsFiles) : undefined,
    echo: config.echo,
    proxies: config.proxies,
    staticDir: config.staticDir,
    assets,
    maxMessage: config.maxMessage,
    maxConnections: config.maxConnections,
    handshakeTimeout: config.handshakeTimeout,
    idleTimeout: config.idleTimeout,
    subprotocols: config.subprotocols,
    origins: config.origins,
    deflate: config.deflate,
  }, n);
}

/** The serve options of one listener: the combined server, or the https redirect. */
function serveOptions(
  config: WsServeConfig,
  spec: ListenerConfig,
  assets: Map<string, Asset> | undefined,
  addrs: Deno.NetAddr[],
  metrics: WsMetrics | undefined,
): ServeOptions {
  const limits = {
    metrics,
    maxConnections: config.maxConnections,
    handshakeTimeout: config.handshakeTimeout,
    idleTimeout: config.idleTimeout,
    maxMessage: config.maxMessage,
  };
  if (spec.redirect) {
    const tlsAt = config.listeners.findIndex((l) => l.tlsFiles);
    const port = spec.redirect.port ?? (tlsAt >= 0 ? addrs[tlsAt].port : 443);
    return { ...limits, onRequest: (req) => httpsRedirect(req, port), onUpgrade: (req) => httpsRedirect(req, port) };
  }
  return wsServeOptions({
    ...limits,
    secure: spec.tlsFiles !== undefined,
    echo: config.echo,
    proxies: config.proxies,
    staticDir: config.staticDir,
    assets,
    subprotocols: config.subprotocols,
    origins: config.origins,
    deflate: config.deflate,
  });
}
