/**
 * Run inside the bench's own network namespace (`ip netns exec NS deno run -A _nft_naive.ts FILE N M`): the naive
 * way to apply a blocklist, one element per nft command, for the first N addresses of FILE through libnftables
 * in process (one transaction each), then M more with one `nft add element` process each (argv, no shell). Prints
 * `{"ffi": {...}, "cli": {...}}` with counts, seconds and rates. Never run it in the host's namespace.
 *
 * @module
 */

import { NFT_TABLE, NftContext, NftFirewall } from "../lib/ban/firewall/mod.ts";

const [file, nText, mText] = Deno.args;
const addrs = (await Deno.readTextFile(file)).split("\n").filter((l) => l && !l.startsWith("#"));
const n = Math.min(Number(nText), addrs.length), m = Math.min(Number(mText), addrs.length - n);
const fw = new NftFirewall({ scope: "ports", ports: [5060] });
await fw.cleanup();
await fw.setup();
fw.close();
const set = (a: string) => (a.includes(":") ? "ban6" : "ban4");
const nft = new NftContext();
let t0 = performance.now();
for (let i = 0; i < n; i++) nft.run(`add element inet ${NFT_TABLE} ${set(addrs[i])} { ${addrs[i]} timeout 3600s }`);
const ffiS = (performance.now() - t0) / 1000;
nft.close();
t0 = performance.now();
for (let i = n; i < n + m; i++) {
  const a = addrs[i];
  const out = await new Deno.Command("nft", {
    args: ["add", "element", "inet", NFT_TABLE, set(a), `{ ${a} timeout 3600s }`],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`nft failed: ${new TextDecoder().decode(out.stderr)}`);
}
const cliS = (performance.now() - t0) / 1000;
const cleanup = new NftFirewall({ scope: "ports", ports: [5060] });
await cleanup.cleanup();
cleanup.close();
console.log(JSON.stringify({
  ffi: { count: n, seconds: ffiS, perSecond: n / ffiS },
  cli: { count: m, seconds: cliS, perSecond: m / cliS },
}));
