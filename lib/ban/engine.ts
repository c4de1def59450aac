/**
 * The ban engine, sans-I/O: captured packets in, ban verdicts out. No sockets, files or clocks: time is the
 * packets' capture time, so a replayed capture decides exactly what the live daemon would have.
 *
 * Per remote address it counts the responses the PBX sends it with status >= 400 whose CSeq method is one of
 * `methods` (REGISTER and INVITE by default) within `findTimeMs`; a 2xx to one of those methods resets the count.
 * The `maxFailures`-th failure inside the window bans the address for `banTimeMs`. Exempt networks (loopback by
 * default, and the PBX's own addresses) are never counted nor banned.
 *
 * @module
 */

import { Decoder, type DecodeStats, type Payload, type PbxFilter } from "./net/decode.ts";
import type { FragStats } from "./net/ipfrag.ts";
import type { TcpStats } from "./net/tcp_stream.ts";
import { type Cidr, cidrContains, inAnyCidr, parseCidr } from "./net/addr.ts";
import { newSipInfo, parseSipStart, SipKind } from "./sip_parse.ts";

/** A decision to ban an address. */
export interface BanVerdict {
  /** The remote address, canonical text. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Failures counted in the window when the ban was decided (the threshold). */
  failures: number;
  /** Capture time of the first counted failure (ms since the epoch). */
  first: number;
  /** Capture time of the threshold-crossing response (ms since the epoch). */
  last: number;
  /** When the ban ends (ms since the epoch), or 0 for never. */
  expiresAt: number;
  /** Human reason, e.g. `10 failed REGISTER/INVITE within 10m (last: 403 REGISTER over udp)`. */
  reason: string;
  /**
   * Where the ban came from: absent for this host's own detection (without a fleet), `import` for `ban import`
   * without a fleet, or the fleet node that made it (`--fleet`).
   */
  origin?: string;
}

/** A ban that ended. */
export interface UnbanEvent {
  /** The address. */
  address: string;
  /** Why: `expired` or `manual`. */
  reason: string;
}

/** Options for {@linkcode BanEngine}. */
export interface EngineOptions {
  /** Failures that trigger a ban (default 10). */
  maxFailures?: number;
  /** Window in which they must happen (default 10 min). */
  findTimeMs?: number;
  /** Ban duration (default 1 h; 0 means permanent). */
  banTimeMs?: number;
  /** CSeq methods whose error responses count (default REGISTER, INVITE). */
  methods?: readonly string[];
  /** Networks never counted nor banned (default 127.0.0.0/8 and ::1). */
  exempt?: readonly Cidr[];
  /** The PBX's addresses (empty: any source address is accepted). */
  pbxAddrs?: readonly Cidr[];
  /** The PBX's SIP ports (default 5060). */
  pbxPorts?: readonly number[];
  /**
   * Hosts with counted failures tracked at most (default 200000); beyond it the oldest unbanned counts are dropped,
   * so spoofed sources cannot exhaust memory. Bans are never dropped.
   */
  maxHosts?: number;
}

/** A SIP response fed to {@linkcode BanEngine.response}. */
export interface EngineResponse {
  /** Address family of the remote host. */
  family: 4 | 6;
  /** Status code (`403`). */
  status: number;
  /** CSeq method, upper case (`REGISTER`). */
  method: string;
  /** Time of the response in ms (the packet clock). */
  ts: number;
  /** `udp` (default) or `tcp`. */
  transport?: string;
}

/** Default exempt networks: loopback. */
export const DEFAULT_EXEMPT: readonly string[] = ["127.0.0.0/8", "::1/128"];

