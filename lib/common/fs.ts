/**
 * File helpers shared by the subcommands.
 *
 * @module
 */

import { osErrorReason, PbxError } from "./errors.ts";

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
 * half of it, and no temp file behind. A failure rethrows the same error class (`Deno.errors.NotFound`, ...) with a
 * one-line message naming `path` (not the temp file); a directory at `path` is a `PbxError` `E_INVALID_INPUT`.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | readonly Uint8Array[],
  options: WriteAtomicOptions = {},
): Promise<void> {
  const chunks = data instanceof Uint8Array ? [data] : data;
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fail = (err: unknown): unknown => {
    if (!(err instanceof Error) || !(Object.values(Deno.errors) as unknown[]).includes(err.constructor)) return err;
    const Cls = err.constructor as new (message: string, options?: ErrorOptions) => Error;
    return new Cls(`cannot write '${path}': ${osErrorReason(err)}`, { cause: err });
  };
  let f: Deno.FsFile;
  try {
    f = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? 0o644 });
  } catch (err) {
    throw fail(err);
  }
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
    throw fail(err);
  }
  f.close();
  try {
    if ((await Deno.stat(path).catch(() => undefined))?.isDirectory) {
      throw new PbxError("E_INVALID_INPUT", `cannot write '${path}': it is a directory`);
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw fail(err);
  }
}

/** Options for {@linkcode openRead}. */
export interface OpenReadOptions {
  /** How error messages name the file: the flag it came from (`--pcap`) or what it is (`trace`). Default `file`. */
  what?: string;
}

/** A file opened by {@linkcode openRead}, with what `stat` said of it. */
export interface OpenedFile {
  /** The open file (the caller closes it). */
  file: Deno.FsFile;
  /** Its metadata (a regular file). */
  info: Deno.FileInfo;
}

/**
 * Open an input file for reading, with one-line errors that name it: `E_NOT_FOUND` "WHAT 'PATH' does not exist",
 * `E_PERMISSION` "cannot read WHAT 'PATH': permission denied", `E_INVALID_INPUT` "WHAT 'PATH' is not a regular file"
 * (a directory, a device). The one place the subcommands open their inputs.
 */
export async function openRead(path: string, options: OpenReadOptions = {}): Promise<OpenedFile> {
  const what = options.what ?? "file";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new PbxError("E_NOT_FOUND", `${what} '${path}' does not exist`);
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new PbxError("E_PERMISSION", `cannot read ${what} '${path}': permission denied`);
    }
    throw new PbxError("E_INVALID_INPUT", `cannot read ${what} '${path}': ${(err as Error).message}`);
  }
  const info = await file.stat();
  if (!info.isFile) {
    file.close();
    throw new PbxError("E_INVALID_INPUT", `${what} '${path}' is not a regular file`);
  }
  return { file, info };
}

/** Options for {@linkcode checkOutputPath}. */
export interface CheckOutputOptions {
  /** How error messages name the file: the flag it came from (`--record`). Default `output file`. */
  what?: string;
}

/**
 * Check, before any work, that a file can be created at `path`: its directory exists and is a directory, and `path`
 * itself is not a directory. Throws a one-line {@linkcode PbxError} (`E_NOT_FOUND`, `E_INVALID_INPUT`) naming it, so
 * a long run does not end by failing to save its result.
 */
export async function checkOutputPath(path: string, options: CheckOutputOptions = {}): Promise<void> {
  const what = options.what ?? "output file";
  if (!path) throw new PbxError("E_USAGE", `${what}: give a file name`);
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const dirInfo = await Deno.stat(dir).catch(() => undefined);
  if (!dirInfo) throw new PbxError("E_NOT_FOUND", `${what} '${path}': directory '${dir}' does not exist`);
  if (!dirInfo.isDirectory) throw new PbxError("E_INVALID_INPUT", `${what} '${path}': '${dir}' is not a directory`);
  if ((await Deno.stat(path).catch(() => undefined))?.isDirectory) {
    throw new PbxError("E_INVALID_INPUT", `${what} '${path}' is a directory`);
  }
}
