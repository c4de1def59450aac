/**
 * Run inside a test's own network namespace (`ip netns exec NS deno run -A _fw_probe.ts BACKEND`): exercises one
 * firewall backend end to end and prints what it saw as JSON. Never run it in the host's namespace.
 *
 * @module
 */

import { openFirewall } from "../../lib/ban/firewall/mod.ts";

const backend = Deno.args[0];
const fw = openFirewall(backend, { scope: "ports", ports: [5060, 5061] });
const out: Record<string, unknown> = {};
await fw.setup();
await fw.setup(); // idempotent: rules are not duplicated
await fw.ban([
  { address: "192.0.2.7", family: 4, timeoutMs: 60_000 },
  { address: "198.51.100.9", family: 4, timeoutMs: 0 },
  { address: "2001:db8::7", family: 6, timeoutMs: 60_000 },
]);
await fw.ban([{ address: "192.0.2.7", family: 4, timeoutMs: 60_000 }]); // again: no duplicate
out.afterBan = (await fw.list()).sort((a, b) => a.address.localeCompare(b.address));
await fw.unban([{ address: "192.0.2.7", family: 4 }, { address: "203.0.113.1", family: 4 }]);
out.afterUnban = (await fw.list()).map((e) => e.address).sort();
out.counters = await fw.counters();
// --scope all replaces the rules (the sets and their bans stay)
const all = openFirewall(backend, { scope: "all", ports: [5060] });
await all.setup();
out.scopeAllKeeps = (await all.list()).length;
out.scopeAllRules = backend === "nft"
  ? new TextDecoder().decode(
    (await new Deno.Command("nft", { args: ["list", "chain", "inet", "pbxkit", "input"] }).output()).stdout,
  )
  : "";
all.close();
await fw.cleanup();
out.afterCleanup = await fw.list();
fw.close();
console.log(JSON.stringify(out));
