// ws-serve --config: the TOML reference example, flags over file, and one-line errors naming file, line and key.
import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { ROOT, runCli, waitFor } from "../_util/mod.ts";
import { startServe } from "./_serve.ts";
import {
  connect,
  httpsRedirect,
  loadWsServeConfig,
  parseRequestHead,
  parseWsServeToml,
  redirectHost,
  resolveWsServeConfig,
} from "../../lib/ws/mod.ts";
import { PbxError } from "../../lib/common/mod.ts";

// The full example of docs/ws-serve.md (its first toml block): the reference must stay true.
const EXAMPLE = /```toml\n([\s\S]*?)```/.exec(await Deno.readTextFile(`${ROOT}/docs/ws-serve.md`))![1];

Deno.test("ws config: the reference example resolves to the listeners, routes and limits it spells out", () => {
  const c = resolveWsServeConfig(parseWsServeToml(EXAMPLE, "/etc/pbxkit/ws.toml"), {});
  assertEquals(c.listeners, [
    {
      hostname: "::",
      port: 443,
      tlsFiles: {
        cert: "/etc/letsencrypt/live/pbx.example.com/fullchain.pem",
        key: "/etc/letsencrypt/live/pbx.example.com/privkey.pem",
      },
    },
    { hostname: "::", port: 80, redirect: {} },
  ]);
  assertEquals(c.proxies.map((p) => [p.path, p.upstream.href, p.subprotocols]), [
    ["/pbxws", "ws://127.0.0.1:8088/ws", ["sip"]],
    ["/asterisk", "wss://[2001:db8::5060]:8089/ws", undefined],
  ]);
  assertEquals(c.webphone, true);
  assertEquals(c.staticDir, "/srv/pbxkit/www");
  assertEquals(c.echo, false); // a proxy and the webphone: no echo unless asked
  assertEquals(c.maxMessage, 1 << 20);
  assertEquals(c.maxConnections, 5000);
  assertEquals(c.idleTimeout, 120_000);
  assertEquals(c.handshakeTimeout, 5_000);
  assertEquals(c.deflate, { serverNoContextTakeover: true });
  assertEquals(c.origins, ["https://pbx.example.com", "https://phone.example.org:8443"]);
  assertEquals(c.subprotocols, ["sip"]);
});

