/**
 * File helpers shared by the subcommands.
 *
 * @module
 */

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Zero-extend (or cut) the file to this many bytes before it is published. */
  size?: number;
  /** Permission bits of the new file (default 0o644). */
  mode?: number;
}

/**
 * Write `data` (one buffer or several in order) to `path` atomically: a uniquely named temp file in the same
 * directory, fsync, then rename over `path`. A crash or an error leaves either the old file or the new one, never
 * half of it, and no temp file behind.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | readonly Uint8Array[],
  options: WriteAtomicOptions = {},
): Promise<void> {
  const chunks = data instanceof Uint8Array ? [data] : data;
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? 0o644 });
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += await f.write(c.subarray(off));
    }
    if (options.size !== undefined) await f.truncate(options.size);
    await f.sync();
  } catch (err) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  f.close();
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
