/**
 * A real DNS server for the RFC 3263 tests: dnsmasq in one host of a {@linkcode Pbx}'s test network, authoritative for
 * `pbx.test` (SRV, A and AAAA records given by the test, nothing forwarded), and the resolver of another host pointed
 * at it through `/etc/netns/<namespace>/resolv.conf` (which `ip netns exec` bind-mounts over `/etc/resolv.conf`).
 * dnsmasq logs every query, so a test can tell which names were asked for.
 *
 * @module
 */

import { type Proc, waitFor } from "../_util/mod.ts";
import { DOMAIN, type Pbx } from "./_pbx.ts";

/** One SRV record: `_service._proto.name` -> target:port. */
export interface SrvSpec {
  /** Owner name, e.g. `_sip._udp.pbx.test`. */
  name: string;
  /** Target host name. */
  target: string;
  /** Port. */
  port: number;
  /** Priority (default 0). */
  priority?: number;
  /** Weight (default 0). */
  weight?: number;
}

/** Records to serve. */
export interface ZoneSpec {
  /** SRV records. */
  srv?: SrvSpec[];
  /** Host name -> its addresses (IPv4 and/or IPv6). */
  hosts?: Record<string, string[]>;
}

/** A running dnsmasq and the resolv.conf override that points a host at it. */
export class Dnsmasq {
  readonly proc: Proc;
  readonly #etcDir: string;

  private constructor(proc: Proc, etcDir: string) {
    this.proc = proc;
    this.#etcDir = etcDir;
  }

  /** Start dnsmasq on `server`'s IPv4 address (port 53) and make it the resolver of `client`. */
  static async start(
    pbx: Pbx,
    zone: ZoneSpec,
    o: { server: "pbx" | "phone"; client: "pbx" | "phone" },
  ): Promise<Dnsmasq> {
    const ip = pbx.net.hosts[o.server].ipv4;
    const argv = [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      `--local=/${DOMAIN}/`,
      `--listen-address=${ip}`,
      "--bind-interfaces",
      "--port=53",
      "--log-queries",
      "--log-facility=-",
      `--pid-file=${pbx.dir}/dnsmasq.pid`,
      "--user=root",
      ...(zone.srv ?? []).map((r) => `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`),
      ...Object.entries(zone.hosts ?? {}).map(([name, addrs]) => `--host-record=${name},${addrs.join(",")}`),
    ];
    const proc = pbx.spawn(o.server, argv);
    const etcDir = `/etc/netns/${pbx.net.hosts[o.client].ns}`;
    await Deno.mkdir(etcDir, { recursive: true });
    const d = new Dnsmasq(proc, etcDir);
    await Deno.writeTextFile(`${etcDir}/resolv.conf`, `nameserver ${ip}\noptions timeout:2 attempts:2\n`);
    await waitFor(() => d.log.includes("started, version") || d.log.includes("FAILED"), {
      timeoutMs: 10_000,
      what: "dnsmasq",
    });
    if (!d.log.includes("started, version")) throw new Error(`dnsmasq failed: ${d.log}`);
    return d;
  }

  /** dnsmasq's log so far (queries and answers). */
  get log(): string {
    return this.proc.stdout + this.proc.stderr;
  }

  /** The queries logged so far, as `TYPE name` (e.g. `SRV _sip._udp.pbx.test`). */
  queries(): string[] {
    return [...this.log.matchAll(/query\[(\w+)\] (\S+) from/g)].map((m) => `${m[1]} ${m[2]}`);
  }

  /** Remove the resolv.conf override (the process is stopped with the PBX). */
  async close(): Promise<void> {
    await Deno.remove(this.#etcDir, { recursive: true }).catch(() => {});
    await Deno.remove("/etc/netns").catch(() => {}); // only when no one else has a namespace override
  }
}
