/**
 * Next-use indices for policies that need the future (OPT): for every request of a trace, the index of the next
 * request to the same cache key, from one streamed pre-pass that keeps one int32 per request (4 bytes × requests)
 * plus one hash entry per distinct key. Shared by the driver (`run.ts`) and the object model.
 *
 * @module
 */

import { grown } from "./grow.ts";
import { KeyMap } from "./keymap.ts";
import { batchKeys, type KeyOptions } from "./keys.ts";
import type { TraceSource } from "./traces/batch.ts";

/** Next-use index of every request (Infinity encoded as -1), computed in one pass. */
export async function computeNextUse(source: TraceSource, blockSize: number): Promise<Int32Array> {
  let next = new Int32Array(1 << 16);
  const last = new KeyMap(1 << 16);
  const keyOptions: KeyOptions = { unit: source.unit, blockSize, volumes: source.volumes };
  let keys = new Float64Array(0);
  let idx = 0;
  for await (const b of source.batches()) {
    if (keys.length < b.n) keys = new Float64Array(b.n);
    batchKeys(b, keys, keyOptions);
    if (idx + b.n > next.length) {
      let cap = next.length;
      while (cap < idx + b.n) cap *= 2;
      next = grown(next, cap);
    }
    for (let i = 0; i < b.n; i++, idx++) {
      const k = keys[i];
      const prev = last.get(k);
      if (prev >= 0) next[prev] = idx;
      next[idx] = -1;
      last.set(k, idx);
    }
  }
  return next.subarray(0, idx);
}
