/**
 * The seed model (the user's block cache as a discrete-event simulation): its invariants hold for every policy,
 * scheduler and write-back on every run, the checker catches a broken policy, and the design's behaviours show up
 * in the numbers (one disk read for concurrent readers, updates wait for a pending write, reads starve writes
 * under the seed scheduler, write-through loses nothing, periodic write-back absorbs rewrites).
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { PbxError } from "../../lib/common/mod.ts";
import {
  type DiskParams,
  generatedSource,
  HDD_DEFAULTS,
  newBatch,
  parseWriteback,
  POLICIES,
  type Policy,
  type PolicyOptions,
  READ,
  type RequestBatch,
  SCHEDULERS,
  type SeedResult,
  SeedSim,
  SSD_DEFAULTS,
  type TraceSource,
  WRITE,
} from "../../lib/cache/mod.ts";

/** A trace from [time µs, block, op] triples (object-addressed, one block each). */
function arraySource(reqs: [number, number, number][]): TraceSource {
  return {
    name: "array",
    unit: "object",
    total: reqs.length,
    skipped: 0,
    batches: async function* () {
      const b = newBatch(Math.max(1, reqs.length));
      reqs.forEach(([t, block, op], i) => {
        b.time[i] = t;
        b.addr[i] = block;
        b.op[i] = op;
        b.size[i] = 4096;
        b.dev[i] = 0;
        b.next[i] = -1;
      });
      b.n = reqs.length;
      yield b;
    },
  };
}

async function simulate(
  source: TraceSource,
  config: { policy?: string; scheduler?: string; writeback?: string; cacheSize: number },
  options: { disk?: DiskParams; threads?: number; crashAtUs?: number } = {},
): Promise<SeedResult> {
  const sim = new SeedSim({
    policy: config.policy ?? "lru",
    scheduler: config.scheduler ?? "first-pending",
    writeback: parseWriteback(config.writeback ?? "seed"),
    cacheSize: config.cacheSize,
  }, {
    disk: options.disk ?? HDD_DEFAULTS,
    threads: options.threads,
    crashAtUs: options.crashAtUs,
    checkInvariants: true,
  });
  for await (const b of source.batches()) sim.feed(b, source.unit === "object");
  return sim.finish();
}

function clean(r: SeedResult, what: string): void {
  assertEquals(r.invariantMessages, [], `${what}: invariant violations`);
  assertEquals(r.invariantViolations, 0, what);
}

Deno.test("invariants hold for every policy × scheduler × write-back (open loop, HDD)", async () => {
  const spec = "mix,alpha=0.9,objects=400,requests=2500,seed=4,write=0.4,scan=0.2,iops=400";
  const wbs = ["seed", "periodic,expire=1s,interval=200ms", "writethrough"];
  for (const policy of Object.keys(POLICIES)) {
    for (const scheduler of Object.keys(SCHEDULERS)) {
      for (const writeback of wbs) {
        const r = await simulate(generatedSource(spec), { policy, scheduler, writeback, cacheSize: 40 });
        const what = `${policy}/${scheduler}/${writeback}`;
        clean(r, what);
        assertEquals(r.requests, 2500, what);
        assertEquals(r.hits + r.misses, r.requests, what);
        assert(r.diskWrites <= r.writes, `${what}: more disk writes than writes`);
        if (writeback === "seed" || writeback === "writethrough") assertEquals(r.diskWrites, r.writes, what);
      }
    }
  }
});

Deno.test("invariants hold under entry pressure: 16 closed-loop threads on an SSD with queue depth 8", async () => {
  const spec = "zipf,alpha=0.6,objects=3000,requests=6000,seed=8,write=0.5";
  const ssd = { ...SSD_DEFAULTS, queueDepth: 8 };
  let waited = 0;
  for (const policy of Object.keys(POLICIES)) {
    for (const writeback of ["seed", "periodic,expire=2ms,interval=1ms"]) {
      const r = await simulate(generatedSource(spec), { policy, writeback, cacheSize: 24 }, { disk: ssd, threads: 16 });
      clean(r, `${policy}/${writeback}`);
      assertEquals(r.requests, 6000);
      waited += r.waitsForFreeEntry;
    }
  }
  assert(waited > 0, "expected requesters to wait for an evictable entry");
});

Deno.test("the invariant checker catches a policy that evicts pending entries", async () => {
  // an LRU that ignores the pinned predicate
  const reckless = (o: PolicyOptions): Policy => POLICIES.lru({ ...o, pinned: undefined });
  const sim = new SeedSim(
    {
      policy: "reckless",
      policyFactory: reckless,
      scheduler: "first-pending",
      writeback: parseWriteback("seed"),
      cacheSize: 4,
    },
    { disk: HDD_DEFAULTS, threads: 8, checkInvariants: true },
  );
  let error: unknown;
  try {
    for await (const b of generatedSource("uniform,objects=1000,requests=400,seed=1,write=0.5").batches()) {
      sim.feed(b, true);
    }
    sim.finish();
  } catch (err) {
    error = err;
  }
  assert(error instanceof PbxError && error.code === "E_STATE", `expected E_STATE, got ${error}`);
  assertMatch((error as Error).message, /invariant violated: policy reckless evicted block \d+ while pending/);
});

