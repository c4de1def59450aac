import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_util/assert.ts";
import { runCli } from "./_util/mod.ts";
import config from "../deno.json" with { type: "json" };

const SUBCOMMANDS = ["ws-serve", "ban", "cache-sim", "bbb-pack", "call"];

Deno.test("pbxkit --help lists every subcommand with a purpose", async () => {
  const r = await runCli(["--help"]);
  assertEquals(r.code, 0);
  for (const name of SUBCOMMANDS) assertMatch(r.stdout, new RegExp(`\\n\\s+${name}\\s+\\S.{10,}`));
});

Deno.test("each subcommand --help shows options and an example", async () => {
  for (const name of SUBCOMMANDS) {
    const r = await runCli([name, "--help"]);
    assertEquals(r.code, 0, `${name} --help exit`);
    assertStringIncludes(r.stdout, "Options:");
    assertMatch(r.stdout, new RegExp(`Examples?:\\n\\s+\\$ pbxkit ${name}`), `${name} has an example`);
  }
});

Deno.test("--version prints the version from deno.json", async () => {
  const r = await runCli(["--version"]);
  assertEquals(r.code, 0);
  assertEquals(r.stdout.trim(), config.version);
});

Deno.test("unknown command and unknown option: one line, exit 2", async () => {
  for (const args of [["no-such-command"], ["--no-such-flag"], ["cache-sim", "--no-such-flag"]]) {
    const r = await runCli(args);
    assertEquals(r.code, 2, `exit for ${args.join(" ")}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, /^pbxkit: error: /);
  }
});

Deno.test("errors print one line without a stack trace, the stack only with --verbose", async () => {
  const r = await runCli(["bbb-pack", "inspect", "/nonexistent/apps.bin"]);
  assert(r.code !== 0);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assertMatch(r.stderr, /\[E_[A-Z_]+\]$/m);
});
