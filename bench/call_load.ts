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
 * `bench/out/call-load.json`.
 *
 * The `chromium` stack is the anchors' method, the baseline of the issue: K tabs of the webphone page
 * (lib/call/webphone.ts, served by `pbxkit ws-serve --webphone --proxy` over wss:// to kamailio) in one headless
 * Chromium with a fake microphone, each calling the same sipp echo (`bench/_chromium_tabs.ts`), K through
 * `--tab-steps` (default 5,10,20,40), opened `--tab-concurrency` (default 8) at a time. All K tabs are in their calls
 * together for the plateau; each tab's loss and jitter are Chromium's own `getStats()` figures and its MOS is
 * lib/call/load's E-model on them, as for pbxkit. A step passes when every tab got into its call, loss p50 < 1 %,
 * MOS p50 >= 4, no tab's media starved, and the browser's process tree did not saturate the CPU over the plateau.
 * The last lines print the most each stack held and the wrtc / chromium ratio. Each step also records the machine's
 * load (1-minute load average, busy share of all cores), since the machine is shared.
 *
 * @module
 */

import { argValue, printTable, ratio, saveResults } from "./_util.ts";
import { callArgv, DOMAIN, Pbx, USERS } from "../tests/call/_pbx.ts";
import { UAS_XML } from "../tests/call/_sipp_echo.ts";
import { CHROMIUM } from "../tests/call/_webphone_page.ts";
import { denoRunArgv, missing, ROOT } from "../tests/_util/mod.ts";
import { parseDuration } from "../lib/common/mod.ts";
import { mediaColumns, snapshotOf } from "../lib/call/load/media_stats.ts";
import { CPU_SATURATED, isStarved } from "../lib/call/load/result.ts";
import { round, summarize } from "../lib/call/load/stats.ts";

/** How long the ramp to N calls takes, plus what the last call's setup may need. */
const RAMP_MARGIN_S = 2;

/** How long the Chromium baseline may take to open its K tabs: this plus {@linkcode RAMP_PER_TAB_S} per tab (s). */
const RAMP_BASE_S = 30;
/** Ramp allowance per tab (s); a tab that could not be opened in time counts as a call that did not come up. */
const RAMP_PER_TAB_S = 5;

/** The machine's CPU counters (all cores): busy and total jiffies, from /proc/stat. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const f = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

/** Load conditions of a step: 1-minute load average at its start and the whole machine's busy share over it. */
async function conditions<T>(body: () => Promise<T>): Promise<{ value: T; machine: Record<string, number | null> }> {
  const load1 = Deno.loadavg()[0];
  const a = await machineCpu();
  const value = await body();
  const b = await machineCpu();
  const busy = b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : NaN;
  return { value, machine: { loadavg_1m: round(load1, 1), busy_pct: round(busy, 0) } };
}

/** One step's outcome. */
interface Step {
  stack: string;
  n: number;
  hold_s: number;
  pass: boolean;
  why: string[];
  result?: Record<string, unknown>;
  /** Load conditions over the step (the machine is shared). */
  machine?: Record<string, number | null>;
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

/** The sipp echo UAS for `n` calls on the phone host (answers PCMU, echoes RTP, waits for BYE). */
function sippEcho(pbx: Pbx, xml: string, n: number, timeoutS: number) {
  return pbx.sippEcho(xml, n, ["-timeout", `${Math.ceil(timeoutS)}s`]);
}

/** One tab's numbers, from Chromium's getStats() through lib/call/load's snapshot and E-model. */
// deno-lint-ignore no-explicit-any
function tabResult(tab: any) {
  const snap = tab.in_call ? snapshotOf(tab.entries ?? []) : undefined;
  // deno-lint-ignore no-explicit-any
  const entries: any[] = tab.entries ?? [];
  const inbound = entries.find((e) => e.type === "inbound-rtp" && (e.kind ?? "audio") === "audio");
  const mime = entries.find((e) => e.type === "codec" && e.id === inbound?.codecId)?.mimeType as string | undefined;
  const codec = mime?.split("/")[1];
  const heldS = tab.held_s ?? 0;
  return {
    status: tab.in_call ? "answered" : "failed",
    error: tab.error ?? null,
    setup_ms: tab.setup_ms ?? null,
    codec: codec ?? null,
    ...mediaColumns(snap, codec),
    page_in_packets: tab.page?.inPackets ?? null,
    held_s: round(heldS, 1),
    starved: isStarved({ answered: !!tab.in_call, packetsSent: snap?.packetsSent, heldS, holdMs: heldS * 1000 }),
  };
}

/** Run the Chromium-tab baseline for each K (stopping at the first failing step unless `keepGoing`). */
async function chromiumSteps(
  pbx: Pbx,
  o: { xml: string; steps: number[]; plateauS: number; keepGoing: boolean; concurrency: number },
  done: Step[],
  rows: string[][],
): Promise<void> {
  const url = (await pbx.wsServeWebphone(30_000)).page;
  const cores = navigator.hardwareConcurrency;
  for (const k of o.steps) {
    const rampS = RAMP_BASE_S + RAMP_PER_TAB_S * k;
    // in-flight tabs may still take their page-load, register and call timeouts (30 s each) after the ramp
    const budgetS = rampS + 90 + o.plateauS + 60;
    const sipp = sippEcho(pbx, o.xml, k, budgetS * 2);
    const drv = pbx.spawn(
      "pbx",
      denoRunArgv(`${ROOT}/bench/_chromium_tabs.ts`, [
        url,
        `sip:carol@${DOMAIN}`,
        USERS.carol,
        "sipp",
        String(k),
        String(o.plateauS),
        String(rampS),
        String(o.concurrency),
      ]),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const { value: timedOut, machine } = await conditions(() =>
      Promise.race([
        drv.done.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), budgetS * 1000)),
      ])
    );
    clearTimeout(timer);
    if (timedOut) await drv.stop("SIGTERM", 5000);
    await sipp.stop();
    // deno-lint-ignore no-explicit-any
    let r: any;
    try {
      r = JSON.parse(drv.stdout.trim().split("\n").pop() ?? "");
    } catch {
      r = undefined;
    }
    if (!r || r.error || !Array.isArray(r.tabs)) {
      const why = `no result${timedOut ? ` (timed out after ${budgetS} s)` : ""}: ${
        r?.error ?? drv.stderr.slice(-400)
      }`;
      console.error(`bench call --load: chromium K=${k} gave ${why}`);
      done.push({ stack: "chromium", n: k, hold_s: o.plateauS, pass: false, why: [why], machine });
      break;
    }
    const calls = r.tabs.map(tabResult);
    const up = calls.filter((c: { status: string }) => c.status === "answered").length;
    const loss = summarize(calls.map((c: { loss_pct: number | null }) => c.loss_pct ?? NaN));
    const mos = summarize(calls.map((c: { mos: number | null }) => c.mos ?? NaN));
    const jitter = summarize(calls.map((c: { jitter_ms: number | null }) => c.jitter_ms ?? NaN));
    const setup = summarize(calls.map((c: { setup_ms: number | null }) => c.setup_ms ?? NaN));
    const starved = calls.filter((c: { starved: boolean }) => c.starved).length;
    const cpuCores = r.plateau.cpu_s / Math.max(0.001, r.plateau.wall_s);
    const saturated = cpuCores > CPU_SATURATED * Math.max(1, cores);
    const why: string[] = [];
    if (up !== k) {
      const errs = [...new Set(calls.map((c: { error: string | null }) => c.error).filter(Boolean))].slice(0, 2);
      why.push(`in call ${up}/${k}${errs.length ? ` (${errs.join("; ")})` : ""}`);
    }
    if (!(loss.p50 < 1)) why.push(`loss p50 ${round(loss.p50, 2)}%`);
    if (!(mos.p50 >= 4)) why.push(`MOS p50 ${round(mos.p50, 2)}`);
    if (starved) why.push(`${starved} tab(s) sent under 80% of their RTP packets (media starved)`);
    if (saturated) why.push(`browser CPU saturated (${cpuCores.toFixed(2)} of ${cores} cores over the plateau)`);
    const summary = {
      attempted: k,
      answered: up,
      setup_ms: { p50: round(setup.p50, 0), p95: round(setup.p95, 0) },
      media: {
        loss_pct: { p50: round(loss.p50, 2), max: round(loss.max, 2) },
        jitter_ms: { p50: round(jitter.p50, 2), max: round(jitter.max, 2) },
        mos: { p50: round(mos.p50, 2), min: round(mos.min, 2) },
      },
      browser: {
        ramp_s: round(r.ramp_s, 1),
        plateau_s: round(r.plateau.wall_s, 1),
        plateau_cpu_s: round(r.plateau.cpu_s, 2),
        cpu_cores: round(cpuCores, 2),
        cpu_ms_per_call_second: round((1000 * r.plateau.cpu_s) / (Math.max(1, up) * r.plateau.wall_s), 2),
        pss_mib: round(r.plateau.pss_mib, 0),
        pss_mib_per_tab: round(r.plateau.pss_mib / k, 1),
        processes: r.plateau.processes,
        wall_s: round(r.wall_s, 1),
        starved_tabs: starved,
        saturated,
      },
      calls,
    };
    done.push({ stack: "chromium", n: k, hold_s: o.plateauS, pass: why.length === 0, why, result: summary, machine });
    rows.push([
      "chromium",
      String(k),
      `${up}/${k}`,
      `${up}/${k}`,
      String(summary.media.loss_pct.p50),
      String(summary.media.mos.p50),
      String(summary.setup_ms.p50),
      "-",
      String(summary.browser.plateau_cpu_s),
      String(summary.browser.wall_s),
      String(summary.browser.cpu_ms_per_call_second),
      String(summary.browser.pss_mib_per_tab),
      "-",
      starved || saturated ? "no" : "yes",
      `${machine.busy_pct} (${machine.loadavg_1m})`,
      why.length ? "fail" : "PASS",
    ]);
    console.error(`bench call --load: ${rows[rows.length - 1].join(" ")}${why.length ? `: ${why.join("; ")}` : ""}`);
    if (why.length && !o.keepGoing) break;
  }
}

