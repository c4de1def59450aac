// The text exposition format 0.0.4 against hand-written expected text, the HTTP listener, promtool's linter.
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import {
  escapeLabelValue,
  formatValue,
  MetricsRegistry,
  parseMetricsAddress,
  serveMetrics,
} from "../../lib/common/mod.ts";
import { promtoolCheck } from "./_prom.ts";
import { testWith } from "../_util/mod.ts";

Deno.test("metrics: counters, gauges, escaping in HELP and label values", () => {
  const reg = new MetricsRegistry();
  const c = reg.counter("pbxkit_test_requests_total", "Requests by path.\nSecond line with a \\ backslash.", ["path"]);
  c.labels('/a"b').inc();
  c.labels('/a"b').inc(2);
  c.labels("C:\\dir\nx").inc();
  const g = reg.gauge("pbxkit_test_open", "Open things.");
  g.series.set(7);
  g.series.dec();
  reg.counter("pbxkit_test_untouched_total", "Never incremented.");
  const expected = [
    "# HELP pbxkit_test_requests_total Requests by path.\\nSecond line with a \\\\ backslash.",
    "# TYPE pbxkit_test_requests_total counter",
    'pbxkit_test_requests_total{path="/a\\"b"} 3',
    'pbxkit_test_requests_total{path="C:\\\\dir\\nx"} 1',
    "# HELP pbxkit_test_open Open things.",
    "# TYPE pbxkit_test_open gauge",
    "pbxkit_test_open 6",
    "# HELP pbxkit_test_untouched_total Never incremented.",
    "# TYPE pbxkit_test_untouched_total counter",
    "pbxkit_test_untouched_total 0",
    "",
  ].join("\n");
  assertEquals(reg.expose(), expected);
});

Deno.test("metrics: histogram buckets are cumulative, with +Inf, _sum and _count", () => {
  const reg = new MetricsRegistry();
  const h = reg.histogram("pbxkit_test_latency_seconds", "Latency.", { buckets: [0.25, 1, 2], labelNames: ["op"] });
  const r = h.labels("read");
  // 0.25 falls in le="0.25" (upper bounds are inclusive); 4 only in +Inf. Binary fractions: the sum is exact.
  for (const v of [0.125, 0.25, 0.5, 1.5, 1.5, 4]) r.observe(v);
  const expected = [
    "# HELP pbxkit_test_latency_seconds Latency.",
    "# TYPE pbxkit_test_latency_seconds histogram",
    'pbxkit_test_latency_seconds_bucket{op="read",le="0.25"} 2',
    'pbxkit_test_latency_seconds_bucket{op="read",le="1"} 3',
    'pbxkit_test_latency_seconds_bucket{op="read",le="2"} 5',
    'pbxkit_test_latency_seconds_bucket{op="read",le="+Inf"} 6',
    'pbxkit_test_latency_seconds_sum{op="read"} 7.875',
    'pbxkit_test_latency_seconds_count{op="read"} 6',
    "",
  ].join("\n");
  assertEquals(reg.expose(), expected);
});

Deno.test("metrics: collect hooks run per scrape; bad names and label counts are refused", () => {
  const reg = new MetricsRegistry();
  const g = reg.gauge("pbxkit_test_live", "Read at scrape time.");
  let n = 0;
  reg.onCollect(() => g.series.set(++n));
  assert(reg.expose().includes("pbxkit_test_live 1\n"));
  assert(reg.expose().includes("pbxkit_test_live 2\n"));
  assertThrows(() => reg.counter("pbxkit_test_bad", "no _total"));
  assertThrows(() => reg.gauge("pbxkit_test_live", "twice"));
  assertThrows(() => reg.gauge("0bad", "name"));
  assertThrows(() => reg.histogram("pbxkit_test_h", "x", { labelNames: ["le"] }));
  assertThrows(() => reg.histogram("pbxkit_test_h2", "x", { buckets: [1, 1] }));
  const c = reg.counter("pbxkit_test_l_total", "x", ["a", "b"]);
  assertThrows(() => c.labels("only-one"));
  assertEquals(formatValue(Infinity), "+Inf");
  assertEquals(formatValue(NaN), "NaN");
  assertEquals(escapeLabelValue('a"\\\n'), 'a\\"\\\\\\n');
});

Deno.test("metrics: --metrics address parsing", () => {
  assertEquals(parseMetricsAddress("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assertEquals(parseMetricsAddress("[::1]:9464"), { hostname: "::1", port: 9464 });
  assertEquals(parseMetricsAddress(":9464"), { hostname: "127.0.0.1", port: 9464 });
  for (const bad of ["9464", "127.0.0.1", "host:99999", "::1:9464", "a b:1", ""]) {
    assertThrows(() => parseMetricsAddress(bad), Error, "--metrics");
  }
});

testWith("metrics: the HTTP listener serves /metrics (404 elsewhere) and promtool accepts it", {
  tools: ["promtool"],
}, async () => {
  const reg = new MetricsRegistry();
  reg.counter("pbxkit_test_events_total", "Events.", ["kind"]).labels('we"ird\\').inc(3);
  reg.histogram("pbxkit_test_duration_seconds", "Durations.").series.observe(0.2);
  const srv = serveMetrics(reg, { hostname: "127.0.0.1", port: 0 });
  try {
    const res = await fetch(srv.url);
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const body = await res.text();
    assert(body.includes('pbxkit_test_events_total{kind="we\\"ird\\\\"} 3\n'), body);
    await promtoolCheck(body);
    const nf = await fetch(srv.url.replace("/metrics", "/other"));
    assertEquals(nf.status, 404);
    await nf.body?.cancel();
    const post = await fetch(srv.url, { method: "POST" });
    assertEquals(post.status, 405);
    await post.body?.cancel();
    assertThrows(() => serveMetrics(reg, { hostname: "127.0.0.1", port: srv.addr.port }), Error, "--metrics");
  } finally {
    await srv.shutdown();
  }
});
