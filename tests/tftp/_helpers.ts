/**
 * Helpers shared by the bbb-pack and TFTP tests: random payloads, the `bbb-pack` command line, waiting for a child's
 * log line, and the argv of the real TFTP clients (atftp, curl).
 *
 * @module
 */

import { waitFor } from "../_util/mod.ts";

/** `n` random bytes (filled in 64 KiB steps, the most `getRandomValues` takes at once). */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
  return b;
}

/** Write `n` random bytes to `path` and return them. */
export async function randomFile(path: string, n: number): Promise<Uint8Array> {
  const b = randomBytes(n);
  await Deno.writeFile(path, b);
  return b;
}

/** `bbb-pack --kernel DIR/os.bin --app DIR/a.bin --out OUT`, then `extra`. */
export function bbbPackArgs(dir: string, out: string, extra: readonly string[] = []): string[] {
  return ["bbb-pack", "--kernel", `${dir}/os.bin`, "--app", `${dir}/a.bin`, "--out", out, ...extra];
}

/** Wait until a child's stderr says `ready` (or reports an error), for at most 30 s. */
export async function waitForLog(p: { readonly stderr: string }, ready: string, what: string): Promise<void> {
  await waitFor(() => p.stderr.includes(ready) || p.stderr.includes("error:"), { timeoutMs: 30_000, what });
}

/** atftp downloading `remote` to `local` from `host`:`port` with `--option` values such as `blksize 1428`. */
export function atftpGet(
  options: readonly string[],
  files: { remote: string; local: string },
  server: { host: string; port: number },
): string[] {
  return [
    "atftp",
    ...options.flatMap((o) => ["--option", o]),
    "-g",
    "-r",
    files.remote,
    "-l",
    files.local,
    server.host,
    String(server.port),
  ];
}

/** curl fetching `url` into `out` within `maxSeconds`. */
export function curlGet(url: string, out: string, maxSeconds: number): string[] {
  return ["curl", "-sS", "--max-time", String(maxSeconds), "-o", out, url];
}
