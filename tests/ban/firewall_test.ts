import { assert, assertEquals } from "../_util/assert.ts";
import { ROOT, TestNet, testWith } from "../_util/mod.ts";

const NFT_LIB = "/usr/lib/x86_64-linux-gnu/libnftables.so.1";

async function probe(net: TestNet, backend: string) {
  const r = await net.run("fw", [
    Deno.execPath(),
    "run",
    "-A",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/tests/ban/_fw_probe.ts`,
    backend,
  ]);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

for (const backend of ["nft", "iptables"]) {
  testWith(
    `firewall ${backend}: setup, batched bans with timeouts, no duplicates, unban, cleanup leaves others alone`,
    {
      tools: backend === "nft" ? ["nft", "ip"] : ["iptables", "ip6tables", "ipset", "ip"],
      files: [NFT_LIB],
      root: true,
    },
    async () => {
      const net = await TestNet.create(["fw"]);
      try {
        // Someone else's firewall objects in the same namespace.
        await net.run("fw", ["nft", "add", "table", "inet", "other"]);
        await net.run("fw", ["iptables", "-w", "-A", "INPUT", "-s", "192.0.2.200", "-j", "DROP"]);
        const out = await probe(net, backend);
        const addrs = out.afterBan.map((e: { address: string }) => e.address);
        assertEquals(addrs, ["192.0.2.7", "198.51.100.9", "2001:db8::7"]);
        const timed = out.afterBan.find((e: { address: string }) => e.address === "192.0.2.7");
        assert(timed.expiresInMs > 50_000 && timed.expiresInMs <= 60_000, JSON.stringify(timed));
        assertEquals(
          out.afterBan.find((e: { address: string }) => e.address === "198.51.100.9").expiresInMs,
          undefined,
        );
        assertEquals(out.afterUnban, ["198.51.100.9", "2001:db8::7"]);
        assertEquals(out.scopeAllKeeps, 2);
        if (backend === "nft") {
          assert(out.scopeAllRules.includes("ip saddr @ban4 counter"), out.scopeAllRules);
          assert(!out.scopeAllRules.includes("dport"), out.scopeAllRules);
        }
        assertEquals(out.afterCleanup, []);
        const tables = (await net.run("fw", ["nft", "list", "tables"])).stdout;
        assert(tables.includes("table inet other"), tables);
        assert(!tables.includes("pbxkit"), tables);
        const rules = (await net.run("fw", ["iptables", "-w", "-S", "INPUT"])).stdout;
        assert(rules.includes("-s 192.0.2.200/32 -j DROP"), rules);
        assert(!rules.includes("PBXKIT"), rules);
      } finally {
        await net.close();
      }
    },
  );
}
