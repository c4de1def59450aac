/**
 * Prometheus metrics: a {@linkcode MetricsRegistry} of counters, gauges and histograms (with labels) rendered in
 * the text exposition format 0.0.4 (`# HELP`/`# TYPE` lines, escaped label values, histograms as cumulative
 * `_bucket{le=...}` series plus `_sum` and `_count`). Observing allocates nothing: a labelled child is looked up
 * (or made) once and kept by the caller; values are plain numbers and the bucket counts one `Float64Array`.
 * Values that live elsewhere (open connections, pcap drop counts) are read at scrape time by
 * {@linkcode MetricsRegistry.onCollect} hooks. The HTTP side is in `metrics_http.ts`.
 *
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const reg = new MetricsRegistry();
 * const msgs = reg.counter("pbxkit_ws_messages_total", "WebSocket messages.", ["direction"]);
 * const received = msgs.labels("in");
 * received.inc();
 * console.log(reg.expose());
 * ```
 *
 * @module
 */

import { usageError } from "./errors.ts";

/** The `Content-Type` of {@linkcode MetricsRegistry.expose}'s output. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escape `# HELP` text: backslash and line feed. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Escape a label value: backslash, double quote and line feed. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the format writes it: `+Inf`, `-Inf`, `NaN`, integers without a fraction. */
export function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

/** One labelled counter series. */
export class CounterChild {
  /** The current value. */
  value = 0;
  /** Add `n` (default 1; must not be negative). */
  inc(n = 1): void {
    this.value += n;
  }
}

/** One labelled gauge series. */
export class GaugeChild {
  /** The current value. */
  value = 0;
  /** Set the value. */
  set(v: number): void {
    this.value = v;
  }
  /** Add `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  /** Subtract `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/** One labelled histogram series. */
export class HistogramChild {
  /** Upper bounds (without +Inf), ascending. */
  readonly bounds: Float64Array;
  /** Per-bucket counts, not cumulative; the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** Make a series over `bounds`. */
  constructor(bounds: Float64Array) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Record one value. */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A metric family's type, as written in its `# TYPE` line. */
export type MetricKind = "counter" | "gauge" | "histogram";

/** A metric family: one name, one help text, a child per label-value combination. */
export class Metric<C> {
  /** The metric name. */
  readonly name: string;
  /** The help text. */
  readonly help: string;
  /** The type. */
  readonly kind: MetricKind;
  /** Label names. */
  readonly labelNames: readonly string[];
  readonly #make: () => C;
  readonly #children = new Map<string, { values: readonly string[]; child: C }>();

  /** Use {@linkcode MetricsRegistry.counter} and friends. */
  constructor(name: string, help: string, kind: MetricKind, labelNames: readonly string[], make: () => C) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
    this.#make = make;
    // A family without labels has its one series from the start (so it shows as 0 before anything happens).
    if (labelNames.length === 0) this.#children.set("", { values: [], child: make() });
  }

  /** The series for these label values (made on first use; keep it for hot paths). */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: ${this.labelNames.length} label values expected, got ${values.length}`);
    }
    const key = values.length === 1 ? values[0] : values.join("\u0000");
    let e = this.#children.get(key);
    if (!e) {
      e = { values: [...values], child: this.#make() };
      this.#children.set(key, e);
    }
    return e.child;
  }

  /** The series of a family without labels. */
  get series(): C {
    return this.labels();
  }

  /** Every series with its label values, in creation order. */
  entries(): IterableIterator<{ values: readonly string[]; child: C }> {
    return this.#children.values();
  }
}

/** Counter family (`inc` only; the name must end in `_total`). */
export type Counter = Metric<CounterChild>;
/** Gauge family. */
export type Gauge = Metric<GaugeChild>;
/** Histogram family. */
export type Histogram = Metric<HistogramChild>;

/** Default histogram buckets for latencies in seconds: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A set of metric families rendered together. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric<unknown>>();
  readonly #hooks: (() => void)[] = [];

  #add<C>(name: string, help: string, kind: MetricKind, labelNames: readonly string[], make: () => C): Metric<C> {
    if (!NAME_RE.test(name)) throw new Error(`bad metric name '${name}'`);
    if (this.#metrics.has(name)) throw new Error(`metric '${name}' registered twice`);
    if (kind === "counter" && !name.endsWith("_total")) throw new Error(`counter '${name}' must end in _total`);
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l.startsWith("__") || (kind === "histogram" && l === "le")) {
        throw new Error(`${name}: bad label name '${l}'`);
      }
    }
    const m = new Metric<C>(name, help, kind, labelNames, make);
    this.#metrics.set(name, m as Metric<unknown>);
    return m;
  }

  /** Register a counter family. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(name, help, "counter", labelNames, () => new CounterChild());
  }

  /** Register a gauge family. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(name, help, "gauge", labelNames, () => new GaugeChild());
  }

  /** Register a histogram family with ascending bucket upper bounds (+Inf is implied). */
  histogram(
    name: string,
    help: string,
    options: { buckets?: readonly number[]; labelNames?: readonly string[] } = {},
  ): Histogram {
    const buckets = options.buckets ?? LATENCY_BUCKETS;
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        throw new Error(`${name}: buckets must be finite and strictly ascending`);
      }
    }
    const bounds = Float64Array.from(buckets);
    return this.#add(name, help, "histogram", options.labelNames ?? [], () => new HistogramChild(bounds));
  }

  /** Run `hook` before every {@linkcode expose} (set gauges and counters from live state). */
  onCollect(hook: () => void): void {
    this.#hooks.push(hook);
  }

  /** The text exposition (format 0.0.4) of every family, in registration order. */
  expose(): string {
    for (const h of this.#hooks) h();
    const out: string[] = [];
    for (const m of this.#metrics.values()) {
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.kind}`);
      for (const { values, child } of m.entries()) {
        const pairs = m.labelNames.map((l, i) => `${l}="${escapeLabelValue(values[i])}"`);
        if (m.kind === "histogram") {
          const h = child as HistogramChild;
          let cum = 0;
          for (let i = 0; i <= h.bounds.length; i++) {
            cum += h.counts[i];
            const le = i < h.bounds.length ? formatValue(h.bounds[i]) : "+Inf";
            out.push(`${m.name}_bucket{${[...pairs, `le="${le}"`].join(",")}} ${formatValue(cum)}`);
          }
          const lab = pairs.length ? `{${pairs.join(",")}}` : "";
          out.push(`${m.name}_sum${lab} ${formatValue(h.sum)}`, `${m.name}_count${lab} ${formatValue(h.count)}`);
        } else {
          const lab = pairs.length ? `{${pairs.join(",")}}` : "";
          out.push(`${m.name}${lab} ${formatValue((child as CounterChild | GaugeChild).value)}`);
        }
      }
    }
    return out.join("\n") + "\n";
  }
}

/** Parse a `--metrics` address: `127.0.0.1:9464`, `[::1]:9464`, `:9464` (127.0.0.1). Throws `E_USAGE`. */
export function parseMetricsAddress(text: string, flag = "--metrics"): { hostname: string; port: number } {
  const t = text.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(t);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw usageError(`${flag}: '${text}' is not HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)`);
  }
  return { hostname: m[1] ?? (m[2] || "127.0.0.1"), port };
}
