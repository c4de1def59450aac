/**
 * Real clients against `pbxkit ws-serve`: Python `websockets` (Debian's python3-websockets) with and without
 * permessage-deflate, and headless Chromium (through playwright-core) loading a page from `--static` that talks to
 * the echo endpoint, with the browser's own permessage-deflate.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { testWith } from "../_util/mod.ts";
import { python, startServe } from "./_serve.ts";

const PY_ECHO = `
import asyncio, sys, websockets
async def main(url, compression):
    async with websockets.connect(url, compression=compression, max_size=None, subprotocols=["sip"]) as ws:
        print("EXT", ws.response_headers.get("Sec-WebSocket-Extensions"))
        print("PROTO", ws.subprotocol)
        msgs = ["hello", "", "κόσμε 😀", b"\\x00\\xff" * 10, "x" * 70000, bytes(range(256)) * 4096]
        for m in msgs:
            await ws.send(m)
            r = await ws.recv()
            assert r == m, ("mismatch", type(m), len(m), len(r))
        # fragmented text message sent by the client
        await ws.send(iter(["frag", "mented ", "κόσμε"]))
        assert await ws.recv() == "fragmented κόσμε"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        for i in range(200):
            await ws.send("burst %d" % i)
        for i in range(200):
            assert await ws.recv() == "burst %d" % i
        await ws.close(4001, "done")
        print("CLOSE", ws.close_code)
    print("OK")
asyncio.run(main(sys.argv[1], None if sys.argv[2] == "none" else "deflate"))
`;

testWith("python websockets client: echo, fragments, ping, close, with and without deflate", {
  tools: ["/usr/bin/python3"],
  files: ["/usr/lib/python3/dist-packages/websockets/__init__.py"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-py-" });
  const srv = await startServe(["--subprotocol", "sip"]);
  try {
    for (const compression of ["deflate", "none"]) {
      const r = await python(dir, PY_ECHO, [srv.url, compression]);
      assertEquals(r.code, 0, r.stderr + r.stdout);
      assertStringIncludes(r.stdout, "OK");
      assertStringIncludes(r.stdout, "PROTO sip");
      assertStringIncludes(r.stdout, "CLOSE 4001");
      if (compression === "deflate") assertMatch(r.stdout, /EXT permessage-deflate/);
      else assertStringIncludes(r.stdout, "EXT None");
    }
  } finally {
    await srv.proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

const PY_TAKEOVER = `
import asyncio, sys, websockets, websockets.client
class Counting(websockets.client.WebSocketClientProtocol):
    wire = 0
    def data_received(self, data):
        Counting.wire += len(data)
        super().data_received(data)
async def main(url):
    async with websockets.connect(url, create_protocol=Counting, max_size=None) as ws:
        print("EXT", ws.response_headers.get("Sec-WebSocket-Extensions"))
        await ws.send("warm up")
        assert await ws.recv() == "warm up"
        start = Counting.wire
        text = 0
        for i in range(300):
            m = ("INVITE sip:bob@pbx.example.com SIP/2.0\\r\\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK%d\\r\\n"
                 "From: <sip:alice@pbx.example.com>;tag=8e2f\\r\\nTo: <sip:bob@pbx.example.com>\\r\\n"
                 "Call-ID: 3c26700a19c4@pbx.example.com\\r\\nCSeq: %d INVITE\\r\\nContent-Length: 0\\r\\n\\r\\n") % (i % 7, i)
            m = m * (1 + i % 4)
            if i % 50 == 49:
                m = bytes((j * 131 + i) % 256 for j in range(3000))
            await ws.send(m)
            r = await ws.recv()
            assert r == m, ("mismatch at", i)
            text += len(m)
        print("WIRE", Counting.wire - start, "PLAIN", text)
        await ws.close(1000)
    print("OK")
asyncio.run(main(sys.argv[1]))
`;

testWith("python websockets client: many repeated messages with server context takeover (and forced off)", {
  tools: ["/usr/bin/python3"],
  files: ["/usr/lib/python3/dist-packages/websockets/__init__.py"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-pyctx-" });
  const wire: Record<string, number> = {};
  try {
    for (const mode of ["takeover", "no-takeover"]) {
      const srv = await startServe(mode === "takeover" ? [] : ["--deflate-no-context-takeover"]);
      try {
        const r = await python(dir, PY_TAKEOVER, [srv.url]);
        assertEquals(r.code, 0, r.stderr + r.stdout);
        assertStringIncludes(r.stdout, "OK");
        const ext = /EXT (.*)/.exec(r.stdout)?.[1] ?? "";
        assertMatch(ext, /^permessage-deflate/);
        assertEquals(/server_no_context_takeover/.test(ext), mode === "no-takeover", ext);
        const [, w, plain] = /WIRE (\d+) PLAIN (\d+)/.exec(r.stdout) ?? [];
        wire[mode] = Number(w);
        assert(Number(w) < Number(plain), `${mode}: compressed (${w} of ${plain} bytes)`);
      } finally {
        await srv.proc.stop();
      }
    }
    // context takeover refers back to earlier messages: far fewer bytes for the same 300 messages
    assert(wire.takeover * 2 < wire["no-takeover"], `takeover ${wire.takeover} B vs ${wire["no-takeover"]} B`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const PAGE = `<!doctype html><meta charset="utf-8"><title>pending</title>
<script>
(async () => {
  const out = [];
  try {
    const ws = new WebSocket("ws://" + location.host + "/echo", ["sip"]);
    ws.binaryType = "arraybuffer";
    await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("ws error")); });
    out.push("ext=" + ws.extensions, "proto=" + ws.protocol);
    const recv = () => new Promise((res) => { ws.onmessage = (e) => res(e.data); });
    const big = "SIP/2.0 200 OK\\r\\n".repeat(20000);
    for (const m of ["hello", "κόσμε 😀", big, ""]) {
      const p = recv(); ws.send(m); const r = await p;
      if (r !== m) throw new Error("text mismatch at length " + m.length);
    }
    const bin = new Uint8Array(100000).map((_, i) => i * 7);
    { const p = recv(); ws.send(bin); const r = new Uint8Array(await p);
      if (r.length !== bin.length || r.some((x, i) => x !== bin[i])) throw new Error("binary mismatch"); }
    const closed = new Promise((res) => { ws.onclose = (e) => res(e.code + ":" + e.wasClean); });
    ws.close(4002, "bye");
    out.push("close=" + await closed);
    document.title = "PASS " + out.join(" ");
  } catch (e) { document.title = "FAIL " + e.message + " " + out.join(" "); }
})();
</script>`;

testWith("headless Chromium: echo with the browser's permessage-deflate, page from --static", {
  tools: ["/usr/bin/chromium"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ws-chromium-" });
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeTextFile(`${dir}/www/index.html`, PAGE);
  const srv = await startServe(["--static", `${dir}/www`, "--echo", "--subprotocol", "sip"]);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    timeout: 60_000,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${srv.port}/`, { timeout: 30_000 });
    await page.waitForFunction('document.title !== "pending"', undefined, { timeout: 30_000 });
    const title = await page.title();
    assert(title.startsWith("PASS"), title);
    assertStringIncludes(title, "ext=permessage-deflate");
    assertStringIncludes(title, "proto=sip");
    assertStringIncludes(title, "close=4002:true");
  } finally {
    await browser.close();
    await srv.proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
