/**
 * The fleet's sans-I/O core: records from the KV watch (with their stream sequence) in, firewall commands out;
 * local bans and unbans in, records to publish out (an outbox that survives disconnects and restarts). It keeps
 * the last sequence applied (replay resumes after it and is idempotent), the bans in force (a ban seen twice is
 * applied once, an own ban echoed back is not applied again), and the fleet's health figures.
 *
 * @module
 */

import type { Cidr } from "../net/addr.ts";
import { cidrsOverlap } from "../blocklist.ts";
import {
  cleanReason,
  decodeRecord,
  decodeRecordText,
  type FleetRecord,
  type LiveMessage,
  recordKey,
  type RecordLimits,
  recordTarget,
  splitTarget,
  targetKey,
} from "./records.ts";

/** Default bucket age limit (and longest ban shared): 30 days. */
export const DEFAULT_FLEET_MAX_AGE_MS = 30 * 86_400_000;

/** Options for {@linkcode FleetCore}. */
export interface FleetCoreOptions extends Partial<RecordLimits> {
  /** This node's name (the origin of its records). */
  node: string;
  /** This host's exempt list (and its own addresses): fleet bans inside or overlapping it are not applied here. */
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
    /** Server store time, ms since the epoch (for the latency's stages). */
    stored?: number;
    /** Local time the watch delivered it, ms since the epoch. */
    received?: number;
    /** It came by the live path (`stored` is then the origin's send time; `seq` the last KV sequence before it). */
    live?: true;
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
  /** Messages still pending behind this one (not yet sent by the server, or received but not yet handed out), when known. */
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
  /** Network bans not applied because they are wider than this host's `--fleet-max-prefix`. */
  tooWide: number;
  /** Bans not applied because they had expired. */
  expired: number;
  /** Records skipped because already applied (replay, own echo, the KV copy of a live ban). */
  duplicates: number;
  /** Records received by the live path (bans sent at once beside their KV put). */
  live: number;
  /** Bans applied from the live path (before their KV copy came). */
  liveApplied: number;
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
    tooWide: 0,
    expired: 0,
    duplicates: 0,
    published: 0,
    live: 0,
    liveApplied: 0,
  };
  /** Keys applied from the live path whose KV copy has not come yet, with the record's text (bounded). */
  #liveOnly = new Map<string, string>();
  /** Recent unbans (key -> its `at`): a late live copy of a ban they lifted is not applied again. */
  #lifted = new Map<string, number>();
  /** Exempt bans already logged (key -> its `at`): the copy by the other path is not logged again. */
  #exemptSaid = new Map<string, number>();
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

  /**
   * A ban already in force here (restored from state), so that the fleet's copy is not applied twice. `address` is
   * a ban target: an address or a network `addr/len`, as everywhere the daemon passes one.
   */
  known(ban: { address: string; family: 4 | 6; expiresAt: number; origin?: string; reason: string }): void {
    const rec: FleetRecord = {
      v: 1,
      op: "ban",
      ...splitTarget(ban.address, ban.family),
      family: ban.family,
      at: 0,
      until: ban.expiresAt,
      origin: ban.origin ?? this.node,
      reason: ban.reason,
    };
    this.#active.set(recordKey(rec.addr, rec.family, rec.len), rec);
  }

  /** The local daemon banned `address` (an address or a network `addr/len`) until `until` (ms): queue it for publishing. */
  localBan(ban: { address: string; family: 4 | 6; until: number; reason: string; now: number }): FleetRecord {
    // whole ms on the wire (the engine's expiries carry the capture's microseconds); 0 (permanent) is cut to the limit
    const now = Math.round(ban.now);
    const until = Math.min(ban.until > 0 ? Math.ceil(ban.until) : Infinity, now + this.#limits.maxAgeMs);
    const rec: FleetRecord = {
      v: 1,
      op: "ban",
      ...splitTarget(ban.address, ban.family),
      family: ban.family,
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

  /** The local daemon lifted the ban of `address` (`ban unban`, an address or network): queue an unban for everyone. */
  localUnban(u: { address: string; family: 4 | 6; reason: string; now: number }): FleetRecord {
    const rec: FleetRecord = {
      v: 1,
      op: "unban",
      ...splitTarget(u.address, u.family),
      family: u.family,
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

  /** A ban here ended (expiry): forget it (`address` is the ban target, an address or a network). */
  ended(address: string, family: 4 | 6): void {
    this.#active.delete(targetKey(address, family));
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
    const liveText = this.#liveOnly.get(e.key);
    if (liveText !== undefined && e.operation === "PUT" && e.value.length === liveText.length) {
      // the KV copy of a ban the live path brought, byte for byte: no need to parse and check it again
      const active = this.#active.get(e.key);
      if (active && textDecoder.decode(e.value) === liveText) {
        this.#liveOnly.delete(e.key);
        this.#skew.set(active.origin, e.serverTime - active.at);
        this.#stats.duplicates++;
        return [];
      }
    }
    const fields = { seq: e.seq, key: e.key.slice(0, 80) };
    if (e.operation !== "PUT") {
      this.#stats.rejected++;
      return [{ kind: "log", level: "warn", msg: "fleet record skipped", fields: { ...fields, error: e.operation } }];
    }
    const d = decodeRecord(e.key, e.value, { ...this.#limits, now });
    if (!d.ok && d.tooWide) {
      // a well-formed network ban beyond this host's policy (`--fleet-max-prefix`): not applied here, said so
      this.#stats.tooWide++;
      return [{
        kind: "log",
        level: "info",
        msg: "fleet ban not applied: network wider than --fleet-max-prefix here",
        fields: { ...fields, error: d.error },
      }];
    }
    if (!d.ok) {
      this.#stats.rejected++;
      return [{ kind: "log", level: "warn", msg: "fleet record skipped", fields: { ...fields, error: d.error } }];
    }
    const r = d.record;
    this.#skew.set(r.origin, e.serverTime - r.at);
    if (this.#skew.size > 256) this.#skew.delete(this.#skew.keys().next().value!);
    const active = this.#active.get(e.key);
    if (r.op === "unban") {
      remember(this.#lifted, e.key, r.at);
      // a newer ban that came by the live path overtook this unban in the KV: it stands
      const overtaken = active !== undefined && this.#liveOnly.has(e.key) && active.at > r.at;
      if (!active || overtaken) {
        this.#stats.duplicates++;
        return [];
      }
      this.#active.delete(e.key);
      this.#liveOnly.delete(e.key);
      this.#outbox.delete(e.key);
      this.#stats.unbanned++;
      return [{ kind: "unban", record: r, seq: e.seq }];
    }
    if (active && active.at === r.at && active.origin === r.origin) this.#liveOnly.delete(e.key); // the KV copy came
    return this.#admitBan(e.key, r, d.bytes, { seq: e.seq, stored: e.serverTime, received: now });
  }

  /**
   * One live message (see `liveSubject` in `records.ts`), at local time `now`: each record validated as a KV one;
   * the bans not yet in force here become commands (marked `live`, with the last KV sequence), the rest are
   * duplicates. Unbans, own records and messages older than a minute are skipped (the KV brings them in order).
   * Rejected records are logged in one line per message, not one per record.
   */
  receiveLive(m: LiveMessage, now: number): FleetCommand[] {
    if (m.node === this.node || m.sentMs < now - 60_000) return [];
    const out: FleetCommand[] = [];
    const limits = { ...this.#limits, now };
    let rejected = 0, firstError = "";
    for (const { key, text } of m.entries) {
      this.#stats.live++;
      const d = decodeRecordText(key, text, limits);
      if (!d.ok) {
        // a network too wide for this host is counted and said when its KV copy comes (once)
        if (!d.tooWide) {
          this.#stats.rejected++;
          rejected++;
          firstError ||= d.error;
        }
        continue;
      }
      const r = d.record;
      if (r.op !== "ban" || r.origin === this.node) continue;
      const lifted = this.#lifted.get(key);
      if (lifted !== undefined && lifted >= r.at) {
        this.#stats.duplicates++;
        continue;
      }
      const via = { seq: this.#lastSeq, stored: m.sentMs, received: now, live: true as const };
      const cmds = this.#admitBan(key, r, d.bytes, via);
      for (const c of cmds) {
        if (c.kind === "ban") {
          this.#liveOnly.set(key, text);
          if (this.#liveOnly.size > LIVE_ONLY_MAX) this.#liveOnly.delete(this.#liveOnly.keys().next().value!);
          this.#stats.liveApplied++;
        }
        out.push(c);
      }
    }
    if (rejected) {
      out.push({
        kind: "log",
        level: "warn",
        msg: "fleet live records skipped",
        fields: { node: m.node, records: rejected, error: firstError.slice(0, 200) },
      });
    }
    return out;
  }

  /** A live message was malformed as a whole (counted with the rejected records). */
  liveRejected(): void {
    this.#stats.rejected++;
  }

  /** The checks every shared ban passes before it is applied here: expiry, this host's exempt list, duplicates. */
  #admitBan(
    key: string,
    r: FleetRecord,
    bytes: Uint8Array,
    via: { seq: number; stored: number; received: number; live?: true },
  ): FleetCommand[] {
    if (r.until <= via.received) {
      if (!via.live) this.#stats.expired++; // counted once: by the KV copy
      return [];
    }
    // an address inside, or a network overlapping, an exempt network (as `ban import` checks its entries)
    const target: Cidr = { family: r.family, bytes, prefix: r.len, text: "" };
    const hit = this.#exempt.find((x) => cidrsOverlap(x, target));
    if (hit) {
      // said once per ban, by the path that brought it first
      if (this.#exemptSaid.get(key) === r.at) {
        this.#stats.duplicates++;
        return [];
      }
      remember(this.#exemptSaid, key, r.at);
      this.#stats.exempt++;
      return [{
        kind: "log",
        level: "info",
        msg: "fleet ban not applied: exempt here",
        fields: { address: recordTarget(r), exempt: hit.text, origin: r.origin, seq: via.seq },
      }];
    }
    const active = this.#active.get(key);
    if (active && active.until >= r.until) {
      this.#stats.duplicates++;
      return [];
    }
    this.#active.set(key, r);
    this.#stats.applied++;
    return [{ kind: "ban", record: r, ...via }];
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

const textDecoder = new TextDecoder();
/** Live bans remembered until their KV copy comes, at most. */
const LIVE_ONLY_MAX = 200_000;

/** Remember `key -> at` in a bounded map (the oldest of more than 10,000 is forgotten). */
function remember(map: Map<string, number>, key: string, at: number): void {
  map.delete(key);
  map.set(key, at);
  if (map.size > 10_000) map.delete(map.keys().next().value!);
}

/** Firewall work of one batch: what to lift and what to add, each at most once per key. */
export interface CoalescedBatch {
  /** Unbans, applied first (an unban followed by a ban of the same key in the batch lifts the old element). */
  unbans: { record: FleetRecord; seq: number }[];
  /** Bans, applied after the unbans (with the command's store and receive times). */
  bans: { record: FleetRecord; seq: number; stored?: number; received?: number; live?: true }[];
}

/**
 * Join a batch of ban and unban commands (stream order) into one firewall transaction with the same end state as
 * applying them one by one: per key the latest command wins; a key whose final command is a ban but that was
 * unbanned earlier in the batch is lifted first (so the new element, with its own timeout, replaces the old one).
 * Log commands are ignored. The output keeps stream order (by each key's final command).
 */
export function coalesceCommands(cmds: readonly FleetCommand[]): CoalescedBatch {
  const last = new Map<string, { cmd: FleetCommand & { kind: "ban" | "unban" }; lifted: boolean }>();
  for (const c of cmds) {
    if (c.kind === "log") continue;
    const key = recordKey(c.record.addr, c.record.family, c.record.len);
    const prev = last.get(key);
    last.delete(key); // re-insert: Map order is then the order of each key's final command
    last.set(key, { cmd: c, lifted: (prev?.lifted ?? false) || c.kind === "unban" });
  }
  const out: CoalescedBatch = { unbans: [], bans: [] };
  for (const { cmd, lifted } of last.values()) {
    if (cmd.kind === "unban") out.unbans.push({ record: cmd.record, seq: cmd.seq });
    else {
      if (lifted) out.unbans.push({ record: { ...cmd.record, op: "unban", until: 0 }, seq: cmd.seq });
      out.bans.push({ record: cmd.record, seq: cmd.seq, stored: cmd.stored, received: cmd.received, live: cmd.live });
    }
  }
  return out;
}

/** Options for {@linkcode FleetBatcher}. */
export interface FleetBatcherOptions {
  /** Most commands in one batch (default 5000). */
  maxBatch?: number;
  /** Longest a command waits for the ones the watch says are behind it, ms (default 5). */
  maxWaitMs?: number;
}

/**
 * When received commands go to the firewall, sans-I/O: the adapter {@linkcode FleetBatcher.add}s each watch entry's
 * commands with the watch's pending count, asks {@linkcode FleetBatcher.due} (arming a timer for
 * {@linkcode FleetBatcher.deadline} when not), and {@linkcode FleetBatcher.take}s a batch for one firewall
 * transaction. A batch is due when the watch reports nothing more pending behind the last entry (a single ban goes
 * at once), when it is full, or when its oldest command has waited `maxWaitMs` (a burst is cut into transactions,
 * never held back for long). Commands leave in the order they came. With each batch comes the stream sequence that
 * is fully applied once the batch is in the firewall, so that only such sequences are saved as "applied".
 */
export class FleetBatcher {
  #cmds: (FleetCommand & { kind: "ban" | "unban" })[] = [];
  #firstAt = 0;
  #pending = 0;
  #seq = 0;
  #max: number;
  #wait: number;

  /** Make a batcher. */
  constructor(options: FleetBatcherOptions = {}) {
    this.#max = Math.max(1, options.maxBatch ?? 5000);
    this.#wait = options.maxWaitMs ?? 5;
  }

  /** Commands waiting. */
  get size(): number {
    return this.#cmds.length;
  }

  /**
   * The commands of one watch entry (possibly none: a duplicate, a rejected record), at local time `now` (ms).
   * `pending` is what the watch says is still behind it (undefined: unknown, taken as nothing); `seq` is the core's
   * last sequence after it.
   */
  add(cmds: readonly FleetCommand[], pending: number | undefined, seq: number, now: number): void {
    this.#pending = pending ?? 0;
    this.#seq = seq;
    for (const c of cmds) {
      if (c.kind === "log") continue;
      if (this.#cmds.length === 0) this.#firstAt = now;
      this.#cmds.push(c);
    }
  }

  /** Whether a batch should be applied now. */
  due(now: number): boolean {
    if (this.#cmds.length === 0) return false;
    return this.#pending === 0 || this.#cmds.length >= this.#max || now - this.#firstAt >= this.#wait;
  }

  /** When the waiting commands are due at the latest (ms), or undefined when none wait. */
  deadline(): number | undefined {
    return this.#cmds.length ? this.#firstAt + this.#wait : undefined;
  }

  /**
   * Take a batch: at most `maxBatch` commands, oldest first (what stays is due at once). `seq` is the sequence that
   * is applied once the batch is: the core's last when nothing stays, else the one before the first that stays.
   */
  take(): { cmds: FleetCommand[]; seq: number } {
    const cmds = this.#cmds.splice(0, this.#max);
    return { cmds, seq: this.#cmds.length ? this.#cmds[0].seq - 1 : this.#seq };
  }

  /** The sequence fully applied when nothing waits (entries without commands move it too), else undefined. */
  idleSeq(): number | undefined {
    return this.#cmds.length ? undefined : this.#seq;
  }
}
