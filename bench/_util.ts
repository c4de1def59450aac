/**
 * Helpers for the benchmarks: timing, percentiles, ratio lines, and saving results (JSON and SVG) under bench/out/.
 *
 * @module
 */

import { formatTable, toJsonText } from "../lib/common/mod.ts";
import type { Cell } from "../lib/common/mod.ts";

/** Directory for benchmark outputs (git-ignored). */
export const OUT_DIR: string = new URL("./out/", import.meta.url).pathname;

/** The value after `--name` in a benchmark's arguments, or undefined when the flag (or its value) is absent. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The p-th percentile (0..100) of unsorted samples (nearest rank). */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN;
  const s = Float64Array.from(samples as ArrayLike<number>).sort();
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx];
}

/** Median of samples. */
export function median(samples: ArrayLike<number>): number {
  return percentile(samples, 50);
}

/** `a / b` formatted as `1.23x`, or `n/a`. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return `${(a / b).toFixed(2)}x`;
}

/** Print a titled table. */
export function printTable(title: string, header: string[], rows: Cell[][]): void {
  console.log(`\n${title}\n${formatTable(header, rows)}`);
}

/** Save results as bench/out/NAME.json and optional SVG; prints where. */
export async function saveResults(name: string, data: unknown, svg?: string): Promise<void> {
  await Deno.mkdir(OUT_DIR, { recursive: true });
  await Deno.writeTextFile(`${OUT_DIR}${name}.json`, toJsonText(data, true) + "\n");
  if (svg) await Deno.writeTextFile(`${OUT_DIR}${name}.svg`, svg);
  console.log(`\nresults: bench/out/${name}.json${svg ? `, chart: bench/out/${name}.svg` : ""}`);
}

/** Say plainly that a peer is absent and how to provide it. */
export function peerAbsent(peer: string, how: string): void {
  console.log(`peer ${peer}: ABSENT — ${how}; its column is skipped in this run`);
}

/**
 * The parent pid and the CPU used so far (utime+stime, clock ticks of 10 ms) from the text of a `/proc/PID/stat` or
 * `/proc/PID/task/TID/stat` file. The fields are counted after the `)` that ends the command name (which may hold
 * spaces): state is field 3, ppid 4, utime 14, stime 15.
 */
export function parseProcStat(text: string): { ppid: number; ticks: number } {
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}
