// --log-format json: every line a daemon prints (stdout and stderr) is one JSON object {ts, level, msg, ...}, from
// start through real work (a TFTP transfer, a ban in nftables from SIP responses in the test's namespaces), a SIGHUP
// reload (good and broken) to SIGTERM, for tftp-serve, ws-serve, ban --daemon and bbb-pack --tftp; and config errors
// are one line naming the file, line and key with exit 2 and nothing started.
import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { cliArgv, freePort, freeUdpPort, Proc, runCli, sh, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { jsonLogLine } from "../../lib/common/mod.ts";
import { sipResponse } from "../../lib/ban/net/craft.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { LIBNFTABLES_PATH } from "../../lib/ban/firewall/nft.ts";
import { banDaemonArgv, SENDER } from "../ban/_lab.ts";
import { atftpGet, bbbPackArgs, randomBytes, waitForLog } from "../tftp/_helpers.ts";

function assertJsonLines(text: string, what: string, since: number): Record<string, unknown>[] {
  const lines = text.split("\n").filter((l) => l !== "");
  assert(lines.length > 0, `${what}: no output`);
  return lines.map((l) => {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l);
    } catch {
      throw new Error(`${what}: not JSON: ${l}`);
    }
    assert(typeof o.msg === "string" && ["debug", "info", "warn", "error"].includes(String(o.level)), l);
    const ts = Date.parse(String(o.ts));
    assert(ts >= since - 1000 && ts <= Date.now() + 1000, `${what}: ts ${o.ts} is not now`);
    return o;
  });
}

Deno.test("jsonLogLine: reserved keys renamed, errors as messages, bigints as strings, undefined left out", () => {
  const line = jsonLogLine(
    "warn",
    "x",
    { msg: "m", ts: 1, err: new Error("boom"), n: 10n, gone: undefined },
    new Date(0),
  );
  assertEquals(JSON.parse(line), {
    ts: "1970-01-01T00:00:00.000Z",
    level: "warn",
    msg: "x",
    field_msg: "m",
    field_ts: 1,
    err: "boom",
    n: "10",
  });
});

