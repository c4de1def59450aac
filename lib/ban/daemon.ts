/**
 * The `pbxkit ban --daemon` loop: libpcap capture -> engine -> firewall, with state persisted and reconciled with
 * the kernel at start (no ban lost, none added twice), a control socket for `status`/`list`/`unban`, one log line
 * per ban and unban, `--notify-cmd` run per ban (argv, the address appended), SIGTERM/SIGINT for a clean exit with
 * state saved, SIGHUP to reload the config file. With `--fleet`, every ban this host applies is published to the
 * fleet's NATS KV bucket and every other host's bans are applied here ({@linkcode BanDaemon.applyBans} is the one
 * path all bans go through).
 *
 * @module
 */

import {
  LineWriter,
  log as rootLog,
  type Logger,
  MetricsRegistry,
  type MetricsServer,
  PbxError,
  runArgv,
  serveMetrics,
  wallMs,
} from "../common/mod.ts";
import { BanMetrics } from "./metrics.ts";
import { type BanConfig, bpfFor } from "./config.ts";
import { type BanEngine, type BanVerdict, formatDurationShort } from "./engine.ts";
import { type BanElement, type Firewall, firewallFor } from "./firewall/mod.ts";
import { type CaptureStats, LiveCapture } from "./libpcap.ts";
import { engineCounters, engineFor } from "./replay.ts";
import { loadState, saveState } from "./state.ts";
import { type ControlRequest, ControlServer } from "./control.ts";
import { parseTarget, targetText, TargetValidator } from "./blocklist.ts";
import { canonicalIp, parseCidr, parseIp } from "./net/addr.ts";
import { setNice } from "./priority.ts";
import {
  coalesceCommands,
  Fleet,
  type FleetCommand,
  type FleetMetrics,
  type FleetSaved,
  readFleetCreds,
  recordTarget,
} from "./fleet/mod.ts";

/** Options for {@linkcode runDaemon}. */
export interface DaemonOptions {
  /** Re-read the configuration on SIGHUP (returns the new config). */
  reload?: () => Promise<BanConfig>;
  /** Stop when this signal aborts (tests). */
  signal?: AbortSignal;
  /** Print one JSON line per ban on stdout. */
  json?: boolean;
  /** Called per ban after the firewall has it (tests, embedding). */
  onBan?: (v: BanVerdict, latencyMs: number) => void;
  /**
   * Put the daemon's metric families on this registry (so an embedder, e.g. the fleet, can add its own to the
   * same scrape). Without it a registry is made when `cfg.metrics` is set. Served when `cfg.metrics` is set.
   */
  metrics?: MetricsRegistry;
}

/** How {@linkcode BanDaemon} applies a batch of bans. */
interface ApplyOptions {
  /** A bulk source (`import`): one summary log line, no per-ban latency nor notify command. */
  bulk?: string;
  /** Throw the firewall's error instead of retrying. */
  throwOnError?: boolean;
}

/** Bans one import request may carry at most. */
const IMPORT_MAX = 2_000_000;
/** A fleet batch of at most this many bans logs one line per ban; a larger one (a burst) one line for the batch. */
const FLEET_LOG_EACH = 20;
/** Imported bans end within 10 years (or are permanent). */
const MAX_IMPORT_BAN_MS = 10 * 365 * 86_400_000;

/** The PBX's addresses on `iface` (all non-loopback addresses for `any`). */
export function interfaceAddresses(iface: string): string[] {
  let list: Deno.NetworkInterfaceInfo[];
  try {
    list = Deno.networkInterfaces();
  } catch {
    return [];
  }
  return list.filter((i) => (iface === "any" ? true : i.name === iface))
    .map((i) => i.address.replace(/%.*$/, ""))
    .filter((a) => parseIp(a) && !a.startsWith("127.") && a !== "::1" && !a.toLowerCase().startsWith("fe80"));
}

/** The firewall element of a ban in force at `now`: its remaining time (at least 1 s), or 0 when permanent. */
function banElement(b: Pick<BanVerdict, "address" | "family" | "expiresAt">, now: number): BanElement {
  return { address: b.address, family: b.family, timeoutMs: b.expiresAt === 0 ? 0 : Math.max(1000, b.expiresAt - now) };
}

