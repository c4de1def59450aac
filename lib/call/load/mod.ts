/**
 * `pbxkit call TARGET --load N`: a WebRTC SIP load generator. Keeps N real JsSIP calls (ICE + DTLS-SRTP, audio) up
 * at once, opening R per second, and measures each call's setup time and media quality (loss, jitter, RTT, E-model
 * MOS) from `getStats()`. The scheduler (`scheduler.ts`) and the result with its keep-up verdict (`result.ts`) are
 * sans-I/O; `run.ts` is their adapter.
 *
 * @module
 */

import { checkOutputPath, openRead, PbxError, printJson, writeFileAtomic, writeStdout } from "../../common/mod.ts";
import type { CallSettings } from "../mod.ts";
import type { FailIfCheck } from "./fail_if.ts";
import { loadReportHtml } from "./report.ts";
import { runLoadTest } from "./run.ts";
import type { Account, LoadOptions, LoadResult } from "./types.ts";

export { FAIL_IF_METRICS, parseFailIf } from "./fail_if.ts";
export type { FailIfCheck } from "./fail_if.ts";
export { LoadScheduler } from "./scheduler.ts";
export type { SchedulerCommand, SchedulerOptions } from "./scheduler.ts";
export { CODEC_IMPAIRMENT, codecImpairment, delayImpairment, eModel, lossImpairment, mosFromR } from "./emodel.ts";
export type { CodecImpairment, EModelInput } from "./emodel.ts";
export { cdf, histogram, percentile, summarize } from "./stats.ts";
export type { Summary } from "./stats.ts";
export { loadReportHtml } from "./report.ts";
export {
  buildResult,
  CPU_SATURATED,
  isStarved,
  keepUpVerdict,
  LATE_LIMITS,
  PACKETS_PER_SECOND,
  STARVED_BELOW,
} from "./result.ts";
export type { BuildContext, KeepUpInput, KeepUpVerdict } from "./result.ts";
export { runLoadTest } from "./run.ts";
export type { CallSettings, DtmfMode, TlsTrust, WebrtcEngineName } from "../mod.ts";
export type { Account, CallResult, LoadOptions, LoadResult, Tail, TimelinePoint } from "./types.ts";

/** Parse a `--users` file: one account a line, `user password [auth-user]`; `#` comments and blank lines skipped. */
export function parseUsers(text: string, path = "--users"): Account[] {
  const out: Account[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*$/, "").trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    if (f.length < 2 || f.length > 3) {
      throw new PbxError("E_INVALID_INPUT", `${path}:${i + 1}: expected 'user password [auth-user]'`);
    }
    out.push({ user: f[0], password: f[1], authUser: f[2] });
  }
  if (!out.length) throw new PbxError("E_INVALID_INPUT", `${path}: no accounts`);
  return out;
}

/** Read a `--users` file. */
export async function readUsers(path: string): Promise<Account[]> {
  const f = await openRead(path, { what: "--users" });
  const text = await new Response(f.file.readable).text();
  return parseUsers(text, path);
}

/** What `pbxkit call --load` does with the result. */
export interface LoadOutput {
  /** Write the HTML report here. */
  report?: string;
  /** Thresholds that make the run fail. */
  failIf?: FailIfCheck[];
}

/** One text line summarising a result. */
export function loadSummaryLine(r: LoadResult): string {
  const f = (v: number | null) => (v === null ? "n/a" : String(v));
  return `load: ${r.attempted} attempted, ${r.answered} answered, ${r.failed} failed; setup p50 ${
    f(r.setup_ms.p50)
  } ms (media ${f(r.media_ms.p50)} ms); loss p50 ${f(r.media.loss_pct.p50)}% max ${f(r.media.loss_pct.max)}%; ` +
    `jitter p50 ${f(r.media.jitter_ms.p50)} ms; MOS p50 ${f(r.media.mos.p50)} min ${f(r.media.mos.min)}; ` +
    `${r.generator.cpu_ms_per_call_second ?? "n/a"} CPU ms per call-second` +
    (r.generator.kept_up ? "" : " (GENERATOR DID NOT KEEP UP)");
}

/** Run `pbxkit call --load`: the run, then `--json` or a summary, `--report`, and `--fail-if` as the exit status. */
export async function runLoad(s: CallSettings, o: LoadOptions & LoadOutput): Promise<number> {
  if (o.report) await checkOutputPath(o.report, { what: "--report" });
  const result = await runLoadTest(s, o);
  if (o.report) await writeFileAtomic(o.report, new TextEncoder().encode(loadReportHtml(result)));
  if (s.json) printJson(result);
  else writeStdout(loadSummaryLine(result) + "\n");
  const broken = (o.failIf ?? []).filter((c) => c.test(result));
  if (broken.length) {
    const why = broken.map((c) => `${c.text} (${c.value(result) ?? "no value"})`).join(", ");
    throw new PbxError("E_EXTERNAL", `--fail-if: ${why}`, { exitCode: 1 });
  }
  return 0;
}
