/**
 * `apps.bin`: a 512-byte table of 32-bit little-endian sizes (one per app, in order, zero-filled), then each app's
 * bytes padded with zeros to a multiple of 512. Each table entry is the app's padded size, so app `i` starts at
 * `512 + sum(entries before i)`.
 *
 * ```text
 * offset 0      +--------------------------------------------+
 *               | u32le size0 | u32le size1 | ... | 0 | 0 ... |  table: 128 entries x 4 bytes = 512 bytes
 * offset 512    +--------------------------------------------+
 *               | app 0 bytes ............ | zero padding    |  size0 bytes (multiple of 512)
 * 512+size0     +--------------------------------------------+
 *               | app 1 bytes ...... | zero padding          |  size1 bytes (multiple of 512)
 *               +--------------------------------------------+
 *               | ...                                        |
 *               +--------------------------------------------+
 * ```
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { crc32 } from "./crc32.ts";

/** eMMC/SD block size, also the table size and the app alignment. */
export const BLOCK = 512;
/** Most apps the 512-byte table can describe. */
export const MAX_APPS: number = BLOCK / 4;

/** Round `n` up to a multiple of 512. */
export function padTo512(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** One entry of an apps image. */
export interface AppEntry {
  /** Position in the table (0-based). */
  index: number;
  /** Byte offset of the app inside apps.bin. */
  offset: number;
  /** The table entry: the padded size in bytes. */
  size: number;
  /** Size in 512-byte blocks. */
  blocks: number;
  /** Bytes that are not trailing zero padding (an upper bound on the app's original length). */
  used: number;
  /** CRC-32 of the padded app bytes. */
  crc32: number;
  /** Name of the input file, when known (packing only). */
  name?: string;
}

/** Result of {@linkcode inspectApps}. */
export interface AppsInfo {
  /** Total size of the file. */
  fileSize: number;
  /** Size the table implies (512 + sum of entries). */
  expectedSize: number;
  /** The apps, in table order. */
  apps: AppEntry[];
  /** Problems found (empty when the file is well-formed). */
  problems: string[];
}

/** Pack apps into an apps image. Each input is padded to 512 bytes; empty apps are refused. */
export function packApps(
  apps: readonly { name: string; data: Uint8Array }[],
): { image: Uint8Array; entries: AppEntry[] } {
  if (apps.length === 0) throw new PbxError("E_USAGE", "at least one --app is needed");
  if (apps.length > MAX_APPS) throw new PbxError("E_LIMIT", `${apps.length} apps: the table holds at most ${MAX_APPS}`);
  let total = BLOCK;
  for (const a of apps) {
    if (a.data.length === 0) throw new PbxError("E_INVALID_INPUT", `app '${a.name}' is empty`);
    const padded = padTo512(a.data.length);
    if (padded > 0xffffffff) throw new PbxError("E_LIMIT", `app '${a.name}' is larger than 4 GiB`);
    total += padded;
  }
  const image = new Uint8Array(total);
  const dv = new DataView(image.buffer);
  const entries: AppEntry[] = [];
  let off = BLOCK;
  apps.forEach((a, i) => {
    const padded = padTo512(a.data.length);
    dv.setUint32(i * 4, padded, true);
    image.set(a.data, off);
    entries.push({
      index: i,
      offset: off,
      size: padded,
      blocks: padded / BLOCK,
      used: a.data.length,
      crc32: crc32(image.subarray(off, off + padded)),
      name: a.name,
    });
    off += padded;
  });
  return { image, entries };
}

/** Read the table of an existing apps image and check it against the file's size. */
export function inspectApps(bytes: Uint8Array): AppsInfo {
  if (bytes.length < BLOCK) {
    throw new PbxError("E_PARSE", `${bytes.length} bytes: too short for an apps image (the table alone is 512)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const problems: string[] = [];
  const apps: AppEntry[] = [];
  let off = BLOCK;
  let ended = false;
  for (let i = 0; i < MAX_APPS; i++) {
    const size = dv.getUint32(i * 4, true);
    if (size === 0) {
      ended = true;
      continue;
    }
    if (ended) {
      problems.push(
        `table entry ${i} is ${size} after a zero entry (the table must be zero-filled after the last app)`,
      );
      continue;
    }
    if (size % BLOCK !== 0) problems.push(`app ${i}: size ${size} is not a multiple of 512`);
    const avail = Math.max(0, Math.min(size, bytes.length - off));
    const body = bytes.subarray(off, off + avail);
    let used = body.length;
    while (used > 0 && body[used - 1] === 0) used--;
    apps.push({ index: i, offset: off, size, blocks: Math.ceil(size / BLOCK), used, crc32: crc32(body) });
    off += size;
    if (avail < size) {
      problems.push(
        `app ${i}: needs ${size} bytes at offset ${off - size}, the file has ${avail} (not an apps image?)`,
      );
      break; // the rest of the table cannot describe this file
    }
  }
  if (apps.length === 0) problems.push("the table is empty (no apps)");
  if (bytes.length > off) problems.push(`${bytes.length - off} bytes after the last app`);
  return { fileSize: bytes.length, expectedSize: off, apps, problems };
}
