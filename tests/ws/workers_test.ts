/**
 * `pbxkit ws-serve --workers 2`: two servers on one port (SO_REUSEPORT) in two workers, each with the whole
 * server. Many clients connect (echo and a proxy route), every one echoes; static files and the webphone page are
 * served as by one server; connections land on both workers; SIGTERM closes every client with 1001 and exits 0.
 */

import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { connect, serve, startWsServeWorkers, type WebSocket } from "../../lib/ws/mod.ts";
import { PbxError } from "../../lib/common/mod.ts";
import { webphoneAssets } from "../../lib/call/webphone.ts";
import { startServe } from "./_serve.ts";
import { freePort, runCli, waitFor } from "../_util/mod.ts";

async function echoOnce(ws: WebSocket, text: string): Promise<string> {
  await ws.send(text);
  for await (const m of ws) return m.text;
  throw new Error("closed before the echo");
}

Deno.test({
  name: "ws-serve --workers 2: echo + proxy + static + webphone on both workers; SIGTERM closes all with 1001, exit 0",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The PBX stand-in behind --proxy: a plain ws:// server that answers with a marker, so a proxied echo is told
    // apart from the local echo endpoint.
    const upstream = serve({ port: 0, idleTimeout: 0 });
    const upstreamDone = (async () => {
      for await (const ws of upstream) {
        ws.on("message", (m) => ws.writable && ws.send(`pbx:${m.text}`));
      }
    })();
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-workers-" });
    const sdp = "v=0\r\no=- 20518 0 IN IP6 2001:db8::7\r\ns=-\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\n";
    await Deno.writeTextFile(`${dir}/offer.sdp`, sdp);
    const srv = await startServe([
      "--workers",
      "2",
      "--echo",
      "--static",
      dir,
      "--webphone",
      "--proxy",
      `/pbxws=ws://127.0.0.1:${upstream.addr.port}/`,
      "--idle-timeout",
      "0",
    ]);
    const clients: WebSocket[] = [];
    try {
      assertMatch(srv.proc.stdout, /^listening on ws:\/\/127\.0\.0\.1:\d+\/ \(.*2 workers\)$/m);
      const echoes = 40, proxied = 8;
      for (let i = 0; i < echoes + proxied; i++) {
        clients.push(await connect(`ws://127.0.0.1:${srv.port}/${i < echoes ? "echo" : "pbxws"}`));
      }
      const got = await Promise.all(clients.map((ws, i) => echoOnce(ws, `REGISTER sip:${i}@pbx.example.com`)));
      got.forEach((g, i) => assertEquals(g, `${i < echoes ? "" : "pbx:"}REGISTER sip:${i}@pbx.example.com`));

      // HTTP on a fresh connection each time (so requests spread over the workers): the same bytes every time.
      const page = (await webphoneAssets({ wsPath: "/pbxws" })).get("/")!.body;
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`http://127.0.0.1:${srv.port}/offer.sdp`, { headers: { Connection: "close" } });
        assertEquals(r.status, 200);
        assertEquals(await r.text(), sdp);
        const w = await fetch(`http://127.0.0.1:${srv.port}/`, { headers: { Connection: "close" } });
        assertEquals(w.status, 200);
        assertEquals(new Uint8Array(await w.arrayBuffer()), page);
      }
      const missing = await fetch(`http://127.0.0.1:${srv.port}/nope.txt`, { headers: { Connection: "close" } });
      assertEquals(missing.status, 404);
      await missing.body?.cancel();

      const st = await srv.proc.stop("SIGTERM", 10_000);
      const infos = await Promise.all(clients.map((ws) => ws.closed));
      assertEquals(infos.map((x) => x.code), clients.map(() => 1001), "every client got 1001");
      assertEquals(st.code, 0, srv.proc.stderr);
      // Each worker says how many it closed: both had some, together all of them.
      const counts = [...srv.proc.stderr.matchAll(/worker (\d): closing (\d+) connection\(s\) with 1001/g)]
        .map((m) => [Number(m[1]), Number(m[2])]);
      assertEquals(counts.map((c) => c[0]).sort(), [1, 2], srv.proc.stderr);
      assert(counts.every((c) => c[1] > 0), `connections landed on both workers: ${JSON.stringify(counts)}`);
      assertEquals(counts.reduce((a, c) => a + c[1], 0), echoes + proxied);
    } finally {
      for (const ws of clients) ws.abort();
      await srv.proc.stop();
      await upstream.shutdown({ timeout: 500 });
      await upstreamDone;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("ws-serve --workers: a port another process holds with SO_REUSEPORT is refused, not silently shared", async () => {
  // Another ws-serve --workers (or anything with SO_REUSEPORT) on the port: the kernel would let the workers join it.
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: true });
  const port = (other.addr as Deno.NetAddr).port;
  try {
    const err = await startWsServeWorkers({ hostname: "127.0.0.1", port, echo: true }, 2).then(
      async (w) => {
        await w.shutdown();
        return undefined;
      },
      (e) => e as PbxError,
    );
    assert(err instanceof PbxError, "the workers started on a port another process holds");
    assertEquals(err.code, "E_NETWORK");
    assertMatch(err.message, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: address already in use$`));
  } finally {
    other.close();
  }
});

Deno.test({
  name:
    "ws-serve --workers: --metrics, [metrics] and two listeners are one usage line, exit 2; SIGHUP warns, keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-workers-refuse-" });
    try {
      const mport = freePort();
      await Deno.writeTextFile(
        `${dir}/m.toml`,
        `echo = true\n[[listen]]\naddress = "127.0.0.1:0"\n[metrics]\nlisten = "127.0.0.1:${mport}"\n`,
      );
      await Deno.writeTextFile(
        `${dir}/two.toml`,
        `echo = true\n[[listen]]\naddress = "127.0.0.1:0"\n[[listen]]\naddress = "127.0.0.1:0"\n`,
      );
      const cases: [string[], RegExp][] = [
        [
          ["--port", "0", "--metrics", `127.0.0.1:${mport}`],
          /^pbxkit: error: --metrics: not available with --workers yet; use one worker or no metrics \[E_USAGE\]$/,
        ],
        [
          ["--config", `${dir}/m.toml`],
          /^pbxkit: error: \[metrics\] listen in .*m\.toml: not available with --workers yet; .*\[E_USAGE\]$/,
        ],
        [["--config", `${dir}/two.toml`], /^pbxkit: error: --workers: needs exactly one listener .*\[E_USAGE\]$/],
      ];
      for (const [args, re] of cases) {
        const r = await runCli(["ws-serve", "--workers", "2", ...args]);
        assertEquals(r.code, 2, r.stderr);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertMatch(r.stderr.trim(), re);
        assertEquals(r.stdout, "", "nothing listened");
        // nothing serves metrics either
        await fetch(`http://127.0.0.1:${mport}/metrics`).then(
          (x) => x.body?.cancel().then(() => assert(false, "a metrics server is up")),
          () => {},
        );
      }

      // SIGHUP with workers: one warning line, the open connection and new ones carry on, exit 0 on SIGTERM
      const srv = await startServe(["--workers", "2", "--echo", "--idle-timeout", "0"]);
      const ws = await connect(`ws://127.0.0.1:${srv.port}/`);
      try {
        assertEquals(await echoOnce(ws, "before"), "before");
        srv.proc.child.kill("SIGHUP");
        await waitFor(() => srv.proc.stderr.includes("SIGHUP"), { timeoutMs: 10_000, what: "the SIGHUP warning" });
        const lines = srv.proc.stderr.split("\n").filter((l) => l.includes("SIGHUP"));
        assertEquals(lines.length, 1, srv.proc.stderr);
        assertMatch(lines[0], /SIGHUP: reloading is not available with --workers; restart ws-serve to apply a change/);
        assertEquals(await echoOnce(ws, "after"), "after");
        const late = await connect(`ws://127.0.0.1:${srv.port}/`);
        assertEquals(await echoOnce(late, "late"), "late");
        late.close(1000);
        await late.closed;
        const st = await srv.proc.stop("SIGTERM", 10_000);
        assertEquals((await ws.closed).code, 1001);
        assertEquals(st.code, 0, srv.proc.stderr);
      } finally {
        ws.abort();
        await srv.proc.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
