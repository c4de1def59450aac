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

Deno.test("a reader that goes away (`| head`) ends the run quietly with 141, not an error line", async () => {
  const { runCli: run, EXIT_BROKEN_PIPE } = await import("../lib/cli/mod.ts");
  const { Command } = await import("@commander-js/extra-typings");
  const errs: string[] = [];
  const write = Deno.stderr.writeSync;
  Deno.stderr.writeSync = (p: Uint8Array) => (errs.push(new TextDecoder().decode(p)), p.length);
  try {
    const prog = new Command("t").exitOverride().action(() => {
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    });
    assertEquals(await run(prog as never, []), EXIT_BROKEN_PIPE);
    assertEquals(EXIT_BROKEN_PIPE, 141);
  } finally {
    Deno.stderr.writeSync = write;
  }
  assertEquals(errs.join(""), "", "nothing printed");
});

Deno.test("one subcommand's run loads only that subcommand; help, typos and completions see them all", async () => {
  const { buildProgram, soleSubcommand } = await import("../cli.ts");
  assertEquals(soleSubcommand(["cache-sim", "--trace", "t.csv"]), "cache-sim");
  assertEquals(soleSubcommand(["--log-format", "json", "-v", "ban", "list"]), "ban");
  assertEquals(soleSubcommand(["--log-format=json", "call", "--help"]), "call");
  for (const args of [[], ["--help"], ["help", "ban"], ["cal"], ["completions", "bash"], ["--version"]]) {
    assertEquals(soleSubcommand(args), undefined, args.join(" "));
  }
  assertEquals((await buildProgram("ban")).commands.map((c) => c.name()), ["ban"]);
  assertEquals((await buildProgram()).commands.length, 8);
  const r = await runCli(["cal"]);
  assertMatch(r.stderr, /Did you mean call\?/);
});
