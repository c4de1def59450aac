/**
 * The registry of eviction policies: name → factory. Aliases: `2q` for `twoq`, `belady` for `opt`.
 *
 * @module
 */

import type { PolicyFactory } from "../policy.ts";
import { PbxError } from "../../common/mod.ts";
import { arc } from "./arc.ts";
import { clock } from "./clock.ts";
import { fifo } from "./fifo.ts";
import { lfu } from "./lfu.ts";
import { lirs } from "./lirs.ts";
import { lru } from "./lru.ts";
import { opt } from "./opt.ts";
import { s3fifo } from "./s3fifo.ts";
import { sieve } from "./sieve.ts";
import { twoq } from "./twoq.ts";

/** Every policy by canonical name, in the order tables list them. */
export const POLICIES: Readonly<Record<string, PolicyFactory>> = {
  lru,
  fifo,
  clock,
  lfu,
  arc,
  twoq,
  lirs,
  s3fifo,
  sieve,
  opt,
};

/** The policies the seed model compares when `--policy` is absent (the object model runs every policy). */
export const DEFAULT_SEED_POLICIES: readonly string[] = ["lru", "fifo", "clock", "arc", "s3fifo", "opt"];

/** True when any of the named policies declares `needsFuture` (next-use indices must be computed). */
export function needsFuture(names: readonly string[]): boolean {
  return names.some((n) => policyFactory(n).needsFuture === true);
}

const ALIASES: Record<string, string> = { "2q": "twoq", belady: "opt", "s3-fifo": "s3fifo" };

/** Canonical policy name for a user-given name; throws E_USAGE for an unknown one. */
export function policyName(name: string): string {
  const n = name.trim().toLowerCase();
  const canon = ALIASES[n] ?? n;
  if (!(canon in POLICIES)) {
    throw new PbxError(
      "E_USAGE",
      `unknown policy '${name}' (one of ${Object.keys(POLICIES).join(", ")}; aliases ${
        Object.keys(ALIASES).join(", ")
      })`,
    );
  }
  return canon;
}

/** The factory for a policy name (aliases allowed). */
export function policyFactory(name: string): PolicyFactory {
  return POLICIES[policyName(name)];
}
