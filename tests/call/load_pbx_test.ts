/**
 * `pbxkit call --load` against real parts: kamailio + rtpengine (bridging WebRTC ICE/DTLS-SRTP to plain RTP/AVP) and
 * a sipp UAS that echoes RTP (`-rtp_echo`) on the phone host, in test namespaces. Once clean, once with
 * `tc netem loss 5%` on the sipp host's interface (its echo back to rtpengine loses ~5%): the reported loss moves
 * to 3-8 % and the MOS drops; `answered` equals sipp's own count of successful calls. The `--report` page is opened
 * in headless Chromium: it renders its three charts with no console errors.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { denoRunArgv, type Proc, testWith } from "../_util/mod.ts";
import { callArgv, DOMAIN, Pbx, PBX_TOOLS } from "./_pbx.ts";
import { UAS_XML } from "./_sipp_echo.ts";

const CALLS = 6;
const HOLD = "8s";

async function exitOf(p: Proc, timeoutMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const st = await Promise.race([p.done, new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs))]);
  clearTimeout(timer);
  if (!st) {
    await p.stop();
    throw new Error(`${p.name} did not finish in ${timeoutMs} ms:\n${p.stdout}\n${p.stderr.slice(-3000)}`);
  }
  return st.code;
}

/** sipp's own count of successful calls, from its -trace_stat CSV (last row, column SuccessfulCall(C)). */
async function sippSuccessful(csv: string): Promise<number> {
  const rows = (await Deno.readTextFile(csv)).trim().split("\n").map((l) => l.split(";"));
  const col = rows[0].indexOf("SuccessfulCall(C)");
  assert(col >= 0, `no SuccessfulCall(C) column in ${rows[0].join(";")}`);
  return Number(rows[rows.length - 1][col]);
}

/**
 * Drop `pct` % of the echoed RTP leaving the sipp host: `tc netem loss` when the kernel has sch_netem, else (loudly)
 * the same random loss with an nftables `numgen random` rule on sipp's RTP. Returns how to undo it.
 */
async function addLoss(pbx: Pbx, pct: number): Promise<{ how: string; undo: () => Promise<void> }> {
  const tc = await pbx.net.run("phone", ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", `${pct}%`], {
    check: false,
  });
  if (tc.code === 0) {
    return {
      how: "tc netem",
      undo: async () =>
        void await pbx.net.run("phone", ["tc", "qdisc", "del", "dev", "eth0", "root"], { check: false }),
    };
  }
  console.error(
    `load test: tc netem unavailable (${tc.stderr.trim()}: no sch_netem in this kernel); using nftables numgen`,
  );
  // dropped on the PBX host's input, not sipp's output: a locally dropped send fails with EPERM, and sipp's echo
  // thread gives up on the first one
  const rules = `table inet pbxkit_loss {\n chain in {\n  type filter hook input priority 0;\n` +
    `  ip saddr ${pbx.phoneIp} udp sport 6000 numgen random mod 1000 < ${pct * 10} counter drop\n }\n}\n`;
  const file = `${pbx.dir}/loss.nft`;
  await Deno.writeTextFile(file, rules);
  await pbx.net.run("pbx", ["nft", "-f", file]);
  return {
    how: "nftables numgen",
    undo: async () =>
      void await pbx.net.run("pbx", ["nft", "delete", "table", "inet", "pbxkit_loss"], { check: false }),
  };
}

// deno-lint-ignore no-explicit-any
type Any = any;

