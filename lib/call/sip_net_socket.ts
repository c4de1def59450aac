/**
 * JsSIP's `Socket` interface over UDP, TCP and TLS (`--transport udp|tcp|tls`), so JsSIP stays the SIP stack and
 * pbxkit only moves bytes: {@linkcode SipNetSocket.open} binds (UDP) or connects (TCP, TLS) before the user agent
 * starts, so the Via and Contact can carry our real address; then
 * - requests leave with their top Via rewritten to `SIP/2.0/<UDP|TCP|TLS> ip:port;rport` (RFC 3581), and responses
 *   come back with the port taken off again (JsSIP drops responses whose Via sent-by is not its own `via_host`);
 * - responses we send go back where the request came from (by its Via branch), requests to the next hop;
 * - TCP/TLS are framed by Content-Length ({@linkcode SipStreamFramer}); CRLFCRLF keep-alives are sent every 25 s
 *   (RFC 5626 §4.4.1; answered with CRLF), UDP sends a CRLFCRLF keep-alive to the next hop as NAT binding refresh.
 *
 * @module
 */

import dgram from "node:dgram";
import net from "node:net";
import tls from "node:tls";
import os from "node:os";
import { Buffer } from "node:buffer";
import { log, PbxError } from "../common/mod.ts";
import type { JsSipSocket } from "./sip_tap.ts";
import { fixRequestVia, SipStreamFramer, topVia } from "./sip_wire.ts";

/** The transports this socket speaks. */
export type NetTransport = "udp" | "tcp" | "tls";

/** Options for {@linkcode SipNetSocket.open}. */
export interface SipNetOptions {
  /** Transport. */
  transport: NetTransport;
  /** Next hop (proxy, registrar, or the target itself). */
  ip: string;
  /** Its port. */
  port: number;
  /** Its host name, for TLS verification and SNI (default: `ip`). */
  hostname?: string;
  /** Our address (default: the interface that reaches `ip`). */
  localIp?: string;
  /** Our port (default: 5060 when free for UDP, else any). */
  localPort?: number;
  /** TLS trust. */
  ca?: string;
  /** Skip TLS verification. */
  insecure?: boolean;
  /** Keep-alive interval (ms, default 25000; 0: none). */
  keepAliveMs?: number;
}

type Handler = (...args: unknown[]) => void;
type Peer = { address: string; port: number };

/** How many request sources are remembered for routing responses. */
const MAX_SOURCES = 512;

/** The local address that reaches `dest` (pure: takes the interface table). */
export function localAddressFor(
  dest: string,
  interfaces: Record<string, { address: string; netmask: string; family: string; internal: boolean }[] | undefined>,
): string {
  const v6 = dest.includes(":");
  if (dest.startsWith("127.") || dest === "::1") return dest.startsWith("127.") ? "127.0.0.1" : "::1";
  const all = Object.values(interfaces).flatMap((l) => l ?? []).filter((i) => (i.family === "IPv6") === v6);
  if (!v6) {
    const n = (ip: string) => ip.split(".").reduce((a, b) => a * 256 + Number(b), 0);
    for (const i of all) {
      const mask = n(i.netmask);
      if (mask && (Math.floor(n(i.address) / 1) & mask) >>> 0 === (n(dest) & mask) >>> 0) return i.address;
    }
  }
  const ext = all.find((i) => !i.internal && !i.address.startsWith("fe80"));
  if (ext) return ext.address;
  throw new PbxError("E_NETWORK", `no local ${v6 ? "IPv6" : "IPv4"} address to reach ${dest}`, { exitCode: 7 });
}

/** A JsSIP socket over UDP, TCP or TLS. */
export class SipNetSocket implements JsSipSocket {
  /** `udp://ip:port` etc. */
  readonly url: string;
  /** `UDP`, `TCP` or `TLS`. */
  readonly via_transport: string;
  /** The next hop as a SIP URI. */
  readonly sip_uri: string;
  onconnect: Handler = () => {};
  ondisconnect: Handler = () => {};
  ondata: Handler = () => {};
  /** Our address as the peer sees it (for Via and Contact). */
  localIp: string;
  /** Our port. */
  localPort = 0;
  readonly #o: SipNetOptions;
  #udp?: dgram.Socket;
  #stream?: net.Socket;
  #framer = new SipStreamFramer();
  #state: "closed" | "open" = "closed";
  #sources = new Map<string, Peer>();
  #keepAlive?: ReturnType<typeof setInterval>;

