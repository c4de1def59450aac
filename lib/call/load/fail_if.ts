/**
 * `--fail-if 'loss_pct.p50>1,mos.min<3.5,failed>0'`: thresholds on a load run's result that turn into its exit
 * status, for CI pipelines.
 *
 * @module
 */

import { usageError } from "../../common/mod.ts";

/** The metrics `--fail-if` knows, and where each lives in the `--json` result. */
export const FAIL_IF_METRICS: Readonly<Record<string, readonly string[]>> = {
  attempted: ["attempted"],
  answered: ["answered"],
  failed: ["failed"],
  "setup_ms.p50": ["setup_ms", "p50"],
  "setup_ms.p95": ["setup_ms", "p95"],
  "setup_ms.p99": ["setup_ms", "p99"],
  "loss_pct.p50": ["media", "loss_pct", "p50"],
  "loss_pct.max": ["media", "loss_pct", "max"],
  "jitter_ms.p50": ["media", "jitter_ms", "p50"],
  "jitter_ms.max": ["media", "jitter_ms", "max"],
  "mos.p50": ["media", "mos", "p50"],
  "mos.min": ["media", "mos", "min"],
};

/** One threshold. */
export interface FailIfCheck {
  /** The text as given, e.g. `mos.min<3.5`. */
  text: string;
  /** The metric name. */
  metric: string;
  /** True when the result breaks the threshold (a metric with no value, e.g. no MOS because no call, breaks it). */
  test(result: unknown): boolean;
  /** The metric's value in a result (null when absent). */
  value(result: unknown): number | null;
}

const OPS: Record<string, (a: number, b: number) => boolean> = {
  ">": (a, b) => a > b,
  "<": (a, b) => a < b,
  ">=": (a, b) => a >= b,
  "<=": (a, b) => a <= b,
  "==": (a, b) => a === b,
  "!=": (a, b) => a !== b,
};

/** Parse a comma-separated list of `metric OP number`; throws a usage error naming the bad part. */
export function parseFailIf(text: string): FailIfCheck[] {
  const parts = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw usageError("--fail-if: give thresholds like 'loss_pct.p50>1,mos.min<3.5,failed>0'");
  return parts.map((part) => {
    const m = /^([a-z_]+(?:\.[a-z0-9]+)?)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw usageError(`--fail-if: '${part}' is not METRIC OP NUMBER (e.g. mos.min<3.5)`);
    const [, metric, op, num] = m;
    const path = FAIL_IF_METRICS[metric];
    if (!path) {
      throw usageError(`--fail-if: unknown metric '${metric}' (known: ${Object.keys(FAIL_IF_METRICS).join(", ")})`);
    }
    const limit = Number(num);
    const value = (result: unknown): number | null => {
      let v: unknown = result;
      for (const k of path) v = (v as Record<string, unknown> | null | undefined)?.[k];
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    };
    return {
      text: part,
      metric,
      value,
      test: (result: unknown) => {
        const v = value(result);
        return v === null || OPS[op](v, limit);
      },
    };
  });
}
