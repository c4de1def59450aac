/**
 * Layout checks for the BeagleBone Black: RAM regions must not overlap each other, must stay inside DDR (512 MiB
 * from 0x80000000) and below where u-boot relocates itself (the top of DDR: code, malloc arena, stack); raw eMMC
 * regions must not overlap each other, and a warning is raised when they overlap a partition of a given eMMC layout.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { Partition } from "./mbr.ts";
import { SECTOR } from "./mbr.ts";
import { hex } from "./uenv.ts";

/** BBB DDR3 base address. */
export const DDR_BASE = 0x80000000;
/** BBB DDR3 size (512 MiB). */
export const DDR_SIZE: number = 512 * 1024 * 1024;
/**
 * Bytes at the top of DDR that u-boot occupies after relocation on the AM335x: its code and data at
 * ~0x9ff4xxxx, a 32 MiB malloc arena below, the device tree and board info, then the stack growing down from
 * ~0x9df2xxxx. 34 MiB keeps clear of all of it.
 */
export const UBOOT_RESERVE: number = 34 * 1024 * 1024;

/** A named range (RAM bytes or eMMC blocks), end exclusive. */
export interface Region {
  /** What the range holds (`kernel`, `apps`, `u-boot (relocated)`). */
  name: string;
  /** First byte address (RAM) or first 512-byte block (eMMC). */
  start: number;
  /** One past the last byte address or block. */
  end: number;
}

/** Inputs of {@linkcode checkLayout}. */
export interface LayoutInput {
  /**
   * Boot mode: `dev` loads the apps into RAM and writes them to the eMMC; `stable` only reads the kernel from the
   * eMMC.
   */
  mode: "dev" | "stable";
  /** RAM address the kernel is loaded at. */
  kernelAddr: number;
  /** Kernel size in bytes. */
  kernelSize: number;
  /** RAM address `apps.bin` is loaded at (dev mode). */
  appsAddr: number;
  /** `apps.bin` size in bytes. */
  appsSize: number;
  /** eMMC block `apps.bin` is written to (dev mode). */
  appsBlock: number;
  /** eMMC block of the kernel (stable mode, or dev mode with `flashKernel`). */
  kernelBlock: number;
  /** dev mode also writes the kernel to the eMMC. */
  flashKernel?: boolean;
  /** DDR start address (default {@linkcode DDR_BASE}). */
  ddrBase?: number;
  /** DDR size in bytes (default {@linkcode DDR_SIZE}, 512 MiB). */
  ddrSize?: number;
  /** Bytes at the top of DDR reserved for relocated u-boot (default {@linkcode UBOOT_RESERVE}, 34 MiB). */
  ubootReserve?: number;
  /** Partitions of the eMMC (from `--emmc-mbr`). */
  emmcPartitions?: readonly Partition[];
  /** eMMC size in sectors, when known (a whole disk image was given). */
  emmcSectors?: number;
}

/** What {@linkcode checkLayout} found. */
export interface LayoutReport {
  /** RAM regions in bytes: the kernel, then the apps in dev mode. */
  ram: Region[];
  /** Raw eMMC regions in blocks: the apps in dev mode, the kernel in stable mode or with `flashKernel`. */
  emmc: Region[];
  /** The top of DDR kept for relocated u-boot, in bytes. */
  reserved: Region;
  /** Risky but allowed findings (misaligned addresses, overlaps with eMMC partitions or past its end). */
  warnings: string[];
}

function overlaps(a: Region, b: Region): boolean {
  return a.start < b.end && b.start < a.end;
}

function fmtRam(r: Region): string {
  return `${r.name} ${hex(r.start)}-${hex(r.end - 1)}`;
}

