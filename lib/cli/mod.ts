/**
 * Command-line plumbing shared by `cli.ts` and every file in `commands/`: building a subcommand with examples in
 * its help, one-line errors with stable exit codes (2 for usage), and the global `--verbose`/`--quiet` flags.
 *
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import { configureLogging, EXIT_USAGE, formatError, oneLine, PbxError, toPbxError } from "../common/mod.ts";

export type { ErrorCode, PbxError, PbxErrorOptions } from "../common/mod.ts";

/** Options for {@linkcode newCommand}. */
export interface NewCommandOptions {
  /** One-line purpose shown in `pbxkit --help`. */
  summary: string;
  /** Longer description shown in `pbxkit X --help` (defaults to the summary). */
  description?: string;
  /** Example invocations shown under `Examples:` in `--help` (at least one). */
  examples: readonly string[];
}

const encoder = new TextEncoder();
function writeErr(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text));
}
function writeOut(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text));
}

/** Apply pbxkit's output and error conventions to a commander command. */
export function configureCommand<C extends Command<unknown[], Record<string, unknown>, Record<string, unknown>>>(
  cmd: C,
): C {
  cmd.exitOverride();
  cmd.configureOutput({
    writeOut,
    writeErr,
    outputError: (str, write) => write(`pbxkit: ${oneLine(str.replace(/^error: /, "error: "))}\n`),
  });
  cmd.configureHelp({ showGlobalOptions: true, sortOptions: false });
  cmd.showSuggestionAfterError(true);
  return cmd;
}

/** Make a subcommand with a summary, a description and examples in its `--help`. */
export function newCommand(name: string, options: NewCommandOptions): Command {
  const cmd = new Command(name).summary(options.summary).description(options.description ?? options.summary);
  cmd.addHelpText("after", "\nExamples:\n" + options.examples.map((e) => `  $ ${e}`).join("\n") + "\n");
  return configureCommand(cmd);
}

/** The error a not-yet-built subcommand throws: no fake output, a non-zero exit. */
export function notImplemented(name: string, issue: number): PbxError {
  return new PbxError("E_NOT_IMPLEMENTED", `'${name}' is not built yet (tracked in issue #${issue})`);
}

/** Read the global flags from the root program and configure logging. Call at the start of each action. */
export function globalFlags(cmd: Command<unknown[], Record<string, unknown>, Record<string, unknown>>): {
  verbose: boolean;
  quiet: boolean;
} {
  const opts = cmd.optsWithGlobals() as { verbose?: boolean; quiet?: boolean };
  const flags = { verbose: !!opts.verbose, quiet: !!opts.quiet };
  configureLogging(flags);
  return flags;
}

/**
 * Parse argv and run the chosen action. Returns the exit status: 0 on success, 2 for usage errors, the
 * {@linkcode PbxError}'s own status otherwise. Errors are printed as one line; the stack only with `--verbose`.
 */
export async function runCli(
  program: Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
  argv: readonly string[],
): Promise<number> {
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" || err.code === "commander.version" ||
        err.code === "commander.help"
      ) return 0;
      if (err.code === "commander.executeSubCommandAsync") return err.exitCode;
      return EXIT_USAGE; // commander already printed the one-line message
    }
    const e = toPbxError(err);
    writeErr(formatError(e) + "\n");
    if (verbose) {
      const stack = (e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack;
      if (stack) writeErr(stack + "\n");
    }
    return e.exitCode;
  }
}
