/**
 * `--report load.html`: a self-contained HTML page (no scripts, no external resources) with the run's summary and
 * SVG charts: calls up and calls started per second over time, the setup-time CDF, and the MOS histogram.
 *
 * @module
 */

import { barChart, escapeXml, lineChart } from "../../common/mod.ts";
import { cdf, histogram } from "./stats.ts";
import type { LoadResult } from "./types.ts";

const MOS_FROM = 1, MOS_WIDTH = 0.25, MOS_BINS = 14;

/** Render the report page. */
export function loadReportHtml(r: LoadResult, options: { title?: string } = {}): string {
  const title = options.title ?? "pbxkit call --load";
  const tl = r.timeline.length ? r.timeline : [{ t: 0, up: 0, active: 0, cps: 0 }];
  const upChart = lineChart([
    { name: "calls up", points: tl.map((p) => [p.t, p.up] as const) },
    { name: "calls started/s", points: tl.map((p) => [p.t, p.cps] as const) },
  ], { title: "Calls up and calls per second", xLabel: "time (s)", yLabel: "calls" });
  const answered = r.calls.filter((c) => c.status === "answered");
  const setupPts = cdf(answered.map((c) => c.setup_ms ?? NaN));
  const mediaPts = cdf(answered.map((c) => c.media_ms ?? NaN));
  const setupChart = lineChart([
    { name: "INVITE to 200 OK", points: setupPts.length ? setupPts : [[0, 0]] },
    { name: "INVITE to media", points: mediaPts.length ? mediaPts : [[0, 0]] },
  ], { title: "Setup time (CDF)", xLabel: "ms", yLabel: "fraction of calls", yRange: [0, 1], step: true });
  const counts = histogram(answered.map((c) => c.mos ?? NaN), { from: MOS_FROM, width: MOS_WIDTH, bins: MOS_BINS });
  const mosChart = barChart(
    counts.map((n, i) => ({ label: (MOS_FROM + i * MOS_WIDTH).toFixed(2), values: [n] })),
    { title: "MOS estimate (E-model)", yLabel: "calls", seriesNames: ["calls"] },
  );
  const fmt = (v: number | null, unit = "") => v === null ? "n/a" : `${v}${unit}`;
  const g = r.generator;
  const rows: [string, string][] = [
    ["attempted / answered / failed", `${r.attempted} / ${r.answered} / ${r.failed}`],
    ["load, rate, hold", `${r.options.load} calls, ${r.options.rate}/s, ${r.options.hold_ms / 1000} s`],
    [
      "setup INVITE to 200 OK p50 / p95 / p99",
      `${fmt(r.setup_ms.p50)} / ${fmt(r.setup_ms.p95)} / ${fmt(r.setup_ms.p99)} ms`,
    ],
    [
      "setup INVITE to media p50 / p95 / p99",
      `${fmt(r.media_ms.p50)} / ${fmt(r.media_ms.p95)} / ${fmt(r.media_ms.p99)} ms`,
    ],
    ["loss p50 / max", `${fmt(r.media.loss_pct.p50, " %")} / ${fmt(r.media.loss_pct.max, " %")}`],
    ["jitter p50 / max", `${fmt(r.media.jitter_ms.p50, " ms")} / ${fmt(r.media.jitter_ms.max, " ms")}`],
    ["MOS p50 / min", `${fmt(r.media.mos.p50)} / ${fmt(r.media.mos.min)}`],
    ["generator", `${g.webrtc}, ${g.cpu_s} s CPU in ${g.wall_s} s, peak ${g.peak_calls} calls (${g.peak_up} up)`],
    ["CPU per call", `${fmt(g.cpu_ms_per_call_second)} ms per call-second`],
    ["memory per call", `${fmt(g.memory_mib_per_call)} MiB`],
    [
      "timer lateness p50 / p99 / max",
      `${fmt(g.timer_late_ms.p50)} / ${fmt(g.timer_late_ms.p99)} / ${fmt(g.timer_late_ms.max)} ms`,
    ],
    ["kept up", g.kept_up ? "yes" : "NO"],
  ];
  const table = rows.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join("\n");
  const warnings = g.warnings.map((w) => `<p class="warn">${escapeXml(w)}</p>`).join("\n");
  const strip = (svg: string) => svg.replace(/^<\?xml[^>]*>\s*/, "");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:900px}th{text-align:left;padding-right:2em}
.warn{color:#b00;font-weight:bold}figure{margin:1em 0}</style></head>
<body><h1>${escapeXml(title)}</h1>
${warnings}
<table>
${table}
</table>
<figure id="calls-up">${strip(upChart)}</figure>
<figure id="setup-cdf">${strip(setupChart)}</figure>
<figure id="mos-histogram">${strip(mosChart)}</figure>
</body></html>
`;
}
