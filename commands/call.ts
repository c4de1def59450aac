/**
 * `pbxkit call`: Place and auto-answer SIP calls over WebSocket with JsSIP, with real audio.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { newCommand, notImplemented } from "../lib/cli/mod.ts";

/** Build the `call` subcommand. */
export function callCommand(): Command {
  return newCommand("call", {
    summary: "Place and auto-answer SIP calls over WebSocket with JsSIP, with real audio",
    examples: ["pbxkit call sip:100@pbx.example --ws wss://pbx.example/ws --user 200 --password secret"],
  }).action(() => {
    throw notImplemented("call", 7);
  });
}
