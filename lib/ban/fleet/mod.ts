/**
 * `pbxkit ban --fleet`: every ban one daemon makes is in every other daemon's firewall within milliseconds, over a
 * NATS JetStream KV bucket. {@linkcode FleetCore} is the sans-I/O state machine (records in, firewall commands out;
 * local bans in, records to publish out), {@linkcode NatsLink} the NATS adapter, {@linkcode Fleet} joins them for
 * the daemon: the live path (a batch's bans also go out at once as plain messages, see `liveSubject`), batched
 * application of received records ({@linkcode FleetBatcher}: what the watch delivers in a burst goes to the firewall
 * in one transaction per batch, a single ban at once), an outbox published whenever the server is reachable, and the
 * figures `ban status --json` and metrics read ({@linkcode Fleet.metrics}).
 *
 * @module
 */

import { type Logger, osErrorReason, PbxError, wallMs } from "../../common/mod.ts";
import type { Cidr } from "../net/addr.ts";
import { FleetBatcher, type FleetCommand, FleetCore, type FleetCoreStats, type ReceivedEntry } from "./core.ts";
import { NatsLink } from "./nats.ts";
import { type FleetRecord, parseLive } from "./records.ts";

export * from "./core.ts";
export * from "./records.ts";
export { NatsLink, type NatsLinkOptions } from "./nats.ts";
export * from "./publish.ts";

/** The fleet's settings (from `--fleet*` flags or `fleet*` config keys). */
export interface FleetConfig {
  /** Server URLs, `nats://HOST:PORT` or `tls://HOST:PORT`. */
  servers: string[];
  /** This node's name. */
  node: string;
  /** KV bucket. */
  bucket: string;
  /** User (with `password`). */
  user?: string;
  /** Password (never logged, never passed to a child). */
  password?: string;
  /** A NATS `.creds` file. */
  credsFile?: string;
  /** CA certificate file for TLS to the servers. */
  tlsCa?: string;
  /** Widest IPv4 prefix accepted from the fleet. */
  maxPrefix4: number;
  /** Widest IPv6 prefix accepted from the fleet. */
  maxPrefix6: number;
  /** Replicas of the bucket when this node creates it. */
  replicas: number;
  /** Bucket age limit and longest ban shared, ms. */
  maxAgeMs: number;
}

/** What the daemon saves of the fleet in its state file. */
export interface FleetSaved {
  /** Bucket the sequence belongs to. */
  bucket: string;
  /** Last stream sequence applied. */
  lastSeq: number;
  /** Records not yet published. */
  outbox: FleetRecord[];
}

/** The small getter a metrics exporter reads. */
export interface FleetMetrics {
  /** Connected to a server with the bucket open. */
  connected: boolean;
  /** Last stream sequence applied. */
  lastSeq: number;
  /** Messages pending behind the last received (0 = caught up). */
  lagMessages: number;
  /** Receive time minus server store time of the last record, ms. */
  lastLatencyMs: number | null;
  /** Records waiting to be published. */
  outbox: number;
  /** Records published. */
  published: number;
  /** Records received. */
  received: number;
  /** Records rejected as invalid. */
  rejected: number;
}

/** Options for {@linkcode Fleet}. */
export interface FleetOptions {
  /** This host's exempt list. */
  exempt: readonly Cidr[];
  /** State saved by the previous run (ignored when it is for another bucket). */
  saved?: FleetSaved;
  /** Logger (the daemon's; a `fleet` child is used). */
  log: Logger;
  /**
   * Apply firewall commands: called serially, one call per batch (one firewall transaction), commands in stream
   * order (join them with {@linkcode coalesceCommands}). Never two calls at once.
   */
  apply: (cmds: FleetCommand[]) => Promise<void>;
  /** The sequence or outbox changed (persist soon). */
  onChange: () => void;
}

/**
 * Read the fleet's `.creds` file, if it has one (the daemon does so before it touches the firewall, so that a missing
 * or unreadable file is one error line and nothing else). Throws `E_USAGE` naming the file and the reason.
 */
export async function readFleetCreds(config: FleetConfig): Promise<Uint8Array | undefined> {
  if (!config.credsFile) return undefined;
  try {
    return await Deno.readFile(config.credsFile);
  } catch (err) {
    throw new PbxError("E_USAGE", `--fleet-creds: cannot read '${config.credsFile}': ${osErrorReason(err)}`);
  }
}

