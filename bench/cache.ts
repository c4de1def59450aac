/**
 * `deno task bench cache`: LRU and ARC on a 10M-request zipf trace, pbxkit's object model against libCacheSim's
 * `cachesim` on the same oracleGeneral file in the same run: requests per second (wall clock of the whole process:
 * start-up, reading the 240 MB trace, simulating) and peak memory (VmHWM via GNU time), with the ratios, and a check
 * that both report the same miss ratio.
 *
 * Options: `--requests N` (10M), `--objects N` (1M), `--alpha A` (1.0), `--cache-size N` (100000 objects),
 * `--runs N` (3, median reported), `--cachesim PATH` (or env LIBCACHESIM_CACHESIM), `--keep` (keep the trace).
 *
 * @module
 */

import { barChart, hasCommand, runArgv } from "../lib/common/mod.ts";
import { generatedSource, parseCount, writeOracle } from "../lib/cache/mod.ts";
import { argValue, median, printTable, ratio, saveResults } from "./_util.ts";

interface Measure {
  wallSeconds: number;
  peakRssMiB: number;
  missRatio: number;
  simSeconds?: number;
}

function count(args: string[], name: string, fallback: string): number {
  const text = argValue(args, name) ?? fallback;
  return parseCount(text, `${name} ${text}`);
}

const TIME = "/usr/bin/time";

