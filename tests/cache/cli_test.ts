/**
 * `pbxkit cache-sim` end to end in a subprocess: the default run, the JSON contract, sizes with units, charts,
 * invariant checking, and one-line errors with stable codes.
 *
 * @module
 */

import { assert, assertAlmostEquals, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { runCli } from "../_util/mod.ts";

function oneLineError(stderr: string, code: string): void {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, stderr);
  assertMatch(lines[0], new RegExp(`^pbxkit: error: .+ \\[${code}\\]$`));
}

Deno.test("cache-sim with no flags compares a few policies on the built-in zipf generator", async () => {
  const r = await runCli(["cache-sim"], { timeoutMs: 120_000 });
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "trace: gen:zipf");
  for (const p of ["lru", "fifo", "clock", "arc", "s3fifo", "opt"]) {
    assertMatch(r.stdout, new RegExp(`\\n${p}\\s+first-pending\\s+seed\\s+1000\\s`));
  }
  assertStringIncludes(r.stdout, "rd p99 ms");
});

Deno.test("--json prints one object with one row per combination", async () => {
  const r = await runCli([
    "cache-sim",
    "--gen",
    "zipf,objects=2000,requests=5000,seed=3,write=0.3",
    "--policy",
    "lru,2q",
    "--scheduler",
    "first-pending,clook",
    "--writeback",
    "seed,periodic,expire=2s",
    "--cache-size",
    "100,64KiB",
    "--crash-at",
    "10s",
    "--check-invariants",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.results.length, 2 * 2 * 2 * 2);
  for (const row of j.results) {
    for (
      const k of [
        "policy",
        "scheduler",
        "writeback",
        "cacheSize",
        "requests",
        "hits",
        "misses",
        "missRatio",
        "byteMissRatio",
      ]
    ) {
      assert(k in row, `missing ${k}`);
    }
    assertEquals(row.requests, 5000);
    assertEquals(row.invariantViolations, 0);
    assert("lostAtCrash" in row && "p99" in row.readLatencyUs);
  }
  assertEquals(new Set(j.results.map((x: { cacheSize: number }) => x.cacheSize)), new Set([100, 16]));
  assertEquals(new Set(j.results.map((x: { policy: string }) => x.policy)), new Set(["lru", "twoq"]));
  assertEquals(new Set(j.results.map((x: { writeback: string }) => x.writeback)), new Set(["seed", "periodic(2s)"]));
});

Deno.test("--model object on a trace file, --mrc and --chart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-cache-cli-" });
  try {
    const trace = `${dir}/t.oracleGeneral`;
    const w = await runCli([
      "cache-sim",
      "--gen",
      "zipf,objects=3000,requests=20000,seed=5,write=0",
      "--write-oracle",
      trace,
    ]);
    assertEquals(w.code, 0, w.stderr);
    const r = await runCli([
      "cache-sim",
      "--trace",
      trace,
      "--model",
      "object",
      "--policy",
      "lru,arc",
      "--cache-size",
      "100,1000",
      "--mrc",
      "--chart",
      `${dir}/c.svg`,
      "--json",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals(j.trace.requests, 20000);
    const lru1000 = j.results.find((x: { policy: string; cacheSize: number }) =>
      x.policy === "lru" && x.cacheSize === 1000
    );
    const mrc1000 = j.mrc.points.find((p: { cacheSize: number }) => p.cacheSize === 1000);
    assertAlmostEquals(mrc1000.missRatio, lru1000.missRatio, 1e-12);
    const svg = await Deno.readTextFile(`${dir}/c.svg`);
    assertMatch(svg, /^<svg xmlns/);
    assertStringIncludes(svg, "Miss ratio over cache size");
    assertStringIncludes(svg, "LRU MRC (exact)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("seed-model chart has latency CDF and dirty-data panels", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-cache-cli-" });
  try {
    const r = await runCli([
      "cache-sim",
      "--gen",
      "zipf,objects=2000,requests=4000,seed=1,write=0.4",
      "--policy",
      "lru",
      "--writeback",
      "periodic,expire=5s",
      "--cache-size",
      "200",
      "--chart",
      `${dir}/s.svg`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, `chart: ${dir}/s.svg`);
    const svg = await Deno.readTextFile(`${dir}/s.svg`);
    for (const t of ["Read latency CDF", "Write latency CDF", "Acknowledged writes not on disk"]) {
      assertStringIncludes(svg, t);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors are one line with a stable code", async () => {
  const missing = await runCli(["cache-sim", "--trace", "/nonexistent/trace.csv"]);
  assert(missing.code !== 0);
  oneLineError(missing.stderr, "E_NOT_FOUND");
  assertStringIncludes(missing.stderr, "trace '/nonexistent/trace.csv' does not exist");
  for (
    const args of [
      ["--policy", "nope"],
      ["--scheduler", "elevatorish"],
      ["--cache-size", "0"],
      ["--format", "tar"],
      ["--writeback", "sometimes"],
      ["--gen", "zipf,alpha=x"],
      ["--disk", "floppy"],
      ["--disk", "hdd,rpm=0"], // used to hang (infinite rotation time)
      ["--trace", ""],
      ["--gen", ""],
      ["--scheduler", ""],
      ["--mrc", "--sample", ""],
    ]
  ) {
    const r = await runCli(["cache-sim", ...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    oneLineError(r.stderr, "E_USAGE");
  }
});

Deno.test("unwritable --chart/--write-oracle and a trace with no requests fail with one clean line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-cache-bad-" });
  try {
    const gen = ["--gen", "zipf,objects=50,requests=200", "--policy", "lru", "--cache-size", "10"];
    const chart = await runCli(["cache-sim", ...gen, "--chart", dir]);
    oneLineError(chart.stderr, "E_INVALID_INPUT");
    assertStringIncludes(chart.stderr, "is a directory");
    const oracle = await runCli(["cache-sim", "--gen", "zipf", "--write-oracle", `${dir}/no/such/dir/t.bin`]);
    oneLineError(oracle.stderr, "E_NOT_FOUND");
    assert(!/os error/.test(oracle.stderr), oracle.stderr);
    await Deno.writeTextFile(`${dir}/junk.txt`, "not a blkparse line\n");
    const none = await runCli(["cache-sim", "--trace", `${dir}/junk.txt`, "--format", "blkparse"]);
    oneLineError(none.stderr, "E_PARSE");
    assertStringIncludes(none.stderr, "no requests found");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["junk.txt"]); // no partial or temp files
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a malformed trace line fails with file:line, --skip-bad reports the count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-cache-cli-" });
  try {
    const path = `${dir}/x.spc`;
    await Deno.writeTextFile(path, "0,100,4096,R,0.1\n0,oops,4096,R,0.2\n0,108,4096,W,0.3\n");
    const bad = await runCli(["cache-sim", "--trace", path, "--format", "spc"]);
    assertEquals(bad.code, 1);
    oneLineError(bad.stderr, "E_PARSE");
    assertStringIncludes(bad.stderr, `${path}:2: malformed spc line`);
    const ok = await runCli([
      "cache-sim",
      "--trace",
      path,
      "--skip-bad",
      "--json",
      "--policy",
      "lru",
      "--cache-size",
      "8",
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const j = JSON.parse(ok.stdout);
    assertEquals(j.trace.skippedLines, 1);
    assertEquals(j.results[0].requests, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
