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
  if (err instanceof Deno.errors.NotFound) return new PbxError("E_NOT_FOUND", oneLine(err.message), { cause: err });
  if (err instanceof Deno.errors.AlreadyExists) return new PbxError("E_EXISTS", oneLine(err.message), { cause: err });
  if (err instanceof Deno.errors.PermissionDenied) {
    return new PbxError("E_PERMISSION", oneLine(err.message), { cause: err });
  }
  if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.ConnectionRefused) {
    return new PbxError("E_NETWORK", oneLine(err.message), { cause: err });
  }
  if (err instanceof Deno.errors.TimedOut) return new PbxError("E_TIMEOUT", oneLine(err.message), { cause: err });
  if (err instanceof Error) return new PbxError("E_INTERNAL", oneLine(err.message || err.name), { cause: err });
  return new PbxError("E_INTERNAL", oneLine(String(err)));
}

/** Collapse a message to a single line (errors are printed one per line). */
export function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, "; ");
}

/** Format an error the way the CLI prints it: `pbxkit: error: message [CODE]`. */
export function formatError(err: PbxError, prefix = "pbxkit"): string {
  return `${prefix}: error: ${oneLine(err.message)} [${err.code}]`;
}
