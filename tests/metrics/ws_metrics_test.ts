// ws-serve --metrics: a real Python client echoes N messages, raw sockets provoke refused handshakes; the scrape
// passes promtool and carries the counts the test made, and a real Prometheus server scrapes the same numbers.
import { assert, assertEquals } from "../_util/assert.ts";
import { freePort, runCli, testWith, waitFor } from "../_util/mod.ts";
import { connect, type WebSocket } from "../../lib/ws/mod.ts";
import { python, startServe } from "../ws/_serve.ts";
import { PrometheusServer, promtoolCheck, sample, scrape, scrapeUntilZero } from "./_prom.ts";

// Sends text and binary messages of sizes < 126 (2-byte frame headers, so wire bytes are easy to count), checks
// each echo, closes with 4001 and prints what it sent.
const PY = `
import asyncio, sys, websockets
async def main(url, n):
    sent = 0
    wire_in = 0
    wire_out = 0
    async with websockets.connect(url, compression=None, ping_interval=None, origin="https://pbx.example.com") as ws:
        for i in range(n):
            m = ("msg %d " % i) * (i % 9) if i % 3 else bytes([i % 256]) * (i % 100)
            await ws.send(m)
            r = await ws.recv()
            assert r == m, ("mismatch", i)
            size = len(m.encode()) if isinstance(m, str) else len(m)
            sent += 1
            wire_in += 2 + 4 + size   # client frames are masked
            wire_out += 2 + size
        await ws.close(4001, "bye")
        wire_in += 2 + 4 + 2 + 3
        wire_out += 2 + 2             # the server echoes the code without a reason
        print("CLOSE", ws.close_code)
    print("SENT", sent, wire_in, wire_out)
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
`;

async function rawStatus(port: number, head: string): Promise<number> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(4096);
    const n = await c.read(buf);
    const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(line)?.[1]);
  } finally {
    c.close();
  }
}

function upgradeHead(port: number, extra: string): string {
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
}

