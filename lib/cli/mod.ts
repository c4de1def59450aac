/**
 * Command-line plumbing shared by `cli.ts` and every file in `commands/`: building a subcommand with examples in
 * its help, one-line errors with stable exit codes (2 for usage), and the global `--verbose`/`--quiet` flags.
 *
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import {
  configureLogging,
  EXIT_USAGE,
  formatError,
  jsonLogLine,
  log,
  LOG_FORMATS,
  type LogFormat,
  oneLine,
  PbxError,
  toPbxError,
} from "../common/mod.ts";

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
  logFormat: LogFormat;
} {
  const opts = cmd.optsWithGlobals() as { verbose?: boolean; quiet?: boolean; logFormat?: string };
  const logFormat: LogFormat = opts.logFormat === "json" ? "json" : "text";
  const flags = { verbose: !!opts.verbose, quiet: !!opts.quiet, logFormat };
  configureLogging({ ...flags, format: logFormat });
  return flags;
}

/** The `--log-format` value in argv (`--log-format json` or `--log-format=json`), before commander has parsed it. */
function argvLogFormat(argv: readonly string[]): LogFormat | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--") break;
    const v = argv[i] === "--log-format" ? argv[i + 1] : argv[i].startsWith("--log-format=") ? argv[i].slice(13) : "";
    if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  }
  return undefined;
}

/** Exit status when stdout's reader has gone (128 + SIGPIPE, what a shell reports for `yes | head`). */
export const EXIT_BROKEN_PIPE = 141;

/**
 * Parse argv and run the chosen action. Returns the exit status: 0 on success, 2 for usage errors, the
 * {@linkcode PbxError}'s own status otherwise. Errors are printed as one line; the stack only with `--verbose`.
 */
export async function runCli(
  program: Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
  argv: readonly string[],
): Promise<number> {
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  // with --log-format json, even a usage error or a failure at start is one JSON line
  const json = argvLogFormat(argv) === "json";
  if (json) {
    log.format = "json";
    const outputError = (str: string) =>
      writeErr(jsonLogLine("error", oneLine(str.replace(/^error: /, "")), { code: "E_USAGE" }) + "\n");
    const walk = (c: Command<unknown[], Record<string, unknown>, Record<string, unknown>>) => {
      c.configureOutput({ writeOut, writeErr, outputError });
      for (const sub of c.commands) walk(sub as Command<unknown[], Record<string, unknown>, Record<string, unknown>>);
    };
    walk(program);
  }
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
    // the reader of our output went away (`pbxkit ... | head`): stop quietly, as a process killed by SIGPIPE would
    if (err instanceof Deno.errors.BrokenPipe || (err as Error)?.cause instanceof Deno.errors.BrokenPipe) {
      return EXIT_BROKEN_PIPE;
    }
    const e = toPbxError(err);
    if (json || log.format === "json") writeErr(jsonLogLine("error", oneLine(e.message), { code: e.code }) + "\n");
    else writeErr(formatError(e) + "\n");
    if (verbose) {
      const stack = (e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack;
      if (stack) writeErr(stack + "\n");
    }
    return e.exitCode;
  }
}
export * from "./completions.ts";
