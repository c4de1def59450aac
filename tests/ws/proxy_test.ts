/**
 * `pbxkit ws-serve --proxy`: a real PBX upstream (kamailio with its websocket module) behind `wss://` with a
 * Python `websockets` client speaking SIP, and JsSIP (the webphone's SIP stack) over `ws://`; close-code
 * propagation both ways, backpressure (a non-reading upstream does not make the proxy buffer without bound; order
 * and completeness after it resumes), and 502 for a dead upstream, with upstreams of the test's own.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { freePort, Proc, selfSignedCert, testWith, waitFor, waitForPort } from "../_util/mod.ts";
import { python, rssKiB, startServe } from "./_serve.ts";
import { connect, serve, type WebSocket } from "../../lib/ws/mod.ts";

const KAMAILIO_CFG = (port: number) =>
  `#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=2
auto_aliases=no
listen=tcp:127.0.0.1:${port}
tcp_accept_no_cl=yes
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
modparam("pv", "shvset", "xff=s:none")
modparam("pv", "shvset", "proto=s:none")
modparam("websocket", "keepalive_mechanism", 0)

request_route {
    force_rport();
    append_to_reply("X-Seen-XFF: $shv(xff)\\r\\nX-Seen-Subprotocol: $shv(proto)\\r\\n");
    if (is_method("OPTIONS")) { sl_send_reply("200", "OK pbxkit test"); exit; }
    if (is_method("REGISTER")) { sl_send_reply("401", "Unauthorized"); exit; }
    sl_send_reply("404", "Not Here");
}

event_route[xhttp:request] {
    $shv(xff) = $hdr(X-Forwarded-For);
    $shv(proto) = $hdr(Sec-WebSocket-Protocol);
    if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
        if (ws_handle_handshake()) { exit; }
    }
    xhttp_reply("404", "Not Found", "", "");
}
`;

const PY_SIP = `
import asyncio, ssl, sys, websockets
url, cafile = sys.argv[1], sys.argv[2]
def req(method, cseq):
    return (f"{method} sip:127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK{cseq}x\\r\\n"
            f"Max-Forwards: 70\\r\\nTo: <sip:alice@127.0.0.1>\\r\\nFrom: <sip:alice@127.0.0.1>;tag=abc{cseq}\\r\\n"
            f"Call-ID: pbxkit-{cseq}@test\\r\\nCSeq: {cseq} {method}\\r\\n"
            f"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\\r\\nContent-Length: 0\\r\\n\\r\\n")
async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, ssl=ctx, subprotocols=["sip"]) as ws:
        print("PROTO", ws.subprotocol)
        for method, cseq in (("OPTIONS", 1), ("REGISTER", 2), ("INFO", 3)):
            await ws.send(req(method, cseq))
            r = await asyncio.wait_for(ws.recv(), 10)
            print("REPLY", method, r.split("\\r\\n")[0])
            for line in r.split("\\r\\n"):
                if line.startswith("X-Seen-"): print(line)
        await ws.close()
    print("OK")
asyncio.run(main())
`;

/** Send a SIP OPTIONS with JsSIP over `url`; returns "status reason xff=..." from the answer. */
async function jssipOptions(url: string): Promise<string> {
  const JsSIP = (await import("jssip")).default;
  JsSIP.debug.disable("JsSIP:*");
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(url)],
    uri: "sip:alice@127.0.0.1",
    register: false,
  });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), 15_000);
      ua.on("connected", () => {
        // sendOptions exists in JsSIP 3.x but is missing from its type declarations.
        (ua as unknown as { sendOptions(target: string, body: null, options: unknown): void }).sendOptions(
          "sip:127.0.0.1",
          null,
          {
            eventHandlers: {
              succeeded: (
                e: { response: { status_code: number; reason_phrase: string; getHeader(n: string): string } },
              ) => {
                clearTimeout(timer);
                resolve(
                  `${e.response.status_code} ${e.response.reason_phrase} xff=${e.response.getHeader("X-Seen-XFF")}`,
                );
              },
              failed: (e: { cause: string }) => {
                clearTimeout(timer);
                resolve(`failed ${e.cause}`);
              },
            },
          },
        );
      });
      ua.start();
    });
  } finally {
    ua.stop();
    await new Promise((r) => setTimeout(r, 300));
  }
}

