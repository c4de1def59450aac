/**
 * Growing the struct-of-arrays tables (node pool, heap, events, threads, I/O slots, versions): a larger typed
 * array of the same kind holding the old contents.
 *
 * @module
 */

/** Options for {@linkcode grown}. */
export interface GrowOptions {
  /** Value of the new tail (default 0). */
  fill?: number;
}

/** A copy of `a` with length `n` (at least `a.length`) whose new tail is `fill` (default 0). */
export function grown<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number, options: GrowOptions = {}): T {
  const fill = options.fill ?? 0;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/** Replace each named typed-array column of `table` by its {@linkcode grown} copy of length `n`. */
export function growColumns<T extends object>(table: T, columns: readonly (keyof T & string)[], n: number): void {
  const t = table as unknown as Record<string, Float64Array | Int32Array | Uint8Array>;
  for (const k of columns) t[k] = grown(t[k], n);
}