/** Engine counters (the decoder's are separate). */
export interface EngineStats {
  /** SIP responses from the PBX. */
  responses: number;
  /** SIP requests from the PBX (ignored). */
  requests: number;
  /** Payloads from the PBX's port that were not SIP. */
  notSip: number;
  /** Responses with status >= 400 (any method). */
  errorResponses: number;
  /** Counted failures (status >= 400 to a counted method, remote not exempt). */
  failures: number;
  /** Failures seen for an address that is already banned (in flight when the ban was set). */
  failuresWhileBanned: number;
  /** 2xx responses to a counted method that reset a host's count. */
  resets: number;
  /** Responses to exempt addresses (never counted). */
  exempt: number;
  /** Bans decided. */
  bans: number;
  /** Bans that ended (expired or manual). */
  unbans: number;
  /** Unbanned host counts dropped because the host table was full. */
  evictedHosts: number;
}

/** Per-host state as persisted: failure times in the window, and the ban if any. */
export interface HostRecord {
  /** Canonical address. */
  address: string;
  /** Capture times of the counted failures in the window (ms). */
  failures: number[];
  /** When the current ban ends (ms; 0 = permanent), or undefined when not banned. */
  bannedUntil?: number;
  /** The ban's verdict, when banned. */
  ban?: BanVerdict;
}

interface Host {
  times: number[];
  bannedUntil: number; // -1 = not banned, 0 = permanent
  ban?: BanVerdict;
}

/** Format a duration in ms compactly: `10m`, `1h30m`, `45s`, `500ms`. */
export function formatDurationShort(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  return parts.join("");
}

/** Packets in, verdicts out. */
export class BanEngine {
  /** SIP responses from the PBX by class: index 1 = 1xx ... 6 = 6xx (0: a status outside 100-699). */
  readonly responseClasses: Float64Array = new Float64Array(7);
  /** Engine counters. */
  readonly stats: EngineStats = {
    responses: 0,
    requests: 0,
    notSip: 0,
    errorResponses: 0,
    failures: 0,
    failuresWhileBanned: 0,
    resets: 0,
    exempt: 0,
    bans: 0,
    unbans: 0,
    evictedHosts: 0,
  };
  /** The packet decoder. */
  readonly decoder: Decoder;
  readonly #max: number;
  readonly #findTime: number;
  readonly #banTime: number;
  readonly #methods: Set<string>;
  readonly #methodText: string;
  readonly #exempt: Cidr[];
  readonly #pbx: Cidr[];
  readonly #maxHosts: number;
  #hosts = new Map<string, Host>();
  #verdicts: BanVerdict[] = [];
  #info = newSipInfo();
  #lastSweep = 0;
  #now = 0;

