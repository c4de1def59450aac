/**
 * `pbxkit cache-sim`: Simulate a block cache with delayed write-back and I/O scheduling on real or generated traces.
 *
 * Only option parsing and printing live here; the engine is lib/cache/.
 *
 * @module
 */

import { type Command, Option } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import {
  checkOutputPath,
  hasSizeUnit,
  log,
  osErrorText,
  parseDuration,
  parseList,
  parseSize,
  PbxError,
  printJson,
  Progress,
  toPbxError,
  usageError,
  writeFileAtomic,
  writeStdout,
} from "../lib/common/mod.ts";
import {
  type CacheSimOptions,
  type CacheSizeSpec,
  DEFAULT_SEED_POLICIES,
  formatReport,
  generatedSource,
  parseDisk,
  parseFormat,
  parseGeneratorSpec,
  parseWriteback,
  POLICIES,
  policyName,
  reportChart,
  reportJson,
  runCacheSim,
  schedulerName,
  SCHEDULERS,
  writeOracle,
} from "../lib/cache/mod.ts";

const DEFAULT_SEED = DEFAULT_SEED_POLICIES.join(",");
const ALL_POLICIES = Object.keys(POLICIES).join(",");

/** Split `--writeback` lists: `seed,periodic,expire=10s,writethrough` → [seed, periodic,expire=10s, writethrough]. */
export function splitWritebacks(text: string): string[] {
  const out: string[] = [];
  for (const part of parseList(text)) {
    if (part.includes("=") && out.length > 0) out[out.length - 1] += `,${part}`;
    else out.push(part);
  }
  return out;
}

/** Parse `--cache-size 500,3000,64MiB`. */
export function parseCacheSizes(text: string): CacheSizeSpec[] {
  const items = parseList(text);
  if (items.length === 0) throw usageError("--cache-size: give at least one size");
  return items.map((item) => {
    if (hasSizeUnit(item)) return { value: parseSize(item, "--cache-size"), bytes: true };
    const n = Number(item);
    if (!Number.isInteger(n) || n < 1) throw usageError(`--cache-size: '${item}' is not a positive count or size`);
    return { value: n, bytes: false };
  });
}

function parseRate(text: string): number {
  const n = Number(text);
  if (!(n > 0 && n <= 1)) throw usageError(`--sample: '${text}' must be a rate in (0, 1]`);
  return n;
}

function parsePositive(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!(n > 0) || !Number.isFinite(n)) throw usageError(`${flag}: '${text}' must be a positive number`);
    return n;
  };
}

