/**
 * The ordered, non-blocking line writer (a daemon's `--json` events): writes return at once while the sink is
 * slow, lines come out complete and in order across short writes, and a sink that fails drops the rest quietly.
 */

import { assert, assertEquals } from "./_util/assert.ts";
import { LineWriter } from "../lib/common/mod.ts";

Deno.test("LineWriter: queued at once, written in order in few writes, short writes resumed", async () => {
  const chunks: Uint8Array[] = [];
  let calls = 0;
  const sink = {
    async write(p: Uint8Array): Promise<number> {
      calls++;
      await new Promise((r) => setTimeout(r, 5)); // a slow reader
      const n = Math.min(p.length, 1000); // a pipe takes part of it
      chunks.push(p.slice(0, n));
      return n;
    },
  };
  const w = new LineWriter(sink);
  const t0 = performance.now();
  const want: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const line = JSON.stringify({ event: "fleet-ban", address: `198.51.${i >> 8}.${i & 255}`, i });
    want.push(line);
    w.write(line);
  }
  // waiting for the 5 ms sink would take 25 s; 2 s leaves a slow machine room
  assert(performance.now() - t0 < 2000, "writes did not wait for the sink");
  await w.flush();
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  assertEquals(text, want.join("\n") + "\n");
  // batched: one write per queued run, split only where the sink took part of it
  assert(calls <= Math.ceil(text.length / 1000) + 2, `${calls} writes`);
});

Deno.test("LineWriter: a sink that fails drops the rest; writes after it are ignored, never thrown", async () => {
  let calls = 0;
  const w = new LineWriter({
    write(): Promise<number> {
      calls++;
      return Promise.reject(new Deno.errors.BrokenPipe("reader went away"));
    },
  });
  w.write("a");
  await w.flush();
  w.write("b");
  await w.flush();
  assertEquals(calls, 1);
});

Deno.test("LineWriter: a reader that never reads cannot grow the queue past its bound; what is dropped is counted", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let written = "";
  const w = new LineWriter({
    async write(p: Uint8Array): Promise<number> {
      await gate;
      written += new TextDecoder().decode(p);
      return p.length;
    },
  }, { maxQueued: 100 });
  // the first line goes to the (stuck) sink at once; 100 more wait; the rest is dropped
  let kept = 0;
  for (let i = 0; i < 1000; i++) if (w.write(`line ${i}`)) kept++;
  await new Promise((r) => setTimeout(r, 0));
  assertEquals([kept, w.dropped], [101, 899]);
  release();
  await w.flush();
  assertEquals(written.split("\n").filter(Boolean).length, 101);
  assert(written.startsWith("line 0\n"));
});
