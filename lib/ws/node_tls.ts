/**
 * A `wss://` transport over `node:tls`, for when a connection needs TLS settings `Deno.connectTls` lacks per
 * connection: skipping verification (`insecure`) or trusting a self-signed end-entity certificate as its own CA.
 * {@linkcode dialNodeTls} returns a dial function for the `dial` option of `connect()` (client.ts); the socket it
 * gives is adapted to the small {@linkcode WsConn} interface a `WebSocket` reads and writes.
 *
 * @module
 */

import tls from "node:tls";
import { Buffer } from "node:buffer";
import type { WsConn } from "./socket.ts";

/** TLS settings for {@linkcode dialNodeTls}. */
export interface NodeTlsOptions {
  /** PEM text of the CA (or the self-signed certificate itself) to trust instead of the system store. */
  ca?: string;
  /** Skip certificate verification altogether (the caller warns). */
  insecure?: boolean;
}

/**
 * Connect with `node:tls` (ALPN `http/1.1`, SNI for names); rejects with node's error (its `code` kept). When the
 * optional `signal` aborts before the TLS handshake completes, the pending socket is destroyed and the promise
 * rejects with the signal's reason.
 */
export function dialNodeTls(
  options: NodeTlsOptions = {},
): (hostname: string, port: number, dialOptions?: { signal?: AbortSignal }) => Promise<WsConn> {
  return (hostname, port, dialOptions) =>
    new Promise((resolve, reject) => {
      const signal = dialOptions?.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const isIp = /^[\d.]+$/.test(hostname) || hostname.includes(":");
      const sock = tls.connect({
        host: hostname,
        port,
        servername: isIp ? undefined : hostname,
        ca: options.ca,
        rejectUnauthorized: !options.insecure,
        ALPNProtocols: ["http/1.1"],
      });
      const onAbort = () => fail(signal?.reason ?? new Error("dial aborted"));
      const fail = (err: Error) => {
        signal?.removeEventListener("abort", onAbort);
        sock.destroy();
        reject(err);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      sock.once("error", fail);
      sock.once("secureConnect", () => {
        signal?.removeEventListener("abort", onAbort);
        sock.off("error", fail);
        sock.setNoDelay(true); // SIP messages must not wait for the peer's delayed ACK (Nagle)
        resolve(new NodeTlsConn(sock));
      });
    });
}

/** A connected `node:tls` socket seen as a {@linkcode WsConn}: pull-style reads over node's push-style events. */
class NodeTlsConn implements WsConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly #sock: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #reader: (() => void) | undefined;

  constructor(sock: tls.TLSSocket) {
    this.#sock = sock;
    this.remoteAddr = { transport: "tcp", hostname: sock.remoteAddress ?? "", port: sock.remotePort ?? 0 };
    sock.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > 1 << 20) sock.pause(); // backpressure: resumed by read()
      this.#wake();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    sock.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    sock.on("error", (err: Error) => {
      this.#error ??= err;
      this.#wake();
    });
  }

  #wake(): void {
    const r = this.#reader;
    this.#reader = undefined;
    r?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#reader = r);
    }
    const c = this.#chunks[0];
    const n = Math.min(p.length, c.length);
    p.set(c.subarray(0, n));
    if (n === c.length) this.#chunks.shift();
    else this.#chunks[0] = c.subarray(n);
    this.#queued -= n;
    if (this.#sock.isPaused() && this.#queued <= 1 << 19) this.#sock.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    // node may hold on to the buffer after write() returns; the caller reuses its own, so copy
    return new Promise((resolve, reject) => {
      this.#sock.write(Buffer.from(p), (err) => err ? reject(err) : resolve(p.length));
    });
  }

  closeWrite(): Promise<void> {
    this.#sock.end();
    return Promise.resolve();
  }

  close(): void {
    this.#ended = true;
    this.#sock.destroy();
    this.#wake();
  }
}
