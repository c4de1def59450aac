/**
 * The iptables backend without ipset (`--no-ipset`: one DROP rule per ban and port match in pbxkit's chain, which
 * the daemon removes when the ban expires), in the test's own namespaces: ban, drop, restart without duplicates,
 * expiry while running, expiry while stopped (the rule is removed, not adopted as permanent), and `cleanup` leaving
 * someone else's rules and chains alone.
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { type Proc, ROOT, sh, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { sipResponse } from "../../lib/ban/net/craft.ts";
import { controlRequest } from "../../lib/ban/control.ts";
import { banDaemonArgv, IPTABLES_LAB, SENDER, waitForExpiry } from "./_lab.ts";

// Long enough for three daemon starts under load (each a Deno start-up, about 8 s for all here) before the first
// bans expire.
const BAN_TIME_S = 30;

testWith(
  "ban iptables without ipset: one rule per ban, no duplicates on restart, removed on expiry, cleanup spares others",
  IPTABLES_LAB,
  async () => {
    const net = await TestNet.create(["pbx", "victim"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-rules-" });
    const h = net.hosts;
    try {
      // Someone else's rules, chain and ipset in the same namespace: pbxkit must leave all of them alone.
      await net.run("pbx", ["iptables", "-w", "-A", "INPUT", "-s", "192.0.2.200", "-j", "DROP"]);
      await net.run("pbx", ["iptables", "-w", "-N", "OTHER"]);
      await net.run("pbx", ["iptables", "-w", "-A", "OTHER", "-s", "192.0.2.201", "-j", "DROP"]);
      await net.run("pbx", ["ip6tables", "-w", "-A", "INPUT", "-s", "2001:db8::200", "-j", "DROP"]);
      await net.run("pbx", ["ipset", "create", "otherset", "hash:ip"]);

      const common = ["--backend", "iptables", "--no-ipset", "--state", `${dir}/state.json`, "--socket", `${dir}/s`];
      const argv = banDaemonArgv(h.pbx, { maxFailures: 5, banTime: `${BAN_TIME_S}s`, extra: common });
      const start = async () => {
        const d = net.spawn("pbx", argv);
        await waitFor(() => d.stderr.includes("[ban] started"), { timeoutMs: 30_000, what: "daemon start" });
        return d;
      };
      const stop = async (d: Proc) => {
        const st = await d.stop("SIGTERM", 10_000);
        assertEquals(st.code, 0, d.stderr.slice(-500));
      };
      const send = (dst: string, n: number) =>
        net.run("pbx", [
          "python3",
          "-c",
          SENDER,
          dst.includes(":") ? h.pbx.ipv6 : h.pbx.ipv4,
          dst,
          String(n),
          sipResponse(404, "REGISTER"),
        ]);
      /** pbxkit's per-ban rules (`-A PBXKIT -s ADDR ...`), one line each. */
      const rules = async (fam: 4 | 6) => {
        const r = await net.run("pbx", [fam === 4 ? "iptables" : "ip6tables", "-w", "-S", "PBXKIT"], {
          check: false,
        });
        return r.code === 0 ? r.stdout.split("\n").filter((l) => l.startsWith("-A PBXKIT")) : [];
      };

      let d = await start();
      assertStringIncludes(d.stderr, "backend=iptables");
      await send(h.victim.ipv4, 5);
      await send(h.victim.ipv6, 5);
      await waitFor(() => d.stdout.trim().split("\n").filter(Boolean).length >= 2, {
        timeoutMs: 10_000,
        what: "two bans",
      });
      const bans = d.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(bans.map((b) => b.address).sort(), [h.victim.ipv4, h.victim.ipv6].sort());
      const expires = Math.max(...bans.map((b) => Date.parse(b.expires)));
      // One DROP rule per transport (udp, tcp) for each ban, matching its source; no ipset involved.
      const r4 = await rules(4), r6 = await rules(6);
      assertEquals(r4.length, 2, r4.join("\n"));
      assertEquals(r6.length, 2, r6.join("\n"));
      for (const l of r4) assert(l.includes(`-s ${h.victim.ipv4}/32`) && l.endsWith("-j DROP"), l);
      for (const l of r6) assert(l.includes(`-s ${h.victim.ipv6}/128`) && l.endsWith("-j DROP"), l);
      assert(!r4.some((l) => l.includes("match-set")), r4.join("\n"));
      const sets = (await net.run("pbx", ["ipset", "list", "-n"])).stdout;
      assert(!sets.includes("pbxkit"), `no ipset sets made: ${sets}`);
      assertStringIncludes((await net.run("pbx", ["iptables", "-w", "-S", "INPUT"])).stdout, "-j PBXKIT");
      // The rules drop the victim's SIP (counted by the chain, as `ban status` reports).
      await net.run("victim", ["python3", "-c", SENDER, h.victim.ipv4, h.pbx.ipv4, "3", "OPTIONS x"]);
      const status = JSON.parse(
        (await net.run("pbx", [`${ROOT}/pbxkit`, "ban", "status", "--json", ...common])).stdout,
      );
      assert(status.firewall.packets4 >= 3, JSON.stringify(status.firewall));

      // Restart with the rules in place: nothing added twice.
      await stop(d);
      d = await start();
      assertStringIncludes(d.stderr, "restored=2 readded=0 adopted_from_firewall=0");
      assertEquals((await rules(4)).length, 2);
      assertEquals((await rules(6)).length, 2);
      // Restart after the chain was flushed (as after a reboot): each ban comes back once.
      await stop(d);
      await net.run("pbx", ["iptables", "-w", "-F", "PBXKIT"]);
      d = await start();
      assertStringIncludes(d.stderr, "readded=1");
      assertEquals((await rules(4)).length, 2);
      assertEquals((await rules(6)).length, 2);

      // Expiry while running: the kernel keeps rules forever, so the daemon removes them.
      await waitForExpiry({
        gone: async () => (await rules(4)).length + (await rules(6)).length === 0,
        expires,
        graceMs: 6000,
        what: "rules removed on expiry",
        daemon: d,
        address: h.victim.ipv4,
      });

      // Expiry while stopped: at the next start the stale rule is removed, not adopted as a permanent ban.
      const lines = () => d.stdout.split("\n").filter((l) => l.startsWith("{"));
      const before = lines().length;
      // a short ban through the control socket (the one path every ban takes), so the wait below is seconds
      await controlRequest(`${dir}/s`, { cmd: "ban", bans: [{ address: h.victim.ipv4, banTimeMs: 3000 }] });
      await waitFor(() => lines().length > before, { timeoutMs: 10_000, what: "ban again" });
      const again = JSON.parse(lines().at(-1)!);
      assertEquals((await rules(4)).length, 2);
      await stop(d);
      const wait = Date.parse(again.expires) - Date.now() + 200;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      d = await start();
      assertStringIncludes(d.stderr, "adopted_from_firewall=0 expired=1");
      assertEquals(await rules(4), [], "stale rule removed at start");
      const list = JSON.parse(
        (await net.run("pbx", [`${ROOT}/pbxkit`, "ban", "list", "--json", ...common])).stdout,
      );
      assertEquals(list, []);

      // cleanup removes pbxkit's chain and jump, and nothing else.
      await stop(d);
      await sh(net.wrap("pbx", [`${ROOT}/pbxkit`, "ban", "cleanup", ...common]));
      const all4 = (await net.run("pbx", ["iptables", "-w", "-S"])).stdout;
      const all6 = (await net.run("pbx", ["ip6tables", "-w", "-S"])).stdout;
      assert(!all4.includes("PBXKIT") && !all6.includes("PBXKIT"), all4 + all6);
      assertStringIncludes(all4, "-A INPUT -s 192.0.2.200/32 -j DROP");
      assertStringIncludes(all4, "-A OTHER -s 192.0.2.201/32 -j DROP");
      assertStringIncludes(all6, "-A INPUT -s 2001:db8::200/128 -j DROP");
      assertStringIncludes((await net.run("pbx", ["ipset", "list", "-n"])).stdout, "otherset");
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
