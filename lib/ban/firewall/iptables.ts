/**
 * The iptables backend: argv only, never a shell. With `ipset` installed, bans are members of the sets `pbxkit4`
 * and `pbxkit6` (hash:ip with timeouts, so the kernel expires them; `pbxkit4net`/`pbxkit6net`, hash:net, for
 * imported networks) matched by rules in pbxkit's own chain
 * `PBXKIT`; without ipset, each ban is a pair of rules in that chain and the daemon removes them when they expire.
 * The only change outside pbxkit's chain is one jump rule from INPUT, tagged with the comment `pbxkit`.
 *
 * @module
 */

import { hasCommand, PbxError, runArgv } from "../../common/mod.ts";
import { canonicalIp } from "../net/addr.ts";
import { checkedTarget, isNetwork } from "./target.ts";
import type { BanElement, DropCounters, Firewall, FirewallEntry, FirewallOptions } from "./types.ts";

const CHAIN = "PBXKIT";
const SET = { 4: "pbxkit4", 6: "pbxkit6" } as const;
/** ipsets for imported networks (hash:net). */
const NET_SET = { 4: "pbxkit4net", 6: "pbxkit6net" } as const;

/** Members per ipset at most (ipset's default, 65536, is too small for a large blocklist). */
const IPSET_MAXELEM = 4_194_304;

function ipsetOf(address: string, family: 4 | 6): string {
  return isNetwork(address) ? NET_SET[family] : SET[family];
}
const TOOL = { 4: "iptables", 6: "ip6tables" } as const;
/** The INPUT rule that jumps to pbxkit's chain (without the `-C`/`-I`/`-D` in front). */
const JUMP = ["INPUT", "-j", CHAIN, "-m", "comment", "--comment", "pbxkit"];

/** Canonical text of a listed address or network (`ipset save` prints networks as `a/len`). */
function targetOf(text: string): string {
  const slash = text.indexOf("/");
  if (slash < 0) return canonicalIp(text) ?? text;
  return `${canonicalIp(text.slice(0, slash)) ?? text.slice(0, slash)}${text.slice(slash)}`;
}

async function run(argv: string[], check = true) {
  return await runArgv(argv, { check, timeoutMs: 15_000 });
}

/** The iptables (+ ipset) backend. */
export class IptablesFirewall implements Firewall {
  readonly name = "iptables";
  readonly expiresItself: boolean;
  #opts: FirewallOptions;
  #ipset: boolean;

  /** Make the backend; `useIpset` defaults to whether `ipset` is installed, unless `options.ipset` is false. */
  constructor(options: FirewallOptions, useIpset: boolean = options.ipset !== false && hasCommand("ipset")) {
    if (!hasCommand("iptables")) throw new PbxError("E_TOOL_MISSING", "iptables is not installed");
    this.#opts = options;
    this.#ipset = useIpset;
    this.expiresItself = useIpset;
  }

