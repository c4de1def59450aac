/**
 * Watching input files for `--watch`: the parent directories are watched (editors and build tools often replace a
 * file by renaming a new one over it, which a watch on the file itself misses), events are filtered to the inputs and
 * debounced, and each burst of changes calls `onChange` once, never two at a time.
 *
 * @module
 */

import { dirname, resolve } from "node:path";

/** Options for {@linkcode watchInputs}. */
export interface WatchOptions {
  /** Quiet time after the last event before rebuilding (default 200 ms). */
  debounceMs?: number;
  /** Stops watching when aborted. */
  signal?: AbortSignal;
  /** Called once the watch is in place (changes from then on are seen). */
  onReady?: () => void;
}

/** Call `onChange(changedPaths)` after input files change; resolves when `signal` aborts. */
export async function watchInputs(
  paths: readonly string[],
  onChange: (changed: string[]) => void | Promise<void>,
  options: WatchOptions = {},
): Promise<void> {
  const wanted = new Set(paths.map((p) => resolve(p)));
  const dirs = [...new Set([...wanted].map((p) => dirname(p)))];
  const watcher = Deno.watchFs(dirs, { recursive: false });
  options.onReady?.();
  const debounce = options.debounceMs ?? 200;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending = new Set<string>();
  let running: Promise<void> = Promise.resolve();
  const fire = () => {
    timer = undefined;
    const changed = [...pending];
    pending = new Set();
    running = running.then(() => onChange(changed)).catch(() => {});
  };
  const onAbort = () => watcher.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const ev of watcher) {
      if (ev.kind === "access" || ev.kind === "other") continue;
      const hits = ev.paths.map((p) => resolve(p)).filter((p) => wanted.has(p));
      if (hits.length === 0) continue;
      for (const h of hits) pending.add(h);
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(fire, debounce);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    await running;
  }
}
