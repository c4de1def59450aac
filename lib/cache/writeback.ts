/**
 * Write-back policies. `seed` (the user's): a write is acknowledged at once and its entry becomes WRITE_PENDING,
 * queued for the disk right away (the scheduler decides when). `periodic` (like Linux's dirty_expire): a write
 * marks the entry dirty; a flusher every `interval` queues entries dirty for longer than `expire`; rewrites of a
 * dirty entry are absorbed. `writethrough`: the writer waits until its block is on disk.
 *
 * @module
 */

import { parseDuration, PbxError } from "../common/mod.ts";

/** A write-back policy. */
export interface WritebackParams {
  /** seed, periodic or writethrough. */
  mode: "seed" | "periodic" | "writethrough";
  /** periodic: age after which a dirty block is queued (µs). */
  expireUs: number;
  /** periodic: flusher period (µs). */
  intervalUs: number;
}

/** Parse `seed`, `writethrough`, `periodic[,expire=30s,interval=5s]`. */
export function parseWriteback(text: string): WritebackParams {
  const [mode, ...pairs] = text.split(",").map((s) => s.trim());
  const m = mode === "wt" || mode === "write-through" ? "writethrough" : mode === "delayed" ? "seed" : mode;
  if (m !== "seed" && m !== "periodic" && m !== "writethrough") {
    throw new PbxError("E_USAGE", `--writeback: unknown '${mode}' (seed, periodic, writethrough)`);
  }
  const p: WritebackParams = { mode: m, expireUs: 30e6, intervalUs: 5e6 };
  for (const pair of pairs) {
    const [k, v] = pair.split("=");
    if (m !== "periodic" || (k !== "expire" && k !== "interval") || v === undefined) {
      throw new PbxError("E_USAGE", `--writeback: bad '${pair}' (periodic takes expire=DURATION,interval=DURATION)`);
    }
    const us = parseDuration(v, `--writeback ${k}`) * 1000;
    if (k === "expire") p.expireUs = us;
    else p.intervalUs = Math.max(1000, us);
  }
  return p;
}

/** Short label: `seed`, `periodic(30s)`, `writethrough`. */
export function writebackLabel(p: WritebackParams): string {
  return p.mode === "periodic" ? `periodic(${+(p.expireUs / 1e6).toPrecision(3)}s)` : p.mode;
}
