/**
 * `pbxkit ws-serve` as a user runs it: the defaults (echo), flag errors, SIGTERM closing clients with 1001,
 * --static (types, HEAD, 404, 405, no path escapes), --webphone, --max-connections, the handshake timeout
 * (slowloris), the idle timeout with pings, --origin and --json.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { freePort, Proc, ROOT, runCli, waitFor } from "../_util/mod.ts";
import { RawClient } from "./_raw_client.ts";
import { startServe } from "./_serve.ts";
import { connect, startWsServe } from "../../lib/ws/mod.ts";
import { webphoneAssets } from "../../lib/call/webphone.ts";

async function rawHttp(port: number, request: string, timeoutMs = 5000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  await conn.write(new TextEncoder().encode(request));
  let out = "";
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch { /* closed by the timer */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return out;
}

Deno.test("ws-serve --help shows options and examples; bad flags are one-line usage errors", async () => {
  const help = await runCli(["ws-serve", "--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "--proxy");
  assertStringIncludes(help.stdout, "Examples:");
  for (
    const [args, re] of [
      [["--port", "99999"], /--port/],
      [["--proxy", "nopath"], /--proxy/],
      [["--proxy", "/a=http://x"], /ws:\/\//],
      [["--max-message", "lots"], /--max-message/],
      [["--tls-cert", "x.pem"], /go together/],
      [["--idle-timeout", "soon"], /--idle-timeout/],
      [["--subprotocol", "a b"], /--subprotocol/],
      [["--port", "0", "--host", ""], /--host/],
      [["--port", "0", "--static", ""], /--static/],
      [["--port", "0", "--origin", "https://pbx.example.com/path"], /--origin/],
      [["--port", "0", "--idle-timeout", "9999d"], /--idle-timeout.*24d/],
      [["--port", "0", "--handshake-timeout", "0"], /--handshake-timeout/],
      [["--port", "0", "--no-deflate", "--deflate-no-context-takeover"], /exclude/],
      [["--port", "0", "--tls-cert", "/dev/zero", "--tls-key", "/dev/zero"], /not a regular file/],
    ] as const
  ) {
    const r = await runCli(["ws-serve", ...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr.trim(), re);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  const missing = await runCli([
    "ws-serve",
    "--port",
    "0",
    "--tls-cert",
    "/nonexistent.pem",
    "--tls-key",
    "/nonexistent.key",
  ]);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /no such file.*\[E_NOT_FOUND\]/);
  const nodir = await runCli(["ws-serve", "--port", "0", "--static", "/nonexistent-dir"]);
  assertMatch(nodir.stderr, /no such directory/);
  const noaddr = await runCli(["ws-serve", "--port", "0", "--host", "192.0.2.1"]); // TEST-NET-1: not on this host
  assertEquals(noaddr.code, 1);
  assertMatch(noaddr.stderr.trim(), /^pbxkit: error: cannot listen on 192\.0\.2\.1:0: [^(]*\[E_NETWORK\]$/);
});

Deno.test({
  name: "ws-serve with no flags is an echo server on 127.0.0.1:8080; SIGTERM closes clients with 1001",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The true default port when it is free here (other suites may use 8080); --port 0 otherwise.
    let free8080 = true;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: 8080 }).close();
    } catch {
      free8080 = false;
    }
    const srv = await startServe([], { defaultPort: free8080 }).catch((err) => {
      // 8080 was taken between the check and ws-serve's bind (another suite): the same test on --port 0
      if (!free8080 || !/address already in use/.test((err as Error).message)) throw err;
      free8080 = false;
      return startServe([]);
    });
    try {
      assertMatch(srv.proc.stdout, /^listening on ws:\/\/127\.0\.0\.1:\d+\/ \(echo\)$/m);
      if (free8080) assertEquals(srv.port, 8080);
      const ws = await connect(srv.url);
      await ws.send("ping me");
      for await (const m of ws) {
        assertEquals(m.text, "ping me");
        break;
      }
      const st = await srv.proc.stop("SIGTERM", 8000);
      const info = await ws.closed;
      assertEquals(info.code, 1001);
      assertEquals(st.code, 0, srv.proc.stderr);
    } finally {
      await srv.proc.stop();
    }
  },
});

Deno.test({
  name: "ws-serve --static: content types, HEAD, 304, 404, 405, no path escapes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-static-" });
    await Deno.mkdir(`${dir}/www/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/www/index.html`, "<h1>home</h1>");
    await Deno.writeTextFile(`${dir}/www/app.js`, "console.log(1)");
    await Deno.writeTextFile(`${dir}/www/sub/data.json`, '{"a":1}');
    await Deno.writeTextFile(`${dir}/secret.txt`, "SECRET");
    await Deno.symlink(`${dir}/secret.txt`, `${dir}/www/link.txt`);
    const srv = await startServe(["--static", `${dir}/www`, "--echo"]);
    try {
      const base = `http://127.0.0.1:${srv.port}`;
      const home = await fetch(`${base}/`);
      assertEquals(home.status, 200);
      assertEquals(home.headers.get("content-type"), "text/html; charset=utf-8");
      assertEquals(await home.text(), "<h1>home</h1>");
      const js = await fetch(`${base}/app.js`);
      assertEquals(js.headers.get("content-type"), "text/javascript; charset=utf-8");
      const etag = js.headers.get("etag")!;
      await js.body?.cancel();
      const again = await fetch(`${base}/app.js`, { headers: { "If-None-Match": etag } });
      assertEquals(again.status, 304);
      await again.body?.cancel();
      const json = await fetch(`${base}/sub/data.json`);
      assertEquals(await json.json(), { a: 1 });
      const redirect = await fetch(`${base}/sub`, { redirect: "manual" });
      assertEquals(redirect.status, 301);
      await redirect.body?.cancel();
      const head = await fetch(`${base}/app.js`, { method: "HEAD" });
      assertEquals(head.status, 200);
      assertEquals(head.headers.get("content-length"), "14");
      const post = await fetch(`${base}/app.js`, { method: "POST", body: "x" });
      assertEquals(post.status, 405);
      await post.body?.cancel();
      const nf = await fetch(`${base}/nope.html`);
      assertEquals(nf.status, 404);
      await nf.body?.cancel();
      for (const evil of ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/..%2f..%2fsecret.txt", "/link.txt"]) {
        const r = await rawHttp(srv.port, `GET ${evil} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assertMatch(r, /^HTTP\/1\.1 404/, evil);
        assert(!r.includes("SECRET"), `${evil} escaped the root`);
      }
      // WebSocket on the same port still works.
      const ws = await connect(srv.url);
      await ws.close();
    } finally {
      await srv.proc.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "in-memory assets (the --webphone route) are served at their paths next to the WebSocket",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const assets = new Map([
      ["/", { contentType: "text/html; charset=utf-8", body: new TextEncoder().encode("<title>phone</title>") }],
      ["/phone.js", { contentType: "text/javascript; charset=utf-8", body: new TextEncoder().encode("1") }],
    ]);
    const srv = startWsServe({ port: 0, assets, echo: true, idleTimeout: 0 });
    try {
      const r = await fetch(`http://127.0.0.1:${srv.addr.port}/`);
      assertEquals(r.headers.get("content-type"), "text/html; charset=utf-8");
      assertEquals(await r.text(), "<title>phone</title>");
      const h = await fetch(`http://127.0.0.1:${srv.addr.port}/phone.js`, { method: "HEAD" });
      assertEquals(h.status, 200);
      assertEquals(h.headers.get("content-length"), "1");
      const nf = await fetch(`http://127.0.0.1:${srv.addr.port}/other`);
      assertEquals(nf.status, 404);
      await nf.body?.cancel();
    } finally {
      await srv.shutdown({ timeout: 500 });
    }
  },
});

