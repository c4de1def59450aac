/**
 * Write-back policies of the seed model, one file each behind {@linkcode WritebackPolicy}: `seed` (acknowledge and
 * queue at once), `periodic` (dirty, flushed by age) and `writethrough` (wait for the disk). To add one, write a
 * file here and list its factory in {@linkcode WRITEBACKS}.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { periodicWriteback } from "./periodic.ts";
import type { WritebackFactory, WritebackSpec } from "./policy.ts";
import { seedWriteback } from "./seed.ts";
import { writethroughWriteback } from "./writethrough.ts";

export type { WritebackFactory, WritebackHost, WritebackPolicy, WritebackSpec } from "./policy.ts";

/** Every write-back policy, by name. */
export const WRITEBACKS: Readonly<Record<string, WritebackFactory>> = {
  seed: seedWriteback,
  periodic: periodicWriteback,
  writethrough: writethroughWriteback,
};

/** Parse one `--writeback` item: `seed`, `writethrough`, `periodic[,expire=30s,interval=5s]` (or an alias). */
export function parseWriteback(text: string): WritebackSpec {
  const [name, ...pairs] = text.split(",").map((s) => s.trim());
  const factory = Object.values(WRITEBACKS).find((f) => f.name === name || f.aliases.includes(name));
  if (!factory) {
    throw new PbxError("E_USAGE", `--writeback: unknown '${name}' (${Object.keys(WRITEBACKS).join(", ")})`);
  }
  return { ...factory.parse(pairs), text };
}
