/**
 * The `pbxkit` executable: dispatches subcommands. Run it through the `./pbxkit` launcher.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import config from "./deno.json" with { type: "json" };
import { configureCommand, runCli } from "./lib/cli/mod.ts";
import { LOG_FORMATS } from "./lib/common/mod.ts";
import { wsServeCommand } from "./commands/ws_serve.ts";
import { banCommand } from "./commands/ban.ts";
import { cacheSimCommand } from "./commands/cache_sim.ts";
import { bbbPackCommand } from "./commands/bbb_pack.ts";
import { callCommand } from "./commands/call.ts";
import { tftpServeCommand } from "./commands/tftp_serve.ts";
import { serviceCommand } from "./commands/service.ts";
import { completionsCommand } from "./commands/completions.ts";

/** Build the root program with every subcommand. */
export function buildProgram(): Command {
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
  program.addCommand(wsServeCommand());
  program.addCommand(banCommand());
  program.addCommand(cacheSimCommand());
  program.addCommand(bbbPackCommand());
  program.addCommand(callCommand());
  program.addCommand(tftpServeCommand());
  program.addCommand(serviceCommand());
  program.addCommand(completionsCommand());
  return program as unknown as Command;
}

if (import.meta.main) {
  const code = await runCli(buildProgram(), Deno.args);
  Deno.exit(code);
}
