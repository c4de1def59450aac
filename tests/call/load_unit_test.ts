/**
 * Unit tests of the load run's sans-I/O parts: the scheduler on a fake clock, the E-model against values worked by
 * hand from ITU-T G.107's formulas, the percentile helpers against a plain sort-and-index reference, and the
 * keep-up verdict (late timers, starved media, saturated CPU) against its documented limits.
 *
 * @module
 */

import { assert, assertAlmostEquals, assertEquals } from "../_util/assert.ts";
import { LoadScheduler, type SchedulerCommand } from "../../lib/call/load/scheduler.ts";
import { codecImpairment, delayImpairment, eModel, mosFromR } from "../../lib/call/load/emodel.ts";
import { cdf, histogram, percentile } from "../../lib/call/load/stats.ts";
import { parseFailIf } from "../../lib/call/load/fail_if.ts";
import { parseUsers } from "../../lib/call/load/mod.ts";
import { type BuildContext, buildResult, isStarved, keepUpVerdict } from "../../lib/call/load/result.ts";
import type { CallResult } from "../../lib/call/load/types.ts";

/** Drive a scheduler with a fake clock: every call answers `answerMs` after start, ends right when stopped. */
function simulate(s: LoadScheduler, o: { answerMs: number; stepMs: number; untilMs: number; failEvery?: number }) {
  const log: { t: number; cmd: SchedulerCommand }[] = [];
  const answerAt = new Map<number, number>();
  let maxActive = 0;
  for (let t = 0; t <= o.untilMs; t += o.stepMs) {
    for (const [id, at] of answerAt) {
      if (t >= at) {
        answerAt.delete(id);
        if (o.failEvery && id % o.failEvery === 0) s.callEnded(id, { answered: false, ok: false });
        else s.callUp(id, t);
      }
    }
    for (const cmd of s.tick(t)) {
      log.push({ t, cmd });
      if (cmd.kind === "start") answerAt.set(cmd.id, t + o.answerMs);
      else s.callEnded(cmd.id, { answered: true, ok: true });
    }
    maxActive = Math.max(maxActive, s.active);
    if (s.done(t)) return { log, maxActive, doneAt: t };
  }
  return { log, maxActive, doneAt: -1 };
}

Deno.test("scheduler: one round of N at R per second, each held", () => {
  const s = new LoadScheduler({ target: 10, rate: 2, holdMs: 3000 });
  const r = simulate(s, { answerMs: 100, stepMs: 10, untilMs: 60_000 });
  const starts = r.log.filter((e) => e.cmd.kind === "start");
  assertEquals(starts.length, 10);
  // paced at 2/s: start k at 500k ms
  assertEquals(starts.map((e) => e.t), [0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500]);
  const stops = r.log.filter((e) => e.cmd.kind === "stop");
  assertEquals(stops.length, 10);
  // each stop is hold after its answer (start + 100 ms)
  for (const st of stops) {
    const start = starts.find((e) => e.cmd.id === st.cmd.id)!;
    assertEquals(st.t - start.t, 3100);
  }
  assertEquals(r.doneAt, 4500 + 3100);
  assertEquals(s.counts, { started: 10, ended: 10, answered: 10, failed: 0 });
  assertEquals(s.lateness.maxMs, 0);
});

Deno.test("scheduler: --duration keeps N up and replaces ended calls, never above N, paced", () => {
  const s = new LoadScheduler({ target: 4, rate: 10, holdMs: 1000, durationMs: 5000 });
  const r = simulate(s, { answerMs: 50, stepMs: 10, untilMs: 20_000 });
  assertEquals(r.maxActive, 4);
  const starts = r.log.filter((e) => e.cmd.kind === "start").map((e) => e.t);
  for (let i = 1; i < starts.length; i++) assert(starts[i] - starts[i - 1] >= 100, `paced: ${starts}`);
  assert(starts.every((t) => t < 5000), "nothing started after the duration");
  // 5 s / (1.05 s per call) ~ 4.76 rounds of 4: at least 16 calls, at most 4 * 5
  assert(starts.length >= 16 && starts.length <= 20, `${starts.length} starts`);
  assert(r.doneAt >= 5000 && r.doneAt <= 5010, `done at ${r.doneAt}`);
});

Deno.test("scheduler: failed calls are replaced and counted; late ticks are measured", () => {
  const s = new LoadScheduler({ target: 3, rate: 100, holdMs: 200, durationMs: 2000 });
  const r = simulate(s, { answerMs: 20, stepMs: 10, untilMs: 10_000, failEvery: 2 });
  const c = s.counts;
  assertEquals(c.started, c.ended);
  assertEquals(c.failed, Math.floor(c.started / 2));
  assert(r.doneAt > 0);
  const late = new LoadScheduler({ target: 5, rate: 10, holdMs: 1000 });
  late.tick(0);
  const cmds = late.tick(450); // the timer fired 350 ms after the second start was due
  assertEquals(cmds.length, 4);
  assertEquals(late.lateness.maxMs, 350);
});