/** Run the load cell. */
export async function run(args: string[]): Promise<void> {
  const steps = (argValue(args, "--steps") ?? "10,20,40,80,120").split(",").map(Number);
  const stacks = (argValue(args, "--stacks") ?? "wrtc,werift,chromium").split(",");
  const tabSteps = (argValue(args, "--tab-steps") ?? "5,10,20,40").split(",").map(Number);
  const tabConcurrency = Number(argValue(args, "--tab-concurrency") ?? "8");
  const rate = Number(argValue(args, "--rate") ?? "10");
  const keepGoing = args.includes("--keep-going");
  const plateauS = parseDuration(argValue(args, "--plateau") ?? "10s", "--plateau") / 1000;
  if ([...steps, ...tabSteps].some((n) => !Number.isInteger(n) || n < 1) || !(rate > 0)) {
    throw new Error("bench call --load: --steps and --tab-steps need positive integers, --rate a positive number");
  }
  if (!Number.isInteger(tabConcurrency) || tabConcurrency < 1) {
    throw new Error("bench call --load: --tab-concurrency needs a positive integer");
  }
  const unknown = stacks.filter((s) => !["wrtc", "werift", "chromium"].includes(s));
  if (unknown.length) throw new Error(`bench call --load: unknown stack ${unknown.join(",")} (wrtc, werift, chromium)`);
  const noBrowser = missing({ tools: [CHROMIUM] });
  if (stacks.includes("chromium") && noBrowser) {
    console.log(`peer chromium: ABSENT — ${noBrowser}; its rows are skipped in this run`);
    stacks.splice(stacks.indexOf("chromium"), 1);
  }
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 }, staticRouteHost: "phone" });
  const done: Step[] = [];
  const rows: string[][] = [];
  try {
    const xml = `${pbx.dir}/uas.xml`;
    await Deno.writeTextFile(xml, UAS_XML);
    for (const stack of stacks) {
      if (stack === "chromium") {
        await chromiumSteps(
          pbx,
          { xml, steps: tabSteps, plateauS, keepGoing, concurrency: tabConcurrency },
          done,
          rows,
        );
        continue;
      }
      for (const n of steps) {
        const holdS = Math.ceil(n / rate) + RAMP_MARGIN_S + plateauS;
        const sipp = sippEcho(pbx, xml, n, holdS * 2 + 60);
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
        const { value: st, machine } = await conditions(() => p.done);
        await sipp.stop();
        let r;
        try {
          r = JSON.parse(p.stdout);
        } catch {
          const why = `no result (exit ${st.code}): ${p.stderr.slice(-500)}`;
          console.error(`bench call --load: ${stack} N=${n} gave ${why}`);
          done.push({ stack, n, hold_s: holdS, pass: false, why: [why], machine });
          break;
        }
        const why = verdict(n, r);
        const { calls: _calls, timeline: _timeline, ...summary } = r;
        done.push({ stack, n, hold_s: holdS, pass: why.length === 0, why, result: summary, machine });
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
          `${machine.busy_pct} (${machine.loadavg_1m})`,
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
      "machine busy % (load 1m)",
      "",
    ],
    rows,
  );
  const best: Record<string, number> = {};
  for (const s of done) if (s.pass) best[s.stack] = Math.max(best[s.stack] ?? 0, s.n);
  printTable(
    "most concurrent calls held with p50 loss < 1 % and MOS p50 >= 4 (same machine, same PBX, same echo)",
    ["stack", "max N passed", "steps tried"],
    stacks.map((stack) => [
      stack === "chromium" ? "chromium tabs (webphone)" : `pbxkit call --load (${stack})`,
      String(best[stack] ?? "none"),
      done.filter((s) => s.stack === stack).map((s) => `${s.n}${s.pass ? "" : "✗"}`).join(","),
    ]),
  );
  if (stacks.includes("chromium")) {
    for (const stack of stacks.filter((s) => s !== "chromium")) {
      console.log(`${stack} / chromium tabs: ${ratio(best[stack] ?? NaN, best.chromium ?? NaN)}`);
    }
  }
  await saveResults("call-load", {
    method: "kamailio + rtpengine (DTLS-SRTP to RTP/AVP) to a sipp -rtp_echo UAS, in namespaces on this machine",
    chromium_method: "K tabs of the webphone (ws-serve --webphone --proxy over wss://) in one headless Chromium, " +
      "fake microphone, getStats() loss/jitter, lib/call/load E-model MOS",
    rate,
    plateau_s: plateauS,
    ratios: Object.fromEntries(
      stacks.filter((s) => s !== "chromium").map((s) => [`${s}/chromium`, ratio(best[s] ?? NaN, best.chromium ?? NaN)]),
    ),
    cores: navigator.hardwareConcurrency,
    best,
    steps: done,
  });
}
