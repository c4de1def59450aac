/**
 * The WebSocket server: listens on TCP or TLS (`Deno.listen` / `Deno.listenTls`), reads each request head with a
 * handshake timeout (slowloris), answers WebSocket upgrades (RFC 6455 §4.2) and hands plain HTTP requests to a
 * pluggable handler (static files, the webphone, 404 otherwise). It enforces `maxConnections`, pings idle peers
 * and closes the silent ones, and shuts down gracefully (close 1001 to every client).
 *
 * ```ts
 * import { serve } from "./mod.ts";
 * const server = serve({ port: 8080 });
 * for await (const ws of server) {
 *   (async () => { for await (const msg of ws) await ws.send(msg.data); })();
 * }
 * ```
 *
 * @module
 */

import { log, osErrorReason, PbxError } from "../common/mod.ts";
import type { DeflateOptions } from "./deflate.ts";
import { isUpgradeRequest, offeredSubprotocols, type ServerHandshake, serverHandshake } from "./handshake.ts";
import {
  errorResponse,
  type HeadBuffer,
  HttpError,
  type HttpRequest,
  type HttpResponse,
  parseRequestHead,
  readHead,
  serializeResponse,
} from "./http.ts";
import { closeQuietly, WebSocket, writeAll } from "./socket.ts";
import { CloseCode } from "./frame.ts";
import type { WsMetrics } from "./metrics.ts";

const slog = log.child("ws-serve");

/** A response that streams its body (large static files). */
export interface StreamingResponse extends HttpResponse {
  /** The body as a stream; `headers` must then carry `Content-Length`. */
  stream?: ReadableStream<Uint8Array>;
}

/** What to do with an upgrade request that passed validation. */
export interface UpgradeAnswer {
  /** The subprotocol to answer (must be one the client offered), if any. */
  protocol?: string;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Handles this connection; when absent the connection is yielded by the server's iterator (or `handler`). */
  handler?: (ws: WebSocket) => void | Promise<void>;
}

/** What the server accepts connections from: a `Deno.Listener`, or one that swaps sockets (listeners.ts). */
export interface ConnListener {
  /** The bound address. */
  readonly addr: Deno.Addr;
  /** The next connection. */
  accept(): Promise<Deno.Conn>;
  /** Stop listening. */
  close(): void;
}

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Accept from this listener instead of listening on `hostname`/`port`/`tls` (it is closed on shutdown). */
  listener?: ConnListener;
  /** With `listener`: it is a TLS listener (`wss://` URLs, `X-Forwarded-Proto: https`). */
  secure?: boolean;
  /** Address to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** PEM certificate chain and key: serve `wss://` and `https://`. */
  tls?: { cert: string; key: string };
  /** Listen with `SO_REUSEPORT`, so several servers (one per worker) share the port. */
  reusePort?: boolean;
  /** Largest message in bytes (1009 beyond; default 16 MiB). */
  maxMessage?: number;
  /** Most simultaneous connections (WebSocket and HTTP); more are answered 503. Default 10000. */
  maxConnections?: number;
  /** Time allowed for the TLS and HTTP handshake, ms (default 10000). */
  handshakeTimeout?: number;
  /** Close connections silent this long (ms; a ping is sent at half of it). 0 turns it off. Default 120000. */
  idleTimeout?: number;
  /** Wait this long for the peer's close answer, ms (default 5000). */
  closeTimeout?: number;
  /** Subprotocols spoken, in preference order. */
  subprotocols?: readonly string[];
  /** Allowed `Origin`s (empty: any). */
  origins?: readonly string[];
  /** permessage-deflate settings, or false. Default on. */
  deflate?: DeflateOptions | false;
  /**
   * Decide on a valid upgrade request: return an {@linkcode UpgradeAnswer} to accept, an `HttpResponse` to refuse
   * (e.g. 404 for an unknown path, 502 when an upstream is down). Default: accept every path.
   */
  onUpgrade?: (
    req: HttpRequest,
    offered: string[],
  ) => UpgradeAnswer | HttpResponse | Promise<UpgradeAnswer | HttpResponse>;
  /** Plain HTTP requests (not upgrades). Default: 426 for `/`, 404 otherwise. */
  onRequest?: (req: HttpRequest) => StreamingResponse | Promise<StreamingResponse>;
  /** Handles every accepted connection (instead of iterating the server). */
  handler?: (ws: WebSocket) => void | Promise<void>;
  /** Called once listening, with the bound address. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Prometheus series to count connections, refused handshakes, messages and close codes in. */
  metrics?: WsMetrics;
}

