/**
 * The cache benchmark's parser of libCacheSim `cachesim` output, on lines in cachesim's own printf shape (the trace
 * name, the cache name right-aligned, a padded size): cache names with parameters (`S3FIFO-0.1000-2`), sizes with a
 * unit, lines with and without the byte miss ratio, and the lines around them ignored.
 *
 * @module
 */

import { assertEquals } from "../_util/assert.ts";
import { cachesimMissRatios, cachesimPolicy, parseCachesimOutput } from "../../bench/_cachesim_output.ts";

// "%s %32s cache size %8ld%s, %lld req, miss ratio %.4lf, byte miss ratio %.4lf" (bin/cachesim/main.c)
const SWEEP = [
  "[INFO]  12-04-2026 18:01:02 cli_parser.c:433  (tid=1): trace path: zipf.oracleGeneral, trace_type ORACLE_GENERAL",
  "",
  "zipf.oracleGeneral                              LRU cache size    10000, 10000000 req, miss ratio 0.3050, byte miss ratio 0.3050",
  "zipf.oracleGeneral                              ARC cache size   500000, 10000000 req, miss ratio 0.0412, byte miss ratio 0.0412",
  "zipf.oracleGeneral                  S3FIFO-0.1000-2 cache size    10000, 10000000 req, miss ratio 0.2741, byte miss ratio 0.2741",
  "zipf.oracleGeneral                  S3FIFO-0.1000-2 cache size   200000, 10000000 req, miss ratio 0.0833",
  "msr6_lcs.csv FIFO cache size       64KiB, 2000000 req, miss ratio 0.5120, byte miss ratio 0.5001",
  "result is written to result/zipf.oracleGeneral",
].join("\n");

Deno.test("cachesim output: every result line, S3FIFO's parameters kept out of the policy name", () => {
  const rows = parseCachesimOutput(SWEEP);
  assertEquals(rows.map((r) => [r.cacheName, r.policy, r.cacheSize, r.requests, r.missRatio, r.byteMissRatio]), [
    ["LRU", "lru", 10000, 10000000, 0.305, 0.305],
    ["ARC", "arc", 500000, 10000000, 0.0412, 0.0412],
    ["S3FIFO-0.1000-2", "s3fifo", 10000, 10000000, 0.2741, 0.2741],
    ["S3FIFO-0.1000-2", "s3fifo", 200000, 10000000, 0.0833, undefined],
    ["FIFO", "fifo", 64 * 1024, 2000000, 0.512, 0.5001],
  ]);
});

Deno.test("cachesim output: miss ratios keyed as the cells compare them (policy@size, pbxkit names)", () => {
  const m = cachesimMissRatios(parseCachesimOutput(SWEEP));
  assertEquals(m.get("s3fifo@10000"), 0.2741);
  assertEquals(m.get("s3fifo@200000"), 0.0833);
  assertEquals(m.get("lru@10000"), 0.305);
  assertEquals(m.size, 5);
  assertEquals(cachesimPolicy("TwoQ"), "twoq");
  assertEquals(parseCachesimOutput("no results here\n"), []);
});
