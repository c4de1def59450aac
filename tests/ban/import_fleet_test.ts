/**
 * `pbxkit ban import` through the fleet: a real `nats-server` with JetStream and two `ban --daemon --fleet` hosts
 * with real nft, each in its own namespace. A blocklist imported on one host is in the other host's nft set with
 * the same jittered absolute expiries, origin the importing node, and the other host's own exempt list still rules.
 * Networks in the list reach the other host's network sets when its `--fleet-max-prefix` allows their width (a wider
 * one is not applied, and said so), and `ban unban NET` on the importer lifts one there too. The list travels the
 * live path; a third host on the iptables backend, started late, replays the bucket into its ipset sets, and its
 * import sent the moment its control socket appears (before its fleet is up) is shared.
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { cliArgv, type Proc, settle, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { blocklistSample, daemonOnEth0 } from "./_lab.ts";
import { controlRequest } from "../../lib/ban/control.ts";

const NFT_LIB = "/usr/lib/x86_64-linux-gnu/libnftables.so.1";

testWith(
  "ban import with --fleet: the list (networks too) reaches the other host's nft sets with the same expiries; " +
    "its exempt list and --fleet-max-prefix rule; a network unban propagates",
  { tools: ["nats-server", "nft", "ip", "iptables", "ipset"], files: [NFT_LIB, LIBPCAP_PATH], root: true },
  async () => {
    const net = await TestNet.create(["nats", "edge1", "edge2", "edge3"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-import-fleet-" });
    const h = net.hosts;
    try {
      const nats = net.spawn("nats", ["nats-server", "-js", "-a", h.nats.ipv4, "-p", "4222", "-sd", `${dir}/js`]);
      await waitFor(() => nats.stderr.includes("Server is ready"), { timeoutMs: 20_000, what: "nats-server" });
      const flags = (name: string) => ["--state", `${dir}/${name}/state.json`, "--socket", `${dir}/${name}/ban.sock`];
      const daemons: Record<string, Proc> = {};
      /** Start `name`'s `ban --daemon --fleet` with `extra` flags. */
      const spawnEdge = async (name: string, extra: string[]) => {
        await Deno.mkdir(`${dir}/${name}`);
        daemons[name] = net.spawn(
          name,
          daemonOnEth0(h[name].ipv4, [
            ...extra,
            "--fleet",
            `nats://${h.nats.ipv4}:4222`,
            "--fleet-node",
            name,
            ...flags(name),
          ]),
        );
      };
      await spawnEdge("edge1", []);
      // edge2 exempts one network of the list and takes networks up to /24 and /48 from the fleet; edge1 (the
      // importer) keeps the defaults (single addresses)
      await spawnEdge("edge2", ["--exempt", "127.0.0.0/8", "--exempt", "45.0.0.0/8", "--fleet-max-prefix", "24,48"]);
      for (const d of Object.values(daemons)) {
        await waitFor(() => d.stderr.includes("fleet connected"), { timeoutMs: 30_000, what: "fleet connected" });
      }
      const { v4, v6 } = blocklistSample(1500, 500, 4242);
      // two networks edge2 accepts, one wider than its /24
      const nets = ["203.0.113.0/24", "2001:db8:77::/48"], tooWide = "198.18.0.0/16";
      await Deno.writeTextFile(`${dir}/list.txt`, [...v4, ...v6, ...nets, tooWide].join("\n") + "\n");
      const r = JSON.parse(
        (await net.run(
          "edge1",
          cliArgv([
            "ban",
            "import",
            `${dir}/list.txt`,
            "--reason",
            "APIBAN",
            "--seed",
            "5",
            "--json",
            "--max-prefix",
            "16,48",
            ...flags("edge1"),
          ]),
        )).stdout,
      );
      assertEquals([r.via, r.imported], ["daemon", 2003]);
      const exempted = v4.filter((a) => a.startsWith("45.")).length;
      assert(exempted > 100, String(exempted));
      const list2 = async () =>
        JSON.parse((await net.run("edge2", cliArgv(["ban", "export", "--json", ...flags("edge2")]))).stdout) as {
          address: string;
          until: string;
          origin: string;
          reason: string;
        }[];
      let got: Awaited<ReturnType<typeof list2>> = [];
      await waitFor(async () => (got = await list2()).length >= 2002 - exempted, {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "the import on edge2",
      }).catch(() => {});
      assertEquals(
        got.length,
        2002 - exempted,
        "edge2 has every imported ban but the ones it exempts or finds too wide",
      );
      for (const n of nets) assert(got.some((b) => b.address === n), `${n} not on edge2`);
      assert(!got.some((b) => b.address === tooWide), "edge2 applied a network wider than its --fleet-max-prefix");
      await waitFor(() => daemons.edge2.stderr.includes("network wider than --fleet-max-prefix"), {
        timeoutMs: 5000,
        what: "edge2's log line for the /16",
      });
      assert(got.every((b) => b.origin === "edge1" && b.reason === "APIBAN"), JSON.stringify(got[0]));
      assert(!got.some((b) => b.address.startsWith("45.")), "edge2 applied a ban in its exempt network");
      // the same absolute (jittered) expiries on both hosts
      const list1 = JSON.parse(
        (await net.run("edge1", cliArgv(["ban", "export", "--json", ...flags("edge1")]))).stdout,
      );
      const until1 = new Map(list1.map((b: { address: string; until: string }) => [b.address, Date.parse(b.until)]));
      let maxSkew = 0;
      for (const b of got) {
        maxSkew = Math.max(maxSkew, Math.abs(Date.parse(b.until) - (until1.get(b.address) as number)));
      }
      assert(maxSkew <= 1000, `expiries differ by up to ${maxSkew} ms`);
      assert(new Set(got.map((b) => Math.floor(Date.parse(b.until) / 1000))).size > 300, "expiries not spread");
      // and they are in edge2's kernel sets: addresses in ban4/ban6, networks in the interval sets net4/net6
      const elems = async (set: string) => {
        const doc = JSON.parse((await net.run("edge2", ["nft", "-j", "list", "set", "inet", "pbxkit", set])).stdout);
        return (doc.nftables.find((x: { set?: unknown }) => x.set).set.elem ?? []) as unknown[];
      };
      assertEquals((await elems("ban6")).length, 500);
      const net4 = JSON.stringify(await elems("net4")), net6 = JSON.stringify(await elems("net6"));
      assert(net4.includes('"addr":"203.0.113.0","len":24'), net4.slice(0, 300));
      assert(!net4.includes("198.18.0.0"), net4.slice(0, 300));
      assert(net6.includes('"addr":"2001:db8:77::","len":48'), net6.slice(0, 300));
      // an unban of the network on the importer lifts it on edge2: kernel set and daemon
      await net.run("edge1", cliArgv(["ban", "unban", "203.0.113.0/24", ...flags("edge1")]));
      await waitFor(async () => !JSON.stringify(await elems("net4")).includes("203.0.113.0"), {
        timeoutMs: 10_000,
        intervalMs: 200,
        what: "the network unban on edge2",
      });
      const after = await list2();
      assert(!after.some((b) => b.address === "203.0.113.0/24"), "edge2 still lists the unbanned network");
      assert(after.some((b) => b.address === "2001:db8:77::/48"), "the other network went too");
      const fleetOf2 = async () =>
        JSON.parse((await net.run("edge2", cliArgv(["ban", "status", "--json", ...flags("edge2")]))).stdout).fleet;
      // the KV copies come after the live ones: asked until the watch has delivered them all (or 15 s)
      let fleet: Record<string, number> = {};
      await settle(async () => (fleet = await fleetOf2()).duplicates >= fleet.liveApplied, {
        timeoutMs: 15_000,
        intervalMs: 500,
      });
      assertEquals([fleet.tooWide, fleet.rejected], [1, 0], JSON.stringify(fleet));
      assert(fleet.batches < 2000, `the import was applied in ${fleet.batches} batches on edge2`);
      // the list came by the live path (plain messages ahead of the KV puts); each KV copy was then a duplicate
      assert(fleet.liveApplied > 1500, JSON.stringify(fleet));
      assert(fleet.duplicates >= fleet.liveApplied, JSON.stringify(fleet));
      // a daemon's control socket listens before its firewall and fleet are up: an import sent the moment it
      // appears waits for them and is shared (it was once banned locally only, never published)
      // the fleet on the other backend: iptables with ipset sets
      await spawnEdge("edge3", ["--backend", "iptables"]);
      await waitFor(() => Deno.stat(`${dir}/edge3/ban.sock`).then(() => true, () => false), {
        timeoutMs: 30_000,
        intervalMs: 5,
        what: "edge3's control socket",
      });
      const early = ["198.51.100.201", "2001:db8:99::201"];
      const r3 = await controlRequest(`${dir}/edge3/ban.sock`, {
        cmd: "import",
        bans: early.map((a) => [a, Date.now() + 3_600_000]),
        reason: "early",
      }, { timeoutMs: 30_000 });
      assertEquals(r3?.ok, true, JSON.stringify(r3));
      await waitFor(async () => {
        const l = await list2();
        return early.every((a) => l.some((b) => b.address === a && b.origin === "edge3"));
      }, { timeoutMs: 20_000, intervalMs: 300, what: "edge3's early import on edge2" });
      // edge3 joined late: the bucket's replay put every shared ban in its ipset sets (networks are wider than its
      // default --fleet-max-prefix), its own two too
      const entries = async (set: string) => {
        const out = (await net.run("edge3", ["ipset", "list", "-t", set])).stdout;
        return Number(/Number of entries: (\d+)/.exec(out)?.[1] ?? -1);
      };
      await waitFor(async () => await entries("pbxkit4") === 1501 && await entries("pbxkit6") === 501, {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "the bucket in edge3's ipset sets",
      }).catch(() => {});
      assertEquals([await entries("pbxkit4"), await entries("pbxkit6")], [1501, 501]);
      const v6set = (await net.run("edge3", ["ipset", "list", "pbxkit6"])).stdout;
      for (const a of v6.slice(0, 20)) assert(v6set.includes(a), `${a} not in edge3's pbxkit6`);
      for (const d of Object.values(daemons)) assertEquals((await d.stop("SIGTERM", 10_000)).code, 0);
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
