/**
 * The fleet's sans-I/O core: records from the KV watch (with their stream sequence) in, firewall commands out;
 * local bans and unbans in, records to publish out (an outbox that survives disconnects and restarts). It keeps
 * the last sequence applied (replay resumes after it and is idempotent), the bans in force (a ban seen twice is
 * applied once, an own ban echoed back is not applied again), and the fleet's health figures.
 *
 * @module
 */

import { type Cidr, inAnyCidr } from "../net/addr.ts";
import { cleanReason, decodeRecord, type FleetRecord, recordKey, type RecordLimits } from "./records.ts";

/** Default bucket age limit (and longest ban shared): 30 days. */
export const DEFAULT_FLEET_MAX_AGE_MS = 30 * 86_400_000;

/** Options for {@linkcode FleetCore}. */
export interface FleetCoreOptions extends Partial<RecordLimits> {
  /** This node's name (the origin of its records). */
  node: string;
  /** This host's exempt list: fleet bans inside it are not applied here. */
  exempt: readonly Cidr[];
  /** Last stream sequence applied before a restart (0: none). */
  lastSeq?: number;
  /** Records not yet published before a restart. */
  outbox?: readonly FleetRecord[];
}

/** A firewall command out of the core. */
export type FleetCommand =
  | {
    /** Add a ban that another node made (or one this node made before its state was lost). */
    kind: "ban";
    /** The record. */
    record: FleetRecord;
    /** Stream sequence. */
    seq: number;
  }
  | {
    /** Lift a ban: an unban record from the fleet. */
    kind: "unban";
    /** The record. */
    record: FleetRecord;
    /** Stream sequence. */
    seq: number;
  }
  | {
    /** Something to log. */
    kind: "log";
    /** Level. */
    level: "info" | "warn";
    /** Message. */
    msg: string;
    /** Fields. */
    fields: Record<string, string | number>;
  };

/** A record as the watch delivers it. */
export interface ReceivedEntry {
  /** Stream sequence (the KV revision). */
  seq: number;
  /** KV key. */
  key: string;
  /** Value bytes. */
  value: Uint8Array;
  /** KV operation (`PUT`; `DEL`/`PURGE` are not used by pbxkit and skipped). */
  operation: string;
  /** Server time when stored, ms since the epoch. */
  serverTime: number;
  /** Messages still pending behind this one (the consumer's delta), when known. */
  pending?: number;
}

/** Counters and health of the fleet, as `status --json` shows them (see also the adapter's). */
export interface FleetCoreStats {
  /** Last stream sequence applied. */
  lastSeq: number;
  /** Records received from the watch. */
  received: number;
  /** Ban commands made. */
  applied: number;
  /** Unban commands made. */
  unbanned: number;
  /** Records skipped because they were invalid. */
  rejected: number;
  /** Bans not applied because the address is exempt here. */
  exempt: number;
  /** Bans not applied because they had expired. */
  expired: number;
  /** Records skipped because already applied (replay, own echo). */
  duplicates: number;
  /** Records published (acknowledged). */
  published: number;
  /** Records waiting to be published. */
  outbox: number;
  /** Messages pending behind the last one received (0: caught up). */
  lagMessages: number;
  /** Local receive time minus server store time of the last record, ms (propagation plus clock skew). */
  lastLatencyMs: number | null;
  /** Per origin: server store time minus the origin's `at` of its latest record, ms (its clock skew plus latency). */
  originSkewMs: Record<string, number>;
}

