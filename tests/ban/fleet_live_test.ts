/**
 * `pbxkit ban --fleet` for real: three PBX hosts (kamailio each, a `pbxkit ban --daemon --fleet` each) in their own
 * network namespaces, sharing bans through real nats-server processes: a 3-node JetStream cluster (R3 bucket) and
 * then a single server with TLS (a self-signed CA made by openssl) and a password. Attackers are sipp floods.
 * One lab, set up once, walks through: propagation with the same absolute expiry, origin and reason; exempt on a
 * receiver; hostile records; unban everywhere; a restart with the nft table gone and a ban expired meanwhile; a
 * cluster node killed; NATS unreachable at start and later (outbox published on reconnect, none lost).
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { denoRunArgv, type Proc, ROOT, settle, sh, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { LIBNFTABLES_PATH } from "../../lib/ban/firewall/nft.ts";
import { controlRequest } from "../../lib/ban/control.ts";
import { banDaemonArgv, FLOOD_INVITE, FLOOD_REGISTER, kamailioCfg, nftSetOf } from "./_lab.ts";

const TOOLS = ["nats-server", "kamailio", "sipp", "nft", "ip", "openssl"];
const PBXS = ["pbx1", "pbx2", "pbx3"] as const;
type Pbx = typeof PBXS[number];

/**
 * The JSON of an IPv4 ban record from node `rogue`, valid for ten minutes unless `over` says otherwise (long enough
 * to outlast the later steps that count it, on a slow machine too).
 */
function rogueRecord(addr: string, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    v: 1,
    op: "ban",
    addr,
    family: 4,
    len: 32,
    at: Date.now(),
    until: Date.now() + 600_000,
    origin: "rogue",
    reason: "rogue",
    ...over,
  });
}

interface Line {
  event: string;
  address: string;
  expires: string;
  reason: string;
  origin: string | null;
  appliedUs: number;
}

