// ws-serve SIGHUP: the config and the TLS certificate are read again while open WebSockets (echo and a proxied SIP
// session) carry on; new handshakes see the new certificate's serial; a broken certificate or config keeps the old
// one with one log line; the plain listener redirects to https; connects during reloads are counted.
import tls from "node:tls";
import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { cliArgv, denoRunArgv, Proc, ROOT, runCli, selfSignedCert, sh, testWith, waitFor } from "../_util/mod.ts";
import { connect, dialNodeTls, startWsServe, type WebSocket } from "../../lib/ws/mod.ts";

/** The serial number of the certificate a fresh TLS handshake on `port` gets (node:tls, hex upper case). */
function peerSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("TLS handshake timed out"));
    }, 5000);
    sock.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once("secureConnect", () => {
      clearTimeout(timer);
      const serial = sock.getPeerCertificate().serialNumber;
      sock.destroy();
      resolve(serial.toUpperCase());
    });
  });
}

async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  await ws.send(text);
  const it = ws[Symbol.asyncIterator]();
  const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no echo of ${text}`)), 5000));
  const r = await Promise.race([it.next(), timer.catch((e) => Promise.reject(e))]);
  return r.done ? "(closed)" : r.value.text;
}

/** Raw HTTP/1.1 GET on the plain listener; returns the status line and the Location header. */
async function rawGet(port: number, target: string, host: string): Promise<{ status: string; location?: string }> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  c.close();
  return { status: text.split("\r\n")[0], location: /\r\nLocation: ([^\r]+)/i.exec(text)?.[1] };
}

const countOf = (text: string, re: RegExp) => (text.match(new RegExp(re, "g")) ?? []).length;

Deno.test({
  name: "ws-serve SIGHUP reloads config and certificate without dropping WebSockets; broken ones keep the old",
  sanitizeResources: false, // node:tls sockets are torn down asynchronously
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-reload-" });
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    const a = await selfSignedCert(`${dir}/a`, { serial: "0x1001" });
    const b = await selfSignedCert(`${dir}/b`, { serial: "0x2002" });
    const certA = await Deno.readTextFile(a.cert), certB = await Deno.readTextFile(b.cert);
    const live = { cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
    await Deno.copyFile(a.cert, live.cert);
    await Deno.copyFile(a.key, live.key);
    // a real upstream WebSocket server (pbxkit's own echo) behind /pbxws, as kamailio's ws port would be
    const upstream = startWsServe({ hostname: "127.0.0.1", port: 0, echo: true, subprotocols: ["sip"] });
    const configText = (extra = "") =>
      `# ws-serve under test\necho = true\nsubprotocols = ["sip"]\n${extra}\n` +
      `[[listen]]\naddress = "127.0.0.1:0"\ntls_cert = "${live.cert}"\ntls_key = "${live.key}"\n\n` +
      `[[listen]]\naddress = "127.0.0.1:0"\nredirect = "https"\n\n` +
      `[[proxy]]\npath = "/pbxws"\nupstream = "ws://127.0.0.1:${upstream.addr.port}/"\n`;
    const cfg = `${dir}/ws.toml`;
    await Deno.writeTextFile(cfg, configText());
    const proc = new Proc(cliArgv(["ws-serve", "--config", cfg, "--json"]), { env: { NO_COLOR: "1" } });
    const open: WebSocket[] = [];
    try {
      const line = await waitFor(() => proc.stdout.split("\n").find((l) => l.startsWith("{")), {
        timeoutMs: 30_000,
        what: `ws-serve to listen (stderr: ${proc.stderr})`,
      });
      const info = JSON.parse(line);
      assertEquals(info.listeners.length, 2);
      const port: number = info.listeners[0].port, plainPort: number = info.listeners[1].port;
      assertEquals([info.listeners[0].tls, info.listeners[1].redirect], [true, true]);
      assertEquals(await peerSerial(port), "1001");
      // SO_REUSEPORT must not let a second ws-serve share the port unnoticed
      const second = await runCli([
        "ws-serve",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--tls-cert",
        a.cert,
        "--tls-key",
        a.key,
      ]);
      assertEquals(second.code, 1, second.stderr);
      assertMatch(second.stderr.trim(), /cannot listen on 127\.0\.0\.1:\d+: address already in use \[E_NETWORK\]$/);

      const dial = dialNodeTls({ ca: certA + certB });
      const echoWs = await connect(`wss://127.0.0.1:${port}/`, { dial });
      const sipWs = await connect(`wss://127.0.0.1:${port}/pbxws`, { dial, protocols: ["sip"] });
      open.push(echoWs, sipWs);
      assertEquals(sipWs.protocol, "sip");
      const register =
        "REGISTER sip:pbx.example.com SIP/2.0\r\nCall-ID: a84b4c76e66710@192.0.2.4\r\nCSeq: 1 REGISTER\r\n\r\n";
      assertEquals(await roundTrip(echoWs, "before"), "before");
      assertEquals(await roundTrip(sipWs, register), register);

      // --- renewal: new certificate and key in place, SIGHUP ---
      await Deno.copyFile(b.cert, live.cert);
      await Deno.copyFile(b.key, live.key);
      proc.child.kill("SIGHUP");
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reloaded/) === 1, { timeoutMs: 10_000, what: "reload 1" });
      assertMatch(proc.stderr, /1 certificate\(s\) read again, 2 connection\(s\) kept/);
      assertEquals(await peerSerial(port), "2002");
      assertEquals(await roundTrip(echoWs, "after renewal"), "after renewal");
      assertEquals(
        await roundTrip(sipWs, register.replace("CSeq: 1", "CSeq: 2")),
        register.replace("CSeq: 1", "CSeq: 2"),
      );
      const lateWs = await connect(`wss://127.0.0.1:${port}/`, { dial });
      open.push(lateWs);
      assertEquals(await roundTrip(lateWs, "new client"), "new client");

      // --- a broken certificate: one line, the old one (2002) stays ---
      await Deno.writeTextFile(live.cert, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
      proc.child.kill("SIGHUP");
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reload failed/) === 1, {
        timeoutMs: 10_000,
        what: "failure 1",
      });
      const fail1 = proc.stderr.split("\n").filter((l) => /reload failed/.test(l));
      assertEquals(fail1.length, 1);
      assertMatch(fail1[0], /still running the previous config: .*TLS/i);
      assertEquals(await peerSerial(port), "2002");
      assertEquals(await roundTrip(echoWs, "still here"), "still here");

      // --- a broken config: one line naming file, line and key; nothing changes ---
      await Deno.copyFile(b.cert, live.cert);
      await Deno.writeTextFile(cfg, configText("max_conections = 5"));
      proc.child.kill("SIGHUP");
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reload failed/) === 2, {
        timeoutMs: 10_000,
        what: "failure 2",
      });
      const fail2 = proc.stderr.split("\n").filter((l) => /reload failed/.test(l))[1];
      assertMatch(fail2, /ws\.toml:4: 'max_conections' is not a known key/);
      assertEquals(await roundTrip(sipWs, "OPTIONS"), "OPTIONS");

      // --- a listener added: needs a restart, one line, nothing changes ---
      await Deno.writeTextFile(cfg, configText() + `\n[[listen]]\naddress = "127.0.0.1:0"\n`);
      proc.child.kill("SIGHUP");
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reload failed/) === 3, {
        timeoutMs: 10_000,
        what: "failure 3",
      });
      assertMatch(proc.stderr.split("\n").filter((l) => /reload failed/.test(l))[2], /restart ws-serve/);
      assertEquals(await peerSerial(port), "2002");

      // --- a good config change applies to new connections only: max_message 200 bytes ---
      await Deno.writeTextFile(cfg, configText('max_message = "200"'));
      proc.child.kill("SIGHUP");
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reloaded/) === 2, { timeoutMs: 10_000, what: "reload 2" });
      const big = "x".repeat(300);
      assertEquals(await roundTrip(echoWs, big), big, "an old connection keeps its limit");
      const small = await connect(`wss://127.0.0.1:${port}/`, { dial });
      open.push(small);
      await small.send(big);
      const closed = await Promise.race([small.closed, new Promise((r) => setTimeout(() => r("open"), 5000))]);
      assertEquals((closed as { code?: number }).code, 1009, "a new connection gets the new limit");

      // --- the plain listener redirects to https on the TLS listener's port ---
      const red = await rawGet(plainPort, "/pbxws?user=1001", "pbx.example.com");
      assertMatch(red.status, /^HTTP\/1\.1 301 /);
      assertEquals(red.location, `https://pbx.example.com:${port}/pbxws?user=1001`);

      // --- connects while reloading: a client connecting one after another across 4 reloads ---
      let ok = 0, failed = 0, reloads = 0;
      const until = performance.now() + 4000;
      const hup = setInterval(() => {
        if (reloads < 4) {
          reloads++;
          proc.child.kill("SIGHUP");
        }
      }, 800);
      try {
        while (performance.now() < until) {
          try {
            await peerSerial(port);
            ok++;
          } catch {
            failed++;
          }
        }
      } finally {
        clearInterval(hup);
      }
      await waitFor(() => countOf(proc.stderr, /SIGHUP: reloaded/) === 2 + reloads, {
        timeoutMs: 10_000,
        what: "reloads",
      });
      console.log(`connects during ${reloads} reloads: ${ok} ok, ${failed} reset (bound: one per reload)`);
      assert(ok > 20, `only ${ok} connects in 4 s`);
      assert(failed <= reloads, `${failed} failed connects over ${reloads} reloads`);
      assertEquals(await roundTrip(echoWs, "end"), "end");
      assertEquals(await roundTrip(sipWs, "BYE"), "BYE");
      assertEquals(upstream.stats.websockets, 1, "the proxied session was never re-opened");
    } finally {
      for (const ws of open) ws.abort();
      await proc.stop();
      await upstream.shutdown({ timeout: 500 });
      await Deno.remove(dir, { recursive: true });
    }
  },
});

