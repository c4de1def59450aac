/**
 * Running external programs safely: always an argv array (never a shell), with captured output, a time limit and
 * a clear {@linkcode PbxError} when the tool is missing or fails.
 *
 * @module
 */

import { PbxError } from "./errors.ts";

/** Result of {@linkcode runArgv}. */
export interface RunResult {
  /** Exit status (non-zero only when `check` is false; a timeout throws instead). */
  code: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Options for {@linkcode runArgv}. */
export interface RunOptions {
  /** Kill the process after this many milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Bytes for standard input. */
  stdin?: Uint8Array | string;
  /** Throw when the exit status is not 0 (default true). */
  check?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** Run `argv[0]` with `argv.slice(1)` as arguments, no shell involved. */
export async function runArgv(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new PbxError("E_INTERNAL", "runArgv: empty argv");
  const cmd = new Deno.Command(argv[0], {
    args: argv.slice(1) as string[],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
    cwd: options.cwd,
  });
  let child: Deno.ChildProcess;
  try {
    child = cmd.spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PbxError("E_TOOL_MISSING", `${argv[0]} is not installed or not on PATH`, { cause: err });
    }
    throw err;
  }
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin);
    await w.close();
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const result = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (timedOut) throw new PbxError("E_TIMEOUT", `${argv[0]} did not finish within ${timeoutMs} ms`);
  if ((options.check ?? true) && result.code !== 0) {
    const why = (result.stderr || result.stdout).trim().split("\n").slice(-1)[0] ?? "";
    throw new PbxError("E_EXTERNAL", `${argv[0]} exited with status ${result.code}${why ? `: ${why}` : ""}`);
  }
  return result;
}

/** True when `name` resolves to an executable on PATH (or is an executable path). */
export function hasCommand(name: string): boolean {
  const dirs = name.includes("/") ? [""] : (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const d of dirs) {
    try {
      const st = Deno.statSync(d ? `${d}/${name}` : name);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch { /* not here */ }
  }
  return false;
}