function linesOf(p: Proc): Line[] {
  return p.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

testWith(
  "ban fleet: bans shared over NATS JetStream across 3 PBX hosts (cluster R3, node killed, TLS, outages, restart)",
  { tools: TOOLS, files: [LIBPCAP_PATH, LIBNFTABLES_PATH], root: true },
  async (t) => {
    const net = await TestNet.create([...PBXS, "n1", "n2", "n3", "nb", "atk1", "atk2", "trusted"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-fleet-" });
    const h = net.hosts;
    const daemons: Partial<Record<Pbx, Proc>> = {};
    const latencies: number[] = [];
    const everyDaemon: [string, Proc][] = [];
    try {
      await Deno.writeTextFile(`${dir}/flood.xml`, FLOOD_REGISTER);
      await Deno.writeTextFile(`${dir}/invite.xml`, FLOOD_INVITE);
      for (const p of PBXS) {
        await Deno.writeTextFile(`${dir}/${p}-kam.cfg`, kamailioCfg(h[p].ipv4, h[p].ipv6));
        const kam = net.spawn(p, ["kamailio", "-DD", "-E", "-f", `${dir}/${p}-kam.cfg`, "-Y", dir, "-w", dir]);
        await waitFor(() => /SO_RCVBUF is finally/.test(kam.stdout + kam.stderr), { timeoutMs: 20_000, what: p });
      }
      // --- a 3-node JetStream cluster
      const nodes = ["n1", "n2", "n3"] as const;
      const natsCfg = (n: typeof nodes[number]) =>
        [
          `server_name: ${n}`,
          `listen: "${h[n].ipv4}:4222"`,
          `jetstream { store_dir: "${dir}/js-${n}", max_memory_store: 64MB, max_file_store: 256MB }`,
          `cluster { name: pbxfleet, listen: "${h[n].ipv4}:6222", routes: [${
            nodes.filter((m) => m !== n).map((m) => `"nats://${h[m].ipv4}:6222"`).join(", ")
          }] }`,
        ].join("\n") + "\n";
      const nats: Record<string, Proc> = {};
      const startNats = async (n: string, cfgText: string) => {
        await Deno.writeTextFile(`${dir}/${n}.conf`, cfgText);
        const p = net.spawn(n, ["nats-server", "-c", `${dir}/${n}.conf`]);
        await waitFor(() => p.stderr.includes("Server is ready"), { timeoutMs: 15_000, what: `nats-server ${n}` });
        nats[n] = p;
      };
      await Promise.all(nodes.map((n) => startNats(n, natsCfg(n))));
      const clusterUrls = nodes.flatMap((n) => ["--fleet", `nats://${h[n].ipv4}:4222`]);

      const sock = (p: Pbx, phase: string) => `${dir}/${p}-${phase}.sock`;
      const startDaemon = async (p: Pbx, phase: string, extra: string[]) => {
        const argv = banDaemonArgv(h[p], {
          maxFailures: 10,
          banTime: "10m",
          extra: [
            "--state",
            `${dir}/${p}-${phase}.json`,
            "--socket",
            sock(p, phase),
            "--exempt",
            "127.0.0.0/8",
            ...(p === "pbx3" ? ["--exempt", `${h.trusted.ipv4}/32`] : []),
            "--fleet-node",
            p,
            ...extra,
          ],
        });
        const d = net.spawn(p, argv);
        await waitFor(() => d.stderr.includes("[ban] started"), { timeoutMs: 30_000, what: `${p} daemon` });
        daemons[p] = d;
        everyDaemon.push([`${p}-${phase}`, d]);
        return d;
      };
      const connected = (p: Pbx) => daemons[p]!.stderr.split("fleet connected").length - 1;
      const setOf = (p: Pbx, set: "ban4" | "ban6") => nftSetOf(net, p, set);
      const inSet = async (p: Pbx, addr: string) => (await setOf(p, addr.includes(":") ? "ban6" : "ban4")).has(addr);
      const ctl = (p: Pbx, phase: string, req: Parameters<typeof controlRequest>[1]) =>
        controlRequest(sock(p, phase), req) as Promise<Record<string, unknown>>;
      const listOf = async (p: Pbx, phase: string) => ((await ctl(p, phase, { cmd: "list" })).bans as Line[]);
      const fleetOf = async (p: Pbx, phase: string) =>
        ((await ctl(p, phase, { cmd: "status" })).status as { fleet: Record<string, number & string & boolean> })
          .fleet;
      const sipp = (host: string, args: string[]) =>
        net.run(host, ["sipp", "-nostdin", "-timeout", "8s", "-p", "5070", ...args], { check: false });
      /** Latency of `addr` from its ban on `origin` to the element on each receiver (same kernel clock). */
      const propagation = (origin: Pbx, addr: string, receivers: Pbx[]) => {
        const o = linesOf(daemons[origin]!).find((l) => l.event === "ban" && l.address === addr);
        assert(o, `${origin} banned ${addr}`);
        for (const r of receivers) {
          const got = linesOf(daemons[r]!).filter((l) => l.event === "fleet-ban" && l.address === addr);
          assertEquals(got.length, 1, `${r} applied ${addr} once`);
          latencies.push((got[0].appliedUs - o.appliedUs) / 1000);
        }
      };
      const arrived = (addr: string, receivers: Pbx[], ms = 10_000) =>
        waitFor(async () => {
          for (const r of receivers) if (!(await inSet(r, addr))) return false;
          return true;
        }, { timeoutMs: ms, what: `${addr} in the sets of ${receivers.join(",")}` });

      const A = "a";
      await t.step("cluster: three daemons connect, the first creates the R3 bucket", async () => {
        await Promise.all(PBXS.map((p) => startDaemon(p, A, [...clusterUrls, "--fleet-replicas", "3"])));
        await waitFor(() => PBXS.every((p) => connected(p) >= 1), { timeoutMs: 30_000, what: "fleet connected" });
      });

      await t.step(
        "a sipp flood banned on pbx1 is in pbx2's and pbx3's sets: same expiry, origin, reason",
        async () => {
          await sipp("atk1", [
            "-sf",
            `${dir}/flood.xml`,
            "-m",
            "30",
            "-r",
            "200",
            "-i",
            h.atk1.ipv4,
            `${h.pbx1.ipv4}:5060`,
          ]);
          const addr = h.atk1.ipv4;
          await arrived(addr, ["pbx1", "pbx2", "pbx3"]);
          propagation("pbx1", addr, ["pbx2", "pbx3"]);
          const own = (await listOf("pbx1", A)).find((b) => b.address === addr)!;
          assertEquals(own.origin, "pbx1");
          assertStringIncludes(own.reason, "failed REGISTER/INVITE");
          for (const r of ["pbx2", "pbx3"] as const) {
            const b = (await listOf(r, A)).find((x) => x.address === addr);
            assert(b, `${r} lists ${addr}`);
            assertEquals([b.origin, b.reason, b.expires], ["pbx1", own.reason, own.expires], `${r}: the same ban`);
            // the kernel's own countdown agrees with the absolute expiry (nft counts whole seconds), read somewhere
            // within the listing's own time
            const t0 = Date.now();
            const left = (await setOf(r, "ban4")).get(addr)!;
            const want = (Date.parse(own.expires) - t0) / 1000, slack = 2 + (Date.now() - t0) / 1000;
            assert(Math.abs(left - want) <= slack, `${r}: nft expires in ${left} s, the ban in ${want.toFixed(1)} s`);
          }
          // the CLI shows the origin and the fleet's state
          const cli = await sh(
            net.wrap("pbx2", [`${ROOT}/pbxkit`, "ban", "list", "--json", "--socket", sock("pbx2", A)]),
          );
          const listed = (JSON.parse(cli.stdout) as Line[]).find((b) => b.address === addr)!;
          assertEquals(listed.origin, "pbx1");
          const st = JSON.parse(
            (await sh(net.wrap("pbx2", [`${ROOT}/pbxkit`, "ban", "status", "--json", "--socket", sock("pbx2", A)])))
              .stdout,
          );
          assertEquals(st.fleet.connected, true);
          assertEquals(st.fleet.servers.length, 3);
          assert(st.fleet.lastSeq >= 1 && st.fleet.lagMessages === 0, JSON.stringify(st.fleet));
          assert(typeof st.fleet.originSkewMs.pbx1 === "number", "clock skew of pbx1 reported");
        },
      );

      await t.step("an IPv6 INVITE flood banned on pbx2 reaches pbx1 and pbx3", async () => {
        await sipp("atk2", [
          "-sf",
          `${dir}/invite.xml`,
          "-m",
          "30",
          "-r",
          "200",
          "-i",
          h.atk2.ipv6,
          `[${h.pbx2.ipv6}]:5060`,
        ]);
        await arrived(h.atk2.ipv6, ["pbx2", "pbx1", "pbx3"]);
        propagation("pbx2", h.atk2.ipv6, ["pbx1", "pbx3"]);
      });

      await t.step("50 bans one after another: each on both other hosts, latency measured", async () => {
        const from = latencies.length;
        for (let i = 0; i < 50; i++) {
          const addr = `192.0.2.${100 + i}`;
          await ctl("pbx1", A, { cmd: "ban", bans: [{ address: addr, banTimeMs: 600_000, reason: "latency probe" }] });
          await arrived(addr, ["pbx2", "pbx3"], 5000);
          propagation("pbx1", addr, ["pbx2", "pbx3"]);
        }
        const mine = latencies.slice(from);
        console.log(
          `50 sequential bans, pbx1 -> pbx2/pbx3 over the R3 cluster: p50 ${pct(mine, 0.5).toFixed(2)} ms, ` +
            `p99 ${pct(mine, 0.99).toFixed(2)} ms, max ${Math.max(...mine).toFixed(2)} ms`,
        );
        assert(mine.every((x) => x > 0), "a receiver never applies before the origin");
        assert(pct(mine, 0.5) < 1000, "p50 under a second even on a loaded machine");
      });

      await t.step("a host pbx3 exempts is banned on pbx1 and pbx2 but not on pbx3, and pbx3 says so", async () => {
        const addr = h.trusted.ipv4;
        await sipp("trusted", ["-sf", `${dir}/flood.xml`, "-m", "30", "-r", "200", "-i", addr, `${h.pbx1.ipv4}:5060`]);
        await arrived(addr, ["pbx1", "pbx2"]);
        await waitFor(() => daemons.pbx3!.stderr.includes(`fleet ban not applied: exempt here address=${addr}`), {
          what: "pbx3's exempt log line",
        });
        assert(!(await inSet("pbx3", addr)), "not in pbx3's set");
        assert(!(await listOf("pbx3", A)).some((b) => b.address === addr), "not in pbx3's bans");
      });

      await t.step("hostile and malformed records are logged and skipped; the daemons go on", async () => {
        const ok = (addr: string) => rogueRecord(addr, { reason: "valid record after the garbage" });
        const base = JSON.parse(ok("198.51.100.66"));
        const items = [
          { key: "v4.198.51.100.66", value: "{not json" },
          { key: "v4.0.0.0.0=0", value: JSON.stringify({ ...base, addr: "0.0.0.0", len: 0 }) },
          { key: "v4.198.51.100.67", value: JSON.stringify({ ...base, addr: "198.51.100.68" }) },
          { key: "v4.198.51.100.69", value: JSON.stringify({ ...base, addr: "198.51.100.69", reason: "a\nforged" }) },
          { key: "v4.198.51.100.70", value: JSON.stringify({ ...base, addr: "198.51.100.70", until: 2 ** 52 }) },
          { key: "v4.198.51.100.71", value: JSON.stringify({ ...base, addr: "198.51.100.71", shell: "$(reboot)" }) },
          { key: "v4.127.0.0.1", value: JSON.stringify({ ...base, addr: "127.0.0.1" }) },
          { key: "v4.198.51.100.77", value: ok("198.51.100.77") },
        ];
        const put = await sh(
          net.wrap(
            "n2",
            denoRunArgv(`${ROOT}/tests/ban/_fleet_put.ts`, [
              `nats://${h.n2.ipv4}:4222`,
              "pbxkit_bans",
            ]),
          ),
          { stdin: JSON.stringify(items) },
        );
        assertEquals((JSON.parse(put.stdout) as number[]).length, items.length);
        await arrived("198.51.100.77", [...PBXS]);
        for (const p of PBXS) {
          const lines = daemons[p]!.stderr.split("\n");
          const skipped = lines.filter((l) => l.includes("fleet record skipped"));
          assertEquals(skipped.length, 5, `${p}: 5 records skipped: ${skipped.join("\n")}`);
          // 0.0.0.0/0 is well-formed but wider than this host's --fleet-max-prefix (default /32): a policy skip
          const wide = lines.filter((l) => l.includes("network wider than --fleet-max-prefix") && l.includes("=0"));
          assertEquals(wide.length, 1, `${p}: the /0 is not applied, and said so`);
          assert(!daemons[p]!.stderr.includes("level=info forged"), "no forged log line");
          const s4 = await setOf(p, "ban4");
          for (
            const a of ["0.0.0.0", "198.51.100.68", "198.51.100.69", "198.51.100.70", "198.51.100.71", "127.0.0.1"]
          ) {
            assert(!s4.has(a), `${p}: ${a} not banned`);
          }
          const f = await fleetOf(p, A);
          assert(f.rejected === 5 && f.tooWide === 1, `${p} counted the rejects: ${JSON.stringify(f)}`);
          const n4 = await net.run(p, ["nft", "-j", "list", "set", "inet", "pbxkit", "net4"]);
          assert(!JSON.stringify(JSON.parse(n4.stdout)).includes('"addr":"0.0.0.0"'), `${p}: 0.0.0.0/0 not banned`);
        }
        assert(daemons.pbx1!.stderr.includes("fleet ban not applied: exempt here address=127.0.0.1"));
      });

      await t.step(
        "forged live messages are logged and skipped; a valid one applies at once; the daemons go on",
        async () => {
          const before = Object.fromEntries(await Promise.all(PBXS.map(async (p) => [p, await fleetOf(p, A)])));
          const rec = (addr: string, over: Record<string, unknown> = {}) =>
            rogueRecord(addr, { reason: "live", ...over });
          const head = `pbxkit-fleet-live 1 rogue ${Date.now()}\n`, subject = "pbxkit.fleet.pbxkit_bans.live";
          const items = [
            { subject, value: "hello" },
            { subject, value: `${head}no tab on this line\n` },
            {
              subject,
              value: head +
                `v4.0.0.0.0=0\t${rec("0.0.0.0", { len: 0 })}\n` + // well-formed, wider than --fleet-max-prefix
                `v4.198.51.100.91\t${rec("198.51.100.92")}\n` + // key and address differ
                `v4.198.51.100.93\t${rec("198.51.100.93", { reason: "a\nforged" })}\n` +
                `v4.198.51.100.94\t${rec("198.51.100.94")}\n`,
            },
          ];
          const put = await sh(
            net.wrap("n2", denoRunArgv(`${ROOT}/tests/ban/_fleet_put.ts`, [`nats://${h.n2.ipv4}:4222`, "pbxkit_bans"])),
            { stdin: JSON.stringify(items) },
          );
          assertEquals(JSON.parse(put.stdout), [0, 0, 0]);
          await arrived("198.51.100.94", [...PBXS]);
          for (const p of PBXS) {
            const lines = daemons[p]!.stderr.split("\n");
            assertEquals(lines.filter((l) => l.includes("fleet live message skipped")).length, 2, `${p}: 2 messages`);
            const recs = lines.filter((l) => l.includes("fleet live records skipped"));
            assertEquals(recs.length, 1, `${p}: one line for the message's bad records`);
            assert(recs[0].includes("records=2"), recs[0]);
            const s4 = await setOf(p, "ban4");
            for (const a of ["0.0.0.0", "198.51.100.91", "198.51.100.92", "198.51.100.93"]) {
              assert(!s4.has(a), `${p}: ${a} not banned`);
            }
            const f = await fleetOf(p, A), b = before[p] as typeof f;
            assertEquals(
              [f.rejected - b.rejected, f.liveApplied - b.liveApplied, f.tooWide - b.tooWide],
              [4, 1, 0],
              `${p}: ${JSON.stringify(f)}`,
            );
          }
        },
      );

      await t.step("ban unban on pbx3 lifts the ban everywhere", async () => {
        const addr = h.atk1.ipv4;
        const r = await sh(net.wrap("pbx3", [`${ROOT}/pbxkit`, "ban", "unban", addr, "--socket", sock("pbx3", A)]));
        assertStringIncludes(r.stdout, "via daemon");
        await waitFor(async () => {
          for (const p of PBXS) if (await inSet(p, addr)) return false;
          return true;
        }, { what: "unban everywhere" });
        for (const p of ["pbx1", "pbx2"] as const) {
          assert(!(await listOf(p, A)).some((b) => b.address === addr), `${p} forgot it`);
          assertStringIncludes(daemons[p]!.stderr, `unban address=${addr} reason="fleet (by pbx3)"`);
        }
      });

      await t.step(
        "pbx3 restarts with its nft table gone: every active ban back, none twice, expired not",
        async () => {
          await daemons.pbx3!.stop("SIGTERM", 5000);
          await net.run("pbx3", ["nft", "delete", "table", "inet", "pbxkit"]);
          // while pbx3 is down: one short ban that ends before it is back, one long
          await ctl("pbx1", A, { cmd: "ban", bans: [{ address: "198.51.100.10", banTimeMs: 1500, reason: "short" }] });
          await ctl("pbx1", A, {
            cmd: "ban",
            bans: [{ address: "198.51.100.11", banTimeMs: 600_000, reason: "long" }],
          });
          await arrived("198.51.100.11", ["pbx2"]);
          await new Promise((r) => setTimeout(r, 2000));
          const d = await startDaemon("pbx3", A, [...clusterUrls]);
          await waitFor(() => d.stderr.includes("fleet connected"), { timeoutMs: 20_000, what: "pbx3 reconnected" });
          await arrived("198.51.100.11", ["pbx3"]);
          const probes = Array.from({ length: 50 }, (_, i) => `192.0.2.${100 + i}`);
          const want4 = ["198.51.100.11", "198.51.100.77", "198.51.100.94", ...probes].sort();
          assertEquals([...(await setOf("pbx3", "ban4")).keys()].sort(), want4);
          assertEquals([...(await setOf("pbx3", "ban6")).keys()], [h.atk2.ipv6]);
          const applied = linesOf(d).filter((l) => l.event === "fleet-ban").map((l) => l.address);
          assertEquals(applied, ["198.51.100.11"], "only the ban made meanwhile came from the fleet, once");
          assertStringIncludes(d.stderr, "readded=53");
          const f = await fleetOf("pbx3", A);
          assertEquals(f.expired, 1, "the short ban was not applied");
        },
      );

      await t.step("a cluster node killed: new bans still reach every host", async () => {
        await nats.n1.stop("SIGKILL", 1000);
        await ctl("pbx2", A, { cmd: "ban", bans: [{ address: "198.51.100.12", reason: "after n1 died" }] });
        await arrived("198.51.100.12", ["pbx1", "pbx3"], 20_000);
        propagation("pbx2", "198.51.100.12", ["pbx1", "pbx3"]);
        // every daemon is (again) connected to one of the two nodes left
        for (const p of PBXS) {
          await waitFor(async () => (await fleetOf(p, A)).connected, { timeoutMs: 15_000, what: `${p} connected` });
        }
        const f = await fleetOf("pbx1", A);
        assert(f.server !== `${h.n1.ipv4}:4222`, `pbx1 is on a live node (${f.server})`);
      });

      for (const p of PBXS) await daemons[p]!.stop("SIGTERM", 5000);
      for (const n of ["n2", "n3"]) await nats[n].stop("SIGTERM", 3000);

      // --- one server, TLS with a self-signed CA, a password; not running when the daemons start
      const B = "b";
      const ca = `${dir}/ca.pem`, caKey = `${dir}/ca.key`, crt = `${dir}/nb.pem`, key = `${dir}/nb.key`;
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
      await sh(["openssl", "req", "-x509", ...ec, "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=fleet CA"]);
      await sh(["openssl", "req", ...ec, "-keyout", key, "-out", `${dir}/nb.csr`, "-subj", "/CN=nb"]);
      await Deno.writeTextFile(`${dir}/san.ext`, `subjectAltName=IP:${h.nb.ipv4}\n`);
      await sh([
        "openssl",
        "x509",
        "-req",
        "-in",
        `${dir}/nb.csr`,
        "-CA",
        ca,
        "-CAkey",
        caKey,
        "-CAcreateserial",
        "-out",
        crt,
        "-days",
        "2",
        "-extfile",
        `${dir}/san.ext`,
      ]);
      const password = `pw-${crypto.randomUUID()}`;
      const nbCfg = [
        `listen: "${h.nb.ipv4}:4222"`,
        `jetstream { store_dir: "${dir}/js-nb", max_memory_store: 64MB, max_file_store: 256MB }`,
        `tls { cert_file: "${crt}", key_file: "${key}" }`,
        `authorization { user: pbxban, password: "${password}" }`,
      ].join("\n") + "\n";
      for (const p of ["pbx1", "pbx2"] as const) {
        await net.run(p, ["nft", "delete", "table", "inet", "pbxkit"], { check: false });
        await Deno.writeTextFile(
          `${dir}/${p}-b.toml`,
          `fleet = ["tls://${h.nb.ipv4}:4222"]\nfleet_user = "pbxban"\nfleet_password = "${password}"\n` +
            `fleet_tls_ca = "${ca}"\nfleet_bucket = "tls_bans"\n`,
        );
        await Deno.chmod(`${dir}/${p}-b.toml`, 0o600);
      }
      const batch = (from: number, n: number, reason: string) =>
        Array.from({ length: n }, (_, i) => ({ address: `198.51.100.${from + i}`, reason }));

      await t.step("NATS unreachable at start: local bans go on and are published once the server is up", async () => {
        for (const p of ["pbx1", "pbx2"] as const) await startDaemon(p, B, ["--config", `${dir}/${p}-b.toml`]);
        await waitFor(() => daemons.pbx1!.stderr.includes("fleet unreachable"), { what: "unreachable logged" });
        await ctl("pbx1", B, { cmd: "ban", bans: batch(100, 10, "while NATS was down at start") });
        for (const b of batch(100, 10, "")) assert(await inSet("pbx1", b.address), `local ban ${b.address}`);
        assertEquals((await fleetOf("pbx1", B)).outbox, 10);
        await startNats("nb", nbCfg);
        for (const b of batch(100, 10, "")) await arrived(b.address, ["pbx2"], 20_000);
        assertEquals((await fleetOf("pbx1", B)).outbox, 0);
      });

      await t.step("NATS down later: bans meanwhile (a real flood too) all arrive after it is back", async () => {
        await nats.nb.stop("SIGTERM", 3000);
        await waitFor(async () => (await fleetOf("pbx1", B)).connected === false, { what: "pbx1 sees NATS down" });
        await ctl("pbx1", B, { cmd: "ban", bans: batch(120, 20, "while NATS was down later") });
        await sipp("atk1", [
          "-sf",
          `${dir}/flood.xml`,
          "-m",
          "30",
          "-r",
          "200",
          "-i",
          h.atk1.ipv4,
          `${h.pbx1.ipv4}:5060`,
        ]);
        await waitFor(() => inSet("pbx1", h.atk1.ipv4), { what: "local ban of the flood" });
        assertEquals((await fleetOf("pbx1", B)).outbox, 21);
        assert(!(await settle(() => inSet("pbx2", "198.51.100.120"), { timeoutMs: 1000 })), "nothing shared yet");
        await startNats("nb", nbCfg);
        const all = [...batch(120, 20, "").map((b) => b.address), h.atk1.ipv4];
        for (const a of all) await arrived(a, ["pbx2"], 20_000);
        assertEquals((await fleetOf("pbx1", B)).outbox, 0);
        const st = await fleetOf("pbx2", B);
        assertEquals(st.applied, 31, "pbx2 applied each of the 31 bans once");
      });

      await t.step("credentials are in no log and on no command line", async () => {
        for (const p of ["pbx1", "pbx2"] as const) {
          const d = daemons[p]!;
          assert(!(d.stderr + d.stdout).includes(password), `${p}: password not logged`);
          const cmdline = await Deno.readTextFile(`/proc/${d.pid}/cmdline`).catch(() => "");
          assert(!cmdline.includes(password), `${p}: password not on its command line`);
        }
      });
    } finally {
      if (Deno.env.get("FLEET_DEBUG")) {
        for (const [p, d] of everyDaemon) console.log(`--- ${p}\n${d.stderr.slice(-5000)}`);
      }
      if (latencies.length) {
        console.log(
          `fleet propagation (origin set insert -> receiver set insert), ${latencies.length} samples: ` +
            `p50 ${pct(latencies, 0.5).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`,
        );
      }
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