testWith(
  "tftp-serve --log-format json: start, a transfer, SIGHUP good and broken, SIGTERM",
  { tools: ["tftp"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-logjson-" });
    const since = Date.now();
    try {
      await Deno.mkdir(`${dir}/root`);
      await Deno.writeFile(`${dir}/root/os.bin`, crypto.getRandomValues(new Uint8Array(40_000)));
      const port = freeUdpPort();
      await Deno.writeTextFile(`${dir}/tftp.toml`, `root = "${dir}/root"\nport = ${port}\naddress = ["127.0.0.1"]\n`);
      const d = new Proc(cliArgv(["--log-format", "json", "tftp-serve", "--config", `${dir}/tftp.toml`]));
      try {
        await waitFor(() => d.stderr.includes('"msg":"serving'), { timeoutMs: 20_000, what: "tftp-serve start" });
        await sh(["tftp", "127.0.0.1", String(port), "-m", "binary", "-c", "get", "os.bin", `${dir}/got.bin`]);
        assertEquals(await Deno.readFile(`${dir}/got.bin`), await Deno.readFile(`${dir}/root/os.bin`));
        Deno.kill(d.pid, "SIGHUP");
        await waitFor(() => d.stderr.includes('"msg":"config reloaded"'), { what: "reload" });
        await Deno.writeTextFile(`${dir}/tftp.toml`, `root = "${dir}/root"\nport = "sixty-nine"\n`);
        Deno.kill(d.pid, "SIGHUP");
        await waitFor(() => d.stderr.includes("reload failed"), { what: "failed reload" });
      } finally {
        await d.stop();
      }
      const all = [
        ...assertJsonLines(d.stderr, "stderr", since),
        ...(d.stdout ? assertJsonLines(d.stdout, "out", since) : []),
      ];
      const sent = all.find((o) => String(o.msg).startsWith("sent os.bin"));
      assert(sent && sent.scope === "tftp", JSON.stringify(all));
      const failed = all.find((o) => String(o.msg).includes("reload failed"))!;
      assertEquals(failed.level, "error");
      assertMatch(String(failed.msg), /tftp\.toml:2: 'port' is invalid/);
      assert(all.some((o) => String(o.msg).startsWith("stopping")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("ws-serve --log-format json --json: every line of its output is JSON", async () => {
  const since = Date.now();
  const d = new Proc(cliArgv(["ws-serve", "--port", String(freePort()), "--json", "--log-format", "json"]));
  try {
    await waitFor(() => d.stdout.includes("\n"), { timeoutMs: 20_000, what: "ws-serve start" });
  } finally {
    await d.stop();
  }
  // stdout holds the --json data line (the listening address), stderr the log lines
  const out = d.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  assertEquals(out.length, 1);
  assertMatch(String(out[0].url), /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  const err = assertJsonLines(d.stderr, "stderr", since);
  assert(err.some((o) => String(o.msg).startsWith("SIGTERM")), d.stderr);
});

Deno.test("config errors: file, line and key, exit 2, nothing started (ban, tftp-serve); usage errors as JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-cfgerr-" });
  try {
    const files: Record<string, string> = {
      "unknown.toml": '# ban\ninterface = "eth0"\nmax_failurez = 3\n',
      "type.toml": '[ban]\ninterface = "eth0"\n\nexempt = { net = "10.0.0.0/8" }\n',
      "value.toml": 'find_time = "10m"\nban_time = "forever"\n',
      "syntax.toml": "ports = [5060,\n",
      "latin1.toml": "",
    };
    for (const [n, t] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${n}`, t);
    await Deno.writeFile(`${dir}/latin1.toml`, new Uint8Array([0x69, 0x3d, 0x22, 0xe9, 0x22, 0x0a]));
    const state = `${dir}/state.json`;
    const cases: [string, RegExp][] = [
      ["unknown.toml", /unknown\.toml:3: 'max_failurez' is not a known key/],
      ["type.toml", /type\.toml:4: 'ban\.exempt' must be .*, not a table/],
      ["value.toml", /value\.toml:2: 'ban_time' is invalid: .*forever/],
      ["syntax.toml", /syntax\.toml:\d+: .* \[E_PARSE\]/],
      ["latin1.toml", /cannot read --config '.*latin1\.toml': not UTF-8 text/],
      ["missing.toml", /--config '.*missing\.toml' does not exist/],
      [".", /is not a regular file/],
    ];
    for (const [f, re] of cases) {
      const r = await runCli(["ban", "--daemon", "--backend", "dry-run", "--state", state, "--config", `${dir}/${f}`]);
      assertEquals(r.code, 2, `${f}: ${r.stderr}`);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertMatch(r.stderr, re);
    }
    await Deno.stat(state).then(() => assert(false, "a daemon started and saved state"), () => {});
    await Deno.writeTextFile(`${dir}/t.toml`, 'root = "/srv/tftp"\nallow_write = "yes"\n');
    const t = await runCli(["tftp-serve", "--config", `${dir}/t.toml`]);
    assertEquals(t.code, 2, t.stderr);
    assertMatch(t.stderr.trim(), /t\.toml:2: 'allow_write' must be true or false, not a string \[E_USAGE\]$/);
    const j = await runCli(["--log-format", "json", "tftp-serve", "--config", `${dir}/t.toml`]);
    assertEquals(j.code, 2);
    const o = JSON.parse(j.stderr.trim());
    assertEquals([o.level, o.code], ["error", "E_USAGE"]);
    const u = await runCli(["ban", "--log-format", "json", "--bogus"]);
    assertEquals(u.code, 2);
    assertEquals(JSON.parse(u.stderr.trim()).msg, "unknown option '--bogus'");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWith(
  "ban --daemon --log-format json: start, a real ban in nftables, SIGHUP good and broken, expiry, SIGTERM: all JSON",
  {
    tools: ["python3", "ip", "nft"],
    files: [LIBPCAP_PATH, LIBNFTABLES_PATH],
    root: true,
  },
  async () => {
    const net = await TestNet.create(["pbx", "victim"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-logjson-ban-" });
    const h = net.hosts;
    const since = Date.now();
    try {
      const cfg = `${dir}/ban.toml`;
      const good = `[ban]\nstate = "${dir}/state.json"\nsocket = "${dir}/ban.sock"\nmax_failures = 3\n`;
      await Deno.writeTextFile(cfg, good);
      // the flag after the subcommand, as a unit's drop-in would put it
      const d = net.spawn("pbx", [
        ...banDaemonArgv(h.pbx, { maxFailures: 3, banTime: "2s", extra: ["--config", cfg, "--log-format", "json"] })
          .filter((a) => a !== "--json"),
      ]);
      await waitFor(() => d.stderr.includes('"msg":"started"'), {
        timeoutMs: 30_000,
        what: `daemon start: ${d.stderr}`,
      });
      await net.run("pbx", ["python3", "-c", SENDER, h.pbx.ipv4, h.victim.ipv4, "3", sipResponse(403, "REGISTER")]);
      await waitFor(() => d.stderr.includes('"msg":"ban"'), { timeoutMs: 10_000, what: `the ban: ${d.stderr}` });
      const inKernel = (await net.run("pbx", ["nft", "list", "set", "inet", "pbxkit", "ban4"])).stdout;
      assert(inKernel.includes(h.victim.ipv4), inKernel);
      Deno.kill(d.pid, "SIGHUP");
      await waitFor(() => d.stderr.includes('"msg":"config reloaded"'), { timeoutMs: 10_000, what: "reload" });
      await Deno.writeTextFile(cfg, good + "max_failurez = 3\n");
      Deno.kill(d.pid, "SIGHUP");
      await waitFor(() => d.stderr.includes("reload failed"), { timeoutMs: 10_000, what: "failed reload" });
      await waitFor(() => d.stderr.includes('"reason":"expired"'), { timeoutMs: 15_000, what: "expiry" });
      assertEquals((await d.stop("SIGTERM", 10_000)).code, 0, d.stderr);

      assertEquals(d.stdout, "", "without --json the bans are log lines, nothing on stdout");
      const all = assertJsonLines(d.stderr, "stderr", since);
      const started = all.find((o) => o.msg === "started")!;
      assertEquals([started.scope, started.backend], ["ban", "nft"]);
      const ban = all.find((o) => o.msg === "ban");
      assert(ban && ban.address === h.victim.ipv4 && ban.failures === 3, JSON.stringify(all));
      assertEquals(ban.level, "info");
      const failed = all.find((o) => String(o.msg).includes("reload failed"))!;
      assertEquals(failed.level, "error");
      assertMatch(String(failed.error), /ban\.toml:5: 'ban\.max_failurez' is not a known key/);
      const unban = all.find((o) => o.msg === "unban")!;
      assertEquals([unban.address, unban.reason], [h.victim.ipv4, "expired"]);
      assert(all.some((o) => o.msg === "stopped, state saved"), d.stderr);
      // the daemon took the ban out of nftables again on expiry
      const set = (await net.run("pbx", ["nft", "list", "set", "inet", "pbxkit", "ban4"], { check: false })).stdout;
      assert(!set.includes(h.victim.ipv4), set);
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

testWith(
  "bbb-pack --tftp --log-format json: the build report, a transfer, a refused read, SIGTERM: every line JSON",
  { tools: ["atftp"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-logjson-bbb-" });
    const since = Date.now();
    try {
      await Deno.writeFile(`${dir}/os.bin`, randomBytes(60_000));
      await Deno.writeFile(`${dir}/a.bin`, randomBytes(1000));
      const port = freeUdpPort();
      const srv = new Proc(cliArgv([
        "--log-format",
        "json",
        ...bbbPackArgs(dir, `${dir}/out`, ["--tftp", "--tftp-port", String(port), "--tftp-address", "127.0.0.1"]),
      ]));
      try {
        await waitForLog(srv, "tftp: serving", "tftp server");
        const server = { host: "127.0.0.1", port };
        const get = new Proc(atftpGet([], { remote: "os.bin", local: `${dir}/got.bin` }, server));
        assertEquals((await get.done).code, 0, get.stderr);
        assertEquals(await Deno.readFile(`${dir}/got.bin`), await Deno.readFile(`${dir}/out/os.bin`));
        const missing = new Proc(atftpGet([], { remote: "nosuch.bin", local: `${dir}/nosuch` }, server));
        assert((await missing.done).code !== 0);
        await waitFor(() => srv.stderr.includes("refused read"), { what: "the refusal line" });
      } finally {
        assertEquals((await srv.stop()).code, 0, srv.stderr);
      }
      const out = assertJsonLines(srv.stdout, "stdout", since);
      assertEquals(out.length, 1, srv.stdout);
      const files = out[0].files as { name: string; size: number; crc32: string }[];
      assertEquals(files.map((f) => f.name).sort(), ["apps.bin", "os.bin", "uEnv.txt"]);
      assertEquals(files.find((f) => f.name === "os.bin")!.size, (await Deno.stat(`${dir}/out/os.bin`)).size);
      assertMatch(String(out[0].msg), /^built os\.bin 0x[0-9a-f]{8}, /);
      const err = assertJsonLines(srv.stderr, "stderr", since);
      assert(err.some((o) => String(o.msg).startsWith("sent os.bin") && o.scope === "tftp"), srv.stderr);
      const refused = err.find((o) => String(o.msg).includes("refused read 'nosuch.bin'"));
      assert(refused, srv.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
