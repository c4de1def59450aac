/**
 * The WebSocket client: opens `ws://` or `wss://` connections (used by the proxy for its upstream, and by other
 * subcommands). Same {@linkcode WebSocket} object as server-side connections, with masked frames.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { checkClientResponse, clientRequest } from "./handshake.ts";
import { type HeadBuffer, type HttpError, parseResponseHead, readHead } from "./http.ts";
import { closeQuietly, WebSocket, writeAll, type WsConn } from "./socket.ts";

/** Largest handshake response head accepted, bytes. */
const MAX_RESPONSE_HEAD = 65536;

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Subprotocols to offer (e.g. `["sip"]`). */
  protocols?: readonly string[];
  /** Extra request headers (e.g. `X-Forwarded-For`). */
  headers?: Record<string, string>;
  /** `Origin` header. */
  origin?: string;
  /** Offer permessage-deflate (default false). */
  deflate?: boolean;
  /** Largest message accepted (default 16 MiB). */
  maxMessage?: number;
  /** Time allowed for connecting and the handshake, ms (default 10000). */
  timeout?: number;
  /** PEM CA certificates to trust for `wss://` (besides the system's). */
  caCerts?: string[];
  /** `send()` backpressure threshold in bytes (default 1 MiB). */
  highWaterMark?: number;
  /**
   * Open the transport yourself (e.g. `dialNodeTls({ insecure: true })` from node_tls.ts): called with the URL's
   * host (no brackets) and port instead of `Deno.connect`/`Deno.connectTls` (then `caCerts` is not used). The
   * `signal` aborts when `timeout` expires: the dial function must then destroy its pending transport and reject.
   */
  dial?: (hostname: string, port: number, options: { signal: AbortSignal }) => Promise<WsConn>;
}

/**
 * Open a WebSocket to `url` (`ws://host:port/path` or `wss://...`). Rejects with `E_NETWORK` when the server is
 * unreachable, `E_TIMEOUT` after `timeout`, `E_PROTOCOL` when the server refuses or answers badly.
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocket> {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new PbxError("E_INVALID_INPUT", `not a WebSocket URL: ${u.href} (use ws:// or wss://)`);
  }
  const secure = u.protocol === "wss:";
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  let conn: WsConn | undefined;
  let timedOut = false;
  let expire!: (err: Error) => void;
  const expired = new Promise<never>((_, reject) => expire = reject);
  expired.catch(() => {}); // only raced while dialing
  const abort = new AbortController();
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Deno.errors.TimedOut("connect timed out"));
    closeQuietly(conn);
    expire(new Deno.errors.TimedOut("connect timed out"));
  }, options.timeout ?? 10_000);
  try {
    const dialing = options.dial
      ? options.dial(hostname, port, { signal: abort.signal })
      : secure
      ? Deno.connectTls({ hostname, port, caCerts: options.caCerts, alpnProtocols: ["http/1.1"] })
      : Deno.connect({ hostname, port });
    // a transport that connects after the timeout is closed at once
    dialing.then((c) => {
      if (timedOut) closeQuietly(c);
    }, () => {});
    conn = await Promise.race([dialing, expired]);
    if (timedOut) throw new Deno.errors.TimedOut("connect timed out");
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* fine */ }
    const req = clientRequest({
      host: u.host,
      path: (u.pathname || "/") + u.search,
      protocols: options.protocols,
      deflate: options.deflate,
      origin: options.origin,
      headers: options.headers,
    });
    await writeAll(conn, req.bytes);
    const buffer: HeadBuffer = { buf: new Uint8Array(4096), have: 0 };
    const end = await readHead(conn, buffer, { maxBytes: MAX_RESPONSE_HEAD });
    if (end === "too-large") throw new PbxError("E_PROTOCOL", "upstream's response head is too large");
    if (end === "closed") throw new PbxError("E_PROTOCOL", `${u.host} closed the connection during the handshake`);
    const { buf, have } = buffer;
    clearTimeout(timer);
    let head;
    try {
      head = parseResponseHead(buf.subarray(0, end));
    } catch (err) {
      throw new PbxError("E_PROTOCOL", `bad handshake response from ${u.host}: ${(err as HttpError).message}`);
    }
    const agreed = checkClientResponse(head, { key: req.key, protocols: options.protocols, deflate: options.deflate });
    return new WebSocket(conn, {
      role: "client",
      protocol: agreed.protocol,
      extensions: head.headers.get("sec-websocket-extensions") ?? "",
      deflate: agreed.deflate,
      maxMessage: options.maxMessage,
      initial: buf.slice(end, have),
      highWaterMark: options.highWaterMark,
    });
  } catch (err) {
    clearTimeout(timer);
    closeQuietly(conn);
    if (err instanceof PbxError) throw err;
    if (timedOut) throw new PbxError("E_TIMEOUT", `connecting to ${u.href} timed out`, { cause: err });
    throw new PbxError("E_NETWORK", `cannot connect to ${u.href}: ${(err as Error).message}`, { cause: err });
  }
}
