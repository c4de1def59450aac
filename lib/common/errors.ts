/**
 * One error type for all of pbxkit: a stable machine-readable code plus a human message.
 *
 * Commands throw {@linkcode PbxError}; the CLI prints it as one line (`pbxkit: error: message [CODE]`) and exits
 * with its {@linkcode PbxError.exitCode}. Stack traces are shown only with `--verbose`.
 *
 * @module
 */

/** Stable error codes. Scripts may match on these; never rename one, only add. */
export type ErrorCode =
  | "E_USAGE"
  | "E_NOT_IMPLEMENTED"
  | "E_NOT_FOUND"
  | "E_EXISTS"
  | "E_INVALID_INPUT"
  | "E_PARSE"
  | "E_PERMISSION"
  | "E_UNSUPPORTED"
  | "E_NETWORK"
  | "E_TIMEOUT"
  | "E_PROTOCOL"
  | "E_LIMIT"
  | "E_FFI"
  | "E_TOOL_MISSING"
  | "E_EXTERNAL"
  | "E_STATE"
  | "E_INTERNAL";

/** Exit status used for usage errors (unknown command or option, bad flag values). */
export const EXIT_USAGE = 2;

/** Options for {@linkcode PbxError}. */
export interface PbxErrorOptions {
  /** Process exit status the CLI uses for this error (default 1, or 2 for `E_USAGE`). */
  exitCode?: number;
  /** The underlying error, kept for `--verbose`. */
  cause?: unknown;
}

/** The pbxkit error: `code` is stable, `message` is one human line. */
export class PbxError extends Error {
  /** Stable code, e.g. `E_NOT_FOUND`. */
  readonly code: ErrorCode;
  /** Exit status for the CLI. */
  readonly exitCode: number;

  /** Make an error with a stable code and a one-line message. */
  constructor(code: ErrorCode, message: string, options: PbxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PbxError";
    this.code = code;
    this.exitCode = options.exitCode ?? (code === "E_USAGE" ? EXIT_USAGE : 1);
  }
}

/** A usage error (bad flag value, missing argument): exits with status 2. */
export function usageError(message: string): PbxError {
  return new PbxError("E_USAGE", message);
}

/** Turn anything thrown into a {@linkcode PbxError}, mapping Deno's I/O errors to stable codes. */
export function toPbxError(err: unknown): PbxError {
  if (err instanceof PbxError) return err;
  const msg = err instanceof Error ? osErrorText(err) : "";
  if (err instanceof Deno.errors.NotFound) return new PbxError("E_NOT_FOUND", msg, { cause: err });
  if (err instanceof Deno.errors.AlreadyExists) return new PbxError("E_EXISTS", msg, { cause: err });
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return new PbxError("E_PERMISSION", msg, { cause: err });
  }
  if (
    err instanceof Deno.errors.IsADirectory || err instanceof Deno.errors.NotADirectory ||
    err instanceof Deno.errors.FilesystemLoop || err instanceof Deno.errors.InvalidData
  ) {
    return new PbxError("E_INVALID_INPUT", msg, { cause: err });
  }
  if (
    err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.ConnectionRefused ||
    err instanceof Deno.errors.AddrNotAvailable
  ) {
    return new PbxError("E_NETWORK", msg, { cause: err });
  }
  if (err instanceof Deno.errors.TimedOut) return new PbxError("E_TIMEOUT", msg, { cause: err });
  if (err instanceof RangeError && /allocation failed|invalid (typed )?array length/i.test(err.message)) {
    return new PbxError("E_LIMIT", `too large to fit in memory (${err.message})`, { cause: err });
  }
  if (err instanceof Error) return new PbxError("E_INTERNAL", msg || err.name, { cause: err });
  return new PbxError("E_INTERNAL", oneLine(String(err)));
}

/**
 * One human line for an error from Deno's file or socket calls: `Is a directory (os error 21): mkdir '/x'` becomes
 * `cannot mkdir '/x': is a directory`, a permission-sandbox refusal (`Requires all access to "/proc/x", run again
 * with the --allow-all flag`) becomes `access to '/proc/x' is not allowed`. Other messages pass through one-lined.
 */
export function osErrorText(err: Error): string {
  const text = oneLine(err.message || err.name);
  const sandbox = /^Requires \w+ access to "([^"]*)"/.exec(text);
  if (sandbox) return `access to '${sandbox[1]}' is not allowed`;
  const m = /^(.*?)\s*\(os error \d+\)(?::\s*(\w+)\s+(.*))?$/.exec(text);
  if (!m) return text;
  const reason = m[1].charAt(0).toLowerCase() + m[1].slice(1);
  return m[2] ? `cannot ${m[2]} ${m[3]}: ${reason}` : reason;
}

/** Only the reason of {@linkcode osErrorText}, for messages that already name the file: `file exists`. */
export function osErrorReason(err: unknown): string {
  if (!(err instanceof Error)) return oneLine(String(err));
  const text = osErrorText(err);
  if (text.startsWith("access to '")) return "not allowed";
  const m = /^cannot \w+ .*: ([^:]+)$/.exec(text);
  return m ? m[1] : text;
}

/** Collapse a message to a single line (errors are printed one per line). */
export function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, "; ");
}

/** Format an error the way the CLI prints it: `pbxkit: error: message [CODE]`. */
export function formatError(err: PbxError, prefix = "pbxkit"): string {
  return `${prefix}: error: ${oneLine(err.message)} [${err.code}]`;
}
