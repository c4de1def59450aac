/**
 * The SIP-over-WebSocket transport JsSIP uses: {@linkcode SipWsSocket}, pbxkit's own WebSocket client (`lib/ws`,
 * `connect()`) for both `ws://` and `wss://`, never JsSIP's `WebSocketInterface` on Deno's built-in WebSocket: that
 * client leaves Nagle's algorithm on and writes a frame's header and payload separately, so each INVITE waited for the
 * PBX's delayed ACK (about 40 ms, twice per call with digest auth: measured 93 ms from INVITE to 200 OK, 4 ms of it on
 * the wire). pbxkit's client sets TCP_NODELAY and writes each frame whole. `wss://` runs over a `node:tls` transport
 * (`dialNodeTls`), so that `--ca FILE` (trust this CA/certificate) and `--insecure` (skip verification, with a warning)
 * apply to this connection only. Without either, the system trust store decides: a self-signed PBX certificate is
 * refused with a message naming both flags. Nothing is ever trusted silently.
 *
 * @module
 */

import { log, PbxError } from "../common/mod.ts";
import { connect } from "../ws/client.ts";
import { dialNodeTls } from "../ws/node_tls.ts";
import type { CloseInfo, Message, WebSocket } from "../ws/socket.ts";

/** Largest message accepted from the server (SIP messages are small). */
const MAX_MESSAGE = 1 << 20;

/** How to trust a `wss://` server. */
export interface TlsTrust {
  /** Skip certificate verification (prints a warning). */
  insecure: boolean;
  /** PEM file with the CA (or the self-signed certificate itself) to trust. */
  ca?: string;
}

/** The JsSIP socket for `url` (`ws://` or `wss://`). */
export async function wsSocketFor(url: string, trust: TlsTrust): Promise<SipWsSocket> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PbxError("E_USAGE", `--ws: not a URL: ${url}`);
  }
  if (u.protocol === "ws:") {
    if (trust.insecure || trust.ca) log.warn("--insecure/--ca have no effect on a plain ws:// connection");
    return new SipWsSocket(u, { insecure: false });
  }
  if (u.protocol !== "wss:") throw new PbxError("E_USAGE", `--ws must be a ws:// or wss:// URL, not ${u.protocol}`);
  let ca: string | undefined;
  if (trust.ca) {
    try {
      ca = await Deno.readTextFile(trust.ca);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new PbxError("E_NOT_FOUND", `--ca: no such file: ${trust.ca}`);
      throw err;
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new PbxError("E_INVALID_INPUT", `--ca: ${trust.ca} holds no PEM certificate`);
    }
  }
  if (trust.insecure) {
    log.warn(`--insecure: the certificate of ${u.host} is NOT verified; anyone on the path can read this call`);
  }
  return new SipWsSocket(u, { ca, insecure: trust.insecure });
}

type Handler = (...args: unknown[]) => void;

/**
 * JsSIP's socket interface over a lib/ws WebSocket: plain TCP for `ws://`, a TLS stream we control for `wss://` (CA
 * and verification per connection).
 */
export class SipWsSocket {
  /** The WebSocket URL. */
  readonly url: string;
  /** `WS` or `WSS`, for the Via header. */
  readonly via_transport: string;
  /** The SIP URI of the WebSocket server (JsSIP routes through it). */
  readonly sip_uri: string;
  onconnect: Handler = () => {};
  ondisconnect: Handler = () => {};
  ondata: Handler = () => {};
  #u: URL;
  #dial: ReturnType<typeof dialNodeTls> | undefined;
  #ws?: WebSocket;
  #state: "closed" | "connecting" | "open" = "closed";
  #attempt = 0;

  /** A socket for `url` (not connected until JsSIP calls `connect`). */
  constructor(url: URL, options: { ca?: string; insecure: boolean }) {
    this.#u = url;
    this.url = url.href;
    this.sip_uri = `sip:${url.hostname};transport=ws`;
    const secure = url.protocol === "wss:";
    this.via_transport = secure ? "WSS" : "WS";
    this.#dial = secure ? dialNodeTls({ ca: options.ca, insecure: options.insecure }) : undefined;
  }

  /** Open TCP (and TLS for `wss://`), then the WebSocket handshake (subprotocol `sip`). */
  connect(): void {
    if (this.#state !== "closed") return;
    this.#state = "connecting";
    const attempt = ++this.#attempt;
    connect(this.#u, {
      protocols: ["sip"],
      headers: { "User-Agent": "pbxkit" },
      maxMessage: MAX_MESSAGE,
      dial: this.#dial,
    }).then((ws) => {
      if (attempt !== this.#attempt || this.#state !== "connecting") {
        ws.abort(); // disconnect() was called meanwhile
        return;
      }
      this.#ws = ws;
      ws.on("message", (m: Message) => this.ondata(m.text));
      ws.on("close", (info: CloseInfo) => {
        if (this.#ws === ws) this.#closed(info.code !== 1000, info.code, info.reason || "connection closed");
      });
      this.#state = "open";
      this.onconnect();
    }, (err: Error & { cause?: unknown }) => {
      if (attempt !== this.#attempt) return;
      // node's own TLS error (with its code) is the cause of connect()'s E_NETWORK
      const root = (err.cause instanceof Error ? err.cause : err) as Error & { code?: string };
      // the reason travels with JsSIP's 'disconnected' event into the one error line pbxkit prints
      if (err instanceof PbxError && err.code === "E_PROTOCOL") return this.#closed(true, 1002, err.message);
      const msg = /self[- ]signed|unable to verify|certificate|CERT/i.test(`${root.message} ${root.code ?? ""}`)
        ? `TLS certificate of ${this.#u.host} not trusted (${root.message}); pass --ca FILE to trust it, or --insecure`
        : `${root.message}`;
      this.#closed(true, 1006, msg);
    });
  }

  #closed(error: boolean, code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#ws = undefined;
    this.ondisconnect(error, code, reason);
  }

  /** Close the WebSocket. */
  disconnect(): void {
    if (this.#state === "closed") return;
    const ws = this.#ws;
    this.#attempt++;
    this.#closed(false, 1000, "closed by pbxkit");
    ws?.close(1000).catch(() => {});
  }

  /** Send one SIP message. */
  send(message: string): boolean {
    if (this.#state !== "open" || !this.#ws?.writable) return false;
    this.#ws.send(message).catch((err: Error) => log.debug(`${this.#u.host}: send failed: ${err.message}`));
    return true;
  }

  /** Whether the WebSocket is open. */
  isConnected(): boolean {
    return this.#state === "open";
  }

  /** Whether it is being opened. */
  isConnecting(): boolean {
    return this.#state === "connecting";
  }
}