Deno.test("E-model: G.107 values computed by hand", () => {
  // Idd = 25 * ((1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2), X = log2(Ta / 100)
  // Ta = 300: X = 1.58496, X^6 = 15.796, 16.796^(1/6) = 1.60058; (X/3)^6 = 0.021665, 1.021665^(1/6) = 1.003579
  // Idd = 25 * (1.60058 - 3.010737 + 2) = 14.746
  assertAlmostEquals(delayImpairment(300), 14.76, 0.02);
  assertEquals(delayImpairment(100), 0);
  assertEquals(delayImpairment(40), 0);
  // no impairment: R = 93.2, MOS = 1 + 0.035 * 93.2 + 93.2 * 33.2 * 6.8 * 7e-6 = 4.262 + 0.14729 = 4.409
  const g711 = codecImpairment("PCMU/8000");
  assertAlmostEquals(eModel({ delayMs: 50, lossPct: 0, codec: g711 }).mos, 4.409, 0.001);
  // 5 % loss, G.711 with PLC (Bpl 25.1): Ie,eff = 95 * 5 / 30.1 = 15.781, R = 77.419
  // MOS = 1 + 2.70966 + 77.419 * 17.419 * 22.581 * 7e-6 = 3.7097 + 0.21316 = 3.923
  const lossy = eModel({ delayMs: 50, lossPct: 5, codec: g711 });
  assertAlmostEquals(lossy.r, 77.419, 0.01);
  assertAlmostEquals(lossy.mos, 3.923, 0.002);
  // without PLC (Bpl 4.3): Ie,eff = 95 * 5 / 9.3 = 51.075, R = 42.125, MOS = 2.169
  assertAlmostEquals(
    eModel({ delayMs: 50, lossPct: 5, codec: codecImpairment("pcmu", { plc: false }) }).mos,
    2.169,
    0.002,
  );
  assertEquals(mosFromR(-5), 1);
  assertEquals(mosFromR(120), 4.5);
  assertEquals(mosFromR(3), 1); // G.107's polynomial dips below 1 for tiny R: clamped
});

Deno.test("stats: nearest-rank percentiles match a sort-and-index reference; CDF and histogram", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const n of [1, 2, 10, 99, 1000]) {
    const v = Array.from({ length: n }, () => Math.round(rnd() * 1000) / 10);
    const sorted = [...v].sort((a, b) => a - b);
    for (const p of [1, 50, 95, 99, 100]) {
      assertEquals(percentile(v, p), sorted[Math.max(1, Math.ceil((p * n) / 100)) - 1], `n=${n} p=${p}`);
    }
  }
  assert(Number.isNaN(percentile([], 50)));
  assertEquals(cdf([3, 1, 2]), [[1, 1 / 3], [2, 2 / 3], [3, 1]]);
  assertEquals(histogram([1, 1.4, 2.2, 4.49, 9], { from: 1, width: 0.5, bins: 7 }), [2, 0, 1, 0, 0, 0, 2]);
});

