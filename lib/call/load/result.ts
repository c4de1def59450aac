/**
 * The load run's result, built from its calls and what the generator measured about itself: the summaries `--json`
 * prints, and the keep-up verdict (late timers, starved media, saturated CPU turn `kept_up` false with a warning).
 * Pure: `run.ts` gathers the inputs and logs the warnings.
 *
 * @module
 */

import { round, summarize } from "./stats.ts";
import type { CallResult, LoadOptions, LoadResult, TimelinePoint } from "./types.ts";

/** 20 ms packetisation: packets per second a healthy sender sends. */
export const PACKETS_PER_SECOND = 50;

/** Timer lateness (ms) above which the generator did not keep up: p99 over 50 ms or one tick over 250 ms. */
export const LATE_LIMITS = { p99Ms: 50, maxMs: 250 } as const;

/** Share of its due RTP packets a call must have sent, else its media was starved. */
export const STARVED_BELOW = 0.8;

/** Share of the machine's cores the process may use before the CPU counts as saturated. */
export const CPU_SATURATED = 0.9;

/**
 * Whether an answered call's media was starved: it sent under {@linkcode STARVED_BELOW} of the packets due for its
 * held time (capped at `holdMs`; calls held under a second are not judged).
 */
export function isStarved(o: { answered: boolean; packetsSent?: number; heldS: number; holdMs: number }): boolean {
  return o.answered && o.packetsSent !== undefined && o.heldS >= 1 &&
    o.packetsSent < STARVED_BELOW * PACKETS_PER_SECOND * Math.min(o.heldS, o.holdMs / 1000);
}

/** What the generator measured about itself. */
export interface KeepUpInput {
  /** How late each scheduler tick fired (ms). */
  tickLateMs: readonly number[];
  /** Calls whose media was starved ({@linkcode isStarved}). */
  starvedCalls: number;
  /** CPU time of the process (s). */
  cpuS: number;
  /** Wall time of the run (s). */
  wallS: number;
  /** CPU cores of the machine. */
  cores: number;
}

/** The keep-up verdict. */
export interface KeepUpVerdict {
  /** False when any warning applies. */
  keptUp: boolean;
  /** One line per reason ("generator could not keep up: ..."). */
  warnings: string[];
}

/** Decide whether the generator kept up (and why not). */
export function keepUpVerdict(x: KeepUpInput): KeepUpVerdict {
  const late = summarize(x.tickLateMs);
  const warnings: string[] = [];
  if (late.p99 > LATE_LIMITS.p99Ms || late.max > LATE_LIMITS.maxMs) {
    warnings.push(
      `generator could not keep up: its timers ran late (p99 ${late.p99.toFixed(0)} ms, max ${
        late.max.toFixed(0)
      } ms); loss and setup times may be this machine's, not the PBX's`,
    );
  }
  if (x.starvedCalls) {
    warnings.push(
      `generator could not keep up: ${x.starvedCalls} call(s) sent under ${
        100 * STARVED_BELOW
      }% of their RTP packets (media starved)`,
    );
  }
  if (x.cpuS / Math.max(0.001, x.wallS) > CPU_SATURATED * Math.max(1, x.cores)) {
    warnings.push("generator could not keep up: CPU saturated");
  }
  return { keptUp: warnings.length === 0, warnings };
}

/** What {@linkcode buildResult} needs beside the calls. */
export interface BuildContext {
  /** Calls up and cps, each second. */
  timeline: TimelinePoint[];
  /** How late each scheduler tick fired (ms). */
  tickLate: number[];
  /** Wall time of the run (s). */
  wallS: number;
  /** CPU time of the process (s). */
  cpuS: number;
  /** RSS growth at the peak (bytes). */
  rssDelta: number;
  /** Most calls in progress at once. */
  peakCalls: number;
  /** Most calls answered and up at once. */
  peakUp: number;
  /** Most a call start was behind its due time (ms). */
  schedLateMaxMs: number;
  /** WebRTC stack name. */
  webrtc: string;
  /** What was asked. */
  options: LoadOptions;
  /** CPU cores of the machine (default: `navigator.hardwareConcurrency`). */
  cores?: number;
}

/** Build the result `--json` prints from the calls (sorted by id) and the generator's own numbers. */
export function buildResult(calls: CallResult[], x: BuildContext): LoadResult {
  const answered = calls.filter((c) => c.status === "answered");
  const num = (v: (number | null)[]) => v.map((n) => n ?? NaN);
  const setup = summarize(num(answered.map((c) => c.setup_ms)));
  const media = summarize(num(answered.map((c) => c.media_ms)));
  const loss = summarize(num(answered.map((c) => c.loss_pct)));
  const jitter = summarize(num(answered.map((c) => c.jitter_ms)));
  const mos = summarize(num(answered.map((c) => c.mos)));
  const late = summarize(x.tickLate);
  const starved = calls.filter((c) => c.starved).length;
  const callSeconds = calls.reduce((a, c) => a + c.held_s, 0);
  const verdict = keepUpVerdict({
    tickLateMs: x.tickLate,
    starvedCalls: starved,
    cpuS: x.cpuS,
    wallS: x.wallS,
    cores: x.cores ?? (navigator.hardwareConcurrency || 1),
  });
  return {
    attempted: calls.length,
    answered: answered.length,
    failed: calls.length - answered.length,
    setup_ms: { p50: round(setup.p50, 1), p95: round(setup.p95, 1), p99: round(setup.p99, 1) },
    media_ms: { p50: round(media.p50, 1), p95: round(media.p95, 1), p99: round(media.p99, 1) },
    media: {
      loss_pct: { p50: round(loss.p50, 2), max: round(loss.max, 2) },
      jitter_ms: { p50: round(jitter.p50, 2), max: round(jitter.max, 2) },
      mos: { p50: round(mos.p50, 2), min: round(mos.min, 2) },
    },
    generator: {
      webrtc: x.webrtc,
      wall_s: round(x.wallS, 2)!,
      cpu_s: round(x.cpuS, 2)!,
      peak_calls: x.peakCalls,
      peak_up: x.peakUp,
      cpu_ms_per_call_second: callSeconds > 0 ? round((1000 * x.cpuS) / callSeconds, 2) : null,
      memory_mib_per_call: x.peakCalls > 0 ? round(x.rssDelta / 2 ** 20 / x.peakCalls, 2) : null,
      timer_late_ms: { p50: round(late.p50, 1), p99: round(late.p99, 1), max: round(late.max, 1) },
      start_late_max_ms: round(x.schedLateMaxMs, 1),
      starved_calls: starved,
      kept_up: verdict.keptUp,
      warnings: verdict.warnings,
    },
    options: {
      load: x.options.load,
      rate: x.options.rate,
      hold_ms: x.options.holdMs,
      duration_ms: x.options.durationMs ?? null,
    },
    timeline: x.timeline,
    calls,
  };
}
