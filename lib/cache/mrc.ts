/**
 * Miss-ratio curves in one pass. Exact LRU stack distances (Mattson) with a Fenwick tree over access times:
 * the distance of a reuse is the number of distinct objects touched since the previous access, counted in
 * O(log n); the tree is compacted when it fills, so memory is O(distinct objects), not O(trace). With a sampling
 * rate below 1 it is SHARDS (Waldspurger et al., FAST'15): only objects whose hash falls under rate·2^32 are
 * tracked and their distances scaled by 1/rate, with SHARDS_adj's correction of the sampled request count.
 *
 * @module
 */

import { grown } from "./grow.ts";
import { KeyMap } from "./keymap.ts";

/** One point of a miss-ratio curve. */
export interface MrcPoint {
  /** Cache size in objects. */
  cacheSize: number;
  /** LRU miss ratio at that size. */
  missRatio: number;
}

/** Stack-distance histogram builder. */
export class StackDistance {
  #rate: number;
  #threshold: number;
  #last: KeyMap;
  #tree: Float64Array; // Fenwick tree over time slots: 1 where a slot holds an object's latest access
  #slotKey: Float64Array;
  #time = 0;
  /** hist[d] = reuses at distance d (d ≥ 1, scaled); cold misses are counted apart. */
  #hist: Float64Array = new Float64Array(1024);
  /** Requests counted (sampled requests scaled by 1/rate). */
  requests = 0;
  /** First accesses (scaled). */
  cold = 0;
  #total = 0;

  /** `rate` = 1 for the exact curve, < 1 for SHARDS sampling. */
  constructor(rate = 1, expectedObjects = 1 << 16) {
    this.#rate = rate;
    this.#threshold = Math.floor(rate * 4294967296);
    this.#last = new KeyMap(expectedObjects);
    const n = Math.max(1024, expectedObjects * 2);
    this.#tree = new Float64Array(n + 1);
    this.#slotKey = new Float64Array(n);
  }

  /** Account one request for `key`. */
  access(key: number): void {
    const w = 1 / this.#rate;
    this.#total++;
    if (this.#rate < 1 && hash32(key) >= this.#threshold) return;
    this.requests += w;
    if (this.#time === this.#slotKey.length) this.#compact();
    const prev = this.#last.get(key);
    const t = this.#time++;
    if (prev < 0) {
      this.cold += w;
    } else {
      // distinct objects accessed after prev = live entries in (prev, t)
      const d = this.#prefix(t) - this.#prefix(prev + 1) + 1;
      const sd = Math.max(1, Math.round(d * w));
      if (sd >= this.#hist.length) {
        let n = this.#hist.length;
        while (n <= sd) n *= 2;
        this.#hist = grown(this.#hist, n);
      }
      this.#hist[sd] += w;
      this.#add(prev + 1, -1);
    }
    this.#add(t + 1, 1);
    this.#slotKey[t] = key;
    this.#last.set(key, t);
  }

  #add(i: number, v: number): void {
    const tr = this.#tree;
    for (; i < tr.length; i += i & -i) tr[i] += v;
  }

  #prefix(i: number): number {
    // sum of slots 1..i (slot i = time i-1)
    let s = 0;
    const tr = this.#tree;
    for (; i > 0; i -= i & -i) s += tr[i];
    return s;
  }

  /** Renumber live entries 0..live-1 (keeping order) and grow the tree if it is mostly live. */
  #compact(): void {
    const old = this.#slotKey;
    const keys: number[] = [];
    for (let t = 0; t < this.#time; t++) {
      if (this.#last.get(old[t]) === t) keys.push(old[t]);
    }
    let n = old.length;
    if (keys.length * 2 > n) n *= 2;
    this.#tree = new Float64Array(n + 1);
    this.#slotKey = new Float64Array(n);
    for (let i = 0; i < keys.length; i++) {
      this.#slotKey[i] = keys[i];
      this.#last.set(keys[i], i);
      this.#add(i + 1, 1);
    }
    this.#time = keys.length;
  }

  /** The LRU miss-ratio curve at the given sizes (or at up to `points` log-spaced sizes). */
  curve(sizes?: readonly number[], points = 40): MrcPoint[] {
    const h = this.#hist;
    let maxD = h.length - 1;
    while (maxD > 0 && h[maxD] === 0) maxD--;
    const want = sizes ?? logSizes(Math.max(1, maxD), points);
    const out: MrcPoint[] = [];
    // hits at size c = reuses with distance ≤ c
    const cum = new Float64Array(maxD + 2);
    for (let d = 1; d <= maxD; d++) cum[d] = cum[d - 1] + h[d];
    // SHARDS_adj: the difference between the requests seen and the sampled requests scaled up is credited to the
    // smallest distance, correcting the sample's over- or under-weight of the hottest objects.
    const adj = this.#rate < 1 ? this.#total - this.requests : 0;
    const total = this.#rate < 1 ? this.#total : this.requests;
    for (const c of want) {
      const hits = cum[Math.min(c, maxD)] + adj;
      out.push({ cacheSize: c, missRatio: total > 0 ? Math.min(1, Math.max(0, 1 - hits / total)) : 0 });
    }
    return out;
  }
}

function logSizes(max: number, points: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i <= points; i++) out.add(Math.max(1, Math.round(Math.pow(max, i / points))));
  return [...out].sort((a, b) => a - b);
}

function hash32(key: number): number {
  const lo = key >>> 0, hi = (key / 4294967296) >>> 0;
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}
