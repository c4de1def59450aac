/**
 * Confining requested file names to the server root: no absolute paths, no `..`, no symlink that resolves outside
 * the root (checked with `realPath`, and the resolved path is what gets opened).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { ERR, PacketError } from "./packet.ts";

function segments(name: string): string[] {
  if (name.startsWith("/")) throw new PacketError(ERR.ACCESS, "absolute paths are not served");
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f]/.test(name)) throw new PacketError(ERR.ACCESS, "control characters in file name");
  const parts = name.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.some((s) => s === "..")) throw new PacketError(ERR.ACCESS, "'..' is not allowed");
  if (parts.length === 0) throw new PacketError(ERR.ACCESS, "no file name");
  return parts;
}

function inside(rootReal: string, p: string): boolean {
  return p === rootReal || p.startsWith(rootReal.endsWith("/") ? rootReal : rootReal + "/");
}

/** Resolve a file to read; throws {@linkcode PacketError} (not found / access violation). */
export async function resolveRead(rootReal: string, name: string): Promise<string> {
  const joined = join(rootReal, ...segments(name));
  let real: string;
  try {
    real = await Deno.realPath(joined);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new PacketError(ERR.NOT_FOUND, "file not found");
    throw new PacketError(ERR.ACCESS, "access violation");
  }
  if (!inside(rootReal, real)) throw new PacketError(ERR.ACCESS, "access violation (outside the root)");
  const st = await Deno.stat(real).catch(() => undefined);
  if (!st) throw new PacketError(ERR.NOT_FOUND, "file not found");
  if (!st.isFile) throw new PacketError(ERR.ACCESS, "not a regular file");
  return real;
}

/** Resolve where an upload goes: the parent must exist inside the root; an existing target must resolve inside. */
export async function resolveWrite(rootReal: string, name: string): Promise<string> {
  const joined = join(rootReal, ...segments(name));
  let dir: string;
  try {
    dir = await Deno.realPath(dirname(joined));
  } catch {
    throw new PacketError(ERR.NOT_FOUND, "directory not found");
  }
  if (!inside(rootReal, dir)) throw new PacketError(ERR.ACCESS, "access violation (outside the root)");
  const target = join(dir, basename(joined));
  const lst = await Deno.lstat(target).catch(() => undefined);
  if (lst?.isSymlink) {
    const real = await Deno.realPath(target).catch(() => undefined);
    if (!real || !inside(rootReal, real)) throw new PacketError(ERR.ACCESS, "access violation (symlink out of root)");
    return real;
  }
  if (lst && !lst.isFile) throw new PacketError(ERR.ACCESS, "not a regular file");
  return target;
}