Deno.test("fail-if: parses thresholds, rejects bad ones, evaluates against a result", () => {
  const checks = parseFailIf("loss_pct.p50>1, mos.min<3.5,failed>0");
  assertEquals(checks.length, 3);
  const result = { failed: 0, media: { loss_pct: { p50: 4.8, max: 6 }, mos: { p50: 3.9, min: 3.6 } } };
  const broken = checks.filter((c) => c.test(result)).map((c) => c.text);
  assertEquals(broken, ["loss_pct.p50>1"]);
  for (const bad of ["loss>1", "mos.min<<3", "failed>", "setup_ms.p42>1"]) {
    let threw = false;
    try {
      parseFailIf(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

Deno.test("--users: 'user password [auth-user]' lines, comments skipped, bad lines named", () => {
  assertEquals(parseUsers("# callers\nalice s1\n\nbob@pbx.test s2 bob-auth  # second\n"), [
    { user: "alice", password: "s1", authUser: undefined },
    { user: "bob@pbx.test", password: "s2", authUser: "bob-auth" },
  ]);
  for (const bad of ["alice\n", "a b c d\n", "# nothing\n"]) {
    let msg = "";
    try {
      parseUsers(bad, "u.txt");
    } catch (err) {
      msg = (err as Error).message;
    }
    assert(msg.startsWith("u.txt"), `${JSON.stringify(bad)}: ${msg}`);
  }
});

/** A call as run.ts reports it, with the starved flag computed the way run.ts does. */
function call(id: number, o: { sent: number; heldS?: number; holdMs?: number; status?: string }): CallResult {
  const heldS = o.heldS ?? 8;
  const answered = (o.status ?? "answered") === "answered";
  return {
    id,
    status: o.status ?? "answered",
    setup_ms: 20,
    media_ms: 40,
    loss_pct: 0,
    jitter_ms: 1,
    rtt_ms: null,
    mos: 4.41,
    packets_received: o.sent,
    packets_sent: o.sent,
    held_s: heldS,
    codec: "PCMU/8000",
    cause: "Terminated",
    started_s: id / 10,
    starved: isStarved({ answered, packetsSent: o.sent, heldS, holdMs: o.holdMs ?? 8000 }),
  };
}

function context(o: { tickLate: number[]; cpuS?: number; wallS?: number; cores?: number }): BuildContext {
  return {
    timeline: [],
    tickLate: o.tickLate,
    wallS: o.wallS ?? 10,
    cpuS: o.cpuS ?? 1,
    rssDelta: 0,
    peakCalls: 3,
    peakUp: 3,
    schedLateMaxMs: 0,
    webrtc: "wrtc",
    options: { load: 3, rate: 3, holdMs: 8000, registerEach: false },
    cores: o.cores ?? 2,
  };
}

/** 500 ticks late by `base` ms, with `spikes` of them late by `spike` ms. */
function ticks(base: number, spikes = 0, spike = 0): number[] {
  return Array.from({ length: 500 }, (_, i) => (i < spikes ? spike : base));
}

Deno.test("keep-up: a clean run keeps up with no warnings", () => {
  const r = buildResult(
    [call(1, { sent: 400 }), call(2, { sent: 399 }), call(3, { sent: 401 })],
    context({
      tickLate: ticks(1, 10, 40), // 10 of 500 late by 40 ms: p99 40 ms, max 40 ms, under both limits
    }),
  );
  assertEquals(r.generator.kept_up, true);
  assertEquals(r.generator.warnings, []);
  assertEquals(r.generator.starved_calls, 0);
  assertEquals(r.generator.timer_late_ms, { p50: 1, p99: 40, max: 40 });
});

Deno.test("keep-up: late timers (p99 over 50 ms, or one tick over 250 ms) turn kept_up false", () => {
  // 6 of 500 ticks late by 80 ms: the 99th percentile (rank 495 of 500) is 80
  const p99 = keepUpVerdict({ tickLateMs: ticks(1, 6, 80), starvedCalls: 0, cpuS: 1, wallS: 10, cores: 2 });
  assertEquals(p99.keptUp, false);
  assertEquals(p99.warnings.length, 1);
  assert(p99.warnings[0].startsWith("generator could not keep up: its timers ran late (p99 80 ms, max 80 ms)"));
  // one tick 300 ms late: p99 stays 1 ms, the max decides
  const spike = keepUpVerdict({ tickLateMs: ticks(1, 1, 300), starvedCalls: 0, cpuS: 1, wallS: 10, cores: 2 });
  assertEquals(spike.keptUp, false);
  assert(spike.warnings[0].includes("(p99 1 ms, max 300 ms)"), spike.warnings[0]);
  // 5 of 500 at 80 ms is exactly 1 %: p99 is the 495th value, still 1 ms; max 80 < 250
  assertEquals(
    keepUpVerdict({ tickLateMs: ticks(1, 5, 80), starvedCalls: 0, cpuS: 1, wallS: 10, cores: 2 }).keptUp,
    true,
  );
});

Deno.test("keep-up: starved calls (under 80% of their RTP packets sent) turn kept_up false", () => {
  // held 8 s: 400 packets due at 50/s, 320 is the 80 % line
  assertEquals(call(1, { sent: 319 }).starved, true);
  assertEquals(call(1, { sent: 320 }).starved, false);
  // held longer than --hold (the BYE took a while): judged on --hold
  assertEquals(call(1, { sent: 330, heldS: 12 }).starved, false);
  // too short to judge, or not answered
  assertEquals(call(1, { sent: 0, heldS: 0.5 }).starved, false);
  assertEquals(call(1, { sent: 0, status: "busy" }).starved, false);
  const r = buildResult(
    [call(1, { sent: 400 }), call(2, { sent: 150 }), call(3, { sent: 200 })],
    context({
      tickLate: ticks(1),
    }),
  );
  assertEquals(r.generator.starved_calls, 2);
  assertEquals(r.generator.kept_up, false);
  assertEquals(r.generator.warnings, [
    "generator could not keep up: 2 call(s) sent under 80% of their RTP packets (media starved)",
  ]);
});

Deno.test("keep-up: a saturated CPU turns kept_up false; every reason is listed", () => {
  // 2 cores: the limit is 1.8 CPU seconds per wall second
  assertEquals(keepUpVerdict({ tickLateMs: ticks(1), starvedCalls: 0, cpuS: 17.9, wallS: 10, cores: 2 }).keptUp, true);
  const hot = keepUpVerdict({ tickLateMs: ticks(1), starvedCalls: 0, cpuS: 18.5, wallS: 10, cores: 2 });
  assertEquals(hot.warnings, ["generator could not keep up: CPU saturated"]);
  const r = buildResult([call(1, { sent: 100 })], context({ tickLate: ticks(2, 10, 400), cpuS: 19, wallS: 10 }));
  assertEquals(r.generator.kept_up, false);
  assertEquals(r.generator.warnings.length, 3, r.generator.warnings.join("\n"));
});
