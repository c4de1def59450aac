/**
 * `pbxkit ws-serve`: A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss:// reverse proxy for a PBX.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { newCommand, notImplemented } from "../lib/cli/mod.ts";

/** Build the `ws-serve` subcommand. */
export function wsServeCommand(): Command {
  return newCommand("ws-serve", {
    summary:
      "A from-scratch WebSocket server (RFC 6455/7692) with TLS, echo, static files and a wss:// reverse proxy for a PBX",
    examples: ["pbxkit ws-serve --echo --port 8080"],
  }).action(() => {
    throw notImplemented("ws-serve", 3);
  });
}