testWith("ws-serve --metrics: echo counts, refused handshakes and close codes, scraped by promtool and Prometheus", {
  tools: ["promtool", "prometheus", "/usr/bin/python3"],
  files: ["/usr/lib/python3/dist-packages/websockets/__init__.py"],
}, async () => {
  const N = 42;
  const mport = freePort();
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-wsm-" });
  const srv = await startServe(["--echo", "--origin", "https://pbx.example.com", "--metrics", `127.0.0.1:${mport}`]);
  let prom: PrometheusServer | undefined;
  try {
    const starting = PrometheusServer.start(`127.0.0.1:${mport}`);
    const r = await python(dir, PY, [srv.url, String(N)]);
    assertEquals(r.code, 0, r.stderr + r.stdout);
    assert(r.stdout.includes("CLOSE 4001"), r.stdout);
    const [, sent, wireIn, wireOut] = /SENT (\d+) (\d+) (\d+)/.exec(r.stdout)!.map(Number);
    assertEquals(sent, N);
    // refused handshakes: a foreign origin, an old version, a broken request line
    assertEquals(
      await rawStatus(srv.port, upgradeHead(srv.port, "Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n")),
      403,
    );
    assertEquals(await rawStatus(srv.port, upgradeHead(srv.port, "Sec-WebSocket-Version: 8\r\n")), 426);
    assertEquals(await rawStatus(srv.port, "HELLO THERE\r\n\r\n"), 400);

    const url = `http://127.0.0.1:${mport}/metrics`;
    // the server books a connection when its close handshake ends: poll until it has
    const text = await scrapeUntilZero(url, "pbxkit_ws_connections_open");
    await promtoolCheck(text);
    assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "in" }), N);
    assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "out" }), N);
    assertEquals(sample(text, "pbxkit_ws_bytes_total", { direction: "in" }), wireIn);
    assertEquals(sample(text, "pbxkit_ws_bytes_total", { direction: "out" }), wireOut);
    assertEquals(sample(text, "pbxkit_ws_connections_total"), 1);
    assertEquals(sample(text, "pbxkit_ws_connections_open"), 0);
    assertEquals(sample(text, "pbxkit_ws_tcp_connections_total"), 4);
    assertEquals(sample(text, "pbxkit_ws_close_received_total", { code: "4001" }), 1);
    assertEquals(sample(text, "pbxkit_ws_close_sent_total", { code: "4001" }), 1);
    for (const status of ["400", "403", "426"]) {
      assertEquals(sample(text, "pbxkit_ws_handshakes_rejected_total", { status }), 1, status);
    }
    assertEquals(sample(text, "pbxkit_ws_handshakes_rejected_total", { status: "503" }), undefined);

    prom = await starting;
    assert(await prom.targetUp(), "prometheus never scraped ws-serve");
    const seen = await prom.waitForValue(
      'pbxkit_ws_messages_total{job="pbxkit",direction="in"}',
      (v) => v === N,
    );
    assertEquals(seen, N);
    const rejected = await prom.query('sum(pbxkit_ws_handshakes_rejected_total{job="pbxkit"})');
    assertEquals(rejected[0]?.value, 3);
  } finally {
    await prom?.stop();
    await srv.proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

const PY_PROXY = `
import asyncio, sys, websockets
async def main(base):
    async with websockets.connect(base + "loop", compression=None, ping_interval=None) as ws:
        for i in range(3):
            await ws.send("via proxy %d" % i)
            assert await ws.recv() == "via proxy %d" % i
    try:
        async with websockets.connect(base + "down", compression=None, ping_interval=None):
            print("UNEXPECTED OPEN")
    except websockets.exceptions.InvalidStatusCode as e:
        print("DOWN", e.status_code)
asyncio.run(main(sys.argv[1]))
`;

testWith("ws-serve --metrics: proxy upstream connects and errors, messages counted on both legs", {
  tools: ["promtool", "/usr/bin/python3"],
  files: ["/usr/lib/python3/dist-packages/websockets/__init__.py"],
}, async () => {
  const port = freePort(), mport = freePort(), dead = freePort();
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-wsm-proxy-" });
  const srv = await startServe([
    "--echo",
    "--proxy",
    `/loop=ws://127.0.0.1:${port}/`, // through the proxy back to this server's own echo endpoint
    "--proxy",
    `/down=ws://127.0.0.1:${dead}/`, // nothing listens there
    "--metrics",
    `127.0.0.1:${mport}`,
  ], { port });
  try {
    const r = await python(dir, PY_PROXY, [`ws://127.0.0.1:${port}/`]);
    assertEquals(r.code, 0, r.stderr + r.stdout);
    assert(r.stdout.includes("DOWN 502"), r.stdout);
    const url = `http://127.0.0.1:${mport}/metrics`;
    const text = await scrapeUntilZero(url, "pbxkit_ws_connections_open");
    await promtoolCheck(text);
    assertEquals(sample(text, "pbxkit_ws_proxy_upstream_connects_total", { route: "/loop" }), 1);
    assertEquals(sample(text, "pbxkit_ws_proxy_upstream_errors_total", { route: "/down", reason: "error" }), 1);
    assertEquals(sample(text, "pbxkit_ws_handshakes_rejected_total", { status: "502" }), 1);
    // the client's connection on /loop and the proxy's upstream connection to / are both WebSockets of this server
    assertEquals(sample(text, "pbxkit_ws_connections_total"), 2);
    assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "in" }), 6);
    assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "out" }), 6);
    // the client's 1000 reaches the echo leg through the proxy
    assertEquals(sample(text, "pbxkit_ws_close_received_total", { code: "1000" }), 2);
  } finally {
    await srv.proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ws-serve --metrics: a bad address is one usage line; a taken port fails before serving", async () => {
  const bad = await runCli(["ws-serve", "--metrics", "localhost"]);
  assertEquals(bad.code, 2, bad.stderr);
  assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert(bad.stderr.includes("--metrics: 'localhost' is not HOST:PORT"), bad.stderr);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const r = await runCli(["ws-serve", "--port", "0", "--metrics", `127.0.0.1:${port}`]);
    assertEquals(r.code, 1, r.stderr);
    assert(r.stderr.includes(`--metrics: cannot listen on 127.0.0.1:${port}`), r.stderr);
    assert(!r.stdout.includes("listening on"), r.stdout);
  } finally {
    taken.close();
  }
});