  #portMatch(): string[][] {
    if (this.#opts.scope === "all") return [[]];
    const ports = [...new Set(this.#opts.ports)].join(",");
    return [["-p", "udp", "-m", "multiport", "--dports", ports], ["-p", "tcp", "-m", "multiport", "--dports", ports]];
  }

  /** Create sets, the PBXKIT chain with its rules, and the jump from INPUT. */
  async setup(): Promise<void> {
    for (const fam of [4, 6] as const) {
      const ipt = TOOL[fam];
      if (this.#ipset) {
        for (const [name, type] of [[SET[fam], "hash:ip"], [NET_SET[fam], "hash:net"]]) {
          const create = ["ipset", "create", name, type, "family", fam === 4 ? "inet" : "inet6", "timeout", "0"];
          // room for large imports (ipset's default is 65536); a set made by an older pbxkit keeps its size
          const r = await run([...create, "maxelem", String(IPSET_MAXELEM), "-exist"], false);
          if (r.code !== 0) await run([...create, "-exist"]);
        }
      }
      await run([ipt, "-w", "-N", CHAIN], false);
      if (this.#ipset) {
        await run([ipt, "-w", "-F", CHAIN]);
        for (const set of [SET[fam], NET_SET[fam]]) {
          for (const m of this.#portMatch()) {
            await run([ipt, "-w", "-A", CHAIN, "-m", "set", "--match-set", set, "src", ...m, "-j", "DROP"]);
          }
        }
      }
      const has = await run([ipt, "-w", "-C", ...JUMP], false);
      if (has.code !== 0) await run([ipt, "-w", "-I", "INPUT", "1", ...JUMP.slice(1)]);
    }
  }

  /** Add bans (one `ipset restore` batch on stdin, argv only; or rules). Addresses are re-validated first. */
  async ban(elements: readonly BanElement[]): Promise<void> {
    if (elements.length === 0) return;
    for (const e of elements) checkedTarget(e.address, e.family);
    if (this.#ipset) {
      const lines = elements.map((e) =>
        `add ${ipsetOf(e.address, e.family)} ${e.address}${
          e.timeoutMs > 0 ? ` timeout ${Math.ceil(e.timeoutMs / 1000)}` : ""
        }`
      );
      await runArgv(["ipset", "restore", "-exist"], { stdin: lines.join("\n") + "\n", timeoutMs: 15_000 });
      return;
    }
    const present = new Set((await this.list()).map((e) => e.address));
    for (const e of elements) {
      if (present.has(e.address)) continue;
      for (const m of this.#portMatch()) {
        await run([TOOL[e.family], "-w", "-A", CHAIN, "-s", e.address, ...m, "-j", "DROP"]);
      }
    }
  }

  /** Remove bans. */
  async unban(elements: readonly { address: string; family: 4 | 6 }[]): Promise<void> {
    for (const e of elements) {
      if (this.#ipset) {
        await run(["ipset", "del", ipsetOf(e.address, e.family), e.address, "-exist"], false);
        continue;
      }
      for (const m of this.#portMatch()) {
        await run([TOOL[e.family], "-w", "-D", CHAIN, "-s", e.address, ...m, "-j", "DROP"], false);
      }
    }
  }

  /** Banned addresses. */
  async list(): Promise<FirewallEntry[]> {
    const out: FirewallEntry[] = [];
    for (const fam of [4, 6] as const) {
      if (this.#ipset) {
        for (const set of [SET[fam], NET_SET[fam]]) {
          const r = await run(["ipset", "save", set], false);
          if (r.code !== 0) continue;
          for (const line of r.stdout.split("\n")) {
            const m = /^add \S+ (\S+)(?: timeout (\d+))?/.exec(line);
            if (!m) continue;
            const t = m[2] !== undefined ? Number(m[2]) : 0;
            out.push({ address: targetOf(m[1]), family: fam, expiresInMs: t > 0 ? t * 1000 : undefined });
          }
        }
      } else {
        const r = await run([TOOL[fam], "-w", "-S", CHAIN], false);
        if (r.code !== 0) continue;
        const seen = new Set<string>();
        for (const line of r.stdout.split("\n")) {
          const m = /^-A PBXKIT -s (\S+?)(?:\/(?:32|128))? /.exec(line);
          if (m && !seen.has(m[1])) {
            seen.add(m[1]);
            out.push({ address: canonicalIp(m[1]) ?? m[1], family: fam });
          }
        }
      }
    }
    return out;
  }

  /** Packets dropped by the PBXKIT chain. */
  async counters(): Promise<DropCounters> {
    const c: DropCounters = { packets4: 0, packets6: 0, bytes: 0 };
    for (const fam of [4, 6] as const) {
      const r = await run([TOOL[fam], "-w", "-L", CHAIN, "-v", "-x", "-n"], false);
      if (r.code !== 0) continue;
      for (const line of r.stdout.split("\n")) {
        const m = /^\s*(\d+)\s+(\d+)\s+DROP/.exec(line);
        if (!m) continue;
        if (fam === 4) c.packets4 += Number(m[1]);
        else c.packets6 += Number(m[1]);
        c.bytes += Number(m[2]);
      }
    }
    return c;
  }

  /** Remove the jump rule(s), the chain and the sets (whether or not this instance uses them); nothing else. */
  async cleanup(): Promise<void> {
    for (const fam of [4, 6] as const) {
      const ipt = TOOL[fam];
      for (let i = 0; i < 16; i++) {
        const r = await run([ipt, "-w", "-D", ...JUMP], false);
        if (r.code !== 0) break;
      }
      await run([ipt, "-w", "-F", CHAIN], false);
      await run([ipt, "-w", "-X", CHAIN], false);
      if (hasCommand("ipset")) {
        await run(["ipset", "destroy", SET[fam]], false);
        await run(["ipset", "destroy", NET_SET[fam]], false);
      }
    }
  }

  /** Nothing to release. */
  close(): void {}
}
