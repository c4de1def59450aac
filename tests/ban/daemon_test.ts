/**
 * The daemon with the iptables+ipset backend, a TOML config reloaded on SIGHUP, and --notify-cmd, driven by SIP
 * responses that a small UDP sender in the "pbx" namespace sends from the PBX's address and port. Everything happens
 * inside the test's own namespaces.
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { ROOT, sh, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { sipResponse } from "../../lib/ban/net/craft.ts";
import { IPTABLES_LAB, SENDER } from "./_lab.ts";

testWith(
  "ban daemon: iptables+ipset backend, SIGHUP reloads the TOML config, notify-cmd gets the address as argv",
  IPTABLES_LAB,
  async () => {
    const net = await TestNet.create(["pbx", "victim"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-daemon-" });
    const h = net.hosts;
    try {
      const cfgPath = `${dir}/ban.toml`;
      const writeCfg = (max: number) =>
        Deno.writeTextFile(
          cfgPath,
          `[ban]\ninterface = "eth0"\npbx = ["${h.pbx.ipv4}", "${h.pbx.ipv6}"]\nmax_failures = ${max}\n` +
            `ban_time = "10m"\nbackend = "iptables"\nstate = "${dir}/state.json"\nsocket = "${dir}/ban.sock"\n` +
            // a notify command with an argument containing a space: the address arrives as its own argv entry
            `notify_cmd = ["/usr/bin/python3", "-c", "import sys; open(sys.argv[1] + '/' + sys.argv[2], 'w').write('x y')", "${dir}"]\n`,
        );
      await writeCfg(50);
      const d = net.spawn("pbx", [`${ROOT}/pbxkit`, "ban", "--daemon", "--config", cfgPath, "--json"]);
      await waitFor(() => d.stderr.includes("[ban] started"), { timeoutMs: 30_000, what: "daemon start" });
      assertStringIncludes(d.stderr, "backend=iptables");
      const send = (dst: string, n: number, status = 403) =>
        net.run("pbx", [
          "python3",
          "-c",
          SENDER,
          dst.includes(":") ? h.pbx.ipv6 : h.pbx.ipv4,
          dst,
          String(n),
          sipResponse(status, "REGISTER"),
        ]);
      await send(h.victim.ipv4, 4);
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(d.stdout.trim(), "", "no ban below the threshold");

      await writeCfg(5);
      await sh(["kill", "-HUP", String(d.pid)]);
      // d.pid is `ip netns exec`, which execs pbxkit's launcher, which execs deno: the same PID.
      await waitFor(() => d.stderr.includes("config reloaded max_failures=5"), { timeoutMs: 10_000, what: "reload" });
      await send(h.victim.ipv4, 1); // the 5th failure, counts kept across the reload
      await send(h.victim.ipv6, 5);
      await waitFor(() => d.stdout.trim().split("\n").length >= 2, { timeoutMs: 10_000, what: "two bans" });
      const bans = d.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(bans.map((b) => b.address).sort(), [h.victim.ipv4, h.victim.ipv6].sort());
      for (const b of bans) assertEquals(b.failures, 5);
      const set4 = (await net.run("pbx", ["ipset", "list", "pbxkit4"])).stdout;
      assertStringIncludes(set4, h.victim.ipv4);
      assertStringIncludes((await net.run("pbx", ["ipset", "list", "pbxkit6"])).stdout, h.victim.ipv6);
      assertStringIncludes((await net.run("pbx", ["iptables", "-S", "INPUT"])).stdout, "-j PBXKIT");
      await waitFor(() => Deno.stat(`${dir}/${h.victim.ipv4}`).then(() => true, () => false), {
        timeoutMs: 5000,
        what: "notify file",
      });
      assertEquals(await Deno.readTextFile(`${dir}/${h.victim.ipv4}`), "x y");

      // A second daemon on the same socket refuses before touching anything; a bad interface is one clear line.
      const second = await net.run("pbx", [`${ROOT}/pbxkit`, "ban", "--daemon", "--config", cfgPath], {
        check: false,
      });
      assertEquals(second.code, 1);
      assertStringIncludes(second.stderr, "[E_EXISTS]");
      const badIf = await net.run("pbx", [
        `${ROOT}/pbxkit`,
        "ban",
        "--daemon",
        "--config",
        cfgPath,
        "--interface",
        "nosuch0",
        "--socket",
        `${dir}/other.sock`,
      ], { check: false });
      assertEquals(badIf.code, 1);
      assertEquals(badIf.stderr.trim().split("\n").length, 1, badIf.stderr);
      assertStringIncludes(badIf.stderr, "nosuch0");

      const st = await d.stop("SIGTERM", 10_000);
      assertEquals(st.code, 0);
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assertEquals(state.hosts.filter((x: { ban?: unknown }) => x.ban).length, 2);
      const clean = await net.run("pbx", [`${ROOT}/pbxkit`, "ban", "cleanup", "--config", cfgPath]);
      assertStringIncludes(clean.stdout, "2 bans");
      assert(!(await net.run("pbx", ["iptables", "-S"])).stdout.includes("PBXKIT"));
      assertEquals((await net.run("pbx", ["ipset", "list", "pbxkit4"], { check: false })).code !== 0, true);
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
