/**
 * The reverse proxy: a browser's WebSocket on a path (e.g. `wss://host/pbxws`) is bridged to an upstream
 * WebSocket (e.g. Asterisk's or kamailio's `ws://127.0.0.1:8088/ws`). The upstream is opened first with the
 * subprotocols the browser offered, and the browser gets the one the upstream chose (`sip`); messages are
 * forwarded both ways in order, with backpressure (a slow side stalls reading from the other instead of
 * buffering without bound); close codes are propagated both ways; `X-Forwarded-For`, `X-Forwarded-Proto` and
 * `X-Forwarded-Host` are added.
 *
 * @module
 */

import { log, type PbxError, usageError } from "../common/mod.ts";
import { connect } from "./client.ts";
import { CloseCode, isValidCloseCode } from "./frame.ts";
import { errorResponse, type HttpRequest, type HttpResponse } from "./http.ts";
import type { UpgradeAnswer } from "./server.ts";
import type { WsMetrics } from "./metrics.ts";
import type { CloseInfo, WebSocket } from "./socket.ts";

const plog = log.child("proxy");

/** One `--proxy PATH=ws://UPSTREAM` route. */
export interface ProxyRoute {
  /** Path on this server, e.g. `/pbxws`. */
  path: string;
  /** Upstream WebSocket URL. */
  upstream: URL;
  /** Subprotocols passed to this upstream (default: the server's `subprotocols`, else what the client offered). */
  subprotocols?: string[];
}

/** Parse `PATH=ws://host:port/path` (throws `E_USAGE`). */
export function parseProxySpec(spec: string): ProxyRoute {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw usageError(`--proxy: '${spec}' is not PATH=ws://UPSTREAM (e.g. /pbxws=ws://127.0.0.1:8088/ws)`);
  const path = spec.slice(0, eq).trim();
  const target = spec.slice(eq + 1).trim();
  if (!path.startsWith("/") || /[\s?#]/.test(path)) {
    throw usageError(`--proxy: path '${path}' must start with / (no query)`);
  }
  let upstream: URL;
  try {
    upstream = new URL(target);
  } catch {
    throw usageError(`--proxy: '${target}' is not a URL (e.g. ws://127.0.0.1:8088/ws)`);
  }
  if (upstream.protocol !== "ws:" && upstream.protocol !== "wss:") {
    throw usageError(`--proxy: upstream '${target}' must be ws:// or wss://`);
  }
  return { path, upstream };
}

/** Options for {@linkcode proxyUpgrade}. */
export interface ProxyOptions {
  /** Subprotocols the client offered (the `offered` argument of `ServeOptions.onUpgrade`). */
  offered: readonly string[];
  /** The listener is TLS (sets `X-Forwarded-Proto: https`). */
  secure?: boolean;
  /** Largest message, both directions. */
  maxMessage?: number;
  /** Upstream connect + handshake timeout, ms (default 10000). */
  timeout?: number;
  /** Only these subprotocols are passed to the upstream (default: whatever the client offered). */
  subprotocols?: readonly string[];
  /** Backpressure threshold per direction, bytes (default 1 MiB). */
  highWaterMark?: number;
  /** CA certificates for a `wss://` upstream. */
  caCerts?: string[];
  /** Count upstream connects and failures here. */
  metrics?: WsMetrics;
}

/** The headers the upstream gets about the original client. */
export function forwardedHeaders(req: HttpRequest, secure: boolean): Record<string, string> {
  const ip = (req.remote ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  const prior = req.headers.get("x-forwarded-for");
  const h: Record<string, string> = {
    "X-Forwarded-For": prior ? `${prior}, ${ip}` : ip,
    "X-Forwarded-Proto": secure ? "https" : "http",
    "X-Real-IP": ip,
  };
  const host = req.headers.get("host");
  if (host) h["X-Forwarded-Host"] = host;
  const origin = req.headers.get("origin");
  if (origin) h["Origin"] = origin;
  const ua = req.headers.get("user-agent");
  if (ua) h["User-Agent"] = ua;
  return h;
}

/**
 * Handle an upgrade for a proxy route: open the upstream, then accept the client with the upstream's
 * subprotocol and bridge them. Answers 502 (or 504 on timeout) when the upstream is down or refuses.
 */
export async function proxyUpgrade(
  req: HttpRequest,
  route: ProxyRoute,
  options: ProxyOptions,
): Promise<UpgradeAnswer | HttpResponse> {
  const offered = options.offered;
  const protocols = options.subprotocols?.length ? offered.filter((p) => options.subprotocols!.includes(p)) : offered;
  const upstreamUrl = new URL(route.upstream);
  if (req.query) upstreamUrl.search = upstreamUrl.search ? `${upstreamUrl.search}&${req.query}` : `?${req.query}`;
  let upstream: WebSocket;
  try {
    upstream = await connect(upstreamUrl, {
      protocols,
      headers: forwardedHeaders(req, options.secure ?? false),
      maxMessage: options.maxMessage,
      timeout: options.timeout,
      highWaterMark: options.highWaterMark,
      caCerts: options.caCerts,
    });
  } catch (err) {
    const e = err as PbxError;
    plog.warn(`upstream ${upstreamUrl.href} failed: ${e.message}`, { client: req.remote });
    options.metrics?.upstreamFailed(route.path, e.code === "E_TIMEOUT" ? "timeout" : "error");
    return errorResponse(e.code === "E_TIMEOUT" ? 504 : 502, `upstream unavailable: ${e.message}`);
  }
  options.metrics?.upstreamConnected(route.path);
  plog.debug("bridged", { client: req.remote, upstream: upstreamUrl.href, protocol: upstream.protocol || undefined });
  return {
    protocol: upstream.protocol || undefined,
    handler: (client) => bridge(client, upstream),
  };
}

/** Map a close seen on one side to the close sent on the other. */
export function forwardCloseCode(info: CloseInfo): { code: number; reason: string } {
  if (info.code === CloseCode.NoStatus) return { code: CloseCode.Normal, reason: "" };
  if (info.code === CloseCode.Abnormal) return { code: CloseCode.GoingAway, reason: "peer went away" };
  if (!isValidCloseCode(info.code)) return { code: CloseCode.ProtocolError, reason: info.reason };
  return { code: info.code, reason: info.reason };
}

/**
 * Bridge two open WebSockets until either closes: messages in order with backpressure, close codes propagated.
 * Resolves when both have ended.
 */
export async function bridge(a: WebSocket, b: WebSocket): Promise<void> {
  const pump = async (from: WebSocket, to: WebSocket) => {
    try {
      for await (const msg of from) {
        if (to.readyState !== "open") break;
        await to.sendBytes(msg.bytes, !msg.binary);
      }
    } catch { /* the other side closed mid-send */ }
    const info = await from.closed;
    if (to.readyState === "open") {
      const { code, reason } = forwardCloseCode(info);
      await to.close(code, reason);
    }
  };
  await Promise.all([pump(a, b), pump(b, a)]);
}