/** The daemon's fleet (see the module doc). */
export class Fleet {
  /** The settings it runs with. */
  readonly config: FleetConfig;
  #core: FleetCore;
  #link?: NatsLink;
  #o: FleetOptions;
  #log: Logger;
  #batcher = new FleetBatcher();
  #applying: Promise<void> = Promise.resolve();
  #busy = false;
  #waitTimer?: ReturnType<typeof setTimeout>;
  /** The last stream sequence whose commands are all in the firewall (what the state file keeps). */
  #appliedSeq: number;
  #batches = 0;
  #flushing = false;
  #timer?: ReturnType<typeof setInterval>;
  #connectedSince = 0;

  /** Make the fleet (nothing connects before {@linkcode start}). */
  constructor(config: FleetConfig, options: FleetOptions) {
    this.config = config;
    this.#o = options;
    this.#log = options.log.child("fleet");
    const saved = options.saved?.bucket === config.bucket ? options.saved : undefined;
    this.#core = new FleetCore({
      node: config.node,
      exempt: options.exempt,
      maxPrefix4: config.maxPrefix4,
      maxPrefix6: config.maxPrefix6,
      maxAgeMs: config.maxAgeMs,
      lastSeq: saved?.lastSeq ?? 0,
      outbox: saved?.outbox ?? [],
    });
    this.#appliedSeq = this.#core.lastSeq;
  }

  /** The core (tests, import). */
  get core(): FleetCore {
    return this.#core;
  }

  /**
   * Start connecting in the background; throws only for an unreadable creds file. `creds` is the file's content
   * when the caller has read it already ({@linkcode readFleetCreds}).
   */
  async start(creds?: Uint8Array): Promise<void> {
    const c = this.config;
    creds ??= await readFleetCreds(c);
    this.#link = new NatsLink({
      servers: c.servers,
      node: c.node,
      bucket: c.bucket,
      replicas: c.replicas,
      maxAgeMs: c.maxAgeMs,
      user: c.user,
      password: c.password,
      creds,
      tlsCa: c.tlsCa,
      log: this.#log,
      resumeAfter: () => this.#core.lastSeq,
      onReset: () => this.#core.resetSequence(),
      onEntry: (e) => this.#onEntry(e),
      onLive: (data) => this.#onLive(data),
      onConnected: (up) => {
        this.#connectedSince = up ? Date.now() : 0;
        if (up) this.flush();
      },
    });
    this.#link.start();
    this.#timer = setInterval(() => {
      if (this.#core.stats().outbox > 0) this.flush();
    }, 1000);
    Deno.unrefTimer(this.#timer);
  }

  /** A ban in force here already (restored state): its fleet copy is not applied again. */
  known(ban: { address: string; family: 4 | 6; expiresAt: number; origin?: string; reason: string }): void {
    this.#core.known(ban);
  }

  /** Publish local bans (one batch: the daemon's ban path and `ban import` call this). */
  publishBans(bans: readonly { address: string; family: 4 | 6; until: number; reason: string }[]): FleetRecord[] {
    const now = Date.now();
    const out = bans.map((b) => this.#core.localBan({ ...b, now }));
    this.#o.onChange();
    this.flush();
    return out;
  }

  /** Publish an unban (lifts the ban on every host). */
  publishUnban(address: string, family: 4 | 6, reason: string): void {
    this.#core.localUnban({ address, family, reason, now: Date.now() });
    this.#o.onChange();
    this.flush();
  }

  /** A ban here ended on expiry. */
  ended(address: string, family: 4 | 6): void {
    this.#core.ended(address, family);
  }

  /** Publish what the outbox holds, now, if connected. */
  flush(): void {
    if (this.#flushing || !this.#link?.connected) return;
    this.#flushing = true;
    (async () => {
      try {
        for (;;) {
          const batch = this.#core.takeOutbox();
          if (batch.length === 0) break;
          const r = await this.#link!.publish(batch);
          for (const i of r.ok) this.#core.published(batch[i].key, batch[i].record);
          for (const i of r.failed) this.#core.publishFailed(batch[i].key, batch[i].record);
          this.#o.onChange();
          if (r.failed.length) {
            this.#log.warn("fleet publish failed; kept in the outbox", { records: r.failed.length });
            break;
          }
        }
      } finally {
        this.#flushing = false;
      }
    })();
  }

  #onEntry(e: ReceivedEntry): void {
    const now = wallMs(); // sub-millisecond: the receive stage of the latency
    const cmds = this.#core.receive(e, now);
    this.#logCommands(cmds);
    this.#batcher.add(cmds, e.pending, this.#core.lastSeq, now);
    this.#o.onChange();
    this.#kick();
  }

  /** A live message: its new bans go to the firewall at once (pending 0), before their KV copies come. */
  #onLive(data: Uint8Array): void {
    const now = wallMs();
    const p = parseLive(data);
    if (!p.ok) {
      this.#core.liveRejected();
      this.#log.warn("fleet live message skipped", { error: p.error });
      return;
    }
    const cmds = this.#core.receiveLive(p.message, now);
    this.#logCommands(cmds);
    this.#batcher.add(cmds, 0, this.#core.lastSeq, now);
    this.#kick();
  }

  /** The core's log commands, at the level each names (the firewall commands go to the batcher). */
  #logCommands(cmds: readonly FleetCommand[]): void {
    for (const c of cmds) {
      if (c.kind !== "log") continue;
      if (c.level === "warn") this.#log.warn(c.msg, c.fields);
      else this.#log.info(c.msg, c.fields);
    }
  }

  /** Apply a due batch now, or arm the timer for when it is due; while a batch is applied, entries queue up. */
  #kick(): void {
    if (this.#busy) return;
    const now = Date.now();
    if (this.#batcher.due(now)) {
      this.#drain();
      return;
    }
    const idle = this.#batcher.idleSeq();
    if (idle !== undefined) this.#appliedSeq = idle;
    const at = this.#batcher.deadline();
    if (at !== undefined && this.#waitTimer === undefined) {
      this.#waitTimer = setTimeout(() => {
        this.#waitTimer = undefined;
        this.#kick();
      }, Math.max(0, at - now));
    }
  }

  /**
   * Apply batches while one is due (`all`: whatever waits, at close). What the watch delivers while a batch is in
   * the firewall queues up and goes when it is due in turn: not record by record as the watch and this loop take
   * turns, but when the watch has nothing more pending behind it, the batch is full, or it has waited its time.
   */
  #drain(all = false): void {
    this.#busy = true;
    clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    this.#applying = (async () => {
      try {
        while (all ? this.#batcher.size > 0 : this.#batcher.due(Date.now())) {
          const { cmds, seq } = this.#batcher.take();
          this.#batches++;
          await this.#o.apply(cmds).catch((err) => this.#log.error("fleet apply failed", { error: err }));
          this.#appliedSeq = seq;
        }
      } finally {
        this.#busy = false;
      }
      this.#o.onChange();
      // nothing due: the sequence moves when nothing waits, else the timer is armed for the waiting batch
      if (!all) this.#kick();
    })();
  }

  /** What the state file keeps. */
  saved(): FleetSaved {
    // the sequence whose commands are in the firewall: a crash before the rest is applied replays it (idempotent)
    return { bucket: this.config.bucket, lastSeq: this.#appliedSeq, outbox: this.#core.pendingRecords() };
  }

  /** For metrics: connected, lag, outbox, counters. */
  metrics(): FleetMetrics {
    const s = this.#core.stats();
    return {
      connected: this.#link?.connected ?? false,
      lastSeq: s.lastSeq,
      lagMessages: s.lagMessages,
      lastLatencyMs: s.lastLatencyMs,
      outbox: s.outbox,
      published: s.published,
      received: s.received,
      rejected: s.rejected,
    };
  }

  /** `ban status --json`'s `fleet` object. */
  status(): Record<string, unknown> & FleetCoreStats {
    return {
      node: this.config.node,
      bucket: this.config.bucket,
      servers: this.config.servers,
      connected: this.#link?.connected ?? false,
      server: this.#link?.server ?? "",
      connectedSince: this.#connectedSince ? new Date(this.#connectedSince).toISOString() : null,
      ...this.#core.stats(),
      appliedSeq: this.#appliedSeq,
      batches: this.#batches,
    };
  }

  /** Disconnect (waits for the last firewall batch). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#link?.close();
    clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    // what still waits for its batch goes to the firewall before the state is saved
    while (this.#busy) await this.#applying;
    if (this.#batcher.size > 0) this.#drain(true);
    await this.#applying;
  }
}
