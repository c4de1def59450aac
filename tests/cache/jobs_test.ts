/**
 * `cache-sim --jobs N`: a sweep dealt to worker threads gives exactly the rows one thread gives (seed and object
 * models, a policy that needs the future, per-volume rows, the miss-ratio curve), and errors from the trace or
 * the flags stay one line with a non-zero exit while the workers are stopped.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { runCli } from "../_util/mod.ts";
import { msrText, workload } from "./trace_writers.ts";

const VOLS = ["hm_0", "hm_1", "src1_2", "web_0", "prxy_0", "usr_1"];

async function msrTrace(n: number, extra = ""): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-jobs-" });
  const path = `${dir}/t.csv`;
  await Deno.writeTextFile(path, msrText(workload(VOLS, n, 41)) + extra);
  return path;
}

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await runCli(["cache-sim", ...args, "--json"], { timeoutMs: 180_000 });
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  delete j.elapsedSeconds;
  return j;
}

Deno.test("--jobs 2 gives the same JSON as --jobs 1 (object model, opt, per-volume rows, --mrc)", async () => {
  const trace = await msrTrace(150_000); // three batches of 65536
  const args = [
    "--trace",
    trace,
    "--format",
    "msr",
    "--model",
    "object",
    "--policy",
    "lru,arc,s3fifo,opt",
    "--cache-size",
    "100,500,2000",
    "--mrc",
  ];
  const one = await json([...args, "--jobs", "1"]);
  const two = await json([...args, "--jobs", "2"]);
  const rows = one.results as { policy: string; cacheSize: number; misses: number; volumes?: unknown[] }[];
  assertEquals(rows.length, 12);
  assertEquals(rows.map((r) => `${r.policy}/${r.cacheSize}`).slice(0, 4), [
    "lru/100",
    "lru/500",
    "lru/2000",
    "arc/100",
  ]);
  assertEquals(rows[0].volumes?.length, VOLS.length);
  assert(rows.every((r) => r.misses > 0));
  assertEquals(two, one);
  await Deno.remove(trace.slice(0, trace.lastIndexOf("/")), { recursive: true });
});

Deno.test("--jobs 2 gives the same JSON as --jobs 1 (seed model, three write-backs, two schedulers)", async () => {
  const trace = await msrTrace(70_000);
  const args = [
    "--trace",
    trace,
    "--format",
    "msr",
    "--policy",
    "lru,clock",
    "--scheduler",
    "clook,deadline",
    "--writeback",
    "seed,periodic,expire=50ms,interval=10ms,writethrough",
    "--cache-size",
    "300,1500",
    "--threads",
    "8",
    "--crash-at",
    "1s",
    "--check-invariants",
  ];
  const one = await json([...args, "--jobs", "1"]);
  const two = await json([...args, "--jobs", "3"]);
  assertEquals((one.results as unknown[]).length, 24);
  assertEquals(two, one);
  await Deno.remove(trace.slice(0, trace.lastIndexOf("/")), { recursive: true });
});

Deno.test("--jobs: a malformed line after the first batch is one E_PARSE line, and bad --jobs is E_USAGE", async () => {
  const trace = await msrTrace(70_000, "128166372000000000,hm,0,Write,notanumber,4096,10\n");
  const r = await runCli([
    "cache-sim",
    "--trace",
    trace,
    "--format",
    "msr",
    "--model",
    "object",
    "--policy",
    "lru,fifo",
    "--jobs",
    "2",
  ], { timeoutMs: 60_000 });
  assert(r.code !== 0);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assertMatch(lines[0], /^pbxkit: error: .+ \[E_PARSE\]$/);
  for (const bad of ["0", "1.5", "two"]) {
    const u = await runCli(["cache-sim", "--jobs", bad]);
    assertEquals(u.code, 2, u.stderr);
    assertMatch(u.stderr.trim(), /^pbxkit: error: --jobs.+\[E_USAGE\]$/);
  }
  await Deno.remove(trace.slice(0, trace.lastIndexOf("/")), { recursive: true });
});