// The webphone itself comes from issue 7 (lib/call/webphone.ts); test the flag end to end once it exists.
const webphoneReady = await webphoneAssets({ wsPath: "/pbxws" }).then(() => true, () => false);
if (!webphoneReady) {
  console.error("SKIP ws-serve --webphone end to end: lib/call/webphone.ts (issue 7) is not built yet");
}
Deno.test({
  name: `ws-serve --webphone serves the page at /${
    webphoneReady ? "" : " [SKIPPED: webphone (issue 7) not built yet]"
  }`,
  ignore: !webphoneReady,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const srv = await startServe(["--webphone", "--proxy", `/pbxws=ws://127.0.0.1:${freePort()}/ws`]);
  try {
    const r = await fetch(`http://127.0.0.1:${srv.port}/`);
    assertEquals(r.status, 200);
    assertMatch(r.headers.get("content-type") ?? "", /text\/html/);
    await r.body?.cancel();
  } finally {
    await srv.proc.stop();
  }
});

Deno.test({
  name: "ws-serve limits: --max-connections (503), handshake timeout, idle timeout with ping, --origin, --json",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const srv = await startServe([
      "--max-connections",
      "2",
      "--handshake-timeout",
      "1s",
      "--idle-timeout",
      "2s",
      "--origin",
      "https://pbx.example.com",
    ]);
    try {
      // Slowloris: a partial head is cut after the handshake timeout.
      const slow = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
      await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n"));
      const t0 = performance.now();
      const n = await slow.read(new Uint8Array(100)).catch(() => null);
      assertEquals(n, null);
      assert(performance.now() - t0 < 5000);
      slow.close();
      // Idle: a raw client that never answers pings gets a ping, then close 1001.
      const idle = await RawClient.open(srv.port);
      assertEquals(idle.status, 101);
      const ping = await idle.readFrame(10_000);
      assertEquals(ping?.opcode, 9);
      const r = await idle.readClose(10_000);
      assertEquals(r.code, 1001);
      assertStringIncludes(r.reason, "idle");
      idle.close();
      // Origin.
      const bad = await RawClient.open(srv.port, { headers: ["Origin: https://evil.example.com"] });
      assertEquals(bad.status, 403);
      bad.close();
      const good = await RawClient.open(srv.port, { headers: ["Origin: https://pbx.example.com"] });
      assertEquals(good.status, 101);
      // Max connections: good + one more fill the 2 slots; the third is refused with 503.
      const second = await RawClient.open(srv.port);
      assertEquals(second.status, 101);
      const third = await RawClient.open(srv.port);
      assertEquals(third.status, 503);
      third.close();
      // The others are unaffected.
      await good.send({ opcode: 1, payload: "still fine" });
      const m = await good.readMessage();
      assertEquals(new TextDecoder().decode(m?.payload), "still fine");
      good.close();
      second.close();
    } finally {
      await srv.proc.stop();
    }
    // --json prints one JSON line instead of the text line.
    const json = new Proc([
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      `${ROOT}/cli.ts`,
      "ws-serve",
      "--port",
      "0",
      "--json",
    ]);
    try {
      await waitFor(() => json.stdout.includes("\n"), { timeoutMs: 30_000, what: "the JSON line" });
      const info = JSON.parse(json.stdout.trim());
      assertEquals(info.echo, true);
      assertEquals(info.tls, false);
      assertMatch(info.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    } finally {
      await json.stop();
    }
  },
});
