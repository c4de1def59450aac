/**
 * The epoll read path (`lib/ws/epoll_io.ts`) under real clients: 12 Python `websockets` connections at once (over
 * the poller's switch-on count) against `pbxkit ws-serve --echo`, with large, fragmented and non-ASCII messages,
 * pings and a clean close. That the poller is in use is seen from outside, in `/proc/PID/fd`: the server holds one
 * more epoll instance than the same server run with `PBXKIT_WS_EPOLL=0`, and no io_uring instance (plain sends by
 * default). The same clients also run against the poller with `PBXKIT_WS_SPIN=0` (every wait on the blocking pool),
 * with the polled connections' sends through io_uring (`PBXKIT_WS_URING=1`, `uring_io.ts`: one ring instance) and
 * with the ring for every connection read by Deno's op (`PBXKIT_WS_EPOLL=0 PBXKIT_WS_URING=all`).
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { testWith, waitFor } from "../_util/mod.ts";
import { startServe } from "./_serve.ts";

const PY_MANY = `
import asyncio, sys, websockets
async def one(url, k, opened, go):
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        opened.append(k)
        await go.wait()
        msgs = ["hello %d" % k, "", "κόσμε 😀 %d" % k, b"\\x00\\xff" * 10, "x" * 70000, bytes(range(256)) * 1200]
        for round in range(3):
            for m in msgs:
                await ws.send(m)
                r = await ws.recv()
                assert r == m, ("mismatch", k, type(m), len(m), len(r))
        await ws.send(iter(["frag", "mented ", "κόσμε"]))
        assert await ws.recv() == "fragmented κόσμε"
        await asyncio.wait_for(await ws.ping(b"ping %d" % k), 5)
        for i in range(100):
            await ws.send("burst %d" % i)
        for i in range(100):
            assert await ws.recv() == "burst %d" % i
        if k == 0:
            print("READY", flush=True)
            await asyncio.sleep(float(sys.argv[2]))  # the test looks at /proc meanwhile (all still open)
        await ws.close(1000, "done")
        return ws.close_code
async def main(url):
    opened, go = [], asyncio.Event()
    tasks = [asyncio.create_task(one(url, k, opened, go)) for k in range(12)]
    while len(opened) < 12:
        await asyncio.sleep(0.01)
    go.set()
    codes = await asyncio.gather(*tasks)
    print("CODES", sorted(set(codes)))
    print("OK")
asyncio.run(main(sys.argv[1]))
`;

/** How many epoll and io_uring instances process `pid` holds. */
async function anonFds(pid: number): Promise<{ epoll: number; uring: number }> {
  const n = { epoll: 0, uring: 0 };
  for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const link = await Deno.readLink(`/proc/${pid}/fd/${e.name}`);
      if (link === "anon_inode:[eventpoll]") n.epoll++;
      if (link === "anon_inode:[io_uring]") n.uring++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Run the 12-client script against a server started with `env`; the server's epoll/io_uring counts meanwhile. */
async function runMany(env: Record<string, string>): Promise<{ epoll: number; uring: number }> {
  const srv = await startServe(["--echo"], { env });
  try {
    const child = new Deno.Command("/usr/bin/python3", {
      args: ["-c", PY_MANY, srv.url, "1.5"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const reader = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
    })();
    const errText = new Response(child.stderr).text();
    await waitFor(() => out.includes("READY"), { timeoutMs: 60_000, what: "the 12 clients to finish echoing" });
    const epolls = await anonFds(srv.proc.pid);
    const status = await child.status;
    await reader;
    const stderr = await errText;
    assertEquals(status.code, 0, stderr + out);
    assertStringIncludes(out, "OK");
    assertStringIncludes(out, "CODES [1000]");
    return epolls;
  } finally {
    await srv.proc.stop();
  }
}

testWith("epoll read path: 12 python clients echo large, fragmented, non-ASCII messages and close 1000", {
  tools: ["/usr/bin/python3"],
  files: ["/usr/lib/python3/dist-packages/websockets/__init__.py"],
}, async () => {
  {
    const withPoller = await runMany({});
    const without = await runMany({ PBXKIT_WS_EPOLL: "0" });
    assert(without.epoll >= 1, `the server holds at least Deno's own epoll instance (saw ${without.epoll})`);
    assertEquals(withPoller.epoll, without.epoll + 1, "the poller adds exactly one epoll instance at 12 connections");
    // plain sends unless the ring is asked for (uring_io.ts)
    assertEquals(without.uring, 0);
    assertEquals(withPoller.uring, 0, "no io_uring instance by default");
    // and every connection through the poller from the first one on
    const always = await runMany({ PBXKIT_WS_EPOLL: "1" });
    assertEquals(always, withPoller);
    // the poller that always waits on the blocking pool (no look on the loop's thread first) echoes the same
    const noSpin = await runMany({ PBXKIT_WS_SPIN: "0" });
    assertEquals(noSpin, withPoller);
    // the polled connections' sends through one io_uring instance; and the ring for every connection, read by
    // Deno's op (sends then submitted from a microtask, not the poller's turn)
    assertEquals(await runMany({ PBXKIT_WS_URING: "1" }), { epoll: withPoller.epoll, uring: 1 });
    assertEquals(await runMany({ PBXKIT_WS_EPOLL: "0", PBXKIT_WS_URING: "all" }), { epoll: without.epoll, uring: 1 });
  }
});