  private constructor(o: SipNetOptions) {
    this.#o = o;
    this.via_transport = o.transport.toUpperCase();
    const host = o.ip.includes(":") ? `[${o.ip}]` : o.ip;
    this.url = `${o.transport}://${host}:${o.port}`;
    this.sip_uri = `sip:${host}:${o.port};transport=${o.transport}`;
    this.localIp = o.localIp ?? localAddressFor(o.ip, os.networkInterfaces() as never);
  }

  /** Bind (UDP) or connect (TCP/TLS) now, so the local address is known; rejects with E_NETWORK (exit 7). */
  static async open(o: SipNetOptions): Promise<SipNetSocket> {
    const s = new SipNetSocket(o);
    await s.#open();
    return s;
  }

  /** `ip:port` for the Via sent-by and the Contact. */
  get sentBy(): string {
    return `${this.localIp.includes(":") ? `[${this.localIp}]` : this.localIp}:${this.localPort}`;
  }

  async #open(): Promise<void> {
    const o = this.#o;
    if (o.transport === "udp") {
      const sock = dgram.createSocket(o.ip.includes(":") ? "udp6" : "udp4");
      const bind = (port: number) =>
        new Promise<void>((resolve, reject) => {
          sock.once("error", reject);
          sock.bind(port, this.localIp, () => {
            sock.off("error", reject);
            resolve();
          });
        });
      try {
        await bind(o.localPort ?? this.localPort ?? 0);
      } catch (err) {
        throw new PbxError(
          "E_NETWORK",
          `cannot bind UDP ${this.localIp}:${o.localPort ?? 0}: ${(err as Error).message}`,
          {
            exitCode: 7,
          },
        );
      }
      this.localPort = sock.address().port;
      sock.on("message", (buf: Buffer, rinfo: Peer) => this.#received(buf.toString("utf8"), rinfo));
      sock.on("error", (err: Error) => log.debug(`SIP UDP: ${err.message}`));
      this.#udp = sock;
    } else {
      const sock = await new Promise<net.Socket>((resolve, reject) => {
        const opts = { host: o.ip, port: o.port, localAddress: o.localIp };
        // a host name is checked against the certificate (and sent as SNI); without one, the IP address is
        // (node:tls rejects `checkServerIdentity: undefined`, so the property is left out for the default check)
        const named = o.hostname !== undefined && !net.isIP(o.hostname);
        const s = o.transport === "tls"
          ? tls.connect({
            ...opts,
            ca: o.ca,
            rejectUnauthorized: !o.insecure,
            ...(named ? { servername: o.hostname } : {
              checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(o.ip, cert),
            }),
          })
          : net.connect(opts);
        const fail = (err: Error & { code?: string }) => {
          s.destroy();
          const text = `${err.message} ${err.code ?? ""}`;
          const who = named ? o.hostname : o.ip;
          const message = /ALTNAME|does not match/i.test(text)
            ? `TLS certificate of ${o.ip}:${o.port} is not for ${who} (${err.message})`
            : /self[- ]signed|unable to verify|certificate|CERT/i.test(text)
            ? `TLS certificate of ${who} not trusted (${err.message}); pass --ca FILE to trust it, or --insecure`
            : `SIP ${this.via_transport} to ${o.ip}:${o.port} failed: ${err.message}`;
          reject(
            new PbxError(
              "E_NETWORK",
              message,
              { exitCode: 7 },
            ),
          );
        };
        s.once("error", fail);
        s.once(o.transport === "tls" ? "secureConnect" : "connect", () => {
          s.off("error", fail);
          resolve(s);
        });
      });
      sock.setNoDelay(true);
      this.localPort = sock.localPort ?? 0;
      if (!o.localIp && sock.localAddress) this.localIp = sock.localAddress.replace(/^::ffff:/, "");
      const peer = { address: o.ip, port: o.port };
      sock.on("data", (chunk: Buffer) => {
        let got;
        try {
          got = this.#framer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
        } catch (err) {
          log.warn(`SIP ${this.via_transport} from ${o.ip}:${o.port}: ${(err as Error).message}; closing`);
          sock.destroy();
          return;
        }
        for (let i = 0; i < got.pings; i++) sock.write("\r\n");
        for (const m of got.messages) this.#received(m, peer);
      });
      sock.on("error", (err: Error) => log.debug(`SIP ${this.via_transport}: ${err.message}`));
      sock.on("close", () => {
        if (this.#stream !== sock) return;
        this.#stream = undefined;
        this.#closed(true, `${this.via_transport} connection to ${o.ip}:${o.port} closed`);
      });
      this.#stream = sock;
    }
    this.#state = "open";
    const every = o.keepAliveMs ?? 25_000;
    if (every > 0) {
      this.#keepAlive = setInterval(() => this.#write("\r\n\r\n", { address: o.ip, port: o.port }), every);
      Deno.unrefTimer(this.#keepAlive as unknown as number);
    }
  }

  #received(text: string, from: Peer): void {
    if (!text.trim()) return; // keep-alive
    if (text.startsWith("SIP/2.0 ")) {
      // JsSIP checks that the Via sent-by is its own via_host with no port: undo what fixRequestVia added
      const sentBy = this.sentBy;
      const i = text.indexOf(sentBy);
      if (i >= 0 && i < text.search(/\r?\n\r?\n/)) {
        text = text.slice(0, i) + sentBy.slice(0, sentBy.lastIndexOf(":")) + text.slice(i + sentBy.length);
      }
    } else {
      const branch = topVia(text)?.branch;
      if (branch) {
        if (this.#sources.size >= MAX_SOURCES) this.#sources.delete(this.#sources.keys().next().value!);
        this.#sources.set(branch, from);
      }
    }
    this.ondata(text);
  }

  #write(text: string, to: Peer): boolean {
    if (this.#state !== "open") return false;
    if (this.#udp) {
      this.#udp.send(Buffer.from(text, "utf8"), to.port, to.address);
      return true;
    }
    if (!this.#stream || this.#stream.destroyed) return false;
    this.#stream.write(text);
    return true;
  }

  #closed(error: boolean, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#keepAlive);
    this.ondisconnect(error, error ? 1006 : 1000, reason);
  }

  /** JsSIP's connect: the socket is open already (re-opened after a disconnect). */
  connect(): void {
    if (this.#state === "open") {
      queueMicrotask(() => this.onconnect());
      return;
    }
    this.#open().then(() => this.onconnect(), (err: Error) => this.ondisconnect(true, 1006, err.message));
  }

  /** Close the socket. */
  disconnect(): void {
    if (this.#state === "closed") return;
    const udp = this.#udp, stream = this.#stream;
    this.#udp = undefined;
    this.#stream = undefined;
    this.#closed(false, "closed by pbxkit");
    try {
      udp?.close();
    } catch { /* closed */ }
    stream?.end();
    stream?.destroy();
  }

  /** Send one SIP message: requests to the next hop, responses to where their request came from. */
  send(message: string): boolean {
    if (message.startsWith("SIP/2.0 ")) {
      const branch = topVia(message)?.branch;
      const to = (branch && this.#sources.get(branch)) || { address: this.#o.ip, port: this.#o.port };
      return this.#write(message, to);
    }
    return this.#write(fixRequestVia(message, this.sentBy, this.via_transport), {
      address: this.#o.ip,
      port: this.#o.port,
    });
  }

  /** Whether it is open. */
  isConnected(): boolean {
    return this.#state === "open";
  }

  /** Never "connecting": {@linkcode SipNetSocket.open} finished that. */
  isConnecting(): boolean {
    return false;
  }
}
