/**
 * `pbxkit ban`: Sniff SIP with libpcap and ban hosts that collect REGISTER/INVITE errors in nftables or iptables.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { newCommand, notImplemented } from "../lib/cli/mod.ts";

/** Build the `ban` subcommand. */
export function banCommand(): Command {
  return newCommand("ban", {
    summary: "Sniff SIP with libpcap and ban hosts that collect REGISTER/INVITE errors in nftables or iptables",
    examples: ["pbxkit ban --pcap capture.pcap --json"],
  }).action(() => {
    throw notImplemented("ban", 4);
  });
}