/** Counters of a running server. */
export interface ServerStats {
  /** Open WebSocket connections. */
  websockets: number;
  /** Open sockets of any kind. */
  sockets: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections refused (over `maxConnections`, bad handshakes). */
  refused: number;
}

const MAX_HEAD = 16 * 1024;

/** A running WebSocket server. Iterate it to receive connections; `shutdown()` to stop. */
export class WebSocketServer implements AsyncIterable<WebSocket> {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** True when serving TLS. */
  readonly secure: boolean;
  /** Resolves when the server has stopped and every connection ended. */
  readonly finished: Promise<void>;

  readonly #listener: ConnListener;
  #opts: ServeOptions;
  readonly #sockets = new Set<Deno.Conn>();
  readonly #websockets = new Set<WebSocket>();
  #pending: WebSocket[] = [];
  #waiter: ((r: IteratorResult<WebSocket>) => void) | undefined;
  #stopping = false;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #idleSeen = new WeakMap<WebSocket, { reads: number; since: number; pinged: boolean }>();
  #stats = { accepted: 0, refused: 0 };
  #resolveFinished!: () => void;

  /** Start listening (use {@linkcode serve}). */
  constructor(options: ServeOptions = {}) {
    this.#opts = options;
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 8080;
    const reusePort = options.reusePort === true;
    this.secure = options.listener ? options.secure === true : options.tls !== undefined;
    try {
      const tls = options.tls;
      this.#listener = options.listener ??
        (tls
          ? Deno.listenTls({ hostname, port, reusePort, cert: tls.cert, key: tls.key, alpnProtocols: ["http/1.1"] })
          : Deno.listen({ hostname, port, reusePort }));
    } catch (err) {
      throw listenError(err, { hostname, port, tls: options.tls !== undefined });
    }
    this.addr = this.#listener.addr as Deno.NetAddr;
    options.metrics?.watchSockets(() => this.#sockets.size);
    this.finished = new Promise((r) => this.#resolveFinished = r);
    this.#startIdleTimer();
    options.onListen?.(this.addr);
    this.#acceptLoop();
  }

  /** The `ws://` or `wss://` URL of this server (for a path). */
  url(path = "/"): string {
    const host = this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname;
    return `${this.secure ? "wss" : "ws"}://${host}:${this.addr.port}${path}`;
  }

  /**
   * Use new options for what comes next (limits, origins, subprotocols, deflate, handlers): connections already
   * open keep theirs. The address, TLS material and listener stay (swap the listener for a new certificate).
   */
  reconfigure(options: ServeOptions): void {
    const { hostname, port, tls, listener, secure, onListen } = this.#opts;
    this.#opts = { ...options, hostname, port, tls, listener, secure, onListen };
    if (!this.#stopping) this.#startIdleTimer();
  }

  #startIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
    const idle = this.#opts.idleTimeout ?? 120_000;
    if (idle > 0) {
      this.#idleTimer = setInterval(() => this.#checkIdle(idle), Math.max(50, Math.min(1000, idle / 4)));
    }
  }

  /** Live counters. */
  get stats(): ServerStats {
    return {
      websockets: this.#websockets.size,
      sockets: this.#sockets.size,
      accepted: this.#stats.accepted,
      refused: this.#stats.refused,
    };
  }

  /** Connections accepted without an own handler, in order. Ends after `shutdown()`. */
  [Symbol.asyncIterator](): AsyncIterator<WebSocket> {
    return {
      next: () => {
        const ws = this.#pending.shift();
        if (ws) return Promise.resolve({ done: false, value: ws });
        if (this.#stopping) return Promise.resolve({ done: true, value: undefined });
        return new Promise((r) => this.#waiter = r);
      },
    };
  }

  /**
   * Stop accepting, close every WebSocket with `code` (default 1001 "going away"), wait up to `timeout` ms for
   * the close handshakes, then cut whatever is left.
   */
  async shutdown(options: { code?: number; reason?: string; timeout?: number } = {}): Promise<void> {
    if (this.#stopping) return this.finished;
    this.#stopping = true;
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    closeQuietly(this.#listener);
    if (this.#waiter) this.#waiter({ done: true, value: undefined });
    const all = [...this.#websockets].map((ws) =>
      ws.close(options.code ?? CloseCode.GoingAway, options.reason ?? "server shutting down")
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(all),
      new Promise((r) => timer = setTimeout(r, options.timeout ?? 3000)),
    ]);
    clearTimeout(timer);
    for (const ws of this.#websockets) ws.abort();
    for (const c of this.#sockets) closeQuietly(c);
    this.#resolveFinished();
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#stopping || err instanceof Deno.errors.BadResource) return;
        slog.warn(`accept failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      this.#stats.accepted++;
      this.#opts.metrics?.accepted();
      if (this.#sockets.size >= (this.#opts.maxConnections ?? 10000)) {
        this.#stats.refused++;
        this.#opts.metrics?.rejected(503);
        this.#refuseBusy(conn);
        continue;
      }
      this.#sockets.add(conn);
      this.#handleConn(conn).catch((err) => {
        slog.debug(`connection failed: ${(err as Error)?.message ?? err}`);
      }).finally(() => {
        this.#sockets.delete(conn);
      });
    }
  }

  #refuseBusy(conn: Deno.Conn): void {
    const res = serializeResponse(errorResponse(503, "too many connections", { headers: { "Retry-After": "5" } }));
    const timer = setTimeout(() => closeQuietly(conn), 2000);
    conn.write(res).catch(() => {}).finally(() => {
      clearTimeout(timer);
      closeQuietly(conn);
    });
  }

  #checkIdle(idle: number): void {
    const now = performance.now();
    const seen = this.#idleSeen;
    for (const ws of this.#websockets) {
      let st = seen.get(ws);
      if (st === undefined || st.reads !== ws.reads) {
        // Something arrived since the last tick: the peer is alive.
        seen.set(ws, { reads: ws.reads, since: now, pinged: false });
        continue;
      }
      const silent = now - st.since;
      if (silent >= idle) {
        if (ws.readyState === "open") ws.close(CloseCode.GoingAway, "idle timeout");
        else if (silent >= idle * 1.5) ws.abort();
      } else if (silent >= idle / 2 && !st.pinged && ws.readyState === "open") {
        st = { ...st, pinged: true };
        seen.set(ws, st);
        ws.ping("pbxkit");
      }
    }
  }

  async #handleConn(conn: Deno.Conn): Promise<void> {
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* TLS over TCP: fine */ }
    const remote = conn.remoteAddr as Deno.NetAddr;
    const remoteText = `${remote.hostname}:${remote.port}`;
    const head: HeadBuffer = { buf: new Uint8Array(4096), have: 0 };
    // Keep-alive loop for plain HTTP; an upgrade leaves it.
    for (let requests = 0;; requests++) {
      // Read one request head within the handshake timeout.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        closeQuietly(conn);
      }, this.#opts.handshakeTimeout ?? 10_000);
      let end: number | "closed" | "too-large";
      try {
        end = await readHead(conn, head, { maxBytes: MAX_HEAD });
      } catch (err) {
        clearTimeout(timer);
        if (timedOut) {
          if (requests === 0) {
            slog.debug("handshake timeout", { peer: remoteText });
            this.#opts.metrics?.handshakeTimeout();
          }
          return;
        }
        throw err;
      }
      clearTimeout(timer);
      if (end === "too-large") {
        this.#opts.metrics?.rejected(431);
        await this.#respond(conn, errorResponse(431, "request head over 16 KiB"), false);
        return;
      }
      if (end === "closed") {
        conn.close();
        return;
      }
      const { buf, have } = head;
      let req: HttpRequest;
      try {
        req = parseRequestHead(buf.subarray(0, end));
      } catch (err) {
        const e = err instanceof HttpError ? err : new HttpError(400, "bad request");
        this.#stats.refused++;
        this.#opts.metrics?.rejected(e.status);
        await this.#respond(conn, errorResponse(e.status, e.message), false);
        return;
      }
      req.remote = remoteText;
      const rest = buf.slice(end, have);
      if (isUpgradeRequest(req)) {
        await this.#upgrade(conn, req, rest);
        return;
      }
      // Plain HTTP. Requests with a body are answered and the connection closed (no body is expected here).
      const hasBody = (req.headers.has("content-length") && req.headers.get("content-length") !== "0") ||
        req.headers.has("transfer-encoding");
      const keepAlive = !hasBody && !this.#stopping && requests < 100 &&
        (req.version === "1.1"
          ? !/\bclose\b/i.test(req.headers.get("connection") ?? "")
          : /\bkeep-alive\b/i.test(req.headers.get("connection") ?? ""));
      let res: StreamingResponse;
      try {
        res = this.#opts.onRequest ? await this.#opts.onRequest(req) : defaultHttp(req);
      } catch (err) {
        slog.warn(`request handler failed: ${(err as Error).message}`, { path: req.path });
        res = errorResponse(500, "internal error");
      }
      if (!await this.#respond(conn, res, keepAlive, req.method === "HEAD")) return;
      if (!keepAlive) return;
      buf.copyWithin(0, end, have);
      head.have = have - end;
    }
  }

  /** Write a response; returns false when the connection was closed (after a `Connection: close`). */
  async #respond(conn: Deno.Conn, res: StreamingResponse, keepAlive: boolean, head = false): Promise<boolean> {
    const headers = { ...res.headers };
    const closeIt = !keepAlive || /close/i.test(headers["Connection"] ?? "");
    headers["Connection"] = closeIt ? "close" : "keep-alive";
    try {
      await writeAll(conn, serializeResponse({ ...res, headers }, { head }));
      if (res.stream) {
        if (head) await res.stream.cancel();
        else {
          for await (const chunk of res.stream) await writeAll(conn, chunk);
        }
      }
    } catch {
      closeQuietly(conn);
      return false;
    }
    if (closeIt) {
      await lingerClose(conn);
      return false;
    }
    return true;
  }

  async #upgrade(conn: Deno.Conn, req: HttpRequest, rest: Uint8Array): Promise<void> {
    const o = this.#opts;
    const base = { origins: o.origins, deflate: o.deflate, subprotocols: o.subprotocols };
    const check = serverHandshake(req, base);
    if (!check.ok) {
      this.#stats.refused++;
      o.metrics?.rejected(check.response.status);
      slog.debug(`refused upgrade: ${check.reason}`, { peer: req.remote, path: req.path });
      await this.#respond(conn, check.response, false);
      return;
    }
    if (this.#stopping) {
      o.metrics?.rejected(503);
      await this.#respond(conn, errorResponse(503, "shutting down"), false);
      return;
    }
    let answer: UpgradeAnswer = {};
    let hs: ServerHandshake = check;
    if (o.onUpgrade) {
      let decided: UpgradeAnswer | HttpResponse;
      try {
        decided = await o.onUpgrade(req, offeredSubprotocols(req));
      } catch (err) {
        slog.warn(`upgrade handler failed: ${(err as Error).message}`, { path: req.path });
        decided = errorResponse(500, "internal error");
      }
      if ("status" in decided) {
        this.#stats.refused++;
        o.metrics?.rejected((decided as HttpResponse).status);
        await this.#respond(conn, decided as HttpResponse, false);
        return;
      }
      answer = decided;
      // The answer picks the subprotocol and adds headers; the request was already validated by `check`.
      const protocol = answer.protocol;
      hs = serverHandshake(req, {
        ...base,
        selectSubprotocol: "protocol" in answer ? () => protocol : undefined,
        headers: answer.headers,
      });
      if (!hs.ok) {
        o.metrics?.rejected(hs.response.status);
        await this.#respond(conn, hs.response, false);
        return;
      }
    }
    await writeAll(conn, serializeResponse(hs.response));
    const ws = new WebSocket(conn, {
      role: "server",
      maxMessage: o.maxMessage,
      deflate: hs.deflate,
      protocol: hs.protocol,
      extensions: hs.extensions,
      request: req,
      initial: rest,
      closeTimeout: o.closeTimeout,
    });
    this.#websockets.add(ws);
    o.metrics?.opened(ws);
    slog.debug("websocket open", {
      peer: req.remote,
      path: req.path,
      protocol: hs.protocol,
      ext: hs.extensions || undefined,
    });
    const handler = answer.handler ?? o.handler;
    if (handler) {
      try {
        await handler(ws);
      } catch (err) {
        slog.warn(`connection handler failed: ${(err as Error).message}`, { peer: req.remote });
        if (ws.readyState === "open") ws.close(CloseCode.InternalError, "internal error");
      }
    } else if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w({ done: false, value: ws });
    } else this.#pending.push(ws);
    await ws.closed;
    this.#websockets.delete(ws);
    o.metrics?.closed(ws);
  }
}

/** Default plain-HTTP answer: 426 on `/` (a WebSocket endpoint), 404 elsewhere. */
function defaultHttp(req: HttpRequest): HttpResponse {
  if (req.path === "/") {
    return errorResponse(426, "this is a WebSocket endpoint", {
      headers: { "Upgrade": "websocket", "Sec-WebSocket-Version": "13" },
    });
  }
  return errorResponse(404, `no such path ${req.path}`);
}

/** Half-close, read what the peer still sends for up to a second, then close (avoids a reset over our reply). */
async function lingerClose(conn: Deno.Conn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), 1000);
  try {
    await (conn as Deno.TcpConn).closeWrite();
    const scratch = new Uint8Array(4096);
    while ((await conn.read(scratch)) !== null) { /* discard */ }
  } catch { /* closed or reset */ }
  clearTimeout(timer);
  closeQuietly(conn);
}

/**
 * The `PbxError` for a failed `Deno.listen`/`Deno.listenTls`: `E_NETWORK` (address in use, not on this host),
 * `E_PERMISSION` (a port below 1024 without the capability), `E_INVALID_INPUT` (a certificate or key TLS rejects).
 */
export function listenError(err: unknown, where: { hostname: string; port: number; tls?: boolean }): PbxError {
  if (err instanceof Deno.errors.AddrInUse) {
    return new PbxError("E_NETWORK", `cannot listen on ${where.hostname}:${where.port}: address already in use`, {
      cause: err,
    });
  }
  if (where.tls && !(err instanceof Deno.errors.PermissionDenied)) {
    return new PbxError("E_INVALID_INPUT", `cannot start TLS: ${(err as Error).message}`, { cause: err });
  }
  const code = err instanceof Deno.errors.PermissionDenied ? "E_PERMISSION" : "E_NETWORK";
  return new PbxError(code, `cannot listen on ${where.hostname}:${where.port}: ${osErrorReason(err)}`, { cause: err });
}

/** Start a WebSocket server (see {@linkcode ServeOptions}). Throws `E_NETWORK` when the port is taken. */
export function serve(options: ServeOptions = {}): WebSocketServer {
  return new WebSocketServer(options);
}
