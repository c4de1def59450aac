/**
 * `deno task bench cache`: LRU and ARC on a 10M-request zipf trace, pbxkit's object model against libCacheSim's
 * `cachesim` on the same oracleGeneral file in the same run: requests per second (wall clock of the whole process:
 * start-up, reading the 240 MB trace, simulating) and peak memory (VmHWM via GNU time), with the ratios, and a check
 * that both report the same miss ratio.
 *
 * Options: `--requests N` (10M), `--objects N` (1M), `--alpha A` (1.0), `--cache-size N` (100000 objects),
 * `--runs N` (3, median reported), `--cachesim PATH` (or env LIBCACHESIM_CACHESIM), `--keep` (keep the trace).
 * The table also gives user + system CPU seconds (the fairer figure when the machine is shared; the ratio row then
 * reads pbxkit/cachesim for wall, CPU and memory). `--only single` runs just these two cells.
 *
 * A multi-volume MSR cell follows: `--msr-requests N` (2M) requests over six volumes (`hm_0`, `src1_2`, ...) that
 * reuse block numbers, in MSR's own format; pbxkit reads that file, cachesim reads the same requests with the id
 * column `hostname_disk_offset` (its csv reader takes one id column); miss ratios side by side, wall and CPU time.
 * `--only msr` runs just that cell.
 *
 * A sweep cell (`--only sweep` for just it): lru, arc, s3fifo x 6 sizes (10k..500k) on the same zipf trace,
 * pbxkit `--jobs 2` (and `--jobs 1` for the speed-up) against `cachesim ... --num-thread 2`, wall, CPU, peak memory
 * and every miss ratio compared.
 *
 * @module
 */

import { barChart, hasCommand, runArgv } from "../lib/common/mod.ts";
import { generatedSource, parseCount, Prng, writeOracle } from "../lib/cache/mod.ts";
import { argValue, median, printTable, ratio, saveResults } from "./_util.ts";
import { cachesimMissRatios, parseCachesimOutput } from "./_cachesim_output.ts";

interface Measure {
  wallSeconds: number;
  peakRssMiB: number;
  missRatio: number;
  /** User + system CPU seconds (GNU time); the fairer figure on a shared machine. */
  cpuSeconds: number;
  simSeconds?: number;
}

function count(args: string[], name: string, fallback: string): number {
  const text = argValue(args, name) ?? fallback;
  return parseCount(text, `${name} ${text}`);
}

const TIME = "/usr/bin/time";

