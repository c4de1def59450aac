/**
 * `pbxkit call --load` against real parts: kamailio + rtpengine (bridging WebRTC ICE/DTLS-SRTP to plain RTP/AVP) and
 * a sipp UAS that echoes RTP (`-rtp_echo`) on the phone host, in test namespaces. Once clean, once with
 * `tc netem loss 5%` on the sipp host's interface (its echo back to rtpengine loses ~5%): the reported loss moves
 * to 3-8 % and the MOS drops; `answered` equals sipp's own count of successful calls. The `--report` page is opened
 * in headless Chromium: it renders its three charts with no console errors. werift hears the echo of its own stream
 * (loss and MOS measured); `--users FILE --register-each --duration` registers every account (kamailio's location
 * table, read with kamcmd while the run lasts) and keeps replacing calls for the duration.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { denoRunArgv, type Proc, testWith } from "../_util/mod.ts";
import { callArgv, DOMAIN, Pbx, PBX_TOOLS, USERS } from "./_pbx.ts";
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
  tools: [...PBX_TOOLS, "sipp", "tc", "nft", "chromium", "kamcmd", "baresip"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 }, staticRouteHost: "phone", ctl: true });
  try {
    const xml = `${pbx.dir}/uas.xml`;
    await Deno.writeTextFile(xml, UAS_XML);
    /**
     * One `pbxkit call --load` run against a fresh sipp. `sippMax` (default `calls`) is sipp's call limit: sipp exits
     * after that many; with more (a `--duration` run) sipp is stopped once its periodic stats file counts as many
     * successful calls as pbxkit answered (or after 5 s). `during` runs alongside pbxkit (e.g. to poll kamailio).
     */
    const run = async (name: string, o: {
      calls?: number;
      rate?: number;
      hold?: string;
      sippMax?: number;
      extra?: string[];
      exit?: number;
      during?: (done: Promise<unknown>) => Promise<void>;
    } = {}) => {
      const calls = o.calls ?? CALLS;
      const sippMax = o.sippMax ?? calls;
      const csv = `${pbx.dir}/sipp-${name}.csv`;
      const sipp = pbx.sippEcho(xml, sippMax, ["-timeout", "60s", "-trace_stat", "-stf", csv, "-fd", "1"]);
      const report = `${pbx.dir}/load-${name}.html`;
      const p = pbx.pbxkit([
        ...callArgv(`sip:sipp@${DOMAIN}`, { ws: pbx.wsUrl, user: "alice" }),
        "--load",
        String(calls),
        "--rate",
        String(o.rate ?? 6),
        "--hold",
        o.hold ?? HOLD,
        "--tone",
        "440",
        "--json",
        "--report",
        report,
        ...(o.extra ?? []),
      ]);
      const during = o.during?.(p.done);
      assertEquals(
        await exitOf(p, 60_000),
        o.exit ?? 0,
        `pbxkit --load (${name}):\n${p.stdout}\n${p.stderr.slice(-3000)}`,
      );
      await during;
      const result = JSON.parse(p.stdout);
      let sippOk: number;
      if (sippMax === calls) {
        assertEquals(await exitOf(sipp, 20_000), 0, `sipp (${name}):\n${sipp.stdout.slice(-2000)}`);
        sippOk = await sippSuccessful(csv);
      } else {
        const until = Date.now() + 5000;
        do {
          await new Promise((r) => setTimeout(r, 500));
          sippOk = await sippSuccessful(csv).catch(() => -1);
        } while (sippOk !== result.answered && Date.now() < until);
        await sipp.stop();
      }
      const m = result.media;
      console.error(
        `load ${name}: answered ${result.answered}/${result.attempted}, peak up ${result.generator.peak_up}, ` +
          `setup p50 ${result.setup_ms.p50} ms, loss p50 ${m.loss_pct.p50}% max ${m.loss_pct.max}%, jitter p50 ` +
          `${m.jitter_ms.p50} ms, MOS p50 ${m.mos.p50} min ${m.mos.min}, ${result.generator.cpu_ms_per_call_second} ` +
          `CPU ms per call-second, kept up ${result.generator.kept_up}`,
      );
      return { result, sippOk, report, stderr: p.stderr };
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

    await t.step("werift: the echo of its own stream is received (packets, loss, MOS)", async () => {
      const r = await run("werift", { calls: 3, rate: 3, extra: ["--webrtc", "werift"] });
      const w = r.result;
      assertEquals(w.generator.webrtc, "werift");
      assertEquals(w.answered, 3);
      assertEquals(w.answered, r.sippOk, "answered vs sipp's SuccessfulCall");
      for (const c of w.calls) {
        assert(c.packets_sent >= 350, `werift sent ${c.packets_sent} packets in ${HOLD}`);
        assert(c.packets_received >= 0.9 * c.packets_sent, `werift echo: ${c.packets_received} of ${c.packets_sent}`);
      }
      assert(w.media.loss_pct.p50 !== null && w.media.loss_pct.p50 < 1, `werift loss p50 ${w.media.loss_pct.p50}%`);
      assert(w.media.mos.min >= 4, `werift MOS ${w.media.mos.min}`);
    });

    await t.step("--users FILE --register-each --duration: every account registers, calls are replaced", async () => {
      const users = ["alice", "bob", "carol"];
      const file = `${pbx.dir}/users.txt`;
      await Deno.writeTextFile(file, `# callers\n${users.map((u) => `${u} ${USERS[u]}`).join("\n")}\n`);
      const aors = (dump: string) => [...dump.matchAll(/AoR: (\S+)/g)].map((m) => m[1]);
      const before = aors(await pbx.kamcmd("ul.dump"));
      assert(!before.includes("bob") && !before.includes("carol"), `registered before the run: ${before}`);
      // kamailio's location table, polled while the run lasts (the UAs unregister when it ends)
      const seen = new Set<string>();
      const poll = async (done: Promise<unknown>) => {
        let over = false;
        done.then(() => over = true, () => over = true);
        while (!over) {
          for (const a of aors(await pbx.kamcmd("ul.dump"))) seen.add(a);
          await new Promise((r) => setTimeout(r, 500));
        }
      };
      const durationS = 12, holdS = 3, n = 3;
      const r = await run("users", {
        calls: n,
        rate: 3,
        hold: `${holdS}s`,
        sippMax: 100,
        extra: ["--users", file, "--register-each", "--duration", `${durationS}s`],
        during: poll,
      });
      const u = r.result;
      assertEquals([...seen].filter((a) => users.includes(a)).sort(), users, `location table held ${[...seen]}`);
      // held 3 s each (plus setup) over 12 s: about 3 rounds of 3; at least 2 full rounds
      assert(u.attempted >= 2 * n, `attempted ${u.attempted} in ${durationS} s`);
      assert(u.answered >= 2 * n, `answered ${u.answered}`);
      assertEquals(u.answered, r.sippOk, "answered vs sipp's SuccessfulCall");
      assertEquals(u.generator.peak_up, n);
      assert(u.generator.peak_calls <= n, `never above N: ${u.generator.peak_calls}`);
      // replacements: calls started after the first ones had been held and hung up
      const lastStart = Math.max(...u.calls.map((c: Any) => c.started_s));
      assert(lastStart > holdS, `last call started at ${lastStart} s`);
      assert(
        u.generator.wall_s >= durationS - 0.5 && u.generator.wall_s < durationS + 15,
        `wall ${u.generator.wall_s}`,
      );
      assertEquals(u.options.duration_ms, durationS * 1000);
    });

    await t.step(
      "5% loss on the sipp host's echo (tc netem, or nftables): loss 3-8 % (wrtc, werift), MOS drops",
      async () => {
        const loss = await addLoss(pbx, 5);
        try {
          // --fail-if turns the loss into the exit status (1), after printing the result
          const r = await run("lossy", { extra: ["--fail-if", "loss_pct.p50>1,failed>0"], exit: 1 });
          assert(r.stderr.includes("--fail-if: loss_pct.p50>1"), r.stderr.slice(-500));
          const lossy = r.result;
          assertEquals(lossy.answered, r.sippOk, "answered vs sipp's SuccessfulCall");
          const p50 = lossy.media.loss_pct.p50;
          assert(p50 >= 3 && p50 <= 8, `loss p50 ${p50}% with 5% (${loss.how}): ${JSON.stringify(lossy.calls)}`);
          assert(
            lossy.media.mos.p50 < clean.media.mos.p50 - 0.2,
            `MOS ${lossy.media.mos.p50} vs ${clean.media.mos.p50}`,
          );
          // werift counts the echo's sequence gaps the same way
          const w = (await run("lossy-werift", { calls: 4, rate: 4, extra: ["--webrtc", "werift"] })).result;
          const wp50 = w.media.loss_pct.p50;
          assert(wp50 >= 3 && wp50 <= 8, `werift loss p50 ${wp50}% with 5% (${loss.how}): ${JSON.stringify(w.calls)}`);
        } finally {
          await loss.undo();
        }
      },
    );

    await t.step("rtt_ms from RTCP: against baresip, which sends receiver reports (sipp sends none)", async () => {
      const { proc: bob } = await pbx.baresipRegistered({ user: "bob", autoAnswer: true, what: "bob (baresip)" });
      try {
        const p = pbx.pbxkit([
          ...callArgv(`sip:bob@${DOMAIN}`, { ws: pbx.wsUrl, user: "alice" }),
          "--load",
          "1",
          "--rate",
          "1",
          // baresip sends a receiver report every ~5 s: the call lasts a few of them
          "--hold",
          "14s",
          "--tone",
          "440",
          "--json",
        ]);
        assertEquals(await exitOf(p, 60_000), 0, `pbxkit --load to baresip:\n${p.stdout}\n${p.stderr.slice(-3000)}`);
        const r = JSON.parse(p.stdout);
        assertEquals(r.answered, 1, JSON.stringify(r));
        const rtt = r.calls[0].rtt_ms;
        // loopback through rtpengine: well under 50 ms, and not zero (a round trip was measured)
        assert(typeof rtt === "number" && rtt > 0 && rtt < 50, `rtt_ms ${rtt}: ${JSON.stringify(r.calls[0])}`);
        console.log(`rtt_ms against baresip through rtpengine: ${rtt}`);
      } finally {
        await bob.stop();
      }
    });
  } finally {
    await pbx.close();
  }
});
