/**
 * `pbxkit ban`: sniff the PBX's SIP responses with libpcap and ban hosts that collect REGISTER/INVITE errors, in
 * nftables (libnftables FFI) or iptables, with state that survives restarts.
 *
 * The engine ({@linkcode BanEngine}) is sans-I/O: frames in, verdicts out. Adapters: {@linkcode readCaptureFile}
 * (pure TS pcap/pcapng), {@linkcode LiveCapture} (libpcap FFI), firewall backends, the daemon, and the management
 * functions below used by `ban status|list|unban|cleanup`.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { BanConfig } from "./config.ts";
import { controlRequest } from "./control.ts";
import { firewallFor } from "./firewall/mod.ts";
import { parseTarget, targetText } from "./blocklist.ts";
import { loadState, saveState } from "./state.ts";

export * from "./engine.ts";
export * from "./config.ts";
export * from "./pcap_file.ts";
export * from "./replay.ts";
export * from "./state.ts";
export * from "./blocklist.ts";
export * from "./import.ts";
export { BanDaemon, banJson, interfaceAddresses, runDaemon } from "./daemon.ts";
export { BAN_LATENCY_BUCKETS, BanMetrics, type BanMetricsSource } from "./metrics.ts";
export { CompiledFilter, LIBPCAP_PATH, LiveCapture } from "./libpcap.ts";
export * from "./firewall/mod.ts";
export { controlRequest } from "./control.ts";
export * from "./fleet/mod.ts";
export { Decoder, type DecodeStats, LinkType, Payload, type PbxFilter } from "./net/decode.ts";
export { FragReassembler, type FragStats } from "./net/ipfrag.ts";
export { TcpReassembler, type TcpStats } from "./net/tcp_stream.ts";
export { canonicalIp, type Cidr, type IpAddress, parseCidr, parseIp } from "./net/addr.ts";
export { type CaptureStats, type LiveHandler, type LiveRunOptions } from "./libpcap.ts";
export { type ControlRequest, type ControlRequestOptions } from "./control.ts";
export { type DaemonOptions } from "./daemon.ts";

/** `ban status`: the daemon's live view, or (no daemon) the saved state plus the firewall. */
export async function banStatus(cfg: BanConfig): Promise<Record<string, unknown>> {
  const live = await controlRequest(cfg.socketPath, { cmd: "status" });
  if (live) return { running: true, ...(live.status as object), firewall: live.firewall };
  const state = await loadState(cfg.statePath, { readOnly: true });
  const fw = firewallFor(cfg);
  try {
    const entries = await fw.list();
    return {
      running: false,
      stateSavedAt: state.savedAt ? new Date(state.savedAt).toISOString() : null,
      lastRun: state.status ?? null,
      backend: fw.name,
      bans: entries.length,
      firewall: await fw.counters(),
    };
  } finally {
    fw.close();
  }
}

/** One row of `ban list`. */
export interface BanListEntry {
  /** Address. */
  address: string;
  /** `ipv4` or `ipv6`. */
  family: string;
  /** Failures that triggered the ban (0 when adopted from the firewall). */
  failures: number;
  /** When it ends, ISO time, or null for permanent/unknown. */
  expires: string | null;
  /** Why. */
  reason: string;
  /** The fleet node that made the ban (null: this host, no fleet). */
  origin?: string | null;
}

/** `ban list`: current bans (from the daemon, else the firewall joined with the saved state). */
export async function banList(cfg: BanConfig): Promise<BanListEntry[]> {
  const live = await controlRequest(cfg.socketPath, { cmd: "list" });
  if (live) return live.bans as BanListEntry[];
  const state = await loadState(cfg.statePath, { readOnly: true });
  const byAddr = new Map(state.hosts.filter((h) => h.ban).map((h) => [h.address, h.ban!]));
  const fw = firewallFor(cfg);
  try {
    const now = Date.now();
    return (await fw.list()).map((e) => {
      const b = byAddr.get(e.address);
      return {
        address: e.address,
        family: e.family === 4 ? "ipv4" : "ipv6",
        failures: b?.failures ?? 0,
        expires: e.expiresInMs !== undefined ? new Date(now + e.expiresInMs).toISOString() : null,
        reason: b?.reason ?? "in the firewall (not in pbxkit's state)",
        origin: b ? b.origin ?? null : "firewall",
      };
    });
  } finally {
    fw.close();
  }
}

/**
 * `ban unban ADDR` (an address, or an imported network `a/len`): through the daemon when it runs (so it forgets
 * too), else in the firewall and state file.
 */
export async function banUnban(cfg: BanConfig, address: string): Promise<{ address: string; via: string }> {
  const target = parseTarget(address);
  if (typeof target === "string") throw new PbxError("E_USAGE", `'${address}' is not an IP address or network`);
  const ip = { family: target.family };
  const addr = targetText(target);
  const live = await controlRequest(cfg.socketPath, { cmd: "unban", address: addr });
  if (live) return { address: addr, via: "daemon" };
  const fw = firewallFor(cfg);
  try {
    await fw.unban([{ address: addr, family: ip.family }]);
  } finally {
    fw.close();
  }
  const state = await loadState(cfg.statePath);
  const before = state.hosts.length;
  state.hosts = state.hosts.filter((h) => h.address !== addr);
  if (state.hosts.length !== before) await saveState(cfg.statePath, state);
  return { address: addr, via: "firewall" };
}

/** `ban cleanup`: remove everything pbxkit added to the firewall and forget saved bans. */
export async function banCleanup(cfg: BanConfig): Promise<{ removed: number; daemonRunning: boolean }> {
  const running = (await controlRequest(cfg.socketPath, { cmd: "status" }).catch(() => undefined)) !== undefined;
  const fw = firewallFor(cfg);
  let removed = 0;
  try {
    removed = (await fw.list()).length;
    await fw.cleanup();
  } finally {
    fw.close();
  }
  const state = await loadState(cfg.statePath);
  if (state.hosts.some((h) => h.ban)) {
    state.hosts = state.hosts.filter((h) => !h.ban);
    await saveState(cfg.statePath, state);
  }
  return { removed, daemonRunning: running };
}