testWith(
  "ws-serve reload under 16 concurrent connectors (own netns): none reset with tcp_migrate_req=1, bounded with 0",
  { root: true, tools: ["ip", "openssl", "sysctl"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-reload-ns-" });
    const ns = `pbxkit-rl-${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      await sh(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
      const { cert, key } = await selfSignedCert(dir, { serial: "0x3003" });
      await Deno.writeTextFile(
        `${dir}/ws.toml`,
        `echo = true\n[[listen]]\naddress = "127.0.0.1:0"\ntls_cert = "${cert}"\ntls_key = "${key}"\n`,
      );
      const results: Record<string, { ok: number; failed: number; reloads: number }> = {};
      for (const migrate of ["1", "0"]) {
        await sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", `net.ipv4.tcp_migrate_req=${migrate}`]);
        const srv = new Proc([
          "ip",
          "netns",
          "exec",
          ns,
          ...cliArgv(["ws-serve", "--config", `${dir}/ws.toml`, "--json"]),
        ]);
        try {
          const line = await waitFor(() => proc1(srv), { timeoutMs: 30_000, what: `ws-serve in ${ns}: ${srv.stderr}` });
          const port = JSON.parse(line).port as number;
          const load = new Proc([
            "ip",
            "netns",
            "exec",
            ns,
            ...denoRunArgv(`${ROOT}/tests/ws/_connect_loop.ts`, [String(port), "16", "3000"]),
          ]);
          await waitFor(() => load.stderr.includes("load started"), { timeoutMs: 30_000, what: "the load to start" });
          // each SIGHUP once the one before has been taken: signals that arrive before the server's loop polls for
          // them are merged into one, which a busy machine would turn into fewer reloads than were sent
          let reloads = 0;
          for (; reloads < 10; reloads++) {
            srv.child.kill("SIGHUP");
            await waitFor(() => countOf(srv.stderr, /SIGHUP: reloaded/) === reloads + 1, {
              what: `reload ${reloads + 1}`,
              timeoutMs: 10_000,
              intervalMs: 10,
            });
            await new Promise((r) => setTimeout(r, 150));
          }
          const st = await load.done;
          assertEquals(st.code, 0, load.stderr);
          const r = JSON.parse(load.stdout.trim());
          results[migrate] = { ok: r.ok, failed: r.failed, reloads };
          assert(r.ok > 100, `only ${r.ok} connects: ${JSON.stringify(r)}`);
          for (const e of Object.keys(r.errors)) assertEquals(e, "ECONNRESET", JSON.stringify(r.errors));
        } finally {
          await srv.stop();
        }
      }
      console.log(
        `tcp_migrate_req=1: ${JSON.stringify(results["1"])}; tcp_migrate_req=0: ${JSON.stringify(results["0"])}`,
      );
      assertEquals(results["1"].failed, 0, "with tcp_migrate_req=1 the old socket's queue moves to the new one");
      // without it: at most what was in flight at each swap (one per connector)
      assert(results["0"].failed <= results["0"].reloads * 16, JSON.stringify(results["0"]));
    } finally {
      await sh(["ip", "netns", "del", ns], { check: false });
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function proc1(p: Proc): string | undefined {
  return p.stdout.split("\n").find((l) => l.startsWith("{"));
}
