/**
 * Which socket JsSIP gets for `--transport`: the WebSocket (`ws`/`wss`, `--ws URL`) or a UDP/TCP/TLS socket to the
 * next hop, which is `--proxy HOST[:PORT]` or else the host of the target (or of our own URI when listening),
 * resolved per RFC 3263 (`sip_dns.ts`). For UDP/TCP/TLS it also says what JsSIP must put in Via and Contact.
 *
 * @module
 */

import { log, PbxError } from "../common/mod.ts";
import { resolveSipHost, type SipResolver, type SipTransport, splitHostPort, systemResolver } from "./sip_dns.ts";
import type { JsSipSocket } from "./sip_tap.ts";
import { type TlsTrust, wsSocketFor } from "./ws_socket.ts";

/** What {@linkcode openSignalling} needs. */
export interface SignallingSettings {
  /** Transport. */
  transport: SipTransport;
  /** WebSocket URL (ws/wss). */
  ws?: string;
  /** Outbound proxy/registrar `HOST[:PORT]` (udp/tcp/tls). */
  proxy?: string;
  /** Target URI or user (its host is the next hop without --proxy). */
  target?: string;
  /** Our SIP URI (its host is the next hop when listening without --proxy). */
  uri: string;
  /** Local SIP port (udp/tcp/tls; default any). */
  localPort?: number;
  /** TLS trust (wss, tls). */
  tls: TlsTrust;
  /** DNS (default: the system's). */
  resolver?: SipResolver;
}

/** The socket and the addresses JsSIP must use. */
export interface Signalling {
  /** JsSIP socket. */
  socket: JsSipSocket;
  /** For messages: the WebSocket URL or `udp://ip:port`. */
  label: string;
  /** JsSIP `via_host` (udp/tcp/tls). */
  viaHost?: string;
  /** Our Contact URI (udp/tcp/tls). */
  contactUri?: string;
  /** Our IP address as the next hop sees it (udp/tcp/tls), for RTP. */
  localIp?: string;
}

/** The part of `Phone.open`'s options that comes from the signalling: socket, label, Via host, Contact. */
export function phoneSocketOptions(
  sig: Signalling,
): { ws: string; socket: JsSipSocket; viaHost?: string; contactUri?: string } {
  return { ws: sig.label, socket: sig.socket, viaHost: sig.viaHost, contactUri: sig.contactUri };
}

/** Host and port of a SIP URI or `user@host[:port]` (undefined for a bare user). */
export function uriHostPort(uri: string): { host: string; port?: number } | undefined {
  const m = /^(?:sips?:)?(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?/i.exec(uri.trim());
  if (!m || (!uri.includes("@") && !/^sips?:/i.test(uri))) return undefined;
  const host = m[1].replace(/^\[|\]$/g, "");
  return { host, port: m[2] ? Number(m[2]) : undefined };
}

/** Open the signalling socket for `s` (resolving the next hop); rejects with a PbxError (exit 7 for network). */
export async function openSignalling(s: SignallingSettings): Promise<Signalling> {
  if (s.transport === "ws" || s.transport === "wss") {
    if (!s.ws) throw new PbxError("E_USAGE", `--transport ${s.transport} needs --ws URL`);
    const socket = await wsSocketFor(s.ws, s.tls);
    return { socket: socket as unknown as JsSipSocket, label: s.ws };
  }
  const hop = s.proxy ? splitHostPort(s.proxy, "--proxy") : (s.target ? uriHostPort(s.target) : undefined) ??
    uriHostPort(s.uri);
  if (!hop) throw new PbxError("E_USAGE", "no host to send SIP to: give --proxy HOST or a target sip:USER@HOST");
  const hops = await resolveSipHost({ ...hop, transport: s.transport }, s.resolver ?? systemResolver());
  let ca: string | undefined;
  if (s.transport === "tls" && s.tls.ca) ca = await Deno.readTextFile(s.tls.ca);
  if (s.transport === "tls" && s.tls.insecure) log.warn(`--insecure: the certificate of ${hop.host} is NOT verified`);
  const { SipNetSocket } = await import("./sip_net_socket.ts");
  const errors: unknown[] = [];
  for (const h of hops) {
    try {
      const socket = await SipNetSocket.open({
        transport: s.transport,
        ip: h.ip,
        port: h.port,
        hostname: hop.host,
        localPort: s.localPort,
        ca,
        insecure: s.tls.insecure,
      });
      if (h.via !== "literal") log.debug(`SIP next hop ${hop.host} -> ${h.ip}:${h.port} (${h.via})`);
      const user = /^sips?:([^@]+)@/i.exec(s.uri)?.[1] ?? "pbxkit";
      return {
        socket,
        label: socket.url,
        viaHost: socket.localIp.includes(":") ? `[${socket.localIp}]` : socket.localIp,
        contactUri: `sip:${user}@${socket.sentBy};transport=${s.transport}`,
        localIp: socket.localIp,
      };
    } catch (err) {
      errors.push(err); // try the next address (RFC 3263 §4.3)
      log.debug(`SIP next hop ${h.ip}:${h.port} (${h.via}): ${(err as Error).message}`);
    }
  }
  // the first address's failure is the one to report (e.g. its certificate), not the last fallback's "refused"
  throw errors[0];
}
