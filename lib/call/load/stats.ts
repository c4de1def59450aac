/**
 * Small statistics helpers for load results: nearest-rank percentiles, min/max, and an empirical CDF and histogram
 * for the report's charts.
 *
 * @module
 */

/** The nearest-rank `p`-th percentile (0..100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  if (p <= 0) return v[0];
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length, rank) - 1];
}

/** Summary of a list of numbers (finite ones only); NaN fields when empty. */
export interface Summary {
  /** How many finite values. */
  n: number;
  /** Smallest. */
  min: number;
  /** Median (nearest rank). */
  p50: number;
  /** 95th percentile. */
  p95: number;
  /** 99th percentile. */
  p99: number;
  /** Largest. */
  max: number;
  /** Mean. */
  mean: number;
}

/** {@linkcode Summary} of `values`. */
export function summarize(values: readonly number[]): Summary {
  const v = values.filter(Number.isFinite);
  const sum = v.reduce((a, b) => a + b, 0);
  return {
    n: v.length,
    min: v.length ? Math.min(...v) : NaN,
    p50: percentile(v, 50),
    p95: percentile(v, 95),
    p99: percentile(v, 99),
    max: v.length ? Math.max(...v) : NaN,
    mean: v.length ? sum / v.length : NaN,
  };
}

/** Empirical CDF points [value, fraction <= value], sorted by value. */
export function cdf(values: readonly number[]): [number, number][] {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.map((x, i) => [x, (i + 1) / v.length]);
}

/** Counts of `values` in bins of `width` starting at `from` (values below go in the first, above in the last). */
export function histogram(values: readonly number[], options: { from: number; width: number; bins: number }): number[] {
  const out = new Array<number>(options.bins).fill(0);
  for (const x of values) {
    if (!Number.isFinite(x)) continue;
    const i = Math.floor((x - options.from) / options.width);
    out[Math.max(0, Math.min(options.bins - 1, i))]++;
  }
  return out;
}

/** Round to `digits` decimals, keeping NaN as null for JSON. */
export function round(x: number, digits = 2): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
