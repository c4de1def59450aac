/**
 * A log-bucketed latency histogram (1% relative precision, constant memory) so latency percentiles of a
 * 100M-request replay need no per-request storage. The maximum is kept exactly.
 *
 * @module
 */

const BUCKETS = 3200;
const SCALE = 100; // buckets per e-fold: ~1% width

/** Histogram of non-negative values (microseconds). */
export class Histogram {
  #counts = new Float64Array(BUCKETS);
  /** Samples recorded. */
  count = 0;
  /** Exact maximum. */
  max = 0;
  /** Sum of samples. */
  sum = 0;

  /** Record a value. */
  add(v: number): void {
    const b = v < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(v) * SCALE));
    this.#counts[b]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Representative value of bucket `b`. */
  static value(b: number): number {
    return b === 0 ? 0 : Math.exp((b - 0.5) / SCALE);
  }

  /** The p-th percentile (0..100), within 1%; 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const want = Math.max(1, Math.ceil((p / 100) * this.count));
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += this.#counts[b];
      if (acc >= want) return Math.min(this.max, Histogram.value(b));
    }
    return this.max;
  }

  /** Mean value. */
  mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  /** CDF points [value, fraction ≤ value] for charts (non-empty buckets only). */
  cdf(): [number, number][] {
    const out: [number, number][] = [];
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      if (this.#counts[b] === 0) continue;
      acc += this.#counts[b];
      out.push([Math.max(Math.min(Histogram.value(b), this.max), 0.001), acc / this.count]);
    }
    return out;
  }
}