/** A running daemon. */
export class BanDaemon {
  #cfg: BanConfig;
  #engine: BanEngine;
  #fw: Firewall;
  #log: Logger;
  #capture?: LiveCapture;
  #control?: ControlServer;
  #opts: DaemonOptions;
  #dirty = false;
  #saving: Promise<void> = Promise.resolve();
  #lastSave = 0;
  #lastTick = 0;
  #lastDrops = 0;
  #startedAt = Date.now();
  #latencies: number[] = [];
  #notifyRunning = 0;
  #stopping = false;
  #capStats: CaptureStats = { received: 0, dropped: 0, ifDropped: 0 };
  #retry: BanVerdict[] = [];
  #countMark = 0;
  #lastRecheck = Date.now();
  #metrics?: BanMetrics;
  #metricsServer?: MetricsServer;
  #fleet?: Fleet;
  /** `--json` event lines, in order, never blocking the daemon on a slow reader. */
  #out = new LineWriter();
  #droppedSaid = false;
  /** Settled when the firewall is set up and the fleet started (control requests wait for it). */
  #started = Promise.withResolvers<void>();
  #savedFleet?: FleetSaved;

  /** Make a daemon (nothing is touched until {@linkcode run}). */
  constructor(cfg: BanConfig, options: DaemonOptions = {}) {
    this.#cfg = cfg;
    this.#opts = options;
    this.#log = rootLog.child("ban");
    this.#engine = engineFor(cfg);
    this.#fw = firewallFor(cfg);
    const registry = options.metrics ?? (cfg.metrics ? new MetricsRegistry() : undefined);
    if (registry) {
      this.#metrics = new BanMetrics(registry, {
        engine: () => this.#engine,
        capture: () => this.#capture?.stats(),
        fleet: cfg.fleet ? () => this.#fleet?.metrics() : undefined,
      });
    }
  }

  /** The registry the daemon's metrics are on (undefined when metrics are off). */
  get metrics(): MetricsRegistry | undefined {
    return this.#metrics?.registry;
  }

  /** The metrics listener's address once running (undefined when not serving). */
  get metricsAddr(): Deno.NetAddr | undefined {
    return this.#metricsServer?.addr;
  }

  /** Set up the firewall, reconcile state, capture until stopped, save state. */
  async run(): Promise<void> {
    const cfg = this.#cfg;
    this.#started.promise.catch(() => {}); // a failed start is thrown from here; waiting requests get the error
    if (cfg.nice !== 0) {
      try {
        setNice(cfg.nice);
      } catch (err) {
        this.#log.warn("could not raise the daemon's CPU priority", { nice: cfg.nice, error: (err as Error).message });
      }
    }
    if (cfg.pbxAddrs.length === 0) {
      const found = interfaceAddresses(cfg.interface);
      if (found.length === 0) {
        this.#log.warn("no PBX address given or found on the interface: any source with a PBX port counts");
      } else {
        cfg.pbxAddrs = found.map((a) => parseCidr(a));
        this.#engine = engineFor(cfg);
      }
    }
    // Refuse early (before touching the firewall) when another daemon runs or the capture cannot open.
    this.#control = await ControlServer.listen(cfg.socketPath, (req) => this.#onControl(req));
    try {
      this.#capture = LiveCapture.open({
        device: cfg.interface,
        filter: (linkType) => bpfFor(cfg, { linkType }),
        snaplen: cfg.snaplen,
        bufferSize: cfg.bufferSize,
      });
      // a missing creds file, too, before the firewall is touched
      const creds = cfg.fleet ? await readFleetCreds(cfg.fleet) : undefined;
      if (cfg.metrics && this.#metrics) this.#metricsServer = serveMetrics(this.#metrics.registry, cfg.metrics);
      await this.#fw.setup();
      await this.#reconcile();
      if (cfg.fleet) {
        this.#fleet = new Fleet(cfg.fleet, {
          // the PBX's own addresses are never banned from outside either (as `ban import` refuses them)
          exempt: [...cfg.exempt, ...cfg.pbxAddrs],
          saved: this.#savedFleet,
          log: this.#log,
          apply: (cmds) => this.#applyFleet(cmds),
          onChange: () => this.#dirty = true,
        });
        for (const b of this.#engine.bans()) this.#fleet.known(b);
        await this.#fleet.start(creds);
      }
      this.#started.resolve();
    } catch (err) {
      this.#started.reject(new Error("the daemon did not start"));
      await this.#metricsServer?.shutdown();
      await this.#capture?.closeAsync();
      await this.#control.close();
      this.#fw.close();
      throw err;
    }
    const onSignal = () => this.stop();
    const onHup = () => this.#reload();
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGHUP", onHup);
    this.#opts.signal?.addEventListener("abort", onSignal);
    this.#log.info("started", {
      interface: cfg.interface,
      linktype: this.#capture.linkType,
      pbx: cfg.pbxAddrs.map((a) => a.text).join(",") || "any",
      ports: cfg.ports.join(","),
      backend: this.#fw.name,
      max_failures: cfg.maxFailures,
      find_time: formatDurationShort(cfg.findTimeMs),
      ban_time: formatDurationShort(cfg.banTimeMs),
      bans: this.#engine.bans().length,
      metrics: this.#metricsServer?.url,
      fleet: cfg.fleet ? `${cfg.fleet.node}@${cfg.fleet.servers.join(",")}/${cfg.fleet.bucket}` : "off",
    });
    try {
      const engine = () => this.#engine;
      await this.#capture.run(
        (lt, frame, caplen, ts) => engine().packet(lt, frame, caplen, ts),
        () => this.#afterBatch(),
      );
    } finally {
      Deno.removeSignalListener("SIGTERM", onSignal);
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGHUP", onHup);
      this.#capStats = this.#capture.stats();
      await this.#capture.closeAsync();
      await this.#control.close();
      await this.#metricsServer?.shutdown();
      await this.#fleet?.close();
      await this.#saving;
      await this.#save();
      this.#fw.close();
      await this.#out.flush();
      this.#log.info("stopped, state saved", {
        state: cfg.statePath,
        bans: this.#engine.bans().length,
        pcap_dropped: this.#capStats.dropped,
      });
    }
  }

  /** Ask the capture loop to end (clean exit). */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#capture?.stop();
  }

  async #reconcile(): Promise<void> {
    const now = Date.now();
    const state = await loadState(this.#cfg.statePath);
    this.#savedFleet = state.fleet;
    const kernel = await this.#fw.list();
    const inKernel = new Map(kernel.map((e) => [e.address, e]));
    const missing = [];
    const stale: { address: string; family: 4 | 6 }[] = [];
    let restored = 0, adopted = 0, expired = 0;
    for (const h of state.hosts) {
      if (h.ban) {
        if (h.ban.expiresAt !== 0 && h.ban.expiresAt <= now) {
          expired++;
          this.#log.info("unban", { address: h.address, reason: "expired while stopped" });
          // A backend without timeouts (iptables rules) still holds it: remove it, don't adopt it as permanent.
          if (inKernel.has(h.address)) {
            stale.push({ address: h.address, family: h.ban.family });
            inKernel.delete(h.address);
          }
          continue;
        }
        this.#engine.restoreBan(h.ban);
        restored++;
        const k = inKernel.get(h.address);
        if (!k) {
          missing.push({
            address: h.address,
            family: h.ban.family,
            timeoutMs: h.ban.expiresAt === 0 ? 0 : h.ban.expiresAt - now,
          });
        }
      } else if (h.failures.length > 0) {
        this.#engine.restoreFailures(h.address, h.failures);
      }
    }
    if (stale.length) await this.#fw.unban(stale);
    for (const k of kernel) {
      if (this.#engine.banOf(k.address) || !inKernel.has(k.address)) continue;
      adopted++;
      this.#engine.restoreBan({
        address: k.address,
        family: k.family,
        failures: 0,
        first: now,
        last: now,
        expiresAt: k.expiresInMs !== undefined ? now + k.expiresInMs : 0,
        reason: "found in the firewall at start",
      });
    }
    if (missing.length) await this.#fw.ban(missing);
    this.#log.info("state reconciled", {
      restored,
      readded: missing.length,
      adopted_from_firewall: adopted,
      expired,
    });
    this.#dirty = true;
    await this.#save();
  }

  async #afterBatch(): Promise<void> {
    const verdicts = this.#engine.takeVerdicts();
    if (verdicts.length > 0) await this.#applyBans(verdicts);
    const now = Date.now();
    if (now - this.#lastTick >= 1000) {
      this.#lastTick = now;
      if (this.#retry.length) {
        const again = this.#retry.filter((v) => this.#engine.banOf(v.address) === v);
        this.#retry = [];
        if (again.length) await this.#applyBans(again);
      }
      if (now - this.#lastRecheck >= this.#cfg.recheckMs) {
        this.#lastRecheck = now;
        await this.#recheck(now);
      }
      const ended = this.#engine.expire(now);
      if (ended.length) {
        if (!this.#fw.expiresItself) {
          await this.#fw.unban(ended.map((e) => ({ address: e.address, family: e.address.includes(":") ? 6 : 4 })));
        }
        for (const e of ended) {
          this.#log.info("unban", { address: e.address, reason: e.reason });
          this.#fleet?.ended(e.address, e.address.includes(":") ? 6 : 4);
        }
        this.#metrics?.unbanned("expired", ended.length);
        this.#dirty = true;
      }
      this.#capStats = this.#capture!.stats();
      if (this.#capStats.dropped > this.#lastDrops) {
        this.#log.warn("capture dropped packets", {
          dropped: this.#capStats.dropped - this.#lastDrops,
          total_dropped: this.#capStats.dropped,
          received: this.#capStats.received,
        });
        this.#lastDrops = this.#capStats.dropped;
      }
      // counts changed (failures or resets): persist them too, at most every 2 s
      const mark = this.#engine.stats.failures + this.#engine.stats.resets * 1e9;
      if (mark !== this.#countMark) {
        this.#countMark = mark;
        this.#dirty = true;
      }
      // chained: a save yields to the event loop while it writes (see encodeState), one never overtakes another
      if (this.#dirty && now - this.#lastSave > 2000) this.#saving = this.#saving.then(() => this.#save());
    }
  }

  /** Someone flushed the set or deleted the table: put every current ban back (with its remaining time). */
  async #recheck(now: number): Promise<void> {
    try {
      const inKernel = new Set((await this.#fw.list()).map((e) => e.address));
      const lost = this.#engine.bans().filter((b) =>
        !inKernel.has(b.address) && (b.expiresAt === 0 || b.expiresAt > now)
      );
      if (lost.length === 0) return;
      await this.#fw.setup();
      await this.#fw.ban(lost.map((b) => banElement(b, now)));
      this.#log.warn("bans were missing from the firewall; re-added", {
        count: lost.length,
        addresses: lost.map((b) => b.address).join(","),
      });
    } catch (err) {
      this.#log.error("firewall check failed", { error: (err as Error).message });
    }
  }

  /** The fleet, when `--fleet` is on (its `publishBans` is the batch publish; its `metrics()` the health getter). */
  get fleet(): Fleet | undefined {
    return this.#fleet;
  }

  /** The fleet's health for a metrics exporter (undefined without `--fleet`). */
  fleetMetrics(): FleetMetrics | undefined {
    return this.#fleet?.metrics();
  }

  /**
   * The one path every ban this daemon makes goes through (engine verdicts, retries, imports): one firewall batch,
   * the engine told (for bans it did not decide itself), one log line each, saved, and published to the fleet.
   */
  applyBans(verdicts: BanVerdict[]): Promise<void> {
    for (const v of verdicts) if (this.#engine.banOf(v.address) !== v) this.#engine.restoreBan(v);
    return this.#applyBans(verdicts);
  }

  /** Queue `--json` lines; the first time the reader has fallen so far behind that lines are dropped, say so. */
  #emit(lines: string[]): void {
    for (const l of lines) this.#out.write(l);
    if (this.#out.dropped > 0 && !this.#droppedSaid) {
      this.#droppedSaid = true;
      this.#log.warn("--json lines dropped: nothing reads standard output fast enough", { dropped: this.#out.dropped });
    }
  }

  /**
   * One batch of fleet commands (stream order) in one firewall transaction per kind: unbans, then bans (see
   * `coalesceCommands`). Bans and unbans of networks (`addr/len`) go to the network sets, as `ban import` puts them.
   * The state is saved with the next periodic save (at most 2 s later), not per batch: what a crash loses is replayed
   * from the fleet's bucket, since the saved sequence is only the one applied.
   */
  async #applyFleet(cmds: FleetCommand[]): Promise<void> {
    const now = Date.now();
    const batch = coalesceCommands(cmds);
    const unbans = batch.unbans.map((u) => ({
      address: recordTarget(u.record),
      family: u.record.family,
      origin: u.record.origin,
      seq: u.seq,
      lift: u.record.op === "unban",
    }));
    const bans = batch.bans.map((b): BanVerdict => ({
      address: recordTarget(b.record),
      family: b.record.family,
      failures: 0,
      first: b.record.at,
      last: b.record.at,
      expiresAt: b.record.until,
      reason: b.record.reason,
      origin: b.record.origin,
    }));
    if (unbans.length) {
      try {
        await this.#fw.unban(unbans);
      } catch (err) {
        this.#log.error("firewall refused a fleet unban", { error: (err as Error).message });
      }
      for (const u of unbans) {
        // an unban only there to replace an element with a re-ban of the same batch is not one
        if (!u.lift) continue;
        this.#engine.unban(u.address, "fleet");
        this.#log.info("unban", { address: u.address, reason: `fleet (by ${u.origin})`, seq: u.seq });
      }
    }
    if (bans.length) {
      try {
        await this.#fw.ban(bans.map((b) => banElement(b, now)));
      } catch (err) {
        this.#log.error("firewall refused fleet bans; retrying every second", { error: (err as Error).message });
        this.#retry.push(...bans);
      }
      const applied = wallMs();
      // a burst logs one line per batch (as an import does), a few bans one line each
      const each = bans.length <= FLEET_LOG_EACH;
      if (!each) {
        this.#log.info("fleet bans", {
          bans: bans.length,
          origins: [...new Set(bans.map((b) => b.origin!))].join(","),
          first: bans[0].address,
          last: bans[bans.length - 1].address,
          via: batch.bans.every((b) => b.live) ? "live" : batch.bans.some((b) => b.live) ? "live+kv" : "kv",
        });
      }
      const lines: string[] = [];
      bans.forEach((b, i) => {
        this.#engine.restoreBan(b);
        const { stored, received, live, seq } = batch.bans[i];
        if (each) {
          this.#log.info("fleet ban", {
            address: b.address,
            origin: b.origin!,
            reason: b.reason,
            until: new Date(b.expiresAt).toISOString(),
            ...(live ? { via: "live" } : { seq }),
          });
        }
        if (this.#opts.json) {
          // the stages of the propagation: stored by the server (ms; the origin's send time when it came live),
          // delivered to this host, in the set (µs)
          lines.push(JSON.stringify({
            event: "fleet-ban",
            ...banJson(b),
            via: live ? "live" : "kv",
            storedMs: stored,
            receivedUs: received === undefined ? undefined : Math.round(received * 1000),
            appliedUs: Math.round(applied * 1000),
          }));
        }
      });
      this.#emit(lines);
    }
    this.#dirty = true;
  }

  /**
   * Every ban this daemon puts in force goes through here, whatever decided it (its own detection, `ban import`,
   * and other sources to come): the firewall gets them in one batch, then each is logged (a bulk import logs one
   * summary line), printed with `--json`, passed to `onBan` and saved. Detected bans the firewall refuses are
   * retried every second; with `throwOnError` (imports) the error goes back to the caller instead.
   */
  async #applyBans(verdicts: BanVerdict[], options: ApplyOptions = {}): Promise<void> {
    const now = Date.now();
    const t0 = performance.now();
    try {
      await this.#fw.ban(verdicts.map((v) => banElement(v, now)));
    } catch (err) {
      if (options.throwOnError) throw err;
      this.#log.error("firewall refused the ban; retrying every second", {
        addresses: verdicts.map((v) => v.address).join(","),
        error: (err as Error).message,
      });
      this.#retry.push(...verdicts);
      this.#metrics?.firewallError();
      return;
    }
    const applied = wallMs(); // sub-millisecond wall clock
    const firewallMs = performance.now() - t0;
    // shared first, then logged here
    if (this.#fleet) {
      // this host's own bans: detected here, or imported here (`ban import`); another node's are not re-published
      const own = verdicts.filter((v) =>
        v.origin === undefined || v.origin === "import" || v.origin === this.#fleet!.config.node
      );
      for (const v of own) v.origin = this.#fleet.config.node;
      if (own.length) {
        const recs = this.#fleet.publishBans(
          own.map((v) => ({ address: v.address, family: v.family, until: v.expiresAt, reason: v.reason })),
        );
        // the expiry every host uses (whole ms, cut to the bucket's age limit) is this host's too
        own.forEach((v, i) => v.expiresAt = recs[i].until);
        // the records go on the wire (the client library writes in a microtask) before this host's own logging and
        // `--json` lines: 10,000 of those to a slow reader would otherwise hold the whole burst back
        await Promise.resolve();
      }
    }
    if (options.bulk) {
      this.#log.info("ban", {
        count: verdicts.length,
        origin: options.bulk,
        reason: verdicts[0]?.reason,
        firewall_ms: Number(firewallMs.toFixed(1)),
      });
    }
    const lines: string[] = []; // `--json` lines (a burst is thousands: queued, never waited for)
    for (const v of verdicts) {
      const latency = applied - v.last;
      if (options.bulk) this.#metrics?.bannedInBulk();
      else {
        this.#latencies.push(latency);
        this.#metrics?.banned(latency);
        if (this.#latencies.length > 1000) this.#latencies.shift();
        this.#log.info("ban", {
          address: v.address,
          failures: v.failures,
          reason: v.reason,
          ban_time: formatDurationShort(this.#cfg.banTimeMs),
          latency_ms: Number(latency.toFixed(3)),
        });
      }
      if (this.#opts.json) {
        lines.push(JSON.stringify({
          event: "ban",
          ...banJson(v),
          latencyMs: Number(latency.toFixed(3)),
          // microsecond epoch times: the threshold-crossing response's capture time and when the ban was in place
          lastUs: Math.round(v.last * 1000),
          appliedUs: Math.round(applied * 1000),
        }));
      }
      this.#opts.onBan?.(v, latency);
      // a bulk import would start one notify process per address: notify is for detected bans
      if (!options.bulk) this.#notify(v.address);
    }
    this.#emit(lines);
    this.#dirty = true;
    // persist right away: a ban must survive a crash
    this.#saving = this.#saving.then(() => this.#save());
  }

  /** `import` on the control socket: validate every pair like any input, then one batch through `#applyBans`. */
  async #import(req: ControlRequest): Promise<Record<string, unknown>> {
    if (!Array.isArray(req.bans)) throw new PbxError("E_INVALID_INPUT", "import: 'bans' must be a list");
    if (req.bans.length > IMPORT_MAX) throw new PbxError("E_LIMIT", `import: more than ${IMPORT_MAX} bans`);
    const reason = typeof req.reason === "string" && req.reason.trim()
      ? req.reason.trim().slice(0, 200)
      : "imported blocklist";
    const [max4, max6] = Array.isArray(req.maxPrefix) ? req.maxPrefix.map(Number) : [32, 128];
    if (!(max4 >= 0 && max4 <= 32 && max6 >= 0 && max6 <= 128)) {
      throw new PbxError("E_INVALID_INPUT", "import: bad maxPrefix");
    }
    const validator = new TargetValidator({
      maxPrefix4: max4,
      maxPrefix6: max6,
      exempt: [...this.#cfg.exempt, ...this.#cfg.pbxAddrs],
    });
    const now = Date.now();
    const verdicts: BanVerdict[] = [];
    const rejected: { index: number; address: string; error: string }[] = [];
    let alreadyBanned = 0, rejectedCount = 0;
    const seen = new Set<string>();
    const reject = (index: number, address: unknown, error: string) => {
      rejectedCount++;
      if (rejected.length < 20) rejected.push({ index, address: String(address).slice(0, 80), error });
    };
    req.bans.forEach((pair, index) => {
      const [text, until] = Array.isArray(pair) ? pair : [undefined, undefined];
      if (typeof text !== "string") return reject(index, text, "not an address string");
      const c = validator.check(text);
      if (typeof c === "string") return reject(index, text, c);
      if (typeof until !== "number" || !(until === 0 || (until > now && until < now + MAX_IMPORT_BAN_MS))) {
        return reject(index, text, "expiry is not 0 (permanent) nor in the next 10 years");
      }
      const address = c.address;
      if (seen.has(address) || this.#engine.banOf(address)) return alreadyBanned++;
      seen.add(address);
      verdicts.push({
        address,
        family: c.family,
        failures: 0,
        first: now,
        last: now,
        expiresAt: until,
        reason,
        origin: "import",
      });
    });
    if (rejectedCount > 0) {
      this.#log.warn("import: entries rejected", {
        count: rejectedCount,
        first: rejected[0]?.address,
        error: rejected[0]?.error,
      });
    }
    if (this.#fleet) {
      // an imported network is an explicit operator action here: it is shared as it is, and each host applies it
      // only when its own --fleet-max-prefix allows that width (the default, 32,128, applies none)
      const nets = verdicts.filter((v) => v.address.includes("/")).length;
      if (nets) {
        this.#log.info("import: networks shared with the fleet; hosts apply those their --fleet-max-prefix allows", {
          networks: nets,
        });
      }
    }
    const t0 = performance.now();
    if (verdicts.length) {
      await this.#applyBans(verdicts, { bulk: "import", throwOnError: true });
      for (const v of verdicts) this.#engine.restoreBan(v);
    }
    return {
      imported: verdicts.length,
      alreadyBanned,
      rejected: rejectedCount,
      rejectedSample: rejected,
      firewallMs: performance.now() - t0,
    };
  }

  #notify(address: string): void {
    const argv = this.#cfg.notifyCmd;
    if (argv.length === 0) return;
    if (this.#notifyRunning >= 8) {
      this.#log.warn("notify command skipped: too many still running", { address });
      return;
    }
    this.#notifyRunning++;
    (async () => {
      try {
        const out = await runArgv([...argv, address], { check: false, timeoutMs: 30_000 });
        if (out.code !== 0) {
          this.#log.warn("notify command failed", {
            address,
            status: out.code,
            stderr: out.stderr.trim().split("\n").pop(),
          });
        }
      } catch (err) {
        this.#log.warn("notify command could not run", { cmd: argv[0], error: (err as Error).message });
      } finally {
        this.#notifyRunning--;
      }
    })();
  }

  async #save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#lastSave = Date.now();
    try {
      await saveState(this.#cfg.statePath, {
        version: 1,
        savedAt: 0,
        hosts: this.#engine.snapshot(),
        status: this.#status(),
        fleet: this.#fleet?.saved() ?? this.#savedFleet,
      });
    } catch (err) {
      this.#dirty = true;
      this.#log.error("cannot save state", { path: this.#cfg.statePath, error: (err as Error).message });
    }
  }

  #status(): Record<string, unknown> {
    const lat = [...this.#latencies].sort((a, b) => a - b);
    return {
      pid: Deno.pid,
      startedAt: new Date(this.#startedAt).toISOString(),
      interface: this.#cfg.interface,
      backend: this.#fw.name,
      pbx: this.#cfg.pbxAddrs.map((a) => a.text),
      ports: this.#cfg.ports,
      maxFailures: this.#cfg.maxFailures,
      findTime: formatDurationShort(this.#cfg.findTimeMs),
      banTime: formatDurationShort(this.#cfg.banTimeMs),
      bans: this.#engine.bans().length,
      trackedHosts: this.#engine.hostCount,
      capture: this.#capture ? this.#capture.stats() : this.#capStats,
      banLatencyMs: lat.length
        ? { last: this.#latencies[this.#latencies.length - 1], p50: lat[Math.floor(lat.length / 2)], max: lat.at(-1) }
        : undefined,
      counters: engineCounters(this.#engine),
      fleet: this.#fleet?.status(),
    };
  }

  async #onControl(req: ControlRequest): Promise<Record<string, unknown>> {
    // the socket listens first (a second daemon is refused early); a request waits until the firewall is set up and
    // the fleet exists, or an import made in between would be banned here and never shared
    await this.#started.promise;
    switch (req.cmd) {
      case "import":
        return await this.#import(req);
      case "status":
        return { status: this.#status(), firewall: await this.#fw.counters() };
      case "list":
        return { bans: this.#engine.bans().map(banJson) };
      case "unban": {
        const ip = typeof req.address === "string" ? parseTarget(req.address) : "missing";
        if (typeof ip === "string") throw new Error(`'${req.address}' is not an IP address or network`);
        const addr = targetText(ip);
        await this.#fw.unban([{ address: addr, family: ip.family }]);
        const ev = this.#engine.unban(addr);
        this.#log.info("unban", { address: addr, reason: "manual" });
        if (ev) this.#metrics?.unbanned("manual");
        this.#fleet?.publishUnban(addr, ip.family, `manual unban on ${this.#fleet.config.node}`);
        this.#dirty = true;
        this.#saving = this.#saving.then(() => this.#save());
        return { address: addr, wasBanned: ev !== undefined };
      }
      case "ban": {
        // a batch of bans from outside the capture (e.g. a blocklist): through the one ban path
        const list = (Array.isArray(req.bans) ? req.bans : []) as {
          address: string;
          banTimeMs?: number;
          reason?: string;
        }[];
        if (list.length === 0 || list.length > 1_000_000) throw new Error("ban: give 'bans', a list of 1 to 1e6 bans");
        const now = Date.now();
        const verdicts: BanVerdict[] = [];
        for (const b of list) {
          const ip = typeof b?.address === "string" ? parseIp(b.address) : undefined;
          if (!ip) throw new Error(`ban: '${String(b?.address).slice(0, 60)}' is not an IP address`);
          const ms = b.banTimeMs ?? this.#cfg.banTimeMs;
          if (!Number.isSafeInteger(ms) || ms < 0) throw new Error("ban: banTimeMs must be a non-negative integer");
          verdicts.push({
            address: canonicalIp(b.address)!,
            family: ip.family,
            failures: 0,
            first: now,
            last: now,
            expiresAt: ms === 0 ? 0 : now + ms,
            reason: typeof b.reason === "string" ? b.reason.slice(0, 200) : "manual ban",
          });
        }
        await this.applyBans(verdicts);
        return { banned: verdicts.length };
      }
      default:
        throw new Error(`unknown control command '${req.cmd}'`);
    }
  }

  async #reload(): Promise<void> {
    if (!this.#opts.reload) {
      this.#log.warn("SIGHUP: no config file to reload");
      return;
    }
    try {
      const next = await this.#opts.reload();
      if (
        next.interface !== this.#cfg.interface || next.backend !== this.#cfg.backend || next.ipset !== this.#cfg.ipset
      ) {
        this.#log.warn("SIGHUP: interface, backend and ipset changes need a restart; other settings reloaded");
        next.interface = this.#cfg.interface;
        next.backend = this.#cfg.backend;
        next.ipset = this.#cfg.ipset;
      }
      if (next.pbxAddrs.length === 0) next.pbxAddrs = this.#cfg.pbxAddrs;
      if (JSON.stringify(next.fleet) !== JSON.stringify(this.#cfg.fleet)) {
        this.#log.warn("SIGHUP: fleet changes need a restart; the fleet keeps its settings");
      }
      next.fleet = this.#cfg.fleet;
      this.#fleet?.core.setExempt([...next.exempt, ...next.pbxAddrs]);
      const snap = this.#engine.snapshot();
      const prev = this.#cfg;
      if (metricsKey(next) !== metricsKey(this.#cfg)) {
        this.#log.warn("SIGHUP: a metrics address change needs a restart");
        next.metrics = this.#cfg.metrics;
      }
      this.#cfg = next;
      this.#metrics?.carry(this.#engine);
      this.#engine = engineFor(next);
      for (const h of snap) {
        if (h.ban) this.#engine.restoreBan(h.ban);
        else this.#engine.restoreFailures(h.address, h.failures);
      }
      if (next.scope !== prev.scope || next.ports.join() !== prev.ports.join()) {
        this.#fw.close();
        this.#fw = firewallFor(next);
        await this.#fw.setup();
      }
      this.#log.info("config reloaded", {
        max_failures: next.maxFailures,
        find_time: formatDurationShort(next.findTimeMs),
        ban_time: formatDurationShort(next.banTimeMs),
      });
    } catch (err) {
      this.#log.error("SIGHUP: config reload failed, keeping the old one", { error: (err as Error).message });
    }
  }
}

function metricsKey(cfg: BanConfig): string {
  return `${cfg.metrics?.hostname}:${cfg.metrics?.port}`;
}

/** A ban as printed by `--json` and `list`: times as ISO strings. */
export function banJson(v: BanVerdict): Record<string, unknown> {
  return {
    address: v.address,
    family: v.family === 4 ? "ipv4" : "ipv6",
    failures: v.failures,
    first: new Date(v.first).toISOString(),
    last: new Date(v.last).toISOString(),
    expires: v.expiresAt === 0 ? null : new Date(v.expiresAt).toISOString(),
    reason: v.reason,
    origin: v.origin ?? null,
  };
}

/** Run the daemon until SIGTERM. */
export async function runDaemon(cfg: BanConfig, options: DaemonOptions = {}): Promise<void> {
  await new BanDaemon(cfg, options).run();
}
