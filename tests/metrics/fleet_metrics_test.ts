// The ban daemon's fleet series: BanMetrics reads the fleet's figures at each scrape, checked by promtool.
import { assertEquals, assertMatch } from "../_util/assert.ts";
import { testWith } from "../_util/mod.ts";
import { BanEngine, BanMetrics } from "../../lib/ban/mod.ts";
import type { FleetMetrics } from "../../lib/ban/fleet/mod.ts";
import { MetricsRegistry, runArgv } from "../../lib/common/mod.ts";

testWith(
  "ban metrics: fleet gauges and counters follow the fleet's figures at each scrape",
  { tools: ["promtool"] },
  async () => {
    const f: FleetMetrics = {
      connected: false,
      lastSeq: 0,
      lagMessages: 0,
      lastLatencyMs: null,
      outbox: 3,
      published: 0,
      received: 0,
      rejected: 0,
    };
    const engine = new BanEngine();
    const registry = new MetricsRegistry();
    new BanMetrics(registry, { engine: () => engine, capture: () => undefined, fleet: () => f });
    const value = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    let text = registry.expose();
    assertEquals(value(text, "pbxkit_ban_fleet_connected"), 0);
    assertEquals(value(text, "pbxkit_ban_fleet_outbox"), 3);
    assertMatch(text, /^pbxkit_ban_fleet_last_latency_seconds NaN$/m);
    Object.assign(f, { connected: true, lastSeq: 1042, lagMessages: 7, lastLatencyMs: 4.5, outbox: 0, published: 12 });
    Object.assign(f, { received: 1030, rejected: 2 });
    text = registry.expose();
    assertEquals(value(text, "pbxkit_ban_fleet_connected"), 1);
    assertEquals(value(text, "pbxkit_ban_fleet_last_sequence"), 1042);
    assertEquals(value(text, "pbxkit_ban_fleet_lag_messages"), 7);
    assertEquals(value(text, "pbxkit_ban_fleet_last_latency_seconds"), 0.0045);
    assertEquals(value(text, "pbxkit_ban_fleet_published_total"), 12);
    assertEquals(value(text, "pbxkit_ban_fleet_received_total"), 1030);
    assertEquals(value(text, "pbxkit_ban_fleet_rejected_total"), 2);
    const r = await runArgv(["promtool", "check", "metrics"], { stdin: text, check: false });
    assertEquals(r.code, 0, r.stdout + r.stderr);
    // without a fleet there are no fleet series
    const plain = new MetricsRegistry();
    new BanMetrics(plain, { engine: () => engine, capture: () => undefined });
    assertEquals(/pbxkit_ban_fleet_/.test(plain.expose()), false);
  },
);