Deno.test("ws-serve [metrics] listen in the TOML config: counts survive a SIGHUP; a bad [metrics] table is one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-wsm-cfg-" });
  const mport = freePort();
  try {
    await Deno.writeTextFile(
      `${dir}/ws.toml`,
      `echo = true\n[[listen]]\naddress = "127.0.0.1:0"\n[metrics]\nlisten = "127.0.0.1:${mport}"\n`,
    );
    const srv = await startServe(["--config", `${dir}/ws.toml`], { defaultPort: true });
    try {
      const url = `http://127.0.0.1:${mport}/metrics`;
      let text = await scrape(url);
      await promtoolCheck(text);
      assertEquals(sample(text, "pbxkit_ws_connections_total"), 0);
      // one echo before a SIGHUP (held open across it), one after: the counts carry on across the reload
      const echo = async (ws: WebSocket, m: string) => {
        await ws.send(m);
        for await (const r of ws) return r.text;
      };
      const before = await connect(`ws://127.0.0.1:${srv.port}/`);
      assertEquals(await echo(before, "before"), "before");
      srv.proc.child.kill("SIGHUP");
      await waitFor(() => srv.proc.stderr.includes("SIGHUP: reloaded"), { timeoutMs: 10_000, what: "reload" });
      text = await scrape(url);
      assertEquals(sample(text, "pbxkit_ws_connections_total"), 1);
      assertEquals(sample(text, "pbxkit_ws_connections_open"), 1);
      assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "in" }), 1);
      assertEquals(await echo(before, "kept"), "kept");
      const after = await connect(`ws://127.0.0.1:${srv.port}/`);
      assertEquals(await echo(after, "after"), "after");
      for (const ws of [before, after]) {
        ws.close(1000);
        await ws.closed;
      }
      await waitFor(async () => sample(await scrape(url), "pbxkit_ws_connections_open") === 0, {
        timeoutMs: 5000,
        what: "both closed",
      });
      text = await scrape(url);
      await promtoolCheck(text);
      assertEquals(sample(text, "pbxkit_ws_connections_total"), 2);
      assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "in" }), 3);
      assertEquals(sample(text, "pbxkit_ws_messages_total", { direction: "out" }), 3);
      assertEquals(sample(text, "pbxkit_ws_close_received_total", { code: "1000" }), 2);
    } finally {
      await srv.proc.stop();
    }
    await Deno.writeTextFile(`${dir}/bad.toml`, `echo = true\n[metrics]\nlisten = "127.0.0.1:${mport}"\npath = "/m"\n`);
    const bad = await runCli(["ws-serve", "--config", `${dir}/bad.toml`]);
    assertEquals(bad.code, 2, bad.stderr);
    assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert(bad.stderr.includes(`${dir}/bad.toml:4`) && bad.stderr.includes("metrics.path"), bad.stderr);
    await Deno.writeTextFile(`${dir}/bad2.toml`, `[metrics]\nlisten = "nowhere"\n`);
    const bad2 = await runCli(["ws-serve", "--config", `${dir}/bad2.toml`]);
    assertEquals(bad2.code, 2, bad2.stderr);
    assert(bad2.stderr.includes(`${dir}/bad2.toml:2`) && bad2.stderr.includes("metrics.listen"), bad2.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
