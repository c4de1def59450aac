/**
 * The SIP-over-WebSocket transport JsSIP uses. `ws://` goes through JsSIP's own `WebSocketInterface` on Deno's
 * WebSocket. `wss://` goes through {@linkcode TlsWsSocket}: `node:tls` plus the sans-I/O codec in `ws_client.ts`, so
 * that `--ca FILE` (trust this CA/certificate) and `--insecure` (skip verification, with a warning) apply to this
 * connection only. Without either, the system trust store decides: a self-signed PBX certificate is refused with a
 * message naming both flags. Nothing is ever trusted silently.
 *
 * @module
 */

import tls from "node:tls";
import { log, PbxError } from "../common/mod.ts";
import { WsClientCodec } from "./ws_client.ts";

/** How to trust a `wss://` server. */
export interface TlsTrust {
  /** Skip certificate verification (prints a warning). */
  insecure: boolean;
  /** PEM file with the CA (or the self-signed certificate itself) to trust. */
  ca?: string;
}

/** The JsSIP socket for `url`: undefined means JsSIP's default WebSocketInterface (plain `ws://`). */
export async function wsSocketFor(url: string, trust: TlsTrust): Promise<unknown | undefined> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PbxError("E_USAGE", `--ws: not a URL: ${url}`);
  }
  if (u.protocol === "ws:") {
    if (trust.insecure || trust.ca) log.warn("--insecure/--ca have no effect on a plain ws:// connection");
    return undefined;
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
  return new TlsWsSocket(u, { ca, insecure: trust.insecure });
}

type Handler = (...args: unknown[]) => void;

/** JsSIP's socket interface over a TLS stream we control (CA and verification per connection). */
export class TlsWsSocket {
  readonly url: string;
  readonly via_transport = "WSS";
  readonly sip_uri: string;
  onconnect: Handler = () => {};
  ondisconnect: Handler = () => {};
  ondata: Handler = () => {};
  #u: URL;
  #ca?: string;
  #insecure: boolean;
  #sock?: tls.TLSSocket;
  #codec?: WsClientCodec;
  #state: "closed" | "connecting" | "open" = "closed";
  #closing = false;

  /** A socket for `url` (not connected until JsSIP calls `connect`). */
  constructor(url: URL, options: { ca?: string; insecure: boolean }) {
    this.#u = url;
    this.url = url.href;
    this.sip_uri = `sip:${url.hostname};transport=ws`;
    this.#ca = options.ca;
    this.#insecure = options.insecure;
  }

  /** Open TLS, then the WebSocket handshake (subprotocol `sip`). */
  connect(): void {
    if (this.#state !== "closed") return;
    this.#state = "connecting";
    this.#closing = false;
    const codec = this.#codec = new WsClientCodec();
    const port = Number(this.#u.port || 443);
    const host = this.#u.hostname.replace(/^\[|\]$/g, "");
    const isIp = /^[\d.]+$/.test(host) || host.includes(":");
    const sock = this.#sock = tls.connect({
      host,
      port,
      servername: isIp ? undefined : host,
      ca: this.#ca,
      rejectUnauthorized: !this.#insecure,
      ALPNProtocols: ["http/1.1"],
    });
    sock.on("secureConnect", () => {
      sock.write(codec.handshake(this.#u, "sip"));
    });
    sock.on("data", (chunk: Uint8Array) => {
      codec.feed(new Uint8Array(chunk)).then((events) => {
        if (this.#state === "connecting" && codec.open) {
          this.#state = "open";
          this.onconnect();
        }
        for (const e of events) {
          if (e.type === "text") this.ondata(e.data);
          else if (e.type === "binary") this.ondata(new TextDecoder().decode(e.data));
          else if (e.type === "ping") sock.write(codec.frame(10, e.data));
          else if (e.type === "close") {
            sock.write(codec.close(e.code === 1005 ? 1000 : e.code));
            this.#closed(e.code !== 1000, e.code, e.reason);
          }
        }
      }).catch((err: Error) => {
        log.error(`wss ${this.#u.host}: ${err.message}`);
        this.#closed(true, 1002, err.message);
      });
    });
    sock.on("error", (err: Error & { code?: string }) => {
      const msg = /self[- ]signed|unable to verify|certificate|CERT/i.test(`${err.message} ${err.code ?? ""}`)
        ? `TLS certificate of ${this.#u.host} not trusted (${err.message}); pass --ca FILE to trust it, or --insecure`
        : `${err.message}`;
      log.error(`wss ${this.#u.host}: ${msg}`);
      lastTlsError = msg;
      this.#closed(true, 1006, msg);
    });
    sock.on("close", () => this.#closed(!this.#closing, 1006, "connection closed"));
  }

  #closed(error: boolean, code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    try {
      this.#sock?.destroy();
    } catch { /* gone */ }
    this.ondisconnect(error, code, reason);
  }

  /** Close the WebSocket. */
  disconnect(): void {
    if (this.#state === "closed") return;
    this.#closing = true;
    try {
      if (this.#state === "open" && this.#codec) this.#sock?.write(this.#codec.close(1000));
      this.#sock?.end();
    } catch { /* gone */ }
    this.#closed(false, 1000, "closed by pbxkit");
  }

  /** Send one SIP message. */
  send(message: string): boolean {
    if (this.#state !== "open" || !this.#codec || !this.#sock) return false;
    this.#sock.write(this.#codec.text(message));
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

/** The last TLS failure seen (for the one-line error when registration cannot start). */
export let lastTlsError: string | undefined;
