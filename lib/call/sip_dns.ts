/**
 * Where to send SIP for a host (RFC 3263 §4, without NAPTR): an IP literal is used as is; a name with an explicit
 * port is looked up as A/AAAA; a name without a port first as SRV (`_sip._udp`, `_sip._tcp`, `_sips._tcp` for TLS),
 * ordered by priority and weight (RFC 2782), each target's A/AAAA after; no SRV record: A/AAAA on the default port
 * (5060, 5061 for TLS). {@linkcode resolveSipHost} takes the lookups as a {@linkcode SipResolver}, so the ordering is
 * tested without DNS; {@linkcode systemResolver} is the real one (`node:dns`).
 *
 * @module
 */

import dns from "node:dns";
import { PbxError } from "../common/mod.ts";

/** SIP transports pbxkit speaks. */
export type SipTransport = "udp" | "tcp" | "tls" | "ws" | "wss";

/** One SRV record. */
export interface SrvRecord {
  /** Target host name. */
  name: string;
  /** Port. */
  port: number;
  /** Lower is tried first. */
  priority: number;
  /** Share within a priority. */
  weight: number;
}

/** The DNS lookups {@linkcode resolveSipHost} needs; each resolves to [] when the name has no such record. */
export interface SipResolver {
  /** SRV records of `name`. */
  srv(name: string): Promise<SrvRecord[]>;
  /** IPv4 addresses of `name`. */
  a(name: string): Promise<string[]>;
  /** IPv6 addresses of `name`. */
  aaaa(name: string): Promise<string[]>;
}

/** One place to try, in order. */
export interface SipHop {
  /** IP address. */
  ip: string;
  /** Port. */
  port: number;
  /** How it was found (`literal`, `A`, `AAAA`, `SRV _sip._udp.example.net`). */
  via: string;
}

/** Whether `host` is an IPv4 or IPv6 literal (IPv6 with or without brackets). */
export function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || /^\[?[0-9a-f:]*:[0-9a-f:.]*\]?$/i.test(host);
}

/** Split `host[:port]` / `[v6]:port`; port undefined when absent. Throws E_USAGE on a bad port. */
export function splitHostPort(text: string, what = "--proxy"): { host: string; port?: number } {
  let host = text, portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6) [host, portText] = [v6[1], v6[2]];
  else if ((text.match(/:/g) ?? []).length === 1) [host, portText] = text.split(":");
  if (!host || /[\s/@;]/.test(host)) throw new PbxError("E_USAGE", `${what}: '${text}' is not HOST[:PORT]`);
  if (portText === undefined) return { host };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || !(port >= 1 && port <= 65535)) {
    throw new PbxError("E_USAGE", `${what}: port '${portText}' is not 1..65535`);
  }
  return { host, port };
}

/** The SRV name for a transport (RFC 3263 §4.1): `_sip._udp`, `_sip._tcp`, `_sips._tcp`. */
export function srvName(host: string, transport: SipTransport): string {
  const label = transport === "tls" || transport === "wss"
    ? "_sips._tcp"
    : transport === "udp"
    ? "_sip._udp"
    : "_sip._tcp";
  return `${label}.${host}`;
}

/** SRV records in the order RFC 2782 says to try them (priority ascending, weighted random within a priority). */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPrio = new Map<number, SrvRecord[]>();
  for (const r of records) {
    if (r.name === "." || r.name === "") continue; // "service decidedly not available"
    const list = byPrio.get(r.priority) ?? [];
    list.push(r);
    byPrio.set(r.priority, list);
  }
  const out: SrvRecord[] = [];
  for (const prio of [...byPrio.keys()].sort((a, b) => a - b)) {
    // zero weights first, as RFC 2782 asks, then weighted selection without replacement
    const left = byPrio.get(prio)!.slice().sort((a, b) => a.weight - b.weight);
    while (left.length) {
      const total = left.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        const x = random() * total;
        let run = 0;
        pick = left.findIndex((r) => (run += r.weight) > x);
        if (pick < 0) pick = left.length - 1;
      }
      out.push(left.splice(pick, 1)[0]);
    }
  }
  return out;
}

/**
 * The addresses to try for SIP to `host` (RFC 3263 §4.2): literal, A/AAAA with the given port, or SRV then A/AAAA.
 * IPv4 before IPv6 for each name. Rejects with E_NETWORK when nothing resolves.
 */
export async function resolveSipHost(
  target: { host: string; port?: number; transport: SipTransport },
  resolver: SipResolver,
): Promise<SipHop[]> {
  const host = target.host.replace(/^\[|\]$/g, "");
  const defPort = target.transport === "tls" || target.transport === "wss" ? 5061 : 5060;
  if (isIpLiteral(target.host)) return [{ ip: host, port: target.port ?? defPort, via: "literal" }];
  const addresses = async (name: string, port: number, via: string): Promise<SipHop[]> => {
    const [v4, v6] = await Promise.all([resolver.a(name), resolver.aaaa(name)]);
    return [
      ...v4.map((ip) => ({ ip, port, via: via || "A" })),
      ...v6.map((ip) => ({ ip, port, via: via || "AAAA" })),
    ];
  };
  const hops: SipHop[] = [];
  if (target.port === undefined) {
    const name = srvName(host, target.transport);
    for (const r of orderSrv(await resolver.srv(name))) hops.push(...await addresses(r.name, r.port, `SRV ${name}`));
    if (hops.length) return hops;
  }
  hops.push(...await addresses(host, target.port ?? defPort, ""));
  if (!hops.length) {
    throw new PbxError("E_NETWORK", `cannot resolve SIP host ${host}: no SRV, A or AAAA record`, { exitCode: 7 });
  }
  return hops;
}

/** The system's resolver through `node:dns` (resolv.conf); missing records are [], other failures reject. */
export function systemResolver(): SipResolver {
  const p = dns.promises;
  const none = (err: unknown): never[] => {
    const code = (err as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA" || code === "ENONAME" || code === "NXDOMAIN") return [];
    throw new PbxError("E_NETWORK", `DNS lookup failed: ${(err as Error).message}`, { cause: err, exitCode: 7 });
  };
  return {
    srv: (name) => p.resolveSrv(name).then((rs) => rs.map((r) => ({ ...r })), none),
    a: (name) => p.resolve4(name).catch(none),
    aaaa: (name) => p.resolve6(name).catch(none),
  };
}