/** Run argv under GNU time (or without it), returning stdout, wall seconds and peak RSS. */
async function timed(argv: string[], cwd?: string): Promise<{ stdout: string; wall: number; rssKiB: number }> {
  const tmp = await Deno.makeTempFile({ prefix: "pbxkit-bench-time-" });
  try {
    const useTime = hasCommand(TIME);
    const full = useTime ? [TIME, "-o", tmp, "-f", "%e %M", ...argv] : argv;
    const t0 = performance.now();
    const { stdout } = await runArgv(full, { cwd, timeoutMs: 6 * 3600_000 });
    const wallJs = (performance.now() - t0) / 1000;
    if (!useTime) return { stdout, wall: wallJs, rssKiB: NaN };
    const [wall, rss] = (await Deno.readTextFile(tmp)).trim().split(/\s+/).slice(-2).map(Number);
    return { stdout, wall: wall > 0 ? wall : wallJs, rssKiB: rss };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** The benchmark. */
export async function run(args: string[]): Promise<void> {
  const requests = count(args, "--requests", "10M");
  const objects = count(args, "--objects", "1M");
  const alpha = Number(argValue(args, "--alpha") ?? "1.0");
  const cacheSize = count(args, "--cache-size", "100000");
  const runs = count(args, "--runs", "3");
  const cachesim = argValue(args, "--cachesim") ?? Deno.env.get("LIBCACHESIM_CACHESIM");
  const spec = `zipf,alpha=${alpha},objects=${objects},requests=${requests},seed=1,write=0`;
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-bench-cache-" });
  const trace = `${dir}/zipf.oracleGeneral`;
  console.log(`trace: ${spec} -> ${trace}`);
  const tg = performance.now();
  await writeOracle(generatedSource(spec), trace);
  console.log(`generated in ${((performance.now() - tg) / 1000).toFixed(1)} s`);

  let cachesimOk = false;
  let absentWhy = "";
  if (!cachesim) absentWhy = "pass --cachesim PATH or set LIBCACHESIM_CACHESIM to libCacheSim's cachesim binary";
  else {
    try {
      cachesimOk = (await Deno.stat(cachesim)).isFile;
    } catch {
      absentWhy = `${cachesim} does not exist`;
    }
  }
  if (!cachesimOk) console.log(`cachesim: ABSENT (${absentWhy}); only pbxkit's column is measured`);

  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const rows: (string | number)[][] = [];
  const data: Record<string, unknown>[] = [];
  const groups: { label: string; values: number[] }[] = [];
  try {
    for (const policy of ["lru", "arc"]) {
      const pb: Measure[] = [];
      const cs: Measure[] = [];
      for (let r = 0; r < runs; r++) {
        const p = await timed([
          Deno.execPath(),
          "run",
          "-A",
          "--quiet",
          "--config",
          config,
          cli,
          "cache-sim",
          "--trace",
          trace,
          "--format",
          "oracle",
          "--model",
          "object",
          "--policy",
          policy,
          "--cache-size",
          String(cacheSize),
          "--json",
        ]);
        const j = JSON.parse(p.stdout);
        pb.push({
          wallSeconds: p.wall,
          peakRssMiB: p.rssKiB / 1024,
          missRatio: j.results[0].missRatio,
          simSeconds: j.elapsedSeconds,
        });
        if (cachesimOk) {
          const c = await timed([
            cachesim!,
            trace,
            "oracleGeneral",
            policy,
            String(cacheSize),
            "--ignore-obj-size",
            "1",
            "--num-thread",
            "1",
          ], dir); // cachesim writes TRACE.cachesim into its working directory
          const m = /miss ratio ([\d.]+)/.exec(c.stdout);
          cs.push({ wallSeconds: c.wall, peakRssMiB: c.rssKiB / 1024, missRatio: m ? Number(m[1]) : NaN });
        }
      }
      const pw = median(pb.map((m) => m.wallSeconds)), pr = median(pb.map((m) => m.peakRssMiB));
      const pRate = requests / pw;
      rows.push([
        policy,
        "pbxkit",
        `${(pRate / 1e6).toFixed(2)}M`,
        pw.toFixed(2),
        pr.toFixed(0),
        pb[0].missRatio.toFixed(4),
      ]);
      const entry: Record<string, unknown> = {
        policy,
        pbxkit: { requestsPerSecond: pRate, wallSeconds: pw, peakRssMiB: pr, missRatio: pb[0].missRatio, runs: pb },
      };
      const group = { label: policy.toUpperCase(), values: [pRate / 1e6] };
      if (cachesimOk) {
        const cw = median(cs.map((m) => m.wallSeconds)), cr = median(cs.map((m) => m.peakRssMiB));
        const cRate = requests / cw;
        rows.push([
          policy,
          "cachesim",
          `${(cRate / 1e6).toFixed(2)}M`,
          cw.toFixed(2),
          cr.toFixed(0),
          cs[0].missRatio.toFixed(4),
        ]);
        const same = pb[0].missRatio.toFixed(4) === cs[0].missRatio.toFixed(4);
        rows.push([
          policy,
          "pbxkit/cachesim",
          ratio(pRate, cRate),
          ratio(pw, cw),
          ratio(pr, cr),
          same ? "same" : "DIFFERENT",
        ]);
        entry.cachesim = {
          requestsPerSecond: cRate,
          wallSeconds: cw,
          peakRssMiB: cr,
          missRatio: cs[0].missRatio,
          runs: cs,
        };
        entry.speedRatio = pRate / cRate;
        entry.memoryRatio = pr / cr;
        entry.sameMissRatio = same;
        group.values.push(cRate / 1e6);
      }
      data.push(entry);
      groups.push(group);
    }
  } finally {
    if (!args.includes("--keep")) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  printTable(
    `cache-sim object model, ${requests} requests, cache ${cacheSize} objects (median of ${runs}; wall clock incl. start-up and trace reading)`,
    ["policy", "impl", "req/s", "wall s", "peak RSS MiB", "miss ratio"],
    rows,
  );
  const svg = barChart(groups, {
    title: `cache-sim vs cachesim: ${requests / 1e6}M zipf requests`,
    yLabel: "million requests/s",
    seriesNames: cachesimOk ? ["pbxkit", "cachesim"] : ["pbxkit"],
  });
  await saveResults(
    "cache",
    { spec, cacheSize, runs, cachesim: cachesimOk ? cachesim : `ABSENT (${absentWhy})`, data },
    svg,
  );
}