/** Run argv under GNU time (or without it), returning stdout, wall seconds and peak RSS. */
async function timed(
  argv: string[],
  cwd?: string,
): Promise<{ stdout: string; wall: number; rssKiB: number; cpu: number }> {
  const tmp = await Deno.makeTempFile({ prefix: "pbxkit-bench-time-" });
  try {
    const useTime = hasCommand(TIME);
    const full = useTime ? [TIME, "-o", tmp, "-f", "%e %M %U %S", ...argv] : argv;
    const t0 = performance.now();
    const { stdout } = await runArgv(full, { cwd, timeoutMs: 6 * 3600_000 });
    const wallJs = (performance.now() - t0) / 1000;
    if (!useTime) return { stdout, wall: wallJs, rssKiB: NaN, cpu: NaN };
    const [wall, rss, user, sys] = (await Deno.readTextFile(tmp)).trim().split(/\s+/).slice(-4).map(Number);
    return { stdout, wall: wall > 0 ? wall : wallJs, rssKiB: rss, cpu: user + sys };
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
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const single = argValue(args, "--only") === "single";
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-bench-cache-" });
  if (argValue(args, "--only") === "msr") {
    try {
      await msrCell(args, { cli, config, dir, cachesim });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    return;
  }
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
  if (argValue(args, "--only") === "sweep") {
    try {
      await sweepCell({ cli, config, dir, trace, requests, cachesim: cachesimOk ? cachesim : undefined });
    } finally {
      if (!args.includes("--keep")) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    return;
  }

  const rows: (string | number)[][] = [];
  const data: Record<string, unknown>[] = [];
  const groups: { label: string; values: number[] }[] = [];
  try {
    for (const policy of ["lru", "arc"]) {
      const pb: Measure[] = [];
      const cs: Measure[] = [];
      for (let r = 0; r < runs; r++) {
        const p = await timed(cacheSimArgv({ cli, config }, [
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
        ]));
        const j = JSON.parse(p.stdout);
        pb.push({
          wallSeconds: p.wall,
          peakRssMiB: p.rssKiB / 1024,
          missRatio: j.results[0].missRatio,
          cpuSeconds: p.cpu,
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
          const missRatio = cachesimMissRatios(parseCachesimOutput(c.stdout)).get(`${policy}@${cacheSize}`) ?? NaN;
          cs.push({ wallSeconds: c.wall, peakRssMiB: c.rssKiB / 1024, missRatio, cpuSeconds: c.cpu });
        }
      }
      const pw = median(pb.map((m) => m.wallSeconds)), pr = median(pb.map((m) => m.peakRssMiB));
      const pc = median(pb.map((m) => m.cpuSeconds));
      const pRate = requests / pw;
      rows.push([
        policy,
        "pbxkit",
        `${(pRate / 1e6).toFixed(2)}M`,
        pw.toFixed(2),
        pc.toFixed(2),
        pr.toFixed(0),
        pb[0].missRatio.toFixed(4),
      ]);
      const entry: Record<string, unknown> = {
        policy,
        pbxkit: {
          requestsPerSecond: pRate,
          wallSeconds: pw,
          cpuSeconds: pc,
          peakRssMiB: pr,
          missRatio: pb[0].missRatio,
          runs: pb,
        },
      };
      const group = { label: policy.toUpperCase(), values: [pRate / 1e6] };
      if (cachesimOk) {
        const cw = median(cs.map((m) => m.wallSeconds)), cr = median(cs.map((m) => m.peakRssMiB));
        const cc = median(cs.map((m) => m.cpuSeconds));
        const cRate = requests / cw;
        rows.push([
          policy,
          "cachesim",
          `${(cRate / 1e6).toFixed(2)}M`,
          cw.toFixed(2),
          cc.toFixed(2),
          cr.toFixed(0),
          cs[0].missRatio.toFixed(4),
        ]);
        const same = pb[0].missRatio.toFixed(4) === cs[0].missRatio.toFixed(4);
        rows.push([
          policy,
          "pbxkit/cachesim",
          ratio(pRate, cRate),
          ratio(pw, cw),
          ratio(pc, cc),
          ratio(pr, cr),
          same ? "same" : "DIFFERENT",
        ]);
        entry.cachesim = {
          requestsPerSecond: cRate,
          wallSeconds: cw,
          cpuSeconds: cc,
          peakRssMiB: cr,
          missRatio: cs[0].missRatio,
          runs: cs,
        };
        entry.speedRatio = pRate / cRate;
        entry.cpuSpeedRatio = cc / pc;
        entry.memoryRatio = pr / cr;
        entry.sameMissRatio = same;
        group.values.push(cRate / 1e6);
      }
      data.push(entry);
      groups.push(group);
    }
    if (!single) await sweepCell({ cli, config, dir, trace, requests, cachesim: cachesimOk ? cachesim : undefined });
  } finally {
    if (!args.includes("--keep")) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  printTable(
    `cache-sim object model, ${requests} requests, cache ${cacheSize} objects (median of ${runs}; wall clock incl. start-up and trace reading)`,
    ["policy", "impl", "req/s", "wall s", "CPU s", "peak RSS MiB", "miss ratio"],
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
  if (single) return;
  const msrDir = await Deno.makeTempDir({ prefix: "pbxkit-bench-msr-" });
  try {
    await msrCell(args, { cli, config, dir: msrDir, cachesim: cachesimOk ? cachesim : undefined });
  } finally {
    await Deno.remove(msrDir, { recursive: true }).catch(() => {});
  }
}

const SWEEP_POLICIES = ["lru", "arc", "s3fifo"];
const SWEEP_SIZES = [10000, 20000, 50000, 100000, 200000, 500000];

/** The sweep cell (see the module comment): one run each, pbxkit --jobs 1 and 2, cachesim --num-thread 2. */
async function sweepCell(
  o: { cli: string; config: string; dir: string; trace: string; requests: number; cachesim?: string },
): Promise<void> {
  const sweep = ["--policy", SWEEP_POLICIES.join(","), "--cache-size", SWEEP_SIZES.join(",")];
  const rows: (string | number)[][] = [];
  const miss = new Map<string, number[]>();
  const note = (impl: string, t: { wall: number; cpu: number; rssKiB: number }) =>
    rows.push([impl, t.wall.toFixed(2), t.cpu.toFixed(2), (t.rssKiB / 1024).toFixed(0)]);
  const pb: Record<number, { wall: number; cpu: number; rssKiB: number }> = {};
  for (const jobs of [1, 2]) {
    const t = await timed(cacheSimArgv(o, [
      "--trace",
      o.trace,
      "--format",
      "oracle",
      "--model",
      "object",
      ...sweep,
      "--jobs",
      String(jobs),
      "--json",
    ]));
    pb[jobs] = t;
    note(`pbxkit --jobs ${jobs}`, t);
    for (const r of JSON.parse(t.stdout).results as { policy: string; cacheSize: number; missRatio: number }[]) {
      const k = `${r.policy}@${r.cacheSize}`;
      miss.set(k, [...(miss.get(k) ?? []).slice(0, jobs - 1), r.missRatio]);
    }
  }
  rows.push(["pbxkit --jobs 1 / --jobs 2", ratio(pb[1].wall, pb[2].wall), "", ""]);
  let same = "n/a";
  if (o.cachesim) {
    const c = await timed([
      o.cachesim,
      o.trace,
      "oracleGeneral",
      SWEEP_POLICIES.join(","),
      SWEEP_SIZES.join(","),
      "--ignore-obj-size",
      "1",
      "--num-thread",
      "2",
    ], o.dir);
    note("cachesim --num-thread 2", c);
    rows.push([
      "cachesim / pbxkit --jobs 2",
      ratio(c.wall, pb[2].wall),
      ratio(c.cpu, pb[2].cpu),
      ratio(pb[2].rssKiB, c.rssKiB) + " (pbxkit/cachesim)",
    ]);
    let matched = 0, equal = 0;
    for (const [k, theirs] of cachesimMissRatios(parseCachesimOutput(c.stdout))) {
      const mine = miss.get(k);
      if (!mine) continue;
      matched++;
      if (mine[1].toFixed(4) === theirs.toFixed(4)) equal++;
    }
    same = `${equal}/${matched} of ${miss.size} miss ratios equal to 4 places`;
  }
  const jobsSame = [...miss.values()].every((v) => v.length === 2 && v[0] === v[1]);
  printTable(
    `sweep: ${
      SWEEP_POLICIES.join(",")
    } x ${SWEEP_SIZES.length} sizes, ${o.requests} requests (one run each; wall and ` +
      `CPU incl. start-up and trace reading); --jobs 1 and 2 rows ${jobsSame ? "identical" : "DIFFERENT"}; ` +
      `vs cachesim: ${same}`,
    ["impl", "wall s", "CPU s", "peak RSS MiB"],
    rows,
  );
}

/** argv of `pbxkit cache-sim ARGS` run from this checkout. */
function cacheSimArgv(o: { cli: string; config: string }, args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", "--quiet", "--config", o.config, o.cli, "cache-sim", ...args];
}

const MSR_VOLUMES = ["hm_0", "hm_1", "src1_2", "web_0", "proj_4", "prxy_0"];

/** Write `n` MSR lines over six volumes (zipf blocks, shared block numbers) and the same requests for cachesim. */
async function writeMsr(n: number, msrPath: string, lcsPath: string): Promise<void> {
  const msr = await Deno.open(msrPath, { write: true, create: true, truncate: true });
  const lcs = await Deno.open(lcsPath, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  const rng = new Prng(2007);
  let i = 0;
  try {
    for await (const b of generatedSource(`zipf,alpha=0.9,objects=400k,requests=${n},seed=5,write=0`).batches()) {
      const a: string[] = [], c: string[] = [];
      for (let k = 0; k < b.n; k++, i++) {
        const vol = MSR_VOLUMES[Math.floor(rng.next() * rng.next() * MSR_VOLUMES.length)];
        const [host, disk] = vol.split("_");
        const off = b.addr[k] * 4096;
        const ts = 128166372000000000 + i * 1337; // Windows filetime, 2007-02-22
        const w = rng.next() < 0.3 ? "Write" : "Read";
        a.push(`${ts},${host},${disk},${w},${off},4096,${1000 + (i % 500)}\n`);
        c.push(`${ts},${vol}_${off},4096\n`);
      }
      await msr.write(enc.encode(a.join("")));
      await lcs.write(enc.encode(c.join("")));
    }
  } finally {
    msr.close();
    lcs.close();
  }
}

/** The multi-volume MSR cell (see the module comment). */
async function msrCell(
  args: string[],
  o: { cli: string; config: string; dir: string; cachesim?: string },
): Promise<void> {
  const n = count(args, "--msr-requests", "2M");
  let cachesim = o.cachesim;
  if (cachesim && !(await Deno.stat(cachesim).then((st) => st.isFile, () => false))) {
    console.log(`cachesim: ABSENT (${cachesim} does not exist)`);
    cachesim = undefined;
  } else if (!cachesim) console.log("cachesim: ABSENT (pass --cachesim PATH or set LIBCACHESIM_CACHESIM)");
  const sizes = "1000,10000,50000";
  const policies = "lru,fifo,arc,s3fifo";
  const msrPath = `${o.dir}/msr6.csv`, lcsPath = `${o.dir}/msr6_lcs.csv`;
  await writeMsr(n, msrPath, lcsPath);
  const p = await timed(cacheSimArgv(o, [
    "--trace",
    msrPath,
    "--format",
    "msr",
    "--model",
    "object",
    "--policy",
    policies,
    "--cache-size",
    sizes,
    "--json",
  ]));
  const j = JSON.parse(p.stdout);
  const ours = new Map<string, number>();
  for (const r of j.results) ours.set(`${r.policy}@${r.cacheSize}`, r.missRatio);
  let theirs = new Map<string, number>();
  let c: { wall: number; cpu: number; rssKiB: number } | undefined;
  if (cachesim) {
    const t = await timed([
      cachesim,
      lcsPath,
      "csv",
      policies,
      sizes,
      "--ignore-obj-size",
      "1",
      "--num-thread",
      "1",
      "-t",
      "time-col=1,obj-id-col=2,obj-size-col=3,delimiter=,,has-header=false,obj-id-is-num=false",
    ], o.dir);
    c = t;
    theirs = cachesimMissRatios(parseCachesimOutput(t.stdout));
  }
  const rows: (string | number)[][] = [...ours].map(([k, v]) => {
    const t = theirs.get(k);
    return [
      k,
      v.toFixed(4),
      t === undefined ? "-" : t.toFixed(4),
      t === undefined ? "-" : v.toFixed(4) === t.toFixed(4) ? "same" : "DIFFERENT",
    ];
  });
  printTable(
    `cache-sim multi-volume MSR (${n} requests, ${MSR_VOLUMES.length} volumes), object model vs cachesim` +
      (cachesim ? "" : " (cachesim ABSENT)"),
    ["policy@size", "pbxkit miss", "cachesim miss", ""],
    rows,
  );
  const timing = [["pbxkit", p.wall.toFixed(2), p.cpu.toFixed(2), (p.rssKiB / 1024).toFixed(0)]];
  if (c) {
    timing.push(["cachesim", c.wall.toFixed(2), c.cpu.toFixed(2), (c.rssKiB / 1024).toFixed(0)]);
    timing.push([
      "speed-up (time cachesim/pbxkit; RSS pbxkit/cachesim)",
      ratio(c.wall, p.wall),
      ratio(c.cpu, p.cpu),
      ratio(p.rssKiB, c.rssKiB),
    ]);
  }
  printTable("MSR cell timing (one run each; wall and CPU = user+sys, incl. start-up and parsing)", [
    "impl",
    "wall s",
    "cpu s",
    "peak RSS MiB",
  ], timing);
}
