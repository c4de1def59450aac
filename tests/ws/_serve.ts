/**
 * Test helpers: run `pbxkit ws-serve` as a real subprocess and learn its port from the line it prints, run a Python
 * client, read a process's resident memory.
 *
 * @module
 */

import { cliArgv, Proc, waitFor } from "../_util/mod.ts";

/** A running `pbxkit ws-serve`. */
export interface Served {
  proc: Proc;
  port: number;
  url: string;
}

/** Start `pbxkit ws-serve --port 0 ARGS` (or `options.port`) and wait for its `listening on` line. */
export async function startServe(
  args: string[],
  options: { defaultPort?: boolean; port?: number; env?: Record<string, string> } = {},
): Promise<Served> {
  const portArgs = options.defaultPort ? [] : ["--port", String(options.port ?? 0)];
  const proc = new Proc(cliArgv(["ws-serve", ...portArgs, ...args]), {
    env: { NO_COLOR: "1", ...options.env },
  });
  let m: RegExpExecArray | null = null;
  let exited = false;
  proc.done.finally(() => exited = true).catch(() => {});
  try {
    // an early exit (e.g. the port was taken) ends the wait at once instead of after the timeout
    await waitFor(() => (m = /listening on (wss?:\/\/[^\s]+:(\d+)\/)/.exec(proc.stdout)) !== null || exited, {
      timeoutMs: 30_000,
      what: "ws-serve to listen",
    });
    if (m === null) throw new Error("ws-serve exited before listening");
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}; stderr: ${proc.stderr}`);
  }
  const mm = m as unknown as RegExpExecArray;
  return { proc, port: Number(mm[2]), url: mm[1] };
}

/** Run a Python 3 script (Debian's interpreter, which has python3-websockets) with a timeout. */
export async function python(
  dir: string,
  script: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = `${dir}/client_${Math.random().toString(36).slice(2)}.py`;
  await Deno.writeTextFile(file, script);
  const child = new Deno.Command("/usr/bin/python3", { args: [file, ...args], stdout: "piped", stderr: "piped" })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Resident memory of a process in KiB (from /proc). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}
