/**
 * Mapping trace addresses to cache keys. Object traces use the object id. Block traces intern each volume (MSR
 * `hostname_disk`, blkparse `maj,min`, SPC ASU, fio file name) to a dense id as it is first seen
 * ({@linkcode VolumeTable}), and the key of block `b` on volume `v` is `v · span + b` with
 * `span = ⌈2^53 / blockSize⌉`. Every offset below 2^53 bytes gives a block below `span`, so two distinct
 * (volume, block) pairs never share a key while `v < maxVolumes` (`⌊2^53 / span⌋`: 4096 volumes at 4 KiB blocks,
 * 512 at 512-byte blocks; see {@linkcode keySpace}). Offsets of 2^53 bytes (8 PiB) and more are not exact in
 * a JS number: the trace readers refuse them with `E_PARSE` ({@linkcode checkOffset}) instead of merging blocks.
 * {@linkcode batchKeys} fills a batch's keys (the key path every model, the MRC and the next-use pass share).
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { AddressUnit, RequestBatch } from "./traces/batch.ts";

/** The first byte offset (and object id) that a JS number cannot hold exactly next to its neighbours: 2^53. */
export const OFFSET_LIMIT = 2 ** 53;

/** How keys are laid out for one block size. */
export interface KeySpace {
  /** Block size in bytes. */
  blockSize: number;
  /** Keys per volume (`⌈2^53 / blockSize⌉`): every block of an offset below 2^53 is below it. */
  span: number;
  /** Volumes that fit below 2^53 (`⌊2^53 / span⌋`). */
  maxVolumes: number;
}

/** The key layout for `blockSize`. */
export function keySpace(blockSize: number): KeySpace {
  if (!(blockSize >= 1) || !Number.isInteger(blockSize)) {
    throw new PbxError("E_USAGE", `block size ${blockSize} is not a positive integer`);
  }
  const span = Math.ceil(OFFSET_LIMIT / blockSize);
  return { blockSize, span, maxVolumes: Math.floor(OFFSET_LIMIT / span) };
}

/** Fail loudly when a trace has more volumes than `space` keeps apart. */
export function checkVolumes(volumes: number, space: KeySpace): void {
  if (volumes > space.maxVolumes) {
    throw new PbxError(
      "E_USAGE",
      `the trace has ${volumes} volumes; at --block-size ${space.blockSize} cache keys keep at most ${space.maxVolumes} apart (use a larger --block-size)`,
    );
  }
}

/**
 * Key of block `block` on volume `vol` (a dense id below `space.maxVolumes`, `block` below `space.span`).
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function volumeKey(vol: number, block: number, span: number): number {
  return vol * span + block;
}

/**
 * Key of the block at byte `offset` on volume `vol`.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function blockKey(vol: number, offset: number, space: KeySpace): number {
  return vol * space.span + Math.floor(offset / space.blockSize);
}

/** The (volume, block) of a key made by {@linkcode volumeKey}. */
export function splitKey(key: number, span: number): { vol: number; block: number } {
  const vol = Math.floor(key / span);
  return { vol, block: key - vol * span };
}

/**
 * Refuse an offset (or object id) that a JS number does not hold exactly: `E_PARSE` naming what and where, whether
 * or not malformed lines are skipped, because silently merging blocks gives wrong miss ratios.
 */
export function checkOffset(value: number, what: string, where: string): void {
  if (value >= OFFSET_LIMIT) {
    throw new PbxError(
      "E_PARSE",
      `${where}: ${what} ${value} is past 2^53 (8 PiB); JS numbers are not exact there, so blocks would merge — cache-sim refuses such traces`,
    );
  }
}

/**
 * Volumes interned to dense ids (0, 1, 2, ...) in the order a trace first names them, with their display names
 * (`hm_0`, `8,16`, `asu2`, a file name). A trace read twice interns the same names to the same ids.
 */
export class VolumeTable {
  readonly #ids = new Map<string, number>();
  /** Display names, indexed by id. */
  readonly names: string[] = [];

  /** The id of `name`, interning it when new. */
  intern(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.#ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /** Volumes seen. */
  get size(): number {
    return this.names.length;
  }
}

/** How {@linkcode batchKeys} maps addresses to keys (make it once per trace, not per batch). */
export interface KeyOptions {
  /** Address unit of the trace: objects are their own keys, bytes map to blocks. */
  unit: AddressUnit;
  /** Block size for byte-addressed traces. */
  blockSize: number;
  /** Volume names of the trace (checked against the key space as they grow). */
  volumes?: readonly string[];
}

/** Fill `keys` with the batch's cache keys. */
export function batchKeys(b: RequestBatch, keys: Float64Array, options: KeyOptions): void {
  if (options.unit === "object") keys.set(b.addr.subarray(0, b.n));
  else {
    const space = spaceOf(options);
    if (options.volumes) checkVolumes(options.volumes.length, space);
    const { span, blockSize } = space;
    const dev = b.dev, addr = b.addr;
    for (let i = 0; i < b.n; i++) keys[i] = dev[i] * span + Math.floor(addr[i] / blockSize);
  }
}

const spaces = new Map<number, KeySpace>();
function spaceOf(options: KeyOptions): KeySpace {
  let s = spaces.get(options.blockSize);
  if (!s) spaces.set(options.blockSize, s = keySpace(options.blockSize));
  return s;
}
