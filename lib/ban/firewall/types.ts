/**
 * The one interface every firewall backend of `pbxkit ban` implements (nft, iptables, dry-run).
 *
 * @module
 */

/** What a ban should block. */
export type BanScope = "ports" | "all";

/** Settings shared by the backends. */
export interface FirewallOptions {
  /** Block only the PBX's SIP ports (default) or all traffic from banned hosts. */
  scope: BanScope;
  /** The PBX's ports blocked with scope `ports`. */
  ports: readonly number[];
  /** iptables backend: `false` never uses ipset (one rule per ban); default: ipset when installed. */
  ipset?: boolean;
}

/** An element to add to a ban set. */
export interface BanElement {
  /** Canonical address. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Remaining ban time in ms; 0 for permanent. */
  timeoutMs: number;
}

/** An address found in the firewall. */
export interface FirewallEntry {
  /** Canonical address. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Remaining time in ms, or undefined when permanent/unknown. */
  expiresInMs?: number;
}

/** Packets dropped by pbxkit's rules. */
export interface DropCounters {
  /** Packets dropped from banned IPv4 hosts. */
  packets4: number;
  /** Packets dropped from banned IPv6 hosts. */
  packets6: number;
  /** Bytes dropped (both families). */
  bytes: number;
}

/** A firewall backend. Every method only touches what pbxkit itself created. */
export interface Firewall {
  /** Backend name: `nft`, `iptables`, `dry-run`. */
  readonly name: string;
  /** True when the backend expires elements itself (nft, ipset timeouts); else the daemon removes them. */
  readonly expiresItself: boolean;
  /** Create pbxkit's table/sets/rules (idempotent; rules are replaced, ban sets kept). */
  setup(): Promise<void>;
  /** Add bans, all in one batch where the backend allows. */
  ban(elements: readonly BanElement[]): Promise<void>;
  /** Remove bans. Missing addresses are not an error. */
  unban(elements: readonly { address: string; family: 4 | 6 }[]): Promise<void>;
  /** The addresses currently banned in the kernel. */
  list(): Promise<FirewallEntry[]>;
  /** Drop counters of pbxkit's rules. */
  counters(): Promise<DropCounters>;
  /** Remove everything pbxkit added (table, sets, rules, chains), nothing else. */
  cleanup(): Promise<void>;
  /** Release resources (FFI handles). */
  close(): void;
}
