/**
 * ws-serve's Prometheus series ({@linkcode WsMetrics}). The server and the proxy call a handful of methods at
 * connection-level events (accepted, handshake refused, WebSocket opened/closed, upstream connected/failed); the
 * per-message counts are plain number fields each {@linkcode WebSocket} keeps anyway and are summed at scrape
 * time, so the message path gains no call and no allocation.
 *
 * @module
 */

import type { CounterChild, GaugeChild, Metric, MetricsRegistry } from "../common/metrics.ts";
import type { WebSocket } from "./socket.ts";

/** The ws-serve metric families on a registry. */
export class WsMetrics {
  readonly #live = new Set<WebSocket>();
  // Totals of connections that have ended.
  #msgIn = 0;
  #msgOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #accepted: CounterChild;
  readonly #opened: CounterChild;
  readonly #open: GaugeChild;
  readonly #sockets: GaugeChild;
  readonly #rejected: Metric<CounterChild>;
  readonly #timeouts: CounterChild;
  readonly #closeSent: Metric<CounterChild>;
  readonly #closeReceived: Metric<CounterChild>;
  readonly #upConnects: Metric<CounterChild>;
  readonly #upErrors: Metric<CounterChild>;
  #socketsNow: () => number = () => 0;

  /** Register the families on `registry`. */
  constructor(registry: MetricsRegistry) {
    const r = registry;
    this.#accepted = r.counter("pbxkit_ws_tcp_connections_total", "TCP (or TLS) connections accepted.").series;
    this.#opened = r.counter("pbxkit_ws_connections_total", "WebSocket connections opened (handshake accepted).")
      .series;
    this.#open = r.gauge("pbxkit_ws_connections_open", "WebSocket connections open now.").series;
    this.#sockets = r.gauge("pbxkit_ws_sockets_open", "Sockets open now (WebSocket and plain HTTP).").series;
    this.#rejected = r.counter(
      "pbxkit_ws_handshakes_rejected_total",
      "WebSocket handshakes refused, by the HTTP status answered (400 bad request, 403 origin, 426 version, " +
        "431 head too large, 503 busy or shutting down, 404/502/504 from routing and the proxy).",
      ["status"],
    );
    this.#timeouts = r.counter(
      "pbxkit_ws_handshake_timeouts_total",
      "Connections closed because the TLS and HTTP handshake did not complete in time (slowloris).",
    ).series;
    const msgs = r.counter("pbxkit_ws_messages_total", "WebSocket messages, by direction (in = from clients).", [
      "direction",
    ]);
    const bytes = r.counter(
      "pbxkit_ws_bytes_total",
      "WebSocket bytes on the wire (frames, before TLS) by direction (in = from clients).",
      ["direction"],
    );
    this.#closeSent = r.counter("pbxkit_ws_close_sent_total", "Close frames sent to clients, by close code.", [
      "code",
    ]);
    this.#closeReceived = r.counter(
      "pbxkit_ws_close_received_total",
      "Client connections ended, by the client's close code (1005: its close frame had none; 1006: none came).",
      ["code"],
    );
    this.#upConnects = r.counter(
      "pbxkit_ws_proxy_upstream_connects_total",
      "Upstream WebSockets opened by the proxy, by route path.",
      ["route"],
    );
    this.#upErrors = r.counter(
      "pbxkit_ws_proxy_upstream_errors_total",
      "Upstream WebSocket connects that failed, by route path and reason (timeout, error).",
      ["route", "reason"],
    );
    const msgIn = msgs.labels("in"), msgOut = msgs.labels("out");
    const bIn = bytes.labels("in"), bOut = bytes.labels("out");
    r.onCollect(() => {
      let mi = this.#msgIn, mo = this.#msgOut, bi = this.#bytesIn, bo = this.#bytesOut;
      for (const ws of this.#live) {
        mi += ws.messagesIn;
        mo += ws.messagesOut;
        bi += ws.bytesIn;
        bo += ws.bytesOut;
      }
      msgIn.value = mi;
      msgOut.value = mo;
      bIn.value = bi;
      bOut.value = bo;
      this.#open.value = this.#live.size;
      this.#sockets.value = this.#socketsNow();
    });
  }

  /** Read the open-socket count from the server at scrape time. */
  watchSockets(count: () => number): void {
    this.#socketsNow = count;
  }

  /** A TCP/TLS connection was accepted. */
  accepted(): void {
    this.#accepted.value++;
  }

  /** A handshake was answered with `status` instead of 101. */
  rejected(status: number): void {
    this.#rejected.labels(String(status)).value++;
  }

  /** A handshake timed out. */
  handshakeTimeout(): void {
    this.#timeouts.value++;
  }

  /** A WebSocket opened. */
  opened(ws: WebSocket): void {
    this.#opened.value++;
    this.#live.add(ws);
  }

  /** A WebSocket ended: fold its counts into the totals. */
  closed(ws: WebSocket): void {
    if (!this.#live.delete(ws)) return;
    this.#msgIn += ws.messagesIn;
    this.#msgOut += ws.messagesOut;
    this.#bytesIn += ws.bytesIn;
    this.#bytesOut += ws.bytesOut;
    const sent = ws.closeSentCode;
    if (sent !== undefined) this.#closeSent.labels(String(sent)).value++;
    this.#closeReceived.labels(String(ws.closeReceivedCode)).value++;
  }

  /** The proxy opened an upstream for `route`. */
  upstreamConnected(route: string): void {
    this.#upConnects.labels(route).value++;
  }

  /** The proxy could not open an upstream for `route`. */
  upstreamFailed(route: string, reason: "timeout" | "error"): void {
    this.#upErrors.labels(route, reason).value++;
  }
}
