/**
 * `deno task bench call --load`: the most concurrent WebRTC calls `pbxkit call --load` holds with p50 loss < 1 % and
 * MOS p50 >= 4.0, through kamailio + rtpengine (WebRTC to RTP/AVP) to a sipp UAS echoing RTP, for each stack
 * (wrtc, werift). Steps N through `--steps` (default 10,20,40,80,120) at `--rate` new calls a second (default 10).
 * Each call is held N/rate + 2 s + `--plateau` (default 10 s), so that all N are up together for the plateau: a step
 * passes only when the generator saw N calls up at once (`peak_up`, and `peak_calls` in progress), every call was
 * answered, loss and MOS meet the bar, and the generator kept up (no late timers, starved media or saturated CPU:
 * past that point the numbers are this machine's, not the PBX's). A stack stops at its first failing step (with
 * `--keep-going` it runs every step, still marking the failing ones). Prints
 * CPU time (utime+stime of the pbxkit process, from its own report) beside the wall numbers and writes
 * `bench/out/call-load.json`. The Chromium-tab baseline of the issue is not run here (see docs/call.md).
 *
 * @module
 */

import { argValue, printTable, saveResults } from "./_util.ts";
import { callArgv, DOMAIN, Pbx } from "../tests/call/_pbx.ts";
import { UAS_XML } from "../tests/call/_sipp_echo.ts";
import { parseDuration } from "../lib/common/mod.ts";

/** How long the ramp to N calls takes, plus what the last call's setup may need. */
const RAMP_MARGIN_S = 2;

/** One step's outcome. */
interface Step {
  stack: string;
  n: number;
  hold_s: number;
  pass: boolean;
  why: string[];
  result?: Record<string, unknown>;
}

/** Why a step fails (empty: it passes). */
// deno-lint-ignore no-explicit-any
function verdict(n: number, r: any): string[] {
  const why: string[] = [];
  if (r.answered !== n || r.attempted !== n) why.push(`answered ${r.answered}/${r.attempted} of ${n}`);
  if (r.generator.peak_calls < n) why.push(`peak ${r.generator.peak_calls} calls in progress`);
  if (r.generator.peak_up < n) why.push(`peak ${r.generator.peak_up} calls up`);
  const loss = r.media.loss_pct.p50;
  if (loss === null || loss >= 1) why.push(`loss p50 ${loss}%`);
  const mos = r.media.mos.p50;
  if (mos === null || mos < 4) why.push(`MOS p50 ${mos}`);
  if (!r.generator.kept_up) why.push(`generator did not keep up: ${r.generator.warnings.join("; ")}`);
  return why;
}

/** Run the load cell. */
export async function run(args: string[]): Promise<void> {
  const steps = (argValue(args, "--steps") ?? "10,20,40,80,120").split(",").map(Number);
  const stacks = (argValue(args, "--stacks") ?? "wrtc,werift").split(",");
  const rate = Number(argValue(args, "--rate") ?? "10");
  const keepGoing = args.includes("--keep-going");
  const plateauS = parseDuration(argValue(args, "--plateau") ?? "10s", "--plateau") / 1000;
  if (steps.some((n) => !Number.isInteger(n) || n < 1) || !(rate > 0)) {
    throw new Error("bench call --load: --steps needs positive integers, --rate a positive number");
  }
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 }, staticRouteHost: "phone" });
  const done: Step[] = [];
  const rows: string[][] = [];
  try {
    const xml = `${pbx.dir}/uas.xml`;
    await Deno.writeTextFile(xml, UAS_XML);
    for (const stack of stacks) {
      for (const n of steps) {
        const holdS = Math.ceil(n / rate) + RAMP_MARGIN_S + plateauS;
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
          String(n),
          "-nostdin",
          "-timeout",
          `${Math.ceil(holdS * 2 + 60)}s`,
        ]);
        const p = pbx.pbxkit([
          ...callArgv(`sip:sipp@${DOMAIN}`, { ws: pbx.wsUrl, user: "alice" }),
          "--load",
          String(n),
          "--rate",
          String(rate),
          "--hold",
          `${holdS}s`,
          "--tone",
          "440",
          "--json",
          "--webrtc",
          stack,
        ]);
        const st = await p.done;
        await sipp.stop();
        let r;
        try {
          r = JSON.parse(p.stdout);
        } catch {
          const why = `no result (exit ${st.code}): ${p.stderr.slice(-500)}`;
          console.error(`bench call --load: ${stack} N=${n} gave ${why}`);
          done.push({ stack, n, hold_s: holdS, pass: false, why: [why] });
          break;
        }
        const why = verdict(n, r);
        const { calls: _calls, timeline: _timeline, ...summary } = r;
        done.push({ stack, n, hold_s: holdS, pass: why.length === 0, why, result: summary });
        const g = r.generator;
        rows.push([
          stack,
          String(n),
          `${g.peak_up}/${g.peak_calls}`,
          `${r.answered}/${r.attempted}`,
          String(r.media.loss_pct.p50),
          String(r.media.mos.p50),
          String(r.setup_ms.p50),
          String(r.media_ms.p50),
          String(g.cpu_s),
          String(g.wall_s),
          String(g.cpu_ms_per_call_second),
          String(g.memory_mib_per_call),
          `${g.timer_late_ms.p99}/${g.timer_late_ms.max}`,
          g.kept_up ? "yes" : "no",
          why.length ? "fail" : "PASS",
        ]);
        console.error(
          `bench call --load: ${rows[rows.length - 1].join(" ")}${why.length ? `: ${why.join("; ")}` : ""}`,
        );
        if (why.length && !keepGoing) break;
      }
    }
  } finally {
    await pbx.close();
  }
  printTable(
    `call --load through kamailio + rtpengine to a sipp RTP echo, ${rate} calls/s, all N up together for ${plateauS} s`,
    [
      "stack",
      "N",
      "peak up/in progress",
      "answered",
      "loss p50 %",
      "MOS p50",
      "setup p50 ms",
      "media p50 ms",
      "CPU s",
      "wall s",
      "CPU ms/call-s",
      "MiB/call",
      "timer late p99/max ms",
      "kept up",
      "",
    ],
    rows,
  );
  const best: Record<string, number> = {};
  for (const s of done) if (s.pass) best[s.stack] = Math.max(best[s.stack] ?? 0, s.n);
  for (const stack of stacks) {
    console.log(`${stack}: most concurrent calls held: ${best[stack] ?? "none of the steps"}`);
  }
  await saveResults("call-load", {
    method: "kamailio + rtpengine (DTLS-SRTP to RTP/AVP) to a sipp -rtp_echo UAS, in namespaces on this machine",
    rate,
    plateau_s: plateauS,
    cores: navigator.hardwareConcurrency,
    best,
    steps: done,
  });
}
