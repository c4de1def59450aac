/**
 * Parsers for flag values shared by every subcommand: sizes (`64MiB`), durations (`10m`), integers in a range,
 * comma lists, `host:port`. Each throws a {@linkcode PbxError} `E_USAGE` naming the flag on bad input.
 *
 * @module
 */

import { usageError } from "./errors.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parse `4096`, `64KiB`, `1.5MB`, `0x1000` into bytes. */
export function parseSize(text: string, flag = "size"): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usageError(`${flag}: '${text}' is not a size (e.g. 4096, 64KiB, 1MB)`);
  const v = Number(m[1]) * unit;
  if (!Number.isSafeInteger(Math.round(v))) throw usageError(`${flag}: '${text}' is too large`);
  return Math.round(v);
}

/** True when a size string carries a unit (`64MiB`), false for a bare count (`500`). */
export function hasSizeUnit(text: string): boolean {
  return /[a-z]\s*$/i.test(text.trim()) && !/^0x[0-9a-f]+$/i.test(text.trim());
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, "": 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Optional bounds for {@linkcode parseDuration}, in milliseconds. */
export interface DurationRange {
  /** Smallest accepted duration (default 0). */
  min?: number;
  /** Largest accepted duration (default none). {@linkcode MAX_TIMER_MS} for a value that feeds a timer. */
  max?: number;
}

/** Longest delay a JavaScript timer honours (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parse `500ms`, `30` (seconds), `10m`, `1h30m`, `2d` into milliseconds, optionally within `range`. */
export function parseDuration(text: string, flag = "duration", range: DurationRange = {}): number {
  const ms = parseDurationMs(text, flag);
  const { min = 0, max = Infinity } = range;
  if (ms < min || ms > max) {
    const fmt = (v: number) => v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`;
    throw usageError(
      `${flag}: '${text}' must be ${
        max === Infinity ? `at least ${fmt(min)}` : `from ${fmt(min)} to ${max === MAX_TIMER_MS ? "24d" : fmt(max)}`
      }`,
    );
  }
  return ms;
}

function parseDurationMs(text: string, flag: string): number {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== t.length) {
    throw usageError(`${flag}: '${text}' is not a duration (e.g. 30s, 10m, 1h, 500ms)`);
  }
  return Math.round(total);
}

/** Bounds for {@linkcode parseIntIn}. */
export interface IntRange {
  /** Smallest accepted value. */
  min: number;
  /** Largest accepted value. */
  max: number;
}

/** Parse an integer within [min, max]. Accepts decimal and 0x hex. */
export function parseIntIn(text: string, flag: string, range: IntRange): number {
  const { min, max } = range;
  const t = text.trim();
  const v = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^-?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw usageError(`${flag}: '${text}' must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Parse a port number 0-65535. */
export function parsePort(text: string, flag = "--port"): number {
  return parseIntIn(text, flag, { min: 0, max: 65535 });
}

/** Split `a,b, c` into trimmed non-empty items. */
export function parseList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Commander collector for repeatable flags: `--x a --x b` -> ["a", "b"]. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parse `host`, `host:port`, `[v6]:port` or `v6` into parts; the port is optional. */
export function parseHostPort(text: string, flag = "address"): { host: string; port?: number } {
  const t = text.trim();
  const v6 = /^\[([0-9a-f:.%a-z]+)\](?::(\d+))?$/i.exec(t);
  if (v6) return { host: v6[1], port: v6[2] ? parsePort(v6[2], flag) : undefined };
  if ((t.match(/:/g) ?? []).length > 1) return { host: t }; // bare IPv6
  const m = /^([^:\s]+)(?::(\d+))?$/.exec(t);
  if (!m) throw usageError(`${flag}: '${text}' is not host[:port]`);
  return { host: m[1], port: m[2] ? parsePort(m[2], flag) : undefined };
}
