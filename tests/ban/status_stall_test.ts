/**
 * `status` on a daemon that holds 100,000 bans: libnftables fetches every set element to list the drop rules'
 * counters (about 0.4 s here), and that listing must not stall the daemon: a ban sent while a status is being
 * answered is applied and answered first, and the counters still count (a banned host's packets).
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { TestNet, testWith, waitFor } from "../_util/mod.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { controlRequest } from "../../lib/ban/control.ts";
import { blocklistSample, daemonOnEth0 } from "./_lab.ts";

const NFT_LIB = "/usr/lib/x86_64-linux-gnu/libnftables.so.1";

testWith(
  "ban --daemon with 100,000 bans: a status (nft listing) does not hold up a ban sent meanwhile; counters count",
  { tools: ["nft", "ip"], files: [NFT_LIB, LIBPCAP_PATH], root: true },
  async () => {
    const net = await TestNet.create(["pbx", "scanner"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-status-stall-" });
    try {
      const sock = `${dir}/ban.sock`;
      const d = net.spawn(
        "pbx",
        daemonOnEth0(net.hosts.pbx.ipv4, ["--state", `${dir}/state.json`, "--socket", sock, "--ban-time", "1h"]),
      );
      await waitFor(() => Deno.stat(sock).then(() => true, () => false), { timeoutMs: 30_000, what: "daemon" });
      const ctl = (req: Parameters<typeof controlRequest>[1]) =>
        controlRequest(sock, req, { timeoutMs: 60_000 }) as Promise<Record<string, unknown>>;
      const { v4, v6 } = blocklistSample(70_000, 30_000, 5150);
      const until = Date.now() + 3_600_000;
      const imp = await ctl({ cmd: "import", bans: [...v4, ...v6].map((a) => [a, until]), reason: "stall test" });
      assertEquals(imp.imported, 100_000, JSON.stringify(imp).slice(0, 300));

      // the scanner is banned; its SIP packets are dropped and counted
      const scanner = net.hosts.scanner.ipv4;
      assertEquals((await ctl({ cmd: "ban", bans: [{ address: scanner, reason: "test" }] })).banned, 1);
      const send = `const s = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
for (let i = 0; i < 3; i++) await s.send(new TextEncoder().encode("OPTIONS sip:x SIP/2.0\\r\\n\\r\\n"),
  { transport: "udp", hostname: "${net.hosts.pbx.ipv4}", port: 5060 });
s.close();`;
      await net.run("scanner", [Deno.execPath(), "eval", send]);

      const timed = async <T>(p: Promise<T>) => {
        const t0 = performance.now();
        const v = await p;
        return { v, ms: performance.now() - t0 };
      };
      const statuses: number[] = [], bans: number[] = [];
      for (let round = 0; round < 3; round++) {
        const status = timed(ctl({ cmd: "status" }));
        // sent a moment after, while the status is in libnftables
        await new Promise((r) => setTimeout(r, 20));
        const ban = timed(ctl({ cmd: "ban", bans: [{ address: `192.0.2.${10 + round}`, reason: "test" }] }));
        const [s, b] = await Promise.all([status, ban]);
        assertEquals(b.v.banned, 1);
        const fw = s.v.firewall as { packets4: number };
        assert(fw.packets4 >= 3, `drop counter ${JSON.stringify(fw)}`);
        statuses.push(s.ms);
        bans.push(b.ms);
      }
      console.error(
        `status with 100k bans: ${statuses.map((x) => x.toFixed(0)).join(", ")} ms; ` +
          `a ban sent 20 ms into it: ${bans.map((x) => x.toFixed(1)).join(", ")} ms`,
      );
      // the listing takes long enough to tell (else the test proves nothing) ...
      assert(Math.min(...statuses) > 100, `status took only ${statuses} ms: the listing is not the slow part here`);
      // ... and the ban does not wait for it (blocking, it took as long as the rest of the listing)
      for (let i = 0; i < 3; i++) assert(bans[i] < statuses[i] / 2, `ban ${bans[i]} ms vs status ${statuses[i]} ms`);
      const set = JSON.parse((await net.run("pbx", ["nft", "-j", "list", "set", "inet", "pbxkit", "ban4"])).stdout);
      const elems = set.nftables.find((x: { set?: unknown }) => x.set).set.elem as { elem: { val: string } }[];
      for (let round = 0; round < 3; round++) assert(elems.some((e) => e.elem.val === `192.0.2.${10 + round}`));
      // someone deletes pbxkit's table: a status says zero drops (the listing's error is handled off-thread too) and
      // the daemon stays up
      await net.run("pbx", ["nft", "delete", "table", "inet", "pbxkit"]);
      const gone = (await ctl({ cmd: "status" })).firewall as { packets4: number; packets6: number };
      assertEquals([gone.packets4, gone.packets6], [0, 0]);
      await new Promise((r) => setTimeout(r, 200));
      assertEquals((await ctl({ cmd: "ban", bans: [{ address: "192.0.2.99", reason: "test" }] })).banned, 1);
      assertEquals((await d.stop()).code, 0, d.stderr.slice(-500));
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
