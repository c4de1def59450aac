/**
 * The ban daemon's Prometheus series ({@linkcode BanMetrics}). Engine and capture counters are read at scrape time
 * (the packet path is untouched); bans, unbans and the ban latency are booked by the daemon as they happen. When
 * SIGHUP replaces the engine, the old engine's counts are carried over so no counter goes backwards.
 *
 * @module
 */

import type { CounterChild, HistogramChild, Metric, MetricsRegistry } from "../common/metrics.ts";
import type { BanEngine } from "./engine.ts";
import type { FleetMetrics } from "./fleet/mod.ts";
import type { CaptureStats } from "./libpcap.ts";

/** Buckets of the ban latency histogram, seconds: 0.5 ms to 10 s. */
export const BAN_LATENCY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.002,
  0.005,
  0.01,
  0.02,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

const CLASSES = ["other", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/** What {@linkcode BanMetrics} reads at scrape time. */
export interface BanMetricsSource {
  /** The engine in use now. */
  engine(): BanEngine;
  /** libpcap's counters (`pcap_stats`), or undefined before the capture opened. */
  capture(): CaptureStats | undefined;
  /** The fleet's figures (`--fleet`), or undefined without a fleet. */
  fleet?(): FleetMetrics | undefined;
}

/** The ban daemon's metric families on a registry. */
export class BanMetrics {
  /** The registry (more families may be added to it, e.g. by the fleet). */
  readonly registry: MetricsRegistry;
  readonly #bans: CounterChild;
  readonly #unbans: Metric<CounterChild>;
  readonly #fwErrors: CounterChild;
  readonly #latency: HistogramChild;
  // Counts of engines replaced by a reload.
  #carried = { packets: 0, failures: 0, classes: new Float64Array(7) };

  /** Register the families on `registry`; `source` is read at every scrape. */
  constructor(registry: MetricsRegistry, source: BanMetricsSource) {
    const r = this.registry = registry;
    const packets = r.counter("pbxkit_ban_packets_total", "Captured packets given to the decoder.").series;
    const responses = r.counter(
      "pbxkit_ban_sip_responses_total",
      "SIP responses sent by the PBX, by status class (other: a status outside 100-699).",
      ["class"],
    );
    const byClass = CLASSES.map((c) => responses.labels(c));
    const failures = r.counter(
      "pbxkit_ban_failures_total",
      "Failures counted toward a ban (status >= 400 to a counted method, remote not exempt).",
    ).series;
    this.#bans = r.counter("pbxkit_ban_bans_total", "Bans put into the firewall.").series;
    this.#unbans = r.counter("pbxkit_ban_unbans_total", "Bans lifted, by reason (expired, manual).", ["reason"]);
    this.#unbans.labels("expired");
    this.#unbans.labels("manual");
    this.#fwErrors = r.counter(
      "pbxkit_ban_firewall_errors_total",
      "Firewall inserts that failed (retried every second).",
    ).series;
    const active = r.gauge("pbxkit_ban_active_bans", "Bans in force now.").series;
    const tracked = r.gauge("pbxkit_ban_tracked_hosts", "Hosts with failures or a ban in the engine's table.").series;
    this.#latency = r.histogram(
      "pbxkit_ban_latency_seconds",
      "Time from the capture timestamp of the failure that decided a ban to its insertion into the firewall.",
      { buckets: BAN_LATENCY_BUCKETS },
    ).series;
    const capReceived = r.counter("pbxkit_ban_capture_received_total", "Packets libpcap received (pcap_stats).")
      .series;
    const capDropped = r.counter(
      "pbxkit_ban_capture_dropped_total",
      "Packets dropped for lack of buffer space, by where (kernel: ps_drop, interface: ps_ifdrop).",
      ["where"],
    );
    const dropKernel = capDropped.labels("kernel"), dropIf = capDropped.labels("interface");
    const fleet = source.fleet ? fleetFamilies(r) : undefined;
    r.onCollect(() => {
      const e = source.engine();
      const c = this.#carried;
      packets.value = c.packets + e.decodeStats.packets;
      failures.value = c.failures + e.stats.failures;
      for (let i = 0; i < byClass.length; i++) byClass[i].value = c.classes[i] + e.responseClasses[i];
      active.value = e.bans().length;
      tracked.value = e.hostCount;
      const cap = source.capture();
      if (cap) {
        capReceived.value = cap.received;
        dropKernel.value = cap.dropped;
        dropIf.value = cap.ifDropped;
      }
      const f = source.fleet?.();
      if (fleet && f) {
        fleet.connected.value = f.connected ? 1 : 0;
        fleet.lastSeq.value = f.lastSeq;
        fleet.lag.value = f.lagMessages;
        fleet.latency.value = f.lastLatencyMs === null ? NaN : f.lastLatencyMs / 1000;
        fleet.outbox.value = f.outbox;
        fleet.published.value = f.published;
        fleet.received.value = f.received;
        fleet.rejected.value = f.rejected;
      }
    });
  }

  /** `old` is being replaced (config reload): keep its counts. */
  carry(old: BanEngine): void {
    const c = this.#carried;
    c.packets += old.decodeStats.packets;
    c.failures += old.stats.failures;
    for (let i = 0; i < c.classes.length; i++) c.classes[i] += old.responseClasses[i];
  }

  /** A ban reached the firewall `latencyMs` after its deciding packet was captured. */
  banned(latencyMs: number): void {
    this.#bans.value++;
    this.#latency.observe(Math.max(0, latencyMs) / 1000);
  }

  /** A ban from a bulk source (an import): counted, no latency (it was not detected). */
  bannedInBulk(): void {
    this.#bans.value++;
  }

  /** A ban was lifted. */
  unbanned(reason: "expired" | "manual", n = 1): void {
    this.#unbans.labels(reason).value += n;
  }

  /** A firewall insert failed. */
  firewallError(): void {
    this.#fwErrors.value++;
  }
}

/** The fleet's series (`--fleet`), set from {@linkcode FleetMetrics} at each scrape. */
function fleetFamilies(r: MetricsRegistry) {
  return {
    connected: r.gauge("pbxkit_ban_fleet_connected", "1 when connected to a NATS server with the bucket open.").series,
    lastSeq: r.gauge("pbxkit_ban_fleet_last_sequence", "Last stream sequence of the fleet bucket applied here.").series,
    lag: r.gauge("pbxkit_ban_fleet_lag_messages", "Fleet records pending behind the last one received.").series,
    latency: r.gauge(
      "pbxkit_ban_fleet_last_latency_seconds",
      "Receive time minus the server's store time of the last fleet record (propagation plus clock skew).",
    ).series,
    outbox: r.gauge("pbxkit_ban_fleet_outbox", "Local bans and unbans waiting to be published to the fleet.").series,
    published: r.counter("pbxkit_ban_fleet_published_total", "Records this host published to the fleet.").series,
    received: r.counter("pbxkit_ban_fleet_received_total", "Fleet records received.").series,
    rejected: r.counter("pbxkit_ban_fleet_rejected_total", "Fleet records rejected as invalid.").series,
  };
}