Deno.test("ws config: flags win over the file; --port replaces the file's listeners; --no-deflate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-wscfg-" });
  try {
    await Deno.writeTextFile(`${dir}/ws.toml`, EXAMPLE);
    const c = await loadWsServeConfig(
      // the example's static root does not exist here: the flag replaces it, so it is not checked
      { port: "9001", maxMessage: "64KiB", origin: ["https://other.example.net"], deflate: false, static: dir },
      `${dir}/ws.toml`,
    );
    assertEquals(c.staticDir, dir);
    assertEquals(c.listeners, [{ hostname: "127.0.0.1", port: 9001, tlsFiles: undefined }]);
    assertEquals(c.maxMessage, 65536);
    assertEquals(c.maxConnections, 5000); // from the file
    assertEquals(c.origins, ["https://other.example.net"]);
    assertEquals(c.deflate, false);
    assertEquals(c.proxies.length, 2);
    // nothing at all: the echo server on 127.0.0.1:8080
    const d = await loadWsServeConfig({});
    assertEquals([d.echo, d.listeners, d.deflate], [true, [{ hostname: "127.0.0.1", port: 8080 }], undefined]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ws config: bad keys, types and values name the file, the line and the key", () => {
  const cases: [string, RegExp][] = [
    ['echo = true\nmax_mesage = "1MiB"\n', /^ws\.toml:2: 'max_mesage' is not a known key \(known: echo, /],
    [
      '\n\n[[listen]]\naddress = ":80"\n[[listen]]\naddress = ":443"\ntls_crt = "c.pem"\n',
      /^ws\.toml:7: 'listen\[1\]\.tls_crt' is not a known key/,
    ],
    ['max_connections = "many"\n', /^ws\.toml:1: 'max_connections' must be an integer, not a string$/],
    ["echo = 1\n", /^ws\.toml:1: 'echo' must be true or false, not a number$/],
    ["origins = [1, 2]\n", /^ws\.toml:1: 'origins' must be a string or an array of strings, not an array$/],
    ['listen = "0.0.0.0:80"\n', /^ws\.toml:1: 'listen' must be an array of tables/],
    ['idle_timeout = "soon"\n', /^ws\.toml:1: 'idle_timeout' is wrong: 'soon' is not a duration/],
    ['max_message = "1GB"\nmax_message2 = 1\n', /^ws\.toml:2: 'max_message2'/],
    ['[[proxy]]\npath = "/p"\nupstream = "http://x/"\n', /^ws\.toml:3: 'proxy\[0\]\.upstream' is wrong: .*ws:\/\//],
    ['[[proxy]]\npath = "/p"\n', /^ws\.toml:1: 'proxy\[0\]' needs path and upstream/],
    ['[[listen]]\naddress = "pbx.example.com"\n', /^ws\.toml:2: 'listen\[0\]\.address' is wrong: .*has no port/],
    [
      '[[listen]]\naddress = ":443"\ntls_cert = "c.pem"\n',
      /^ws\.toml:3: 'listen\[0\]\.tls_cert' needs tls_key as well$/,
    ],
    ['[[listen]]\naddress = ":80"\nredirect = "ftp"\n', /^ws\.toml:3: 'listen\[0\]\.redirect' must be "https"/],
    ['origins = ["https://pbx.example.com/x"]\n', /^ws\.toml:1: 'origins' is wrong: .*not an origin/],
    ["echo = true\nwebphone = \n", /^ws\.toml:2: /], // a TOML syntax error: the parser's line
    ['echo = true\nlisten = [{ address = ":80", tls = 1 }]\n', /^ws\.toml:2: 'listen\[0\]\.tls' is not a known key/],
    ["echo = true\n[x]\nlisten = 1\n", /^ws\.toml:2: 'x' is not a known key/],
    ["\n[echo]\na = 1\n", /^ws\.toml:2: 'echo' must be true or false, not a table$/],
    ['[[proxy]]\npath = "/a"\nupstream = "ws://h/"\n[[proxy]]\npath = "/a"\nupstream = "ws://g/"\n', /given twice/],
  ];
  for (const [text, re] of cases) {
    let err: unknown;
    try {
      resolveWsServeConfig(parseWsServeToml(text, "ws.toml"), {});
    } catch (e) {
      err = e;
    }
    assert(err instanceof PbxError, `${JSON.stringify(text)}: no error`);
    assertMatch(err.message, re, JSON.stringify(text));
    assertEquals(err.message.split("\n").length, 1);
    assertEquals(err.exitCode, 2, err.message);
  }
});

Deno.test("ws-serve --config: a bad, missing or unreadable file is one line with exit 2, and nothing listens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-wscfg-" });
  try {
    // a free-looking port on loopback that the command would bind if it started anything
    await Deno.writeTextFile(
      `${dir}/bad.toml`,
      'echo = true\n# the default port\n\nmax_conections = 5\n[[listen]]\naddress = "127.0.0.1:18741"\n',
    );
    await Deno.writeTextFile(`${dir}/type.toml`, '[[listen]]\naddress = "127.0.0.1:18741"\n[[listen]]\naddress = 80\n');
    await Deno.writeFile(`${dir}/latin1.toml`, new Uint8Array([0x65, 0x63, 0x68, 0x6f, 0x3d, 0xe9, 0x0a]));
    for (
      const [file, re] of [
        [`${dir}/bad.toml`, /bad\.toml:4: 'max_conections' is not a known key .*\[E_USAGE\]$/],
        [`${dir}/type.toml`, /type\.toml:4: 'listen\[1\]\.address' must be a string, not a number \[E_USAGE\]$/],
        [`${dir}/missing.toml`, /--config '.*missing\.toml' does not exist \[E_NOT_FOUND\]$/],
        [dir, /--config '.*' is not a regular file \[E_INVALID_INPUT\]$/],
        [`${dir}/latin1.toml`, /latin1\.toml': not UTF-8 text/],
      ] as const
    ) {
      const r = await runCli(["ws-serve", "--config", file]);
      assertEquals(r.code, 2, `${file}: ${r.stderr}`);
      assertMatch(r.stderr.trim(), re);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertEquals(r.stdout, "", "nothing started");
    }
    // a directory given as a static root in the file is checked before anything listens
    await Deno.writeTextFile(`${dir}/nodir.toml`, `static = "${dir}/nope"\n[[listen]]\naddress = "127.0.0.1:0"\n`);
    const nodir = await runCli(["ws-serve", "--config", `${dir}/nodir.toml`]);
    assertEquals(nodir.code, 2, nodir.stderr);
    assertMatch(nodir.stderr.trim(), /nodir\.toml:1: 'static' is wrong: no such directory '.*nope' \[E_NOT_FOUND\]$/);
    assertEquals(nodir.stderr.trim().split("\n").length, 1, nodir.stderr);
    assertEquals(nodir.stdout, "");
    // a static root that is a file, and a listener's missing key: the same shape
    await Deno.writeTextFile(`${dir}/file.toml`, `echo = true\n\n\nstatic = "${dir}/bad.toml"\n`);
    await Deno.writeTextFile(
      `${dir}/nokey.toml`,
      `[[listen]]\naddress = "127.0.0.1:0"\n[[listen]]\naddress = "127.0.0.1:0"\ntls_cert = "${dir}/bad.toml"\n` +
        `tls_key = "${dir}/nope.key"\n`,
    );
    for (
      const [f, re] of [
        ["file.toml", /file\.toml:4: 'static' is wrong: '.*bad\.toml' is not a directory \[E_USAGE\]$/],
        ["nokey.toml", /nokey\.toml:6: 'listen\[1\]\.tls_key' is wrong: no such file '.*nope\.key' \[E_NOT_FOUND\]$/],
      ] as const
    ) {
      const r = await runCli(["ws-serve", "--config", `${dir}/${f}`]);
      assertEquals(r.code, 2, r.stderr);
      assertMatch(r.stderr.trim(), re);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("https redirect: 301 to the same host and target; hostile Host headers get 400", () => {
  const req = (host: string | undefined, target = "/pbxws?user=1001") =>
    parseRequestHead(
      new TextEncoder().encode(`GET ${target} HTTP/1.1\r\n${host === undefined ? "" : `Host: ${host}\r\n`}\r\n`),
    );
  const r1 = httpsRedirect(req("pbx.example.com"), 443);
  assertEquals([r1.status, r1.headers?.Location], [301, "https://pbx.example.com/pbxws?user=1001"]);
  const r2 = httpsRedirect(req("PBX.Example.com:8080", "/"), 8443);
  assertEquals(r2.headers?.Location, "https://pbx.example.com:8443/");
  const r3 = httpsRedirect(req("[2001:db8::10]:80", "/a/b"), 443);
  assertEquals(r3.headers?.Location, "https://[2001:db8::10]/a/b");
  for (const bad of [undefined, "", "evil.example@pbx", "pbx.example.com/x", "a b", "pbx:99999x"]) {
    assertEquals(httpsRedirect(req(bad)).status, 400, String(bad));
  }
  assertEquals(redirectHost("192.0.2.10:80"), "192.0.2.10");
});

Deno.test({
  name: "ws-serve --config: static = DIR serves its files next to the echo; SIGHUP switches the root; --static wins",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-wscfg-static-" });
    try {
      for (const d of ["a", "b"]) await Deno.mkdir(`${dir}/${d}`);
      const cfgText = `# provisioning\n[[listen]]\naddress = "127.0.0.1:0"\n`;
      const xml = '<?xml version="1.0"?>\n<phone><sip server="pbx.example.com"/></phone>\n';
      await Deno.writeTextFile(`${dir}/a/phone.xml`, xml);
      await Deno.writeTextFile(`${dir}/b/phone.xml`, xml.replace("pbx.", "pbx2."));
      await Deno.writeTextFile(`${dir}/ws.toml`, `static = "${dir}/a"\necho = true\n${cfgText}`);
      const srv = await startServe(["--config", `${dir}/ws.toml`], { defaultPort: true });
      try {
        assertMatch(srv.proc.stdout, new RegExp(`listening on .*\\(echo, static ${dir}/a\\)`));
        const get = async (path: string) => {
          const r = await fetch(`http://127.0.0.1:${srv.port}${path}`, { headers: { Connection: "close" } });
          return [r.status, r.headers.get("content-type"), await r.text()] as const;
        };
        const [status, type, body] = await get("/phone.xml");
        assertEquals([status, body], [200, xml]);
        assertMatch(String(type), /xml/);
        assertEquals((await get("/nope.xml"))[0], 404);
        const ws = await connect(`ws://127.0.0.1:${srv.port}/`);
        await ws.send("still an echo");
        for await (const m of ws) {
          assertEquals(m.text, "still an echo");
          break;
        }
        ws.close(1000);
        await ws.closed;
        await Deno.writeTextFile(`${dir}/ws.toml`, `static = "${dir}/b"\necho = true\n${cfgText}`);
        srv.proc.child.kill("SIGHUP");
        await waitFor(() => srv.proc.stderr.includes("SIGHUP: reloaded"), { timeoutMs: 10_000, what: "reload" });
        assertEquals((await get("/phone.xml"))[2], xml.replace("pbx.", "pbx2."));
      } finally {
        await srv.proc.stop();
      }
      const flag = await startServe(["--config", `${dir}/ws.toml`, "--static", `${dir}/a`], { defaultPort: true });
      try {
        const r = await fetch(`http://127.0.0.1:${flag.port}/phone.xml`, { headers: { Connection: "close" } });
        assertEquals(await r.text(), xml);
      } finally {
        await flag.proc.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
