/**
 * `--chart FILE.svg`: one SVG with stacked panels drawn by lib/common's `lineChart` — the miss ratio over cache
 * sizes (one line per policy, plus the exact/SHARDS LRU curve with `--mrc`), the read and write latency CDFs
 * (seed model), and acknowledged-but-unwritten (dirty) blocks over simulated time (seed model).
 *
 * @module
 */

import { lineChart, type Series } from "../common/mod.ts";
import type { CacheSimReport } from "./run.ts";
import type { SeedResult } from "./seed/mod.ts";

const W = 820, H = 440;

interface Row {
  policy: string;
  scheduler: string;
  writeback: string;
  cacheSize: number;
}

/** A legend label naming only what varies between the rows (legends are narrow). */
function labeller(rows: readonly Row[], withSize: boolean): (r: Row) => string {
  const varies = (f: (r: Row) => unknown) => new Set(rows.map(f)).size > 1;
  const sched = varies((r) => r.scheduler),
    wb = varies((r) => r.writeback),
    size = withSize && varies((r) => r.cacheSize);
  return (r) =>
    [
      r.policy,
      sched ? r.scheduler : "",
      wb ? r.writeback.replace("periodic", "per") : "",
      size ? String(r.cacheSize) : "",
    ]
      .filter(Boolean).join(" ");
}

/** Render the panels of a report as one SVG document. */
export function reportChart(report: CacheSimReport): string {
  const panels: string[] = [];
  // 1. miss ratio over cache sizes
  const groups = new Map<string, [number, number][]>();
  const groupLabel = labeller(report.results, false);
  for (const r of report.results) {
    const k = groupLabel(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push([r.cacheSize, r.missRatio]);
  }
  const mrSeries: Series[] = [...groups].map(([name, pts]) => ({ name, points: pts.sort((a, b) => a[0] - b[0]) }));
  if (report.mrc) {
    mrSeries.push({
      name: `LRU MRC (${report.mrc.method})`,
      points: report.mrc.points.map((p) => [p.cacheSize, p.missRatio] as const),
    });
  }
  if (mrSeries.length > 0) {
    panels.push(lineChart(mrSeries, {
      title: "Miss ratio over cache size",
      xLabel: `cache size (${report.model === "object" ? "objects" : "blocks"})`,
      yLabel: "miss ratio",
      logX: true,
      yRange: [0, 1],
      width: W,
      height: H,
    }));
  }
  if (report.model === "seed") {
    const rows = (report.results as SeedResult[]).slice(0, 9);
    const label = labeller(rows, true);
    const cdf = (pick: (r: SeedResult) => [number, number][], what: string) => {
      const series = rows.filter((r) => pick(r).length > 0).map((r) => ({
        name: label(r),
        points: pick(r).map(([x, y]) => [Math.max(x / 1000, 0.001), y] as const),
      }));
      if (series.length > 0) {
        panels.push(lineChart(series, {
          title: `${what} latency CDF`,
          xLabel: "latency (ms)",
          yLabel: "fraction ≤ x",
          logX: true,
          yRange: [0, 1],
          step: true,
          width: W,
          height: H,
        }));
      }
    };
    cdf((r) => r.series.readCdf, "Read");
    cdf((r) => r.series.writeCdf, "Write");
    const dirty = rows.map((r) => ({ name: label(r), points: r.series.dirty }));
    if (dirty.some((s) => s.points.length > 1)) {
      panels.push(lineChart(dirty, {
        title: "Acknowledged writes not on disk (what a crash would lose)",
        xLabel: "simulated time (s)",
        yLabel: "dirty blocks",
        width: W,
        height: H,
      }));
    }
  }
  return stack(panels);
}

/** Stack standalone SVG documents vertically into one. */
export function stack(svgs: readonly string[]): string {
  const inner = svgs.map((svg, i) => svg.replace("<svg ", `<svg x="0" y="${i * H}" `));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * Math.max(1, svgs.length)}" ` +
    `viewBox="0 0 ${W} ${H * Math.max(1, svgs.length)}">\n${inner.join("\n")}</svg>\n`;
}
