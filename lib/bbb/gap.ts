/**
 * `--apps-block auto`: the first free raw region of an eMMC that holds the apps image with a margin, from its
 * partition table. Candidates are the gap between the boot-loader area at the start of the disk and the first
 * partition, the gaps between partitions, and the space after the last one (when the disk size is known).
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { Partition } from "./mbr.ts";
import { hex } from "./uenv.ts";

/**
 * Blocks at the start of a BBB eMMC kept for the boot loader: the MBR, the raw MLO copies at 128/256/384 KiB,
 * u-boot.img at 768 KiB and the u-boot environment at 2.375/2.5 MiB (128 KiB each). 3 MiB clears all of them.
 */
export const BOOT_AREA_BLOCKS = 0x1800;
/** Gap starts are aligned to this many blocks (1 MiB). */
export const GAP_ALIGN = 2048;
/** Extra blocks a gap must hold past the apps image (256 KiB), so it can grow a little. */
export const GAP_MARGIN = 512;

/** Inputs of {@linkcode findAppsGap}. */
export interface GapOptions {
  /** Partitions read from the eMMC table. */
  partitions: readonly Partition[];
  /** Disk size in blocks, when a whole image was given (enables the gap after the last partition). */
  diskBlocks?: number;
  /** Blocks the apps image needs. */
  appsBlocks: number;
  /** Other raw regions to keep clear (the kernel in stable mode or with `--flash-kernel`), end exclusive. */
  avoid?: readonly { start: number; end: number }[];
  /** Blocks kept at the start (default {@linkcode BOOT_AREA_BLOCKS}). */
  bootArea?: number;
  /** Margin in blocks (default {@linkcode GAP_MARGIN}). */
  margin?: number;
}

/** A free gap chosen for the apps. */
export interface Gap {
  /** First block of the apps region. */
  start: number;
  /** One past the last free block of the gap it lies in. */
  end: number;
  /** Where the gap lies, for messages. */
  where: string;
}

/** The free gaps of a disk, in order (end exclusive; `end` is Infinity past the last partition when unknown). */
export function freeGaps(o: Omit<GapOptions, "appsBlocks">): Gap[] {
  const used = [
    ...o.partitions.map((p) => ({ start: p.start, end: p.start + p.sectors, name: `partition ${p.number}` })),
    ...(o.avoid ?? []).map((r) => ({ ...r, name: "kernel" })),
  ].sort((a, b) => a.start - b.start);
  const gaps: Gap[] = [];
  let pos = o.bootArea ?? BOOT_AREA_BLOCKS, prev = "the boot-loader area";
  for (const u of used) {
    if (u.start > pos) gaps.push({ start: pos, end: u.start, where: `after ${prev}, before ${u.name}` });
    if (u.end > pos) {
      pos = u.end;
      prev = u.name;
    }
  }
  if (o.diskBlocks !== undefined && o.diskBlocks > pos) {
    gaps.push({ start: pos, end: o.diskBlocks, where: `after ${prev}, to the end of the disk` });
  }
  return gaps;
}

/** Pick the first gap holding the apps plus the margin; throws `E_INVALID_INPUT` naming the gaps when none does. */
export function findAppsGap(o: GapOptions): Gap {
  const need = o.appsBlocks + (o.margin ?? GAP_MARGIN);
  const gaps = freeGaps(o);
  for (const g of gaps) {
    const start = Math.ceil(g.start / GAP_ALIGN) * GAP_ALIGN;
    const s = start + need <= g.end ? start : g.start;
    if (s + need <= g.end) return { start: s, end: g.end, where: g.where };
  }
  const list = gaps.map((g) => `${hex(g.start)}-${hex(g.end - 1)} (${g.end - g.start} blocks, ${g.where})`);
  throw new PbxError(
    "E_INVALID_INPUT",
    `--apps-block auto: no free eMMC gap holds apps.bin (${o.appsBlocks} blocks + ${
      o.margin ?? GAP_MARGIN
    } margin); free: ${list.length ? list.join("; ") : "none"}${
      o.diskBlocks === undefined
        ? " (give a whole disk image to --emmc-mbr to use the space after the last partition)"
        : ""
    }`,
  );
}