  /** Make an engine. */
  constructor(options: EngineOptions = {}) {
    this.#max = options.maxFailures ?? 10;
    this.#findTime = options.findTimeMs ?? 600_000;
    this.#banTime = options.banTimeMs ?? 3_600_000;
    this.#methods = new Set((options.methods ?? ["REGISTER", "INVITE"]).map((m) => m.toUpperCase()));
    this.#methodText = [...this.#methods].join("/");
    this.#pbx = [...(options.pbxAddrs ?? [])];
    this.#maxHosts = options.maxHosts ?? 200_000;
    // The PBX never bans itself.
    this.#exempt = [...(options.exempt ?? DEFAULT_EXEMPT.map((c) => parseCidr(c))), ...this.#pbx];
    const ports = new Uint8Array(65536);
    for (const p of options.pbxPorts ?? [5060]) ports[p] = 1;
    const pbx = this.#pbx;
    const filter: PbxFilter = {
      ports,
      isPbxAddr: pbx.length === 0 ? () => true : (family, buf, off) => {
        for (let i = 0; i < pbx.length; i++) if (cidrContains(pbx[i], family, buf, off)) return true;
        return false;
      },
    };
    this.decoder = new Decoder({ filter, onPayload: (p) => this.#payload(p) });
  }

  /** Failures that trigger a ban. */
  get maxFailures(): number {
    return this.#max;
  }
  /** Hosts tracked (with failures or a ban). */
  get hostCount(): number {
    return this.#hosts.size;
  }

  /**
   * Feed one captured frame. Verdicts accumulate until {@linkcode takeVerdicts}.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  packet(linkType: number, buf: Uint8Array, caplen: number, ts: number): void {
    if (ts > this.#now) this.#now = ts;
    this.decoder.packet(linkType, buf, caplen, ts);
    if (ts - this.#lastSweep > 10_000) {
      this.#lastSweep = ts;
      this.decoder.expire(ts);
    }
  }

  /**
   * Feed one SIP response directly, bypassing the packet decoder (tests): `remote` is the canonical address. Captured
   * packets take an allocation-free internal path instead.
   */
  response(remote: string, response: EngineResponse): void {
    const { family, status, method, ts, transport = "udp" } = response;
    if (ts > this.#now) this.#now = ts;
    this.stats.responses++;
    this.responseClasses[status >= 100 && status < 700 ? (status / 100) | 0 : 0]++;
    if (status >= 400) this.stats.errorResponses++;
    if (!this.#methods.has(method) || status < 200 || (status >= 300 && status < 400)) return;
    if (this.#exemptText(remote)) {
      this.stats.exempt++;
      return;
    }
    this.#count(remote, family, status, method, ts, transport);
  }

  /** Verdicts decided since the last call (oldest first). */
  takeVerdicts(): BanVerdict[] {
    if (this.#verdicts.length === 0) return [];
    const v = this.#verdicts;
    this.#verdicts = [];
    return v;
  }

  /** Whether `address` is exempt. */
  isExempt(address: string): boolean {
    return inAnyCidr(this.#exempt, address);
  }

  /** The current ban of `address`, if any. */
  banOf(address: string): BanVerdict | undefined {
    const h = this.#hosts.get(address);
    return h && h.bannedUntil >= 0 ? h.ban : undefined;
  }

  /** Failures currently counted for `address` in its window. */
  failuresOf(address: string): number {
    return this.#hosts.get(address)?.times.length ?? 0;
  }

  /** All current bans. */
  bans(): BanVerdict[] {
    const out: BanVerdict[] = [];
    for (const h of this.#hosts.values()) if (h.bannedUntil >= 0 && h.ban) out.push(h.ban);
    return out;
  }

  /** Record a ban decided elsewhere (restored state, or found in the kernel set). */
  restoreBan(ban: BanVerdict): void {
    const h = this.#host(ban.address);
    h.bannedUntil = ban.expiresAt;
    h.ban = ban;
    h.times = [];
  }

  /** Restore a host's counted failures (from saved state). */
  restoreFailures(address: string, times: readonly number[]): void {
    const h = this.#host(address);
    h.times = times.slice(-this.#max);
  }

  /** End the ban of `address` now (manual unban). Returns true when it was banned. */
  unban(address: string, reason = "manual"): UnbanEvent | undefined {
    const h = this.#hosts.get(address);
    if (!h || h.bannedUntil < 0) return undefined;
    this.#hosts.delete(address);
    this.stats.unbans++;
    return { address, reason };
  }

  /** End bans whose time is up at `now` and forget stale counts; returns the bans that ended. */
  expire(now: number): UnbanEvent[] {
    if (now > this.#now) this.#now = now;
    const out: UnbanEvent[] = [];
    for (const [addr, h] of this.#hosts) {
      if (h.bannedUntil > 0 && h.bannedUntil <= now) {
        this.#hosts.delete(addr);
        this.stats.unbans++;
        out.push({ address: addr, reason: "expired" });
      } else if (h.bannedUntil < 0) {
        while (h.times.length > 0 && h.times[0] <= now - this.#findTime) h.times.shift();
        if (h.times.length === 0) this.#hosts.delete(addr);
      }
    }
    return out;
  }

  /** Everything worth persisting. */
  snapshot(): HostRecord[] {
    const out: HostRecord[] = [];
    for (const [address, h] of this.#hosts) {
      const rec: HostRecord = { address, failures: h.times.slice() };
      if (h.bannedUntil >= 0) {
        rec.bannedUntil = h.bannedUntil;
        rec.ban = h.ban;
      }
      out.push(rec);
    }
    return out;
  }

  #host(address: string): Host {
    let h = this.#hosts.get(address);
    if (!h) {
      if (this.#hosts.size >= this.#maxHosts) this.#evict();
      h = { times: [], bannedUntil: -1 };
      this.#hosts.set(address, h);
    }
    return h;
  }

  /** Make room: expire stale counts, then drop the oldest unbanned hosts (a tenth of the table). */
  #evict(): void {
    this.expire(this.#now);
    if (this.#hosts.size < this.#maxHosts) return;
    let drop = Math.max(1, Math.floor(this.#maxHosts / 10));
    for (const [addr, h] of this.#hosts) {
      if (drop === 0) break;
      if (h.bannedUntil >= 0) continue;
      this.#hosts.delete(addr);
      this.stats.evictedHosts++;
      drop--;
    }
  }

  #payload(p: Payload): void {
    const info = this.#info;
    const kind = parseSipStart(p.buf, p.off, p.end, info);
    if (kind === SipKind.Request) {
      this.stats.requests++;
      return;
    }
    if (kind !== SipKind.Response) {
      this.stats.notSip++;
      return;
    }
    this.stats.responses++;
    const status = info.status;
    this.responseClasses[status >= 100 && status < 700 ? (status / 100) | 0 : 0]++;
    if (status >= 400) this.stats.errorResponses++;
    if (!this.#methods.has(info.method) || status < 200 || (status >= 300 && status < 400)) return;
    // exempt check on bytes, before making a string
    const ex = this.#exempt;
    for (let i = 0; i < ex.length; i++) {
      if (cidrContains(ex[i], p.family, p.addr, 16)) {
        this.stats.exempt++;
        return;
      }
    }
    this.#count(p.dstText(), p.family, status, info.method, p.ts, p.transport);
  }

  #count(remote: string, family: 4 | 6, status: number, method: string, ts: number, transport: string): void {
    if (status < 300) {
      const h = this.#hosts.get(remote);
      if (h && h.bannedUntil < 0 && h.times.length > 0) {
        this.stats.resets++;
        this.#hosts.delete(remote);
      }
      return;
    }
    const h = this.#host(remote);
    if (h.bannedUntil >= 0) {
      if (h.bannedUntil === 0 || ts < h.bannedUntil) {
        this.stats.failuresWhileBanned++;
        return;
      }
      h.bannedUntil = -1; // the ban ran out: count afresh
      this.stats.unbans++;
      h.ban = undefined;
      h.times = [];
    }
    this.stats.failures++;
    const times = h.times;
    times.push(ts);
    const from = ts - this.#findTime;
    while (times.length > 0 && times[0] <= from) times.shift();
    if (times.length >= this.#max) {
      const ban: BanVerdict = {
        address: remote,
        family,
        failures: times.length,
        first: times[0],
        last: ts,
        expiresAt: this.#banTime === 0 ? 0 : ts + this.#banTime,
        reason: `${times.length} failed ${this.#methodText} within ${formatDurationShort(this.#findTime)} ` +
          `(last: ${status} ${method} over ${transport})`,
      };
      h.bannedUntil = ban.expiresAt;
      h.ban = ban;
      h.times = [];
      this.stats.bans++;
      this.#verdicts.push(ban);
    }
  }

  // Exempt check for the text path (payloads are checked on bytes).
  #exemptCache = new Map<string, boolean>();
  #exemptText(address: string): boolean {
    let v = this.#exemptCache.get(address);
    if (v === undefined) {
      v = this.isExempt(address);
      if (this.#exemptCache.size > 65536) this.#exemptCache.clear();
      this.#exemptCache.set(address, v);
    }
    return v;
  }

  /** Decoder counters. */
  get decodeStats(): DecodeStats {
    return this.decoder.stats;
  }
  /** Fragment reassembly counters. */
  get fragStats(): FragStats {
    return this.decoder.frags.stats;
  }
  /** TCP reassembly counters. */
  get tcpStats(): TcpStats {
    return this.decoder.tcp.stats;
  }
}