Deno.test("two concurrent reads of a block issue one disk read; the second is a delayed hit", async () => {
  const r = await simulate(arraySource([[0, 7, READ], [10, 7, READ]]), { cacheSize: 8 });
  clean(r, "concurrent reads");
  assertEquals(r.diskReads, 1);
  assertEquals(r.delayedHits, 1);
  assertEquals(r.misses, 1);
  assertEquals(r.hits, 1);
  // both readers waited for the same IRQ
  assert(r.readLatencyUs.p50 > 1000, `latency ${r.readLatencyUs.p50} µs`);
});

Deno.test("an update while a write is pending waits for it; seed write-back acknowledges at once", async () => {
  const r = await simulate(arraySource([[0, 3, WRITE], [5, 3, WRITE]]), { cacheSize: 8 });
  clean(r, "rewrite");
  assertEquals(r.diskWrites, 2);
  assertEquals(r.writesAbsorbed, 0);
  assertEquals(r.writeLatencyUs.count, 2);
  assert(r.writeLatencyUs.max > 1000, "the second write should have waited for the first disk write");
  assertEquals(r.writeLatencyUs.p50, 0);
});

Deno.test("periodic write-back absorbs rewrites; write-through acknowledges only on disk", async () => {
  const reqs: [number, number, number][] = [];
  for (let i = 0; i < 200; i++) reqs.push([i * 1000, i % 10, WRITE]);
  const periodic = await simulate(arraySource(reqs), { cacheSize: 32, writeback: "periodic,expire=1s,interval=100ms" });
  clean(periodic, "periodic");
  assert(periodic.writesAbsorbed >= 180, `absorbed ${periodic.writesAbsorbed}`);
  assert(periodic.diskWrites <= 20, `disk writes ${periodic.diskWrites}`);
  assert(periodic.maxDirtyBlocks === 10, `max dirty ${periodic.maxDirtyBlocks}`);
  const wt = await simulate(arraySource(reqs), { cacheSize: 32, writeback: "writethrough" }, { crashAtUs: 100_000 });
  clean(wt, "writethrough");
  assertEquals(wt.maxDirtyBlocks, 0);
  assertEquals(wt.lostAtCrash?.blocks, 0);
  assert(wt.writeLatencyUs.p50 > 100, "write-through writers wait for the disk");
});

Deno.test("the seed scheduler's read priority starves writes; deadline bounds their age", async () => {
  // a steady stream of cold reads (always misses) with writes mixed in, faster than the disk
  const reqs: [number, number, number][] = [];
  for (let i = 0; i < 1500; i++) {
    reqs.push([i * 4000, i % 3 === 0 ? 100_000 + (i % 50) : 1000 + i * 37, i % 3 === 0 ? WRITE : READ]);
  }
  const seed = await simulate(arraySource(reqs), { cacheSize: 256, scheduler: "first-pending" }, { crashAtUs: 3e6 });
  const deadline = await simulate(arraySource(reqs), { cacheSize: 256, scheduler: "deadline" }, { crashAtUs: 3e6 });
  clean(seed, "seed");
  clean(deadline, "deadline");
  assert(
    seed.oldestDirtyAgeMs > 2 * deadline.oldestDirtyAgeMs,
    `oldest dirty: first-pending ${seed.oldestDirtyAgeMs} ms vs deadline ${deadline.oldestDirtyAgeMs} ms`,
  );
  assert((seed.lostAtCrash?.blocks ?? 0) > 0, "a crash mid-run loses acknowledged writes under the seed design");
  assert(seed.readLatencyUs.p50 <= deadline.readLatencyUs.p50 * 1.05, "read priority should not make reads slower");
});

Deno.test("SSD beats HDD on latency; closed-loop with one thread has no delayed hits", async () => {
  const spec = "zipf,alpha=0.8,objects=5000,requests=3000,seed=2,write=0.2";
  const hdd = await simulate(generatedSource(spec), { cacheSize: 200 }, { threads: 1 });
  const ssd = await simulate(generatedSource(spec), { cacheSize: 200 }, { threads: 1, disk: SSD_DEFAULTS });
  clean(hdd, "hdd");
  clean(ssd, "ssd");
  assertEquals(hdd.missRatio, ssd.missRatio);
  assertEquals(hdd.delayedHits, 0);
  assert(
    ssd.readLatencyUs.p99 * 10 < hdd.readLatencyUs.p99,
    `p99 ssd ${ssd.readLatencyUs.p99} hdd ${hdd.readLatencyUs.p99}`,
  );
  assert(hdd.seekTotal > 0 && hdd.seekMean > 0);
});

Deno.test("multi-block requests touch every block (byte-addressed trace)", async () => {
  const source: TraceSource = {
    name: "bytes",
    unit: "byte",
    skipped: 0,
    batches: async function* () {
      const b: RequestBatch = newBatch(2);
      b.n = 2;
      b.time.set([0, 100_000]);
      b.addr.set([8192, 8192 + 4096]); // blocks 2..5, then 3..4 (hits)
      b.size.set([16384, 8192]);
      b.op.set([READ, READ]);
      yield b;
    },
  };
  const r = await simulate(source, { cacheSize: 16 });
  clean(r, "multi-block");
  assertEquals(r.blockMisses, 4);
  assertEquals(r.blockHits, 2);
  assertEquals(r.diskReads, 4);
  assertEquals(r.misses, 1);
  assertEquals(r.hits, 1);
});
