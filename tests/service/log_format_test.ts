// --log-format json: every line a daemon prints (stdout and stderr) is one JSON object {ts, level, msg, ...}, from
// start through a transfer, a SIGHUP reload (good and broken) to SIGTERM; and config errors are one line naming the
// file, line and key with exit 2 and nothing started.
import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { cliArgv, freePort, freeUdpPort, Proc, runCli, sh, testWith, waitFor } from "../_util/mod.ts";
import { jsonLogLine } from "../../lib/common/mod.ts";

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
