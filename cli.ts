/**
 * The `pbxkit` executable: dispatches subcommands. Run it through the `./pbxkit` launcher.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import config from "./deno.json" with { type: "json" };
import { configureCommand, runCli } from "./lib/cli/mod.ts";
import { LOG_FORMATS } from "./lib/common/mod.ts";
/**
 * Every subcommand, loaded on demand: a run of one subcommand imports only its own modules (jssip, werift, NATS, the
 * cache engine, ... are not all parsed and compiled at every start).
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  "ws-serve": async () => (await import("./commands/ws_serve.ts")).wsServeCommand() as unknown as Command,
  "ban": async () => (await import("./commands/ban.ts")).banCommand() as unknown as Command,
  "cache-sim": async () => (await import("./commands/cache_sim.ts")).cacheSimCommand() as unknown as Command,
  "bbb-pack": async () => (await import("./commands/bbb_pack.ts")).bbbPackCommand() as unknown as Command,
  "call": async () => (await import("./commands/call.ts")).callCommand() as unknown as Command,
  "tftp-serve": async () => (await import("./commands/tftp_serve.ts")).tftpServeCommand() as unknown as Command,
  "service": async () => (await import("./commands/service.ts")).serviceCommand() as unknown as Command,
  "completions": async () => (await import("./commands/completions.ts")).completionsCommand() as unknown as Command,
};

/** Options of the root program that take a value (skipped when looking for the subcommand's name). */
const ROOT_VALUE_OPTIONS = new Set(["--log-format"]);

/**
 * The subcommand an argument list runs, when it is one that needs no other subcommand (`completions` walks the whole
 * tree, and help, errors and suggestions need every name): else undefined.
 */
export function soleSubcommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (ROOT_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    return a !== "completions" && Object.hasOwn(SUBCOMMANDS, a) ? a : undefined;
  }
  return undefined;
}

/** Build the root program with every subcommand, or with only `only` (see {@linkcode soleSubcommand}). */
export async function buildProgram(only?: string): Promise<Command> {
  const program = configureCommand(
    new Command("pbxkit")
      .description(
        "pbxkit: tools for people who run their own small PBX (WebRTC phones in the browser) and hack on bare-metal boards.",
      )
      .version(config.version, "-V, --version", "print the version")
      .option("-v, --verbose", "show debug output and stack traces")
      .option("-q, --quiet", "only print warnings and errors")
      .addOption(
        new Option("--log-format <format>", "log lines as text or one JSON object a line (journald, Loki)")
          .choices(LOG_FORMATS).default("text"),
      )
      .addHelpText("after", "\nExamples:\n  $ pbxkit ws-serve --echo --port 8080\n  $ pbxkit cache-sim --help\n"),
  );
  const names = only !== undefined && Object.hasOwn(SUBCOMMANDS, only) ? [only] : Object.keys(SUBCOMMANDS);
  for (const cmd of await Promise.all(names.map((n) => SUBCOMMANDS[n]()))) program.addCommand(cmd as never);
  return program as unknown as Command;
}

if (import.meta.main) {
  const code = await runCli(await buildProgram(soleSubcommand(Deno.args)), Deno.args);
  Deno.exit(code);
}