testWith("call --load: WebRTC load through kamailio + rtpengine to a sipp RTP echo, clean and with 5% loss", {
  tools: [...PBX_TOOLS, "sipp", "tc", "nft", "chromium"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 }, staticRouteHost: "phone" });
  try {
    const run = async (name: string, o: { extra?: string[]; exit?: number } = {}) => {
      const csv = `${pbx.dir}/sipp-${name}.csv`;
      const xml = `${pbx.dir}/uas.xml`;
      await Deno.writeTextFile(xml, UAS_XML);
      const sipp = pbx.spawn("phone", [
        "sipp",
        "-sf",
        xml,
        "-i",
        pbx.phoneIp,
        "-p",
        "5090",
        "-mi",
        pbx.phoneIp,
        "-mp",
        "6000",
        "-rtp_echo",
        "-m",
        String(CALLS),
        "-nostdin",
        "-timeout",
        "60s",
        "-trace_stat",
        "-stf",
        csv,
        "-fd",
        "1",
      ]);
      const report = `${pbx.dir}/load-${name}.html`;
      const p = pbx.pbxkit([
        ...callArgv(`sip:sipp@${DOMAIN}`, { ws: pbx.wsUrl, user: "alice" }),
        "--load",
        String(CALLS),
        "--rate",
        "6",
        "--hold",
        HOLD,
        "--tone",
        "440",
        "--json",
        "--report",
        report,
        ...(o.extra ?? []),
      ]);
      assertEquals(
        await exitOf(p, 60_000),
        o.exit ?? 0,
        `pbxkit --load (${name}):\n${p.stdout}\n${p.stderr.slice(-3000)}`,
      );
      assertEquals(await exitOf(sipp, 20_000), 0, `sipp (${name}):\n${sipp.stdout.slice(-2000)}`);
      const result = JSON.parse(p.stdout);
      const m = result.media;
      console.error(
        `load ${name}: answered ${result.answered}/${result.attempted}, setup p50 ${result.setup_ms.p50} ms, ` +
          `loss p50 ${m.loss_pct.p50}% max ${m.loss_pct.max}%, jitter p50 ${m.jitter_ms.p50} ms, MOS p50 ${m.mos.p50} ` +
          `min ${m.mos.min}, ${result.generator.cpu_ms_per_call_second} CPU ms per call-second`,
      );
      return { result, sippOk: await sippSuccessful(csv), report, stderr: p.stderr };
    };

    let clean: Any;
    let cleanReport = "";
    await t.step("clean: every call answered (as sipp counted), no loss, MOS >= 4", async () => {
      const r = await run("clean");
      clean = r.result;
      cleanReport = r.report;
      assertEquals(clean.attempted, CALLS);
      assertEquals(clean.answered, r.sippOk, "answered vs sipp's SuccessfulCall");
      assertEquals(clean.answered, CALLS);
      for (const c of clean.calls) {
        assertEquals(c.status, "answered");
        assert(c.packets_sent >= 350, `sent ${c.packets_sent} packets in ${HOLD}`);
        assert(c.packets_received >= 0.9 * c.packets_sent, `echo: ${c.packets_received} of ${c.packets_sent}`);
        assert(c.setup_ms > 0 && c.setup_ms < 5000, `setup ${c.setup_ms}`);
      }
      assert(clean.media.loss_pct.max < 1, `clean loss ${clean.media.loss_pct.max}%`);
      assert(clean.media.mos.min >= 4, `clean MOS ${clean.media.mos.min}`);
    });

    await t.step("report renders in headless Chromium", async () => {
      const check = pbx.spawn(
        "pbx",
        denoRunArgv(new URL("./_load_report_check.ts", import.meta.url).pathname, [cleanReport]),
      );
      assertEquals(await exitOf(check, 60_000), 0, `chromium check:\n${check.stdout}\n${check.stderr.slice(-2000)}`);
      const seen = JSON.parse(check.stdout.trim().split("\n").pop()!);
      assertEquals(seen.errors, []);
      assertEquals(seen.charts, 3);
      assert(seen.minChartWidth > 100, `charts drawn ${seen.minChartWidth} px wide`);
    });

    await t.step("5% loss on the sipp host's echo (tc netem, or nftables): loss 3-8 %, MOS drops", async () => {
      const loss = await addLoss(pbx, 5);
      try {
        // --fail-if turns the loss into the exit status (1), after printing the result
        const r = await run("lossy", { extra: ["--fail-if", "loss_pct.p50>1,failed>0"], exit: 1 });
        assert(r.stderr.includes("--fail-if: loss_pct.p50>1"), r.stderr.slice(-500));
        const lossy = r.result;
        assertEquals(lossy.answered, r.sippOk, "answered vs sipp's SuccessfulCall");
        const p50 = lossy.media.loss_pct.p50;
        assert(p50 >= 3 && p50 <= 8, `loss p50 ${p50}% with 5% (${loss.how}): ${JSON.stringify(lossy.calls)}`);
        assert(lossy.media.mos.p50 < clean.media.mos.p50 - 0.2, `MOS ${lossy.media.mos.p50} vs ${clean.media.mos.p50}`);
      } finally {
        await loss.undo();
      }
    });
  } finally {
    await pbx.close();
  }
});
