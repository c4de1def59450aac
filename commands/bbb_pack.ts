/**
 * `pbxkit bbb-pack`: Pack a bare-metal kernel and apps for a BeagleBone Black, write uEnv.txt and serve them over TFTP.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { newCommand, notImplemented } from "../lib/cli/mod.ts";

/** Build the `bbb-pack` subcommand. */
export function bbbPackCommand(): Command {
  return newCommand("bbb-pack", {
    summary: "Pack a bare-metal kernel and apps for a BeagleBone Black, write uEnv.txt and serve them over TFTP",
    examples: ["pbxkit bbb-pack --kernel os.bin --app a.bin --out build/"],
  }).action(() => {
    throw notImplemented("bbb-pack", 6);
  });
}
