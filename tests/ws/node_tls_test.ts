/**
 * `connect()` with a supplied transport: `dialNodeTls` (the `node:tls` adapter `pbxkit call` uses for `--ca` and
 * `--insecure`) against a real `wss://` server with a self-signed certificate.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_util/assert.ts";
import { selfSignedCert, testWith, waitFor } from "../_util/mod.ts";
import { connect, dialNodeTls, serve, type WebSocket } from "../../lib/ws/mod.ts";
import { PbxError } from "../../lib/common/mod.ts";

testWith("node:tls transport: --ca trusts the self-signed cert, insecure skips checks, none refuses", {
  tools: ["openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-nodetls-" });
  const { cert, key } = await selfSignedCert(dir);
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) },
    subprotocols: ["sip"],
    idleTimeout: 0,
    handler: async (ws: WebSocket) => {
      for await (const m of ws) await ws.send(`echo:${m.text}`);
    },
  });
  const url = `wss://127.0.0.1:${server.addr.port}/ws`;
  try {
    const ca = await Deno.readTextFile(cert);
    for (const dial of [dialNodeTls({ ca }), dialNodeTls({ insecure: true })]) {
      const ws = await connect(url, { protocols: ["sip"], dial, timeout: 20_000 });
      assertEquals(ws.protocol, "sip");
      // a message larger than one TLS record and the read buffer comes back whole, in order with a small one
      const big = "x".repeat(200_000);
      await ws.send(big);
      await ws.send("OPTIONS");
      const got: string[] = [];
      for await (const m of ws) {
        got.push(m.text);
        if (got.length === 2) break;
      }
      assertEquals(got, [`echo:${big}`, "echo:OPTIONS"]);
      const info = await ws.close(1000);
      assertEquals(info.code, 1000);
      assert(info.wasClean, "clean close over the node:tls transport");
    }
    const err = await assertRejects(() => connect(url, { dial: dialNodeTls(), timeout: 20_000 }), PbxError);
    assertEquals((err as PbxError).code, "E_NETWORK");
    const cause = (err as PbxError).cause as Error & { code?: string };
    assertStringIncludes(`${cause.message} ${cause.code}`.toLowerCase(), "self-signed");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connect(): a server that accepts TCP but never answers TLS is E_TIMEOUT, with either transport", async () => {
  const mute = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of mute) held.push(c);
  })();
  const url = `wss://127.0.0.1:${(mute.addr as Deno.NetAddr).port}/`;
  try {
    for (const dial of [undefined, dialNodeTls({ insecure: true })]) {
      for (const c of held.splice(0)) c.close();
      const t0 = performance.now();
      const err = await assertRejects(() => connect(url, { dial, timeout: 300 }), PbxError);
      assertEquals((err as PbxError).code, "E_TIMEOUT");
      assert(performance.now() - t0 < 10_000, "the timeout bounds the TLS handshake");
      // the timed-out node:tls transport is destroyed (the dial's AbortSignal): the server sees its TCP connection
      // end after the ClientHello. (Deno's own TlsConn keeps its TCP socket while the handshake is pending, even
      // after close(), a Deno runtime limit; that path is not asserted here.)
      if (!dial) continue;
      await waitFor(() => held.length > 0, { timeoutMs: 5_000, what: "the TCP connection" });
      const conn = held.shift()!;
      const buf = new Uint8Array(4096);
      const closed = (async () => {
        try {
          while ((await conn.read(buf)) !== null) { /* the ClientHello */ }
        } catch { /* a reset is a close too */ }
        return true;
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const seen = await Promise.race([
        closed,
        new Promise<false>((r) => timer = setTimeout(() => r(false), 5_000)),
      ]);
      clearTimeout(timer);
      conn.close();
      assert(seen, "the node:tls socket of a timed-out connect() is closed");
    }
  } finally {
    mute.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});
