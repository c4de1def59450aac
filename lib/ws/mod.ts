/**
 * pbxkit's WebSocket library (RFC 6455 + RFC 7692 permessage-deflate), written from scratch over raw sockets.
 *
 * - {@linkcode serve} starts a server (TCP or TLS) that yields {@linkcode WebSocket} connections; plain HTTP
 *   requests go to a pluggable handler.
 * - {@linkcode connect} opens a client connection (`ws://` or `wss://`).
 * - A {@linkcode WebSocket} has `send`, `ping`, `close`, an async iterator of {@linkcode Message}s, and
 *   `message`/`ping`/`pong`/`close` listeners.
 * - {@linkcode Protocol} is the sans-I/O core (bytes in, events and bytes out) for custom transports and tests.
 *
 * ```ts
 * import { connect, serve } from "./lib/ws/mod.ts";
 *
 * const server = serve({ port: 0, subprotocols: ["sip"] });
 * (async () => {
 *   for await (const ws of server) {
 *     (async () => {
 *       for await (const msg of ws) await ws.send(msg.data); // echo, with backpressure
 *     })();
 *   }
 * })();
 *
 * const ws = await connect(server.url("/"), { protocols: ["sip"] });
 * await ws.send("hello");
 * for await (const msg of ws) { console.log(msg.text); break; }
 * await ws.close(1000);
 * await server.shutdown();
 * ```
 *
 * @module
 */

export { Protocol, type ProtocolEvent, type ProtocolOptions, type ProtocolState, type Role } from "./protocol.ts";
export { CloseCode, isValidCloseCode, maskInPlace, MAX_HEADER, Opcode, writeHeader } from "./frame.ts";
export { isValidUtf8, Utf8Validator } from "./utf8.ts";
export type { SimdKernel } from "./simd.ts";
export {
  acceptDeflateClient,
  compressMessage,
  decompressMessage,
  type DeflateOptions,
  type DeflateParams,
  type ExtensionOffer,
  type InflateFailure,
  negotiateDeflateServer,
  parseExtensions,
  StreamDeflater,
  StreamInflater,
} from "./deflate.ts";
export {
  acceptKey,
  checkClientResponse,
  clientRequest,
  type ClientRequestOptions,
  isUpgradeRequest,
  type ServerHandshake,
  serverHandshake,
  type ServerHandshakeOptions,
} from "./handshake.ts";
export {
  errorResponse,
  type ErrorResponseOptions,
  findHeadEnd,
  type HeadBuffer,
  HttpError,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseHead,
  isToken,
  parseRequestHead,
  parseResponseHead,
  readHead,
  type ReadHeadOptions,
  serializeResponse,
} from "./http.ts";
export {
  type CloseInfo,
  Message,
  WebSocket,
  type WebSocketEvents,
  type WebSocketOptions,
  type WsConn,
} from "./socket.ts";
export { dialNodeTls, type NodeTlsOptions } from "./node_tls.ts";
export {
  type ConnListener,
  listenError,
  serve,
  type ServeOptions,
  type ServerStats,
  type StreamingResponse,
  type UpgradeAnswer,
  WebSocketServer,
} from "./server.ts";
export { connect, type ConnectOptions } from "./client.ts";
export {
  bridge,
  forwardCloseCode,
  forwardedHeaders,
  parseProxySpec,
  type ProxyOptions,
  type ProxyRoute,
  proxyUpgrade,
} from "./proxy.ts";
export { type Asset, assetFiles, contentType, safeSegments, staticFiles } from "./static.ts";
export {
  checkDirectory,
  echo,
  readPem,
  startWsServe,
  wsServeConfig,
  type WsServeOptions,
  wsServeOptions,
  type WsServeSettings,
} from "./service.ts";
export {
  defaultWsServeConfig,
  type ListenerConfig,
  loadWsServeConfig,
  parseWsServeToml,
  resolveWsServeConfig,
  type WsServeConfig,
  type WsServeFlags,
  type WsServeLayer,
} from "./config.ts";
export {
  type ReloadResult,
  type RunningListener,
  startWsServiceWorkers,
  SwappableListener,
  WsService,
  type WsServiceOptions,
} from "./listeners.ts";
export { httpsRedirect, redirectHost } from "./redirect.ts";
export { WsMetrics } from "./metrics.ts";
export { startWsServeWorkers, type WorkerServeOptions, WorkerServers } from "./workers.ts";
