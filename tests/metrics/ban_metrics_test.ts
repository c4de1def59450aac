// ban --daemon --metrics: SIP responses "from the PBX" in the test's own namespaces, a real ban in nftables, the
// scrape (over the test LAN, from a monitoring namespace) checked by promtool, and a real Prometheus server there;
// the counts survive a SIGHUP reload.
import { assert, assertEquals } from "../_util/assert.ts";
import { freePort, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { sipResponse } from "../../lib/ban/net/craft.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { LIBNFTABLES_PATH } from "../../lib/ban/firewall/nft.ts";
import { banDaemonArgv, SENDER } from "../ban/_lab.ts";
import { PrometheusServer, promtoolCheck, sample } from "./_prom.ts";

testWith(
  "ban --daemon --metrics: packets, responses by class, failures, ban, expiry, latency; promtool and Prometheus",
  {
    tools: ["promtool", "prometheus", "curl", "python3", "ip", "nft"],
    files: [LIBPCAP_PATH, LIBNFTABLES_PATH],
    root: true,
  },
  async () => {
    const net = await TestNet.create(["pbx", "victim", "mon"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-banm-" });
    const h = net.hosts;
    let prom: PrometheusServer | undefined;
    try {
      const mport = freePort();
      const target = `${h.pbx.ipv4}:${mport}`;
      const cfg = `${dir}/ban.toml`;
      // the listen address from the TOML [metrics] table
      await Deno.writeTextFile(
        cfg,
        `[ban]\nstate = "${dir}/state.json"\nsocket = "${dir}/ban.sock"\n` +
          `[metrics]\nlisten = "${target}"\n`,
      );
      const d = net.spawn("pbx", banDaemonArgv(h.pbx, { maxFailures: 5, banTime: "8s", extra: ["--config", cfg] }));
      await waitFor(() => d.stderr.includes("[ban] started"), { timeoutMs: 30_000, what: "daemon start" });
      assert(d.stderr.includes(`metrics=http://${target}/metrics`), d.stderr);
      const curl = async (url: string) => (await net.run("mon", ["curl", "-sf", "--max-time", "5", url])).stdout;
      const starting = PrometheusServer.start(target, {
        wrap: (argv) => net.wrap("mon", argv),
        get: curl,
      });
      const send = (dst: string, n: number, status: number, method = "REGISTER") =>
        net.run("pbx", [
          "python3",
          "-c",
          SENDER,
          dst.includes(":") ? h.pbx.ipv6 : h.pbx.ipv4,
          dst,
          String(n),
          sipResponse(status, method),
        ]);
      await send(h.victim.ipv4, 4, 403);
      await send(h.victim.ipv6, 3, 180, "INVITE"); // 1xx: not counted
      await send(h.victim.ipv6, 2, 200, "INVITE"); // 2xx to another host: resets nothing of the IPv4 victim
      await send(h.victim.ipv6, 1, 503, "OPTIONS"); // 5xx to a method that does not count
      await send(h.victim.ipv4, 1, 403); // the 5th failure: ban
      await waitFor(() => d.stdout.includes(h.victim.ipv4), { timeoutMs: 10_000, what: "the ban" });
      const inKernel = (await net.run("pbx", ["nft", "list", "set", "inet", "pbxkit", "ban4"])).stdout;
      assert(inKernel.includes(h.victim.ipv4), inKernel);

      const url = `http://${target}/metrics`;
      let text = await curl(url);
      await promtoolCheck(text);
      assertEquals(sample(text, "pbxkit_ban_packets_total"), 11);
      assertEquals(sample(text, "pbxkit_ban_sip_responses_total", { class: "1xx" }), 3);
      assertEquals(sample(text, "pbxkit_ban_sip_responses_total", { class: "2xx" }), 2);
      assertEquals(sample(text, "pbxkit_ban_sip_responses_total", { class: "4xx" }), 5);
      assertEquals(sample(text, "pbxkit_ban_sip_responses_total", { class: "5xx" }), 1);
      assertEquals(sample(text, "pbxkit_ban_failures_total"), 5);
      assertEquals(sample(text, "pbxkit_ban_bans_total"), 1);
      assertEquals(sample(text, "pbxkit_ban_active_bans"), 1);
      assertEquals(sample(text, "pbxkit_ban_latency_seconds_count"), 1);
      assertEquals(sample(text, "pbxkit_ban_latency_seconds_bucket", { le: "+Inf" }), 1);
      const latency = sample(text, "pbxkit_ban_latency_seconds_sum")!;
      // the same ban's latency as the daemon's JSON line reports it (ms)
      const line = JSON.parse(d.stdout.trim().split("\n")[0]);
      assert(latency > 0 && latency < 2, `latency ${latency}`);
      assert(Math.abs(latency * 1000 - line.latencyMs) < 0.01, `${latency} s vs ${line.latencyMs} ms`);
      assertEquals(sample(text, "pbxkit_ban_capture_received_total"), 11);
      assertEquals(sample(text, "pbxkit_ban_capture_dropped_total", { where: "kernel" }), 0);

      // SIGHUP reloads the config (d.pid is `ip netns exec`, which execs the launcher, which execs deno): the
      // counters carry on, they are not reset
      Deno.kill(d.pid, "SIGHUP");
      await waitFor(() => d.stderr.includes("config reloaded"), { timeoutMs: 10_000, what: "reload" });
      text = await curl(url);
      assertEquals(sample(text, "pbxkit_ban_packets_total"), 11);
      assertEquals(sample(text, "pbxkit_ban_failures_total"), 5);
      assertEquals(sample(text, "pbxkit_ban_bans_total"), 1); // (the 3 s ban may have run out by now)
      assertEquals(sample(text, "pbxkit_ban_sip_responses_total", { class: "4xx" }), 5);
      await send(h.victim.ipv6, 1, 403); // one more failure after the reload: counted on top
      await waitFor(async () => sample(await curl(url), "pbxkit_ban_failures_total") === 6, {
        timeoutMs: 10_000,
        what: "the 6th failure",
      });
      text = await curl(url);
      assertEquals(sample(text, "pbxkit_ban_packets_total"), 12);

      prom = await starting;
      assert(await prom.targetUp(), `prometheus never scraped ${target}: ${prom.proc.stderr.slice(-1000)}`);
      assertEquals(await prom.waitForValue('pbxkit_ban_bans_total{job="pbxkit"}', (v) => v === 1), 1);
      assertEquals(await prom.waitForValue('pbxkit_ban_failures_total{job="pbxkit"}', (v) => v === 6), 6);
      // the 8 s ban (long enough for the checks above while it is active) runs out: the daemon books the unban,
      // Prometheus sees active bans go back to 0
      assertEquals(
        await prom.waitForValue('pbxkit_ban_unbans_total{job="pbxkit",reason="expired"}', (v) => v === 1, 20_000),
        1,
      );
      assertEquals(await prom.waitForValue('pbxkit_ban_active_bans{job="pbxkit"}', (v) => v === 0), 0);
      text = await curl(url);
      await promtoolCheck(text);
      assertEquals(sample(text, "pbxkit_ban_unbans_total", { reason: "expired" }), 1);
      assertEquals((await d.stop("SIGTERM", 10_000)).code, 0);
    } finally {
      await prom?.stop();
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