testWith("proxy: wss:// client -> pbxkit -> kamailio websocket module, SIP over WebSocket (Python, JsSIP)", {
  tools: ["kamailio", "openssl", "/usr/bin/python3"],
  files: [
    "/usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so",
    "/usr/lib/python3/dist-packages/websockets/__init__.py",
  ],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-kam-" });
  // The port is free when chosen, but another process may bind it before kamailio does: then try another one.
  let kport: number, kam: Proc;
  for (let attempt = 1;; attempt++) {
    kport = freePort();
    await Deno.writeTextFile(`${dir}/kamailio.cfg`, KAMAILIO_CFG(kport));
    const check = new Proc(["kamailio", "-c", "-f", `${dir}/kamailio.cfg`]);
    assertEquals((await check.done).code, 0, check.stderr);
    kam = new Proc(["kamailio", "-DD", "-E", "-f", `${dir}/kamailio.cfg`], { cwd: dir });
    let exited = false;
    kam.done.finally(() => exited = true).catch(() => {});
    const port = kport;
    const open = () => Deno.connect({ hostname: "127.0.0.1", port }).then((c) => (c.close(), true), () => false);
    await waitFor(async () => exited || await open(), { timeoutMs: 20_000, what: `kamailio on port ${port}` })
      .catch(async (err) => {
        await kam.stop("SIGTERM", 5000);
        throw new Error(`${(err as Error).message}: ${kam.stderr.slice(-2000)}`);
      });
    if (!exited || attempt === 3 || !/already in use/i.test(kam.stderr)) break;
  }
  const { cert, key } = await selfSignedCert(dir);
  let srv, plain;
  try {
    await waitForPort(kport, "127.0.0.1", 20_000);
    srv = await startServe([
      "--proxy",
      `/pbxws=ws://127.0.0.1:${kport}/ws`,
      "--tls-cert",
      cert,
      "--tls-key",
      key,
      "--subprotocol",
      "sip",
    ]);
    assert(srv.url.startsWith("wss://"), srv.url);
    const r = await python(dir, PY_SIP, [`wss://127.0.0.1:${srv.port}/pbxws`, cert]);
    assertEquals(r.code, 0, r.stderr + r.stdout + kam.stderr.slice(-2000));
    assertStringIncludes(r.stdout, "PROTO sip");
    assertStringIncludes(r.stdout, "REPLY OPTIONS SIP/2.0 200 OK pbxkit test");
    assertStringIncludes(r.stdout, "REPLY REGISTER SIP/2.0 401 Unauthorized");
    assertStringIncludes(r.stdout, "REPLY INFO SIP/2.0 404 Not Here");
    assertStringIncludes(r.stdout, "X-Seen-XFF: 127.0.0.1");
    assertStringIncludes(r.stdout, "X-Seen-Subprotocol: sip");
    assertStringIncludes(r.stdout, "OK");
    // JsSIP (the webphone's SIP stack) through a plain ws:// proxy to the same kamailio.
    plain = await startServe(["--proxy", `/pbxws=ws://127.0.0.1:${kport}/ws`]);
    const reply = await jssipOptions(`ws://127.0.0.1:${plain.port}/pbxws`);
    assertEquals(reply, "200 OK pbxkit test xff=127.0.0.1");
  } finally {
    await plain?.proc.stop();
    await srv?.proc.stop();
    await kam.stop("SIGTERM", 5000);
    await Deno.remove(dir, { recursive: true });
  }
});

