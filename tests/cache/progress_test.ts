/**
 * Progress of a parallel sweep (`cache-sim --jobs N`) follows the workers' acknowledgements: a batch handed to the
 * workers is not counted until every worker has replayed it (the ring of shared slots lets the reader run up to
 * four slots ahead), the count only grows, and it ends at the trace's length.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { HDD_DEFAULTS, newBatch, parseWriteback, runCacheSim } from "../../lib/cache/mod.ts";
import { ParallelModel } from "../../lib/cache/parallel.ts";

Deno.test("ParallelModel counts a batch only when every worker has acknowledged it", async () => {
  const seen: number[] = [];
  const model = new ParallelModel(
    {
      model: "object",
      blockSize: 4096,
      configs: [{ policy: "lru", cacheSize: 50 }, { policy: "fifo", cacheSize: 50 }],
    },
    { unit: "object" },
    { jobs: 2, slots: 4, capacity: 1000, onProgress: (d) => seen.push(d) },
  );
  try {
    const b = newBatch(1000);
    b.n = 1000;
    for (let i = 0; i < b.n; i++) {
      b.addr[i] = (i * 7) % 300;
      b.size[i] = 1;
    }
    for (let k = 0; k < 3; k++) {
      await model.feed(b, k * 1000);
      // three free slots: feed returned without waiting, and acks are messages that can't have been handled yet
      assertEquals(model.done, 0, `after handing out batch ${k}`);
    }
    assertEquals(seen, []);
    await model.finish();
    assertEquals(seen, [1000, 2000, 3000]);
    assertEquals(model.done, 3000);
    assertEquals(model.result().map((r) => r.requests), [3000, 3000]);
  } finally {
    model.close();
  }
});

Deno.test("cache-sim with two workers: progress only grows and ends at the trace's length", async () => {
  for (const model of ["object", "seed"] as const) {
    const seen: number[] = [];
    const report = await runCacheSim({
      gen: "zipf,alpha=0.9,objects=20k,requests=300k,seed=3,write=0.2",
      model,
      policies: ["lru", "fifo"],
      schedulers: ["first-pending"],
      writebacks: [parseWriteback("seed")],
      cacheSizes: [{ value: 2000, bytes: false }],
      blockSize: 4096,
      disk: HDD_DEFAULTS,
      threads: 8,
      speed: 1,
      checkInvariants: false,
      mrc: false,
      sample: 1,
      jobs: 2,
      onProgress: (done) => seen.push(done),
    });
    assertEquals(report.trace.requests, 300_000);
    assert(seen.length >= 2, `${model}: ${seen.length} progress updates`);
    for (let i = 1; i < seen.length; i++) assert(seen[i] > seen[i - 1], `${model}: progress went ${seen}`);
    assertEquals(seen[seen.length - 1], 300_000, model);
  }
});
