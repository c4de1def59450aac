/**
 * The `--metrics HOST:PORT` listener: a tiny HTTP server (`Deno.serve`) answering `GET /metrics` with a
 * {@linkcode MetricsRegistry}'s exposition, 404 for any other path and 405 for other methods.
 *
 * @module
 */

import { osErrorReason, PbxError } from "./errors.ts";
import { EXPOSITION_CONTENT_TYPE, type MetricsRegistry } from "./metrics.ts";

/** A running metrics listener. */
export interface MetricsServer {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The scrape URL (`http://host:port/metrics`). */
  readonly url: string;
  /** Stop listening. */
  shutdown(): Promise<void>;
}

/** Answer one request for `registry` (exported for tests and for embedding in another HTTP server). */
export function metricsResponse(registry: MetricsRegistry, method: string, path: string): Response {
  if (path !== "/metrics") return new Response("not found; metrics are at /metrics\n", { status: 404 });
  if (method !== "GET" && method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  const body = registry.expose();
  return new Response(method === "HEAD" ? null : body, { headers: { "Content-Type": EXPOSITION_CONTENT_TYPE } });
}

/**
 * Serve `registry` on `hostname:port` at `/metrics`. Throws `E_NETWORK` (address in use, cannot bind) or
 * `E_PERMISSION`, naming the address.
 */
export function serveMetrics(
  registry: MetricsRegistry,
  options: { hostname: string; port: number },
): MetricsServer {
  const { hostname, port } = options;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, (req) => {
      const u = new URL(req.url);
      return metricsResponse(registry, req.method, u.pathname);
    });
  } catch (err) {
    const code = err instanceof Deno.errors.PermissionDenied ? "E_PERMISSION" : "E_NETWORK";
    throw new PbxError(code, `--metrics: cannot listen on ${hostname}:${port}: ${osErrorReason(err)}`, { cause: err });
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    addr,
    url: `http://${host}:${addr.port}/metrics`,
    shutdown: () => server.shutdown(),
  };
}