/** The fleet state machine (see the module doc). */
export class FleetCore {
  /** This node's name. */
  readonly node: string;
  #exempt: readonly Cidr[];
  #limits: RecordLimits;
  #lastSeq: number;
  #active = new Map<string, FleetRecord>();
  #outbox = new Map<string, FleetRecord>();
  #inflight = new Map<string, FleetRecord>();
  #stats = {
    received: 0,
    applied: 0,
    unbanned: 0,
    rejected: 0,
    exempt: 0,
    expired: 0,
    duplicates: 0,
    published: 0,
  };
  #lag = 0;
  #lastLatency: number | null = null;
  #skew = new Map<string, number>();

  /** Make a core (from saved `lastSeq` and `outbox` after a restart). */
  constructor(options: FleetCoreOptions) {
    this.node = options.node;
    this.#exempt = options.exempt;
    this.#limits = {
      maxPrefix4: options.maxPrefix4 ?? 32,
      maxPrefix6: options.maxPrefix6 ?? 128,
      maxAgeMs: options.maxAgeMs ?? DEFAULT_FLEET_MAX_AGE_MS,
    };
    this.#lastSeq = options.lastSeq ?? 0;
    for (const r of options.outbox ?? []) this.#outbox.set(recordKey(r.addr, r.family, r.len), r);
  }

  /** The last stream sequence applied: a watch resumes after it. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** A ban already in force here (restored from state), so that the fleet's copy is not applied twice. */
  known(ban: { address: string; family: 4 | 6; expiresAt: number; origin?: string; reason: string }): void {
    const rec: FleetRecord = {
      v: 1,
      op: "ban",
      addr: ban.address,
      family: ban.family,
      len: ban.family === 4 ? 32 : 128,
      at: 0,
      until: ban.expiresAt,
      origin: ban.origin ?? this.node,
      reason: ban.reason,
    };
    this.#active.set(recordKey(rec.addr, rec.family, rec.len), rec);
  }

  /** The local daemon banned `address` until `until` (ms): queue it for publishing. */
  localBan(ban: { address: string; family: 4 | 6; until: number; reason: string; now: number }): FleetRecord {
    // whole ms on the wire (the engine's expiries carry the capture's microseconds); 0 (permanent) is cut to the limit
    const now = Math.round(ban.now);
    const until = Math.min(ban.until > 0 ? Math.ceil(ban.until) : Infinity, now + this.#limits.maxAgeMs);
    const rec: FleetRecord = {
      v: 1,
      op: "ban",
      addr: ban.address,
      family: ban.family,
      len: ban.family === 4 ? 32 : 128,
      at: now,
      until: until > now ? until : now + 1000,
      origin: this.node,
      reason: cleanReason(ban.reason),
    };
    const key = recordKey(rec.addr, rec.family, rec.len);
    this.#active.set(key, rec);
    this.#outbox.set(key, rec);
    return rec;
  }

  /** The local daemon lifted the ban of `address` (`ban unban`): queue an unban record for everyone. */
  localUnban(u: { address: string; family: 4 | 6; reason: string; now: number }): FleetRecord {
    const rec: FleetRecord = {
      v: 1,
      op: "unban",
      addr: u.address,
      family: u.family,
      len: u.family === 4 ? 32 : 128,
      at: Math.round(u.now),
      until: 0,
      origin: this.node,
      reason: cleanReason(u.reason),
    };
    const key = recordKey(rec.addr, rec.family, rec.len);
    this.#active.delete(key);
    this.#outbox.set(key, rec);
    return rec;
  }

  /** A ban here ended (expiry): forget it. */
  ended(address: string, family: 4 | 6): void {
    this.#active.delete(recordKey(address, family, family === 4 ? 32 : 128));
  }

  /** Records to publish now, oldest first, each at most once in flight. */
  takeOutbox(): { key: string; record: FleetRecord }[] {
    const out: { key: string; record: FleetRecord }[] = [];
    for (const [key, record] of this.#outbox) {
      // one record per key in flight, so that a key's records reach the stream in the order they were made
      if (this.#inflight.has(key)) continue;
      this.#inflight.set(key, record);
      out.push({ key, record });
    }
    return out;
  }

  /** A publish of `record` was acknowledged by JetStream. */
  published(key: string, record: FleetRecord): void {
    if (this.#inflight.get(key) === record) this.#inflight.delete(key);
    if (this.#outbox.get(key) === record) this.#outbox.delete(key);
    this.#stats.published++;
  }

  /** A publish failed: the record stays in the outbox for the next attempt. */
  publishFailed(key: string, record: FleetRecord): void {
    if (this.#inflight.get(key) === record) this.#inflight.delete(key);
  }

  /** Records not yet acknowledged (saved with the state). */
  pendingRecords(): FleetRecord[] {
    return [...this.#outbox.values()];
  }

  /** One entry from the watch, at local time `now`: the commands it leads to (possibly none). */
  receive(e: ReceivedEntry, now: number): FleetCommand[] {
    this.#stats.received++;
    if (e.pending !== undefined) this.#lag = e.pending;
    if (e.seq <= this.#lastSeq) {
      this.#stats.duplicates++;
      return [];
    }
    this.#lastSeq = e.seq;
    this.#lastLatency = now - e.serverTime;
    const fields = { seq: e.seq, key: e.key.slice(0, 80) };
    if (e.operation !== "PUT") {
      this.#stats.rejected++;
      return [{ kind: "log", level: "warn", msg: "fleet record skipped", fields: { ...fields, error: e.operation } }];
    }
    const d = decodeRecord(e.key, e.value, { ...this.#limits, now });
    if (!d.ok) {
      this.#stats.rejected++;
      return [{ kind: "log", level: "warn", msg: "fleet record skipped", fields: { ...fields, error: d.error } }];
    }
    const r = d.record;
    this.#skew.set(r.origin, e.serverTime - r.at);
    if (this.#skew.size > 256) this.#skew.delete(this.#skew.keys().next().value!);
    const active = this.#active.get(e.key);
    if (r.op === "unban") {
      if (!active) {
        this.#stats.duplicates++;
        return [];
      }
      this.#active.delete(e.key);
      this.#outbox.delete(e.key);
      this.#stats.unbanned++;
      return [{ kind: "unban", record: r, seq: e.seq }];
    }
    if (r.until <= now) {
      this.#stats.expired++;
      return [];
    }
    if (inAnyCidr(this.#exempt, r.addr)) {
      this.#stats.exempt++;
      return [{
        kind: "log",
        level: "info",
        msg: "fleet ban not applied: exempt here",
        fields: { address: r.addr, origin: r.origin, seq: e.seq },
      }];
    }
    if (r.len !== (r.family === 4 ? 32 : 128)) {
      this.#stats.rejected++;
      return [{
        kind: "log",
        level: "warn",
        msg: "fleet record skipped",
        fields: { ...fields, error: `${r.addr}/${r.len}: the ban sets hold single addresses` },
      }];
    }
    if (active && active.until >= r.until) {
      this.#stats.duplicates++;
      return [];
    }
    this.#active.set(e.key, r);
    this.#stats.applied++;
    return [{ kind: "ban", record: r, seq: e.seq }];
  }

  /** A new exempt list (config reload). */
  setExempt(exempt: readonly Cidr[]): void {
    this.#exempt = exempt;
  }

  /** The bucket was recreated (its sequences restarted below ours): replay it from the start. */
  resetSequence(): void {
    this.#lastSeq = 0;
  }

  /** Counters and health. */
  stats(): FleetCoreStats {
    return {
      lastSeq: this.#lastSeq,
      ...this.#stats,
      outbox: this.#outbox.size,
      lagMessages: this.#lag,
      lastLatencyMs: this.#lastLatency,
      originSkewMs: Object.fromEntries(this.#skew),
    };
  }
}
