/**
 * What `pbxkit ws-serve` runs: one server that combines the echo endpoint, proxy routes, static files and the
 * webphone on one port. The command only parses flags, then calls {@linkcode wsServeConfig} (which reads the
 * files the flags name) and {@linkcode startWsServe}.
 *
 * @module
 */

import { osErrorReason, PbxError, usageError } from "../common/mod.ts";
import { errorResponse, type HttpRequest } from "./http.ts";
import { type ProxyRoute, proxyUpgrade } from "./proxy.ts";
import { serve, type ServeOptions, type StreamingResponse, type WebSocketServer } from "./server.ts";
import { type Asset, assetFiles, staticFiles } from "./static.ts";
import type { WebSocket } from "./socket.ts";

/** Echo every message back as it came (text as text, binary as binary), with backpressure. */
export function echo(ws: WebSocket): Promise<void> {
  // The payload is copied into the send buffer at once, so it need not be copied out of the read buffer first.
  ws.borrowMessages();
  ws.on("message", (msg) => {
    // send() only rejects once the close frame is out, which `writable` rules out; backpressure: the read loop pauses itself.
    if (ws.writable) ws.sendBytes(msg.bytes, !msg.binary);
  });
  return ws.closed.then(() => {});
}

/** Options for {@linkcode startWsServe}. */
export interface WsServeOptions extends
  Pick<
    ServeOptions,
    | "hostname"
    | "port"
    | "tls"
    | "reusePort"
    | "maxMessage"
    | "maxConnections"
    | "handshakeTimeout"
    | "idleTimeout"
    | "subprotocols"
    | "origins"
    | "deflate"
    | "onListen"
    | "listener"
    | "secure"
    | "metrics"
  > {
  /** Serve the echo endpoint on every path that is not a proxy route. */
  echo?: boolean;
  /** Proxy routes. */
  proxies?: ProxyRoute[];
  /** Directory served over plain HTTP. */
  staticDir?: string;
  /** In-memory assets served over plain HTTP (the webphone), checked before `staticDir`. */
  assets?: Map<string, Asset>;
}

/** {@linkcode WsServeOptions} as the command line gives them: the TLS material as PEM file paths. */
export interface WsServeSettings extends Omit<WsServeOptions, "tls"> {
  /** PEM certificate chain and private key files (`--tls-cert`, `--tls-key`): serve `wss://` and `https://`. */
  tlsFiles?: { cert: string; key: string };
}

/**
 * Turn validated ws-serve settings into {@linkcode startWsServe} options: read the PEM files and check that
 * `staticDir` is a directory. Messages name the command-line flags. Throws a `PbxError`: `E_NOT_FOUND` for a
 * missing PEM file or directory, `E_PERMISSION` for a PEM file that cannot be read, `E_USAGE` when `staticDir` is
 * not a directory.
 */
export function wsServeConfig(settings: WsServeSettings): WsServeOptions {
  const { tlsFiles, ...options } = settings;
  const tls = tlsFiles
    ? { cert: readPem(tlsFiles.cert, "--tls-cert"), key: readPem(tlsFiles.key, "--tls-key") }
    : undefined;
  if (options.staticDir) checkDirectory(options.staticDir, "--static");
  return { ...options, tls };
}

/**
 * Read a PEM file (certificate or key); `flag` names it in messages. Throws `E_NOT_FOUND`, `E_PERMISSION`, or
 * `E_USAGE` for a directory or device.
 */
export function readPem(path: string, flag: string): string {
  try {
    // a directory or a device (/dev/zero would be read forever) is not a PEM file
    if (!Deno.statSync(path).isFile) throw usageError(`${flag}: '${path}' is not a regular file`);
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof PbxError) throw err;
    if (err instanceof Deno.errors.NotFound) throw new PbxError("E_NOT_FOUND", `${flag}: no such file '${path}'`);
    throw new PbxError("E_PERMISSION", `${flag}: cannot read '${path}': ${osErrorReason(err)}`);
  }
}

/** Check that `path` is a directory (`E_NOT_FOUND`, or `E_USAGE` when it is something else); `flag` names it. */
export function checkDirectory(path: string, flag: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = Deno.statSync(path).isDirectory;
  } catch {
    throw new PbxError("E_NOT_FOUND", `${flag}: no such directory '${path}'`);
  }
  if (!isDirectory) throw usageError(`${flag}: '${path}' is not a directory`);
}

/** Start the combined server. */
export function startWsServe(options: WsServeOptions): WebSocketServer {
  return serve(wsServeOptions(options));
}

/** The {@linkcode serve} options of the combined server: its routing (proxy, echo, static, assets) as handlers. */
export function wsServeOptions(options: WsServeOptions): ServeOptions {
  const proxies = options.proxies ?? [];
  const secure = options.tls !== undefined || options.secure === true;
  const files = options.staticDir ? staticFiles(options.staticDir) : undefined;
  const assets = options.assets ? assetFiles(options.assets) : undefined;
  const hasHttp = files !== undefined || assets !== undefined;
  return {
    ...options,
    onUpgrade: (req: HttpRequest, offered: string[]) => {
      const route = proxies.find((r) => r.path === req.path);
      if (route) {
        return proxyUpgrade(req, route, {
          offered,
          secure,
          maxMessage: options.maxMessage,
          subprotocols: route.subprotocols ?? options.subprotocols,
          metrics: options.metrics,
        });
      }
      if (options.echo) return { handler: echo };
      return errorResponse(404, `no WebSocket endpoint at ${req.path}`);
    },
    onRequest: hasHttp
      ? async (req: HttpRequest): Promise<StreamingResponse> => {
        const a = assets?.(req);
        if (a) return a;
        const f = await files?.(req);
        if (f) return f;
        return errorResponse(404, `no such file ${req.path}`);
      }
      : undefined,
  };
}