/** Check a layout; throws `E_INVALID_INPUT` for a layout that cannot work, returns warnings for risky ones. */
export function checkLayout(input: LayoutInput): LayoutReport {
  const ddrBase = input.ddrBase ?? DDR_BASE;
  const ddrEnd = ddrBase + (input.ddrSize ?? DDR_SIZE);
  if (ddrEnd > 2 ** 32) {
    throw new PbxError(
      "E_INVALID_INPUT",
      `DDR ${hex(ddrBase)} + ${input.ddrSize} bytes runs past the 32-bit address space`,
    );
  }
  if ((input.ubootReserve ?? UBOOT_RESERVE) > (input.ddrSize ?? DDR_SIZE)) {
    throw new PbxError("E_INVALID_INPUT", "the u-boot reserve (--uboot-reserve) is larger than the DDR (--ddr-size)");
  }
  const reserved: Region = {
    name: "u-boot (relocated)",
    start: ddrEnd - (input.ubootReserve ?? UBOOT_RESERVE),
    end: ddrEnd,
  };
  const warnings: string[] = [];
  const ram: Region[] = [{ name: "kernel", start: input.kernelAddr, end: input.kernelAddr + input.kernelSize }];
  if (input.mode === "dev") ram.push({ name: "apps", start: input.appsAddr, end: input.appsAddr + input.appsSize });
  for (const r of ram) {
    if (r.start < ddrBase || r.end > ddrEnd) {
      throw new PbxError(
        "E_INVALID_INPUT",
        `${fmtRam(r)} is outside DDR ${hex(ddrBase)}-${hex(ddrEnd - 1)} (${(ddrEnd - ddrBase) >> 20} MiB)`,
      );
    }
    if (overlaps(r, reserved)) {
      throw new PbxError(
        "E_INVALID_INPUT",
        `${fmtRam(r)} runs into where u-boot relocates itself (${hex(reserved.start)}-${hex(reserved.end - 1)})`,
      );
    }
    if (r.start % 4 !== 0) warnings.push(`${r.name} address ${hex(r.start)} is not 4-byte aligned`);
  }
  if (ram.length === 2 && overlaps(ram[0], ram[1])) {
    throw new PbxError("E_INVALID_INPUT", `RAM regions overlap: ${fmtRam(ram[0])} and ${fmtRam(ram[1])}`);
  }
  const emmc: Region[] = [];
  const kblocks = Math.ceil(input.kernelSize / SECTOR), ablocks = Math.ceil(input.appsSize / SECTOR);
  if (input.mode === "dev") emmc.push({ name: "apps", start: input.appsBlock, end: input.appsBlock + ablocks });
  if (input.mode === "stable" || input.flashKernel) {
    emmc.push({ name: "kernel", start: input.kernelBlock, end: input.kernelBlock + kblocks });
  }
  if (emmc.length === 2 && overlaps(emmc[0], emmc[1])) {
    throw new PbxError(
      "E_INVALID_INPUT",
      `eMMC regions overlap: apps blocks ${hex(emmc[0].start)}-${hex(emmc[0].end - 1)} and kernel blocks ${
        hex(emmc[1].start)
      }-${hex(emmc[1].end - 1)}`,
    );
  }
  for (const r of emmc) {
    const span = `${r.name} blocks ${hex(r.start)}-${hex(r.end - 1)}`;
    if (r.start === 0) warnings.push(`raw eMMC ${span} overwrites the partition table (block 0)`);
    for (const p of input.emmcPartitions ?? []) {
      const pr = { name: "", start: p.start, end: p.start + p.sectors };
      if (overlaps(r, pr)) {
        warnings.push(
          `raw eMMC ${span} overlaps partition ${p.number} (${p.label}, blocks ${hex(p.start)}-${hex(pr.end - 1)})`,
        );
      }
    }
    if (input.emmcSectors !== undefined && r.end > input.emmcSectors) {
      warnings.push(`raw eMMC ${span} runs past the end of the eMMC image (${input.emmcSectors} blocks)`);
    }
  }
  return { ram, emmc, reserved, warnings };
}
