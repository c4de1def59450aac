/**
 * The I/O schedulers by name: `first-pending` (the seed design), `fifo`, `scan` (elevator), `clook`, `deadline`.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { ClookScheduler } from "./clook.ts";
import { DeadlineScheduler } from "./deadline.ts";
import { FifoScheduler } from "./fifo.ts";
import { FirstPending } from "./first_pending.ts";
import type { Scheduler, SchedulerOptions } from "./io.ts";
import { ScanScheduler } from "./scan.ts";

export * from "./io.ts";

/** Scheduler constructors by canonical name. */
export const SCHEDULERS: Readonly<Record<string, (o: SchedulerOptions) => Scheduler>> = {
  "first-pending": (o) => new FirstPending(o),
  fifo: (o) => new FifoScheduler(o),
  scan: (o) => new ScanScheduler(o),
  clook: (o) => new ClookScheduler(o),
  deadline: (o) => new DeadlineScheduler(o),
};

const ALIASES: Record<string, string> = {
  seed: "first-pending",
  first: "first-pending",
  elevator: "scan",
  "c-look": "clook",
  noop: "fifo",
  none: "fifo",
};

/** Canonical scheduler name; throws E_USAGE for an unknown one. */
export function schedulerName(name: string): string {
  const n = name.trim().toLowerCase();
  const c = ALIASES[n] ?? n;
  if (!(c in SCHEDULERS)) {
    throw new PbxError("E_USAGE", `unknown scheduler '${name}' (one of ${Object.keys(SCHEDULERS).join(", ")})`);
  }
  return c;
}
