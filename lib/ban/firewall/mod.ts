/**
 * Firewall backends of `pbxkit ban` behind one interface: `nft` (libnftables FFI, default), `iptables` (argv,
 * with ipset when present) and `dry-run` (logs only).
 *
 * @module
 */

import { usageError } from "../../common/mod.ts";
import { IptablesFirewall } from "./iptables.ts";
import { NftFirewall } from "./nft.ts";
import type { BanElement, DropCounters, Firewall, FirewallEntry, FirewallOptions } from "./types.ts";
import type { BanConfig } from "../config.ts";

export * from "./types.ts";
export { LIBNFTABLES_PATH, NFT_TABLE, NftContext, NftFirewall } from "./nft.ts";
export { IptablesFirewall } from "./iptables.ts";

/** Backend names. */
export const BACKENDS = ["nft", "iptables", "dry-run"] as const;
/** A backend name. */
export type BackendName = typeof BACKENDS[number];

/** A backend that changes nothing: it remembers bans in memory so `list` answers. */
export class DryRunFirewall implements Firewall {
  readonly name = "dry-run";
  readonly expiresItself = false;
  #set = new Map<string, FirewallEntry & { until: number }>();

  /** Nothing to set up. */
  setup(): Promise<void> {
    return Promise.resolve();
  }
  /** Remember the bans. */
  ban(elements: readonly BanElement[]): Promise<void> {
    for (const e of elements) {
      this.#set.set(e.address, {
        address: e.address,
        family: e.family,
        until: e.timeoutMs > 0 ? Date.now() + e.timeoutMs : 0,
      });
    }
    return Promise.resolve();
  }
  /** Forget them. */
  unban(elements: readonly { address: string }[]): Promise<void> {
    for (const e of elements) this.#set.delete(e.address);
    return Promise.resolve();
  }
  /** What would be banned. */
  list(): Promise<FirewallEntry[]> {
    const now = Date.now();
    return Promise.resolve(
      [...this.#set.values()].map((e) => ({
        address: e.address,
        family: e.family,
        expiresInMs: e.until > 0 ? Math.max(0, e.until - now) : undefined,
      })),
    );
  }
  /** Nothing is dropped. */
  counters(): Promise<DropCounters> {
    return Promise.resolve({ packets4: 0, packets6: 0, bytes: 0 });
  }
  /** Forget everything. */
  cleanup(): Promise<void> {
    this.#set.clear();
    return Promise.resolve();
  }
  /** Nothing to release. */
  close(): void {}
}

/** Make the named backend. */
export function openFirewall(name: string, options: FirewallOptions): Firewall {
  switch (name) {
    case "nft":
      return new NftFirewall(options);
    case "iptables":
      return new IptablesFirewall(options);
    case "dry-run":
      return new DryRunFirewall();
    default:
      throw usageError(`--backend: '${name}' is not one of ${BACKENDS.join(", ")}`);
  }
}

/** Make the backend a config names, with its scope, ports and ipset setting. */
export function firewallFor(cfg: Pick<BanConfig, "backend" | "scope" | "ports" | "ipset">): Firewall {
  return openFirewall(cfg.backend, { scope: cfg.scope, ports: cfg.ports, ipset: cfg.ipset });
}
