/**
 * A terminal progress bar on stderr for long work (trace replays, transfers, captures). It draws only when stderr
 * is a terminal, at most ~10 times a second, and is silent otherwise, so scripts and logs stay clean.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Total units of work, if known (bytes, requests, packets). */
  total?: number;
  /** Unit name shown after the counts (default none). */
  unit?: string;
  /** Force drawing on or off (default: only when stderr is a terminal). */
  enabled?: boolean;
  /** Minimum milliseconds between redraws (default 100). */
  intervalMs?: number;
  /** Format counts as bytes (KiB, MiB). */
  bytes?: boolean;
}

/** A single-line progress indicator: `label [#####.....] 52% 1.2M/2.3M req 3.1M/s ETA 4s`. */
export class Progress {
  #label: string;
  #total: number | undefined;
  #unit: string;
  #enabled: boolean;
  #interval: number;
  #bytes: boolean;
  #start = performance.now();
  #last = 0;
  #done = 0;
  #drawn = false;

  /** Start a progress line with a label. */
  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = options.total;
    this.#unit = options.unit ?? "";
    this.#enabled = options.enabled ?? safeIsTerminal();
    this.#interval = options.intervalMs ?? 100;
    this.#bytes = options.bytes ?? false;
  }

  /** Set the absolute amount done; redraws when due. Cheap to call often. */
  update(done: number, total?: number): void {
    this.#done = done;
    if (total !== undefined) this.#total = total;
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#last < this.#interval) return;
    this.#last = now;
    this.#draw(now);
  }

  /** Add to the amount done. */
  add(n: number): void {
    this.update(this.#done + n);
  }

  /** Finish: draw the final state and end the line (or clear it with `clear`). */
  finish(options: { clear?: boolean } = {}): void {
    if (!this.#enabled) return;
    if (options.clear) {
      if (this.#drawn) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      return;
    }
    this.#draw(performance.now());
    Deno.stderr.writeSync(encoder.encode("\n"));
  }

  /** The line as it would be drawn now (exposed for tests). */
  render(now: number = performance.now()): string {
    const secs = Math.max((now - this.#start) / 1000, 1e-9);
    const rate = this.#done / secs;
    const fmt = (n: number) => (this.#bytes ? formatBytes(n) : formatCount(n));
    let line = this.#label;
    if (this.#total && this.#total > 0) {
      const frac = Math.min(1, this.#done / this.#total);
      const width = 24;
      const full = Math.round(frac * width);
      line += ` [${"#".repeat(full)}${".".repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%`;
      line += ` ${fmt(this.#done)}/${fmt(this.#total)}`;
      if (rate > 0 && frac < 1) line += ` ETA ${formatDuration((this.#total - this.#done) / rate)}`;
    } else {
      line += ` ${fmt(this.#done)}`;
    }
    if (this.#unit) line += ` ${this.#unit}`;
    line += ` ${fmt(rate)}/s`;
    return line;
  }

  #draw(now: number): void {
    this.#drawn = true;
    Deno.stderr.writeSync(encoder.encode("\r\x1b[2K" + this.render(now)));
  }
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/** 1234567 -> "1.23M". */
export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** 1536 -> "1.5KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + units[i];
}

/** 75 -> "1m15s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${Math.round(seconds % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
