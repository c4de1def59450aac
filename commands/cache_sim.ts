/**
 * `pbxkit cache-sim`: Simulate a block cache with delayed write-back and I/O scheduling on real or generated traces.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { newCommand, notImplemented } from "../lib/cli/mod.ts";

/** Build the `cache-sim` subcommand. */
export function cacheSimCommand(): Command {
  return newCommand("cache-sim", {
    summary: "Simulate a block cache with delayed write-back and I/O scheduling on real or generated traces",
    examples: ["pbxkit cache-sim --policy lru,arc --cache-size 500,3000"],
  }).action(() => {
    throw notImplemented("cache-sim", 5);
  });
}