/** Build the `cache-sim` subcommand. */
export function cacheSimCommand(): Command {
  return newCommand("cache-sim", {
    summary: "Simulate a block cache with delayed write-back and I/O scheduling on real or generated traces",
    description: "Replay a block trace (MSR, SPC, blkparse, fio iolog, libCacheSim csv/oracleGeneral; gzip/zstd) " +
      "or a generated workload through a block cache and compare eviction policies, I/O schedulers and write-back " +
      "policies side by side: hits, disk I/O, seek distance, latency percentiles, dirty data and what a crash " +
      "would lose. --model object gives libCacheSim-comparable miss ratios; --mrc the whole LRU miss-ratio curve.",
    examples: [
      "pbxkit cache-sim",
      "pbxkit cache-sim --policy lru,arc --cache-size 500,3000",
      "pbxkit cache-sim --trace hm_0.csv.gz --format msr --scheduler first-pending,clook,deadline --writeback seed,periodic,writethrough --crash-at 10m",
      "pbxkit cache-sim --trace t.oracleGeneral --model object --policy lru,arc,s3fifo --cache-size 1000,10000 --json",
      "pbxkit cache-sim --gen zipf,objects=1M,requests=10M --model object --policy lru,arc,s3fifo --cache-size 10000,20000,50000,100000,200000,500000 --jobs 2",
      "pbxkit cache-sim --gen zipf,alpha=1.0,objects=1M,requests=10M --model object --policy lru,s3fifo --mrc --sample 0.01 --chart mrc.svg",
    ],
  })
    .option("--trace <file>", "trace file (gzip/zstd detected); default: the built-in generator")
    .addOption(
      new Option("--format <fmt>", "trace format (msr, spc, blkparse, fio, lcs-csv, oracle); sniffed when absent")
        .argParser(parseFormat),
    )
    .option(
      "--gen <spec>",
      "generator when no --trace: zipf|uniform|scan|mix[,objects=N,requests=N,alpha=A,write=F,seed=S,scan=F,iops=N,size=B]",
    )
    .option("--skip-bad", "count and skip malformed trace lines instead of failing")
    .addOption(
      new Option("--model <model>", "seed (the block cache DES) or object (libCacheSim-comparable)")
        .choices(["seed", "object"] as const).default("seed" as const),
    )
    .option("--policy <list>", `eviction policies: ${ALL_POLICIES} (default seed: ${DEFAULT_SEED}; object: all)`)
    .option("--scheduler <list>", `I/O schedulers: ${Object.keys(SCHEDULERS).join(", ")}`, "first-pending")
    .option(
      "--writeback <list>",
      "write-back: seed, periodic[,expire=30s,interval=5s], writethrough (comma list)",
      "seed",
    )
    .option("--cache-size <list>", "cache sizes: a count of blocks/objects, or bytes with a unit (64MiB)", "1000,4000")
    .option("--block-size <size>", "block size", "4096")
    .option(
      "--disk <spec>",
      "disk model: hdd|ssd[,rpm=,track-seek=,full-seek=,span=,mbps=,read-lat=,write-lat=,qd=]",
      "hdd",
    )
    .option("--threads <n>", "closed loop with N threads (default: replay at the trace's timestamps)")
    .option("--speed <x>", "replay timestamps X times faster", "1")
    .option(
      "--jobs <n>",
      "worker threads for the sweep (configurations dealt round-robin; the trace is read once); default: the cores",
    )
    .option("--crash-at <duration>", "report acknowledged writes not on disk at this simulated time (e.g. 90s)")
    .option("--read-expire <duration>", "deadline scheduler: read expiry", "500ms")
    .option("--write-expire <duration>", "deadline scheduler: write expiry", "5s")
    .option("--check-invariants", "check the seed model's invariants on every transition (exit 1 on a violation)")
    .option("--mrc", "also compute the whole LRU miss-ratio curve (exact stack distances)")
    .option("--sample <rate>", "with --mrc: SHARDS sampling rate (e.g. 0.01) for traces too large for the exact pass")
    .option("--chart <file>", "write an SVG: miss ratio over sizes, latency CDFs, dirty blocks over time")
    .option("--write-oracle <file>", "write the (generated) trace as libCacheSim oracleGeneral and exit")
    .option("--json", "print one JSON object {results: [...]} instead of a table")
    .action(async function (opts) {
      globalFlags(this);
      for (const [flag, v] of [["--trace", opts.trace], ["--gen", opts.gen], ["--chart", opts.chart]] as const) {
        if (v !== undefined && !v.trim()) throw usageError(`${flag}: give a value, not an empty string`);
      }
      if (opts.writeOracle !== undefined && !opts.writeOracle.trim()) throw usageError("--write-oracle: give a file");
      if (opts.sample !== undefined && !opts.mrc) throw usageError("--sample needs --mrc");
      const blockSize = parseSize(opts.blockSize, "--block-size");
      if (blockSize < 512 || !Number.isInteger(blockSize)) throw usageError("--block-size must be at least 512 bytes");
      if (opts.trace && opts.gen) throw usageError("--trace and --gen are exclusive");
      if (opts.gen) parseGeneratorSpec(opts.gen); // fail early with a usage error
      if (opts.writeOracle) {
        if (opts.trace) throw usageError("--write-oracle exports a generated trace; drop --trace");
        const n = await writeOracle(generatedSource(opts.gen ?? "zipf"), opts.writeOracle);
        if (opts.json) printJson({ wrote: opts.writeOracle, requests: n });
        else writeStdout(`wrote ${n} requests to ${opts.writeOracle}\n`);
        return;
      }
      const model = opts.model;
      if (model === "object" && (opts.scheduler !== "first-pending" || opts.writeback !== "seed" || opts.threads)) {
        log.warn("--scheduler, --writeback and --threads apply to --model seed; the object model ignores them");
      }
      const policies = parseList(opts.policy ?? (model === "object" ? ALL_POLICIES : DEFAULT_SEED))
        .map(policyName);
      const schedulers = parseList(opts.scheduler).map(schedulerName);
      const writebacks = splitWritebacks(opts.writeback).map(parseWriteback);
      if (policies.length === 0 && !opts.mrc) throw usageError("--policy: give at least one policy");
      if (schedulers.length === 0) throw usageError("--scheduler: give at least one scheduler");
      if (writebacks.length === 0) throw usageError("--writeback: give at least one write-back policy");
      const threads = opts.threads === undefined ? 0 : parsePositive("--threads")(opts.threads);
      if (!Number.isInteger(threads)) throw usageError("--threads must be an integer");
      const jobs = opts.jobs === undefined ? (navigator.hardwareConcurrency || 1) : parsePositive("--jobs")(opts.jobs);
      if (!Number.isInteger(jobs)) throw usageError("--jobs must be an integer");
      const o: CacheSimOptions = {
        jobs,
        trace: opts.trace,
        format: opts.format,
        gen: opts.gen,
        skipBad: opts.skipBad ?? false,
        model,
        policies,
        schedulers,
        writebacks,
        cacheSizes: parseCacheSizes(opts.cacheSize),
        blockSize,
        disk: parseDisk(opts.disk),
        threads,
        speed: parsePositive("--speed")(opts.speed),
        crashAtUs: opts.crashAt === undefined ? undefined : parseDuration(opts.crashAt, "--crash-at") * 1000,
        checkInvariants: opts.checkInvariants ?? false,
        mrc: opts.mrc ?? false,
        sample: opts.sample !== undefined ? parseRate(opts.sample) : 1,
        readExpireUs: parseDuration(opts.readExpire, "--read-expire") * 1000,
        writeExpireUs: parseDuration(opts.writeExpire, "--write-expire") * 1000,
      };
      if (opts.chart) await checkOutputPath(opts.chart, { what: "--chart" }); // before the run, not after it
      const progress = new Progress("cache-sim", { unit: "req" });
      o.onProgress = (done, total) => progress.update(done, total);
      const report = await runCacheSim(o);
      progress.finish({ clear: true });
      if (opts.chart) {
        try {
          await writeFileAtomic(opts.chart, new TextEncoder().encode(reportChart(report)));
        } catch (err) {
          const code = toPbxError(err).code;
          throw new PbxError(code, `--chart: ${err instanceof PbxError ? err.message : osErrorText(err as Error)}`);
        }
      }
      if (opts.json) printJson(reportJson(report));
      else writeStdout(formatReport(report) + (opts.chart ? `\nchart: ${opts.chart}` : "") + "\n");
      const violations = report.results.reduce(
        (n, r) => n + ("invariantViolations" in r ? r.invariantViolations : 0),
        0,
      );
      if (o.checkInvariants && violations > 0) {
        throw new PbxError("E_STATE", `${violations} invariant violations (see the table)`);
      }
    });
}