testWith("proxy: close codes propagate both ways; messages stay in order; dead upstream gives 502", {}, async () => {
  const upstreamClosed: number[] = [];
  const upstream = serve({
    port: 0,
    subprotocols: ["sip"],
    idleTimeout: 0,
    handler: async (ws: WebSocket) => {
      ws.closed.then((i) => upstreamClosed.push(i.code));
      for await (const m of ws) {
        if (m.text === "close-me") {
          await ws.close(4321, "bye from upstream");
          return;
        }
        await ws.send(`up:${m.text}:${ws.request?.headers.get("x-forwarded-for")}`);
      }
    },
  });
  const dead = freePort();
  const srv = await startServe([
    "--proxy",
    `/a=ws://127.0.0.1:${upstream.addr.port}/x`,
    "--proxy",
    `/dead=ws://127.0.0.1:${dead}/`,
  ]);
  try {
    // Upstream closes with 4321: the client sees 4321 and the reason.
    const c1 = await connect(`ws://127.0.0.1:${srv.port}/a`, { protocols: ["sip"] });
    assertEquals(c1.protocol, "sip");
    for (let i = 0; i < 50; i++) await c1.send(`m${i}`);
    let i = 0;
    for await (const m of c1) {
      assertEquals(m.text, `up:m${i}:127.0.0.1`);
      if (++i === 50) break;
    }
    await c1.send("close-me");
    const info1 = await c1.closed;
    assertEquals(info1.code, 4321);
    assertEquals(info1.reason, "bye from upstream");
    // Client closes with 4100: the upstream sees 4100.
    const c2 = await connect(`ws://127.0.0.1:${srv.port}/a`, { protocols: ["sip"] });
    await c2.send("hi");
    for await (const _ of c2) break;
    await c2.close(4100, "client done");
    await waitFor(() => upstreamClosed.includes(4100), { timeoutMs: 10_000, what: "upstream to see 4100" });
    // A dead upstream: 502 to the handshake.
    const e = await connect(`ws://127.0.0.1:${srv.port}/dead`).catch((err) => err as Error);
    assertMatch(String((e as Error).message), /502/);
    // Unknown path: 404.
    const e2 = await connect(`ws://127.0.0.1:${srv.port}/nope`).catch((err) => err as Error);
    assertMatch(String((e2 as Error).message), /404/);
  } finally {
    await srv.proc.stop();
    await upstream.shutdown({ timeout: 500 });
  }
});

testWith(
  "proxy: backpressure bounds memory when the upstream stops reading; nothing lost or reordered",
  {},
  async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => release = r);
    const received: number[] = [];
    let bytes = 0;
    const upstream = serve({
      port: 0,
      idleTimeout: 0,
      maxMessage: 1 << 20,
      handler: async (ws: WebSocket) => {
        await released; // read nothing until released
        for await (const m of ws) {
          received.push(new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0));
          bytes += m.bytes.length;
        }
      },
    });
    const srv = await startServe(["--proxy", `/p=ws://127.0.0.1:${upstream.addr.port}/`]);
    try {
      const client = await connect(`ws://127.0.0.1:${srv.port}/p`);
      const before = rssKiB(srv.proc.pid);
      const MSG = 64 * 1024, COUNT = 1536; // 96 MiB offered
      let sent = 0;
      const sender = (async () => {
        for (let k = 0; k < COUNT; k++) {
          const m = new Uint8Array(MSG);
          new DataView(m.buffer).setUint32(0, k);
          await client.send(m);
          sent += MSG;
        }
      })();
      await new Promise((r) => setTimeout(r, 3000));
      const stalledAt = sent;
      const during = rssKiB(srv.proc.pid);
      console.log(
        `backpressure: ${
          (stalledAt / 2 ** 20).toFixed(1)
        } MiB accepted of 96 MiB while the upstream read nothing; proxy RSS ${(before / 1024).toFixed(0)} -> ${
          (during / 1024).toFixed(0)
        } MiB`,
      );
      assert(stalledAt < 48 * 2 ** 20, `the client could push ${stalledAt} bytes: no backpressure`);
      assert(during - before < 64 * 1024, `proxy memory grew by ${during - before} KiB`);
      release();
      await sender;
      await waitFor(() => received.length === COUNT, { timeoutMs: 60_000, what: "all messages upstream" });
      assertEquals(bytes, COUNT * MSG);
      assert(received.every((v, k) => v === k), "messages reordered");
      await client.close();
    } finally {
      release();
      await srv.proc.stop();
      await upstream.shutdown({ timeout: 500 });
    }
  },
);
