/**
 * Terminal tables and the `--json` document of a `cache-sim` run.
 *
 * @module
 */

import { formatTable } from "../common/mod.ts";
import type { CacheSimReport, Result } from "./run.ts";
import type { SeedResult } from "./seed/mod.ts";

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (us: number) => (us / 1000 < 10 ? (us / 1000).toFixed(2) : (us / 1000).toFixed(1));

/** The comparison table for a report. */
export function formatReport(report: CacheSimReport): string {
  const out: string[] = [];
  const t = report.trace;
  out.push(
    `trace: ${t.name} (${t.requests} requests${t.skippedLines ? `, ${t.skippedLines} malformed lines skipped` : ""})` +
      `, model ${report.model}, block ${report.blockSize} B`,
  );
  if (report.results.length > 0) {
    if (report.model === "object") {
      out.push(formatTable(
        ["policy", "size", "requests", "misses", "miss ratio", "byte miss"],
        report.results.map((
          r,
        ) => [r.policy, r.cacheSize, r.requests, r.misses, pct(r.missRatio), pct(r.byteMissRatio)]),
      ));
    } else {
      const rows = report.results as SeedResult[];
      const crash = rows.some((r) => r.lostAtCrash);
      const header = [
        "policy",
        "sched",
        "writeback",
        "size",
        "miss",
        "byte miss",
        "disk R",
        "disk W",
        "absorbed",
        "seek/io",
        "rd p50 ms",
        "rd p99 ms",
        "rd max ms",
        "wr p50 ms",
        "wr p99 ms",
        "max dirty",
        "oldest dirty s",
        "unwritten avg",
      ];
      if (crash) header.push("lost@crash");
      out.push(formatTable(
        header,
        rows.map((r) => {
          const row: (string | number)[] = [
            r.policy,
            r.scheduler,
            r.writeback,
            r.cacheSize,
            pct(r.missRatio),
            pct(r.byteMissRatio),
            r.diskReads,
            r.diskWrites,
            r.writesAbsorbed,
            Math.round(r.seekMean),
            ms(r.readLatencyUs.p50),
            ms(r.readLatencyUs.p99),
            ms(r.readLatencyUs.max),
            ms(r.writeLatencyUs.p50),
            ms(r.writeLatencyUs.p99),
            r.maxDirtyBlocks,
            (r.oldestDirtyAgeMs / 1000).toFixed(2),
            r.meanUnwrittenBlocks.toFixed(1),
          ];
          if (crash) row.push(r.lostAtCrash ? `${r.lostAtCrash.blocks} blk` : "-");
          return row;
        }),
      ));
      const bad = rows.filter((r) => r.invariantViolations > 0);
      for (const r of bad) {
        out.push(
          `INVARIANT VIOLATIONS (${r.policy}/${r.scheduler}/${r.writeback}/${r.cacheSize}): ${r.invariantViolations}`,
        );
        for (const m of r.invariantMessages) out.push(`  ${m}`);
      }
    }
  }
  const byVolume = report.results.filter((r) => r.volumes && r.volumes.length > 1);
  if (byVolume.length > 0) {
    const seed = report.model === "seed";
    const header = ["policy", "size", "volume", "requests", "hits", "misses", "miss ratio"];
    if (seed) header.push("disk R", "disk W");
    out.push("\nby volume:");
    out.push(formatTable(
      header,
      byVolume.flatMap((r) =>
        r.volumes!.map((v) => {
          const row: (string | number)[] = [
            seed ? `${r.policy}/${r.scheduler}/${r.writeback}` : r.policy,
            r.cacheSize,
            v.volume,
            v.requests,
            v.hits,
            v.misses,
            pct(v.missRatio),
          ];
          if (seed) row.push(v.diskReads ?? 0, v.diskWrites ?? 0);
          return row;
        })
      ),
    ));
  }
  if (report.mrc) {
    const pts = report.mrc.points;
    const step = Math.max(1, Math.ceil(pts.length / 16));
    out.push(
      `\nLRU miss-ratio curve (${report.mrc.method}${
        report.mrc.method === "shards" ? `, sample rate ${report.mrc.sampleRate}` : ""
      }):`,
    );
    out.push(formatTable(
      ["cache size", "miss ratio"],
      pts.filter((_, i) => i % step === 0 || i === pts.length - 1).map((p) => [p.cacheSize, pct(p.missRatio)]),
    ));
  }
  out.push(`(${report.elapsedSeconds.toFixed(2)} s)`);
  return out.join("\n");
}

/** The `--json` document: `{results: [...]}` plus trace, model and curve; chart series left out. */
export function reportJson(report: CacheSimReport): Record<string, unknown> {
  return {
    trace: report.trace,
    model: report.model,
    blockSize: report.blockSize,
    results: report.results.map((r: Result) => {
      if (r.model !== "seed") return r;
      const { series: _series, ...rest } = r;
      return rest;
    }),
    ...(report.mrc ? { mrc: report.mrc } : {}),
    elapsedSeconds: report.elapsedSeconds,
  };
}
