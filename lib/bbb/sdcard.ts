/**
 * A ready SD-card image for the BeagleBone Black: an MBR with one active FAT32 (LBA) partition at 1 MiB holding
 * `MLO` (first), `u-boot.img` and `uEnv.txt`. Byte-for-byte reproducible: fixed times, volume id and disk id
 * derived from the contents.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { crc32 } from "./crc32.ts";
import { buildFat32 } from "./fat32.ts";
import type { FatFile } from "./fat32.ts";
import { buildMbr, SECTOR } from "./mbr.ts";

/** First sector of the partition (1 MiB alignment, as partitioning tools do). */
export const SD_PART_START = 2048;
/** Default partition size. */
export const SD_PART_SIZE: number = 64 * 1024 * 1024;

/** Inputs of {@linkcode buildSdCard}. */
export interface SdCardOptions {
  /** The first-stage loader (`MLO`). */
  mlo: Uint8Array;
  /** The u-boot image (`u-boot.img`). */
  uboot: Uint8Array;
  /** The generated `uEnv.txt`. */
  uenv: Uint8Array;
  /** Partition size in bytes (default 64 MiB; at least ~33 MiB for FAT32). */
  partitionSize?: number;
  /** File times in seconds since the epoch (default the DOS epoch). */
  time?: number;
  /** Volume label (default `BBB-BOOT`). */
  label?: string;
  /** Extra files after the three boot files. */
  extra?: readonly FatFile[];
}

/** A built SD-card image: bytes up to the last used sector, and the full size (the rest is zeros). */
export interface SdCardImage {
  /** Image bytes from sector 0 (MBR) to the last used sector of the FAT32 volume. */
  head: Uint8Array;
  /** Full image size in bytes (partition start plus partition size). */
  size: number;
  /** First sector of the FAT32 partition ({@linkcode SD_PART_START}). */
  partitionStart: number;
  /** Partition length in 512-byte sectors. */
  partitionSectors: number;
  /** FAT32 volume id, a CRC-32 of the file names and contents. */
  volumeId: number;
  /** MBR disk signature, derived from the same CRC as `volumeId`. */
  diskId: number;
}

/** Build the SD-card image in memory (only the used prefix; the caller extends the file with zeros). */
export function buildSdCard(o: SdCardOptions): SdCardImage {
  const partSize = o.partitionSize ?? SD_PART_SIZE;
  if (partSize % SECTOR !== 0) throw new PbxError("E_INVALID_INPUT", "SD partition size must be a multiple of 512");
  const partSectors = partSize / SECTOR;
  const files: FatFile[] = [
    { name: "MLO", data: o.mlo },
    { name: "u-boot.img", data: o.uboot },
    { name: "uEnv.txt", data: o.uenv },
    ...(o.extra ?? []),
  ];
  let h = 0;
  for (const f of files) h = crc32(f.data, crc32(new TextEncoder().encode(f.name), h));
  const volumeId = h;
  const diskId = crc32(new Uint8Array([1, 2, 3, 4]), h);
  const vol = buildFat32(files, {
    sectors: partSectors,
    hiddenSectors: SD_PART_START,
    volumeId,
    label: o.label ?? "BBB-BOOT",
    time: o.time,
  });
  const mbr = buildMbr([{ start: SD_PART_START, sectors: partSectors, type: 0x0c, active: true }], { diskId });
  const head = new Uint8Array(SD_PART_START * SECTOR + vol.head.length);
  head.set(mbr, 0);
  head.set(vol.head, SD_PART_START * SECTOR);
  return {
    head,
    size: SD_PART_START * SECTOR + vol.size,
    partitionStart: SD_PART_START,
    partitionSectors: partSectors,
    volumeId,
    diskId,
  };
}
