/**
 * The BeagleBone Black bare-metal dev loop: pack `os.bin`, `apps.bin`, `uEnv.txt`, an optional legacy `uImage`
 * and an optional SD-card image, after checking the RAM and eMMC layout. Outputs are written atomically (a
 * TFTP transfer or a board reset never sees half a file).
 *
 * @module
 */

import { basename, join } from "node:path";
import { log, openRead, osErrorReason, PbxError, toPbxError, writeFileAtomic } from "../common/mod.ts";
import { inspectApps, packApps } from "./apps_image.ts";
import type { AppEntry, AppsInfo } from "./apps_image.ts";
import { crc32, hex32 } from "./crc32.ts";
import { checkLayout } from "./layout.ts";
import type { LayoutReport } from "./layout.ts";
import { findAppsGap } from "./gap.ts";
import type { Gap } from "./gap.ts";
import { fileSectorReader, readPartitions } from "./mbr.ts";
import type { Partition } from "./mbr.ts";
import { buildSdCard, SD_PART_SIZE } from "./sdcard.ts";
import { buildUImage, parseUImage, UIMAGE_MAGIC } from "./uimage.ts";
import type { UImageHeader } from "./uimage.ts";
import { blocks, buildUEnv, buildUEnvCmd, hex } from "./uenv.ts";
import { buildSelfUpdateUEnv, SELF_UPDATE_SCRATCH, selfUpdateCmd } from "./self_update.ts";
import type { BootMode } from "./uenv.ts";

export * from "./apps_image.ts";
export * from "./console.ts";
export * from "./crc32.ts";
export * from "./fat32.ts";
export * from "./gap.ts";
export * from "./layout.ts";
export * from "./mbr.ts";
export * from "./sdcard.ts";
export * from "./self_update.ts";
export * from "./uenv.ts";
export * from "./uimage.ts";
export * from "./watch.ts";

/** Default largest kernel accepted (80 MiB). */
export const DEFAULT_KERNEL_MAX: number = 80 * 1024 * 1024;
/** Default addresses and blocks. */
export const DEFAULTS = {
  kernelAddr: 0x80000000,
  appsAddr: 0x90000000,
  appsBlock: 0x28000,
  kernelBlock: 0x800,
} as const;

/** Inputs of {@linkcode pack}. */
export interface PackOptions {
  /** Kernel binary (`os.bin`). */
  kernel: string;
  /** App binaries, in table order. */
  apps: readonly string[];
  /** Output directory (created if missing). */
  outDir: string;
  /** Boot mode written to `uEnv.txt` (default `dev`). */
  mode?: BootMode;
  /** Board IPv4 address set by `uEnv.txt` in dev mode; when undefined, u-boot's saved `ipaddr` is used. */
  ipaddr?: string;
  /** TFTP server IPv4 address set by `uEnv.txt` in dev mode; when undefined, u-boot's saved `serverip` is used. */
  serverip?: string;
  /** RAM address the kernel is loaded at and started from (default `0x80000000`). */
  kernelAddr?: number;
  /** RAM address `apps.bin` is loaded at in dev mode (default `0x90000000`). */
  appsAddr?: number;
  /**
   * eMMC block (512 bytes) `apps.bin` is written to in dev mode (default `0x28000`); `auto` picks the first free
   * gap of the `emmcMbr` layout that holds it with a margin (see {@linkcode findAppsGap}).
   */
  appsBlock?: number | "auto";
  /** eMMC block (512 bytes) of the kernel: read in stable mode, written with `flashKernel` (default `0x800`). */
  kernelBlock?: number;
  /** dev mode: also write the kernel to the eMMC at `kernelBlock`. */
  flashKernel?: boolean;
  /** Refuse kernels larger than this (default 80 MiB). */
  kernelMax?: number;
  /** Also write `uImage` (legacy header). */
  uimage?: boolean;
  /** uImage name (default the kernel's file name, cut to 31 bytes). */
  uimageName?: string;
  /** SD-card image path; needs `mlo` and `uboot`. */
  sdcard?: string;
  /** First-stage loader (`MLO`) for the SD-card image; required with `sdcard`. */
  mlo?: string;
  /** u-boot image (`u-boot.img`) for the SD-card image; required with `sdcard`. */
  uboot?: string;
  /** SD-card FAT32 partition size in bytes (default 64 MiB). */
  sdcardSize?: number;
  /** eMMC layout (MBR sector or disk image) to check raw writes against. */
  emmcMbr?: string;
  /**
   * Make `uEnv.txt` self-updating (see {@linkcode buildSelfUpdateUEnv}): `part` is the boot partition it rewrites
   * (default `mmc 1:1`), `replaceStable` lets this dev script replace a stable self-updating one.
   */
  selfUpdate?: { part?: string; replaceStable?: boolean };
  /** DDR start address (default `0x80000000`, the AM335x's; QEMU's ARM virt board has its RAM at `0x40000000`). */
  ddrBase?: number;
  /** DDR size in bytes from `ddrBase` (default 512 MiB). */
  ddrSize?: number;
  /** Bytes at the top of DDR kept free for relocated u-boot (default 34 MiB). */
  ubootReserve?: number;
  /** Seconds since the epoch for timestamps (`SOURCE_DATE_EPOCH`); default: read from the environment. */
  sourceDateEpoch?: number;
}

/** One written file. */
export interface OutputFile {
  /** File name inside the output directory (`os.bin`, `apps.bin`, `uEnv.txt`, `uImage`). */
  name: string;
  /** Path the file was written to (the output directory joined with `name`). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Size in 512-byte blocks, rounded up. */
  blocks: number;
  /** CRC-32 of the file as `0x` and 8 lowercase hex digits. */
  crc32: string;
}

/** What {@linkcode pack} did. */
export interface PackReport {
  /** Output directory the files were written to. */
  outDir: string;
  /** Boot mode used for `uEnv.txt`. */
  mode: BootMode;
  /** The files written to `outDir`, in write order. */
  files: OutputFile[];
  /** The table entries of `apps.bin`, one per app. */
  apps: AppEntry[];
  /** The `uenvcmd` value written to `uEnv.txt` (without `uenvcmd=`). */
  uenvcmd: string;
  /** RAM and eMMC regions checked, and the layout warnings. */
  layout: LayoutReport;
  /** eMMC partitions read from `emmcMbr`; undefined when no eMMC layout was given. */
  partitions?: Partition[];
  /** The gap `--apps-block auto` chose; undefined otherwise. */
  appsGap?: Gap;
  /** Layout warnings (also logged with `log.warn`). */
  warnings: string[];
  /** Parsed header of the written `uImage`; undefined unless `uimage` was set. */
  uimage?: UImageHeader;
  /**
   * The SD-card image written (undefined unless `sdcard` was set): its path, full size in bytes, partition start
   * sector and length in sectors, and FAT32 volume id (`0x` + 8 hex digits).
   */
  sdcard?: { path: string; size: number; partitionStart: number; partitionSectors: number; volumeId: string };
}

/** `SOURCE_DATE_EPOCH` from the environment, validated; undefined when unset. */
export function sourceDateEpoch(): number | undefined {
  const v = Deno.env.get("SOURCE_DATE_EPOCH");
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new PbxError("E_USAGE", `SOURCE_DATE_EPOCH='${v}' is not a number of seconds`);
  return Number(v);
}

/** Options for {@linkcode readInput}. */
export interface ReadInputOptions {
  /** Largest size accepted, in bytes (default 1 GiB); larger files fail with `E_LIMIT`. */
  limit?: number;
}

/** Read a whole input file with a size limit and a clear error naming `what` (the flag it came from). */
export async function readInput(path: string, what: string, options: ReadInputOptions = {}): Promise<Uint8Array> {
  const limit = options.limit ?? (1 << 30);
  const { file, info } = await openRead(path, { what });
  try {
    if (info.size > limit) {
      throw new PbxError("E_LIMIT", `${what} '${path}' is ${info.size} bytes, over the limit of ${limit} bytes`);
    }
    const data = new Uint8Array(info.size);
    let off = 0;
    while (off < data.length) {
      const n = await file.read(data.subarray(off));
      if (n === null) break;
      off += n;
    }
    return off === data.length ? data : data.subarray(0, off);
  } finally {
    file.close();
  }
}

/** `crc` is the CRC-32 of `data` when the caller already has it. */
function fileInfo(name: string, path: string, data: Uint8Array, crc = crc32(data)): OutputFile {
  return { name, path, size: data.length, blocks: blocks(data.length), crc32: hex32(crc) };
}

/** Build every output from the inputs; throws before writing anything when a check fails. */
export async function pack(o: PackOptions): Promise<PackReport> {
  const mode = o.mode ?? "dev";
  const kernelMax = o.kernelMax ?? DEFAULT_KERNEL_MAX;
  const kernel = await readInput(o.kernel, "--kernel", { limit: kernelMax });
  if (kernel.length === 0) throw new PbxError("E_INVALID_INPUT", `--kernel '${o.kernel}' is empty`);
  // One pass over the kernel: reused for os.bin's report, the uImage header's data CRC and its parsed report.
  const kernelCrc = crc32(kernel);
  const apps = [];
  for (const a of o.apps) apps.push({ name: basename(a), data: await readInput(a, "--app") });
  const { image: appsBin, entries } = packApps(apps);
  const kernelAddr = o.kernelAddr ?? DEFAULTS.kernelAddr;
  const appsAddr = o.appsAddr ?? DEFAULTS.appsAddr;
  const kernelBlock = o.kernelBlock ?? DEFAULTS.kernelBlock;

  let partitions: Partition[] | undefined;
  let emmcSectors: number | undefined;
  if (o.emmcMbr) {
    const { file: f, info: st } = await openRead(o.emmcMbr, { what: "--emmc-mbr" });
    try {
      partitions = readPartitions(fileSectorReader(f));
    } finally {
      f.close();
    }
    if (st.size > 512 * 34) emmcSectors = Math.floor(st.size / 512);
  }
  let appsBlock: number;
  let appsGap: Gap | undefined;
  if (o.appsBlock === "auto") {
    if (!partitions) throw new PbxError("E_USAGE", "--apps-block auto needs --emmc-mbr FILE (the eMMC's layout)");
    const kernelRaw = mode === "stable" || o.flashKernel;
    appsGap = findAppsGap({
      partitions,
      diskBlocks: emmcSectors,
      appsBlocks: blocks(appsBin.length),
      avoid: kernelRaw ? [{ start: kernelBlock, end: kernelBlock + blocks(kernel.length) }] : [],
    });
    appsBlock = appsGap.start;
  } else appsBlock = o.appsBlock ?? DEFAULTS.appsBlock;
  const layout = checkLayout({
    mode,
    kernelAddr,
    kernelSize: kernel.length,
    appsAddr,
    appsSize: appsBin.length,
    appsBlock,
    kernelBlock,
    flashKernel: o.flashKernel,
    ddrBase: o.ddrBase,
    ddrSize: o.ddrSize,
    ubootReserve: o.ubootReserve,
    emmcPartitions: partitions,
    emmcSectors,
  });
  const uenvOpts = {
    mode,
    ipaddr: o.ipaddr,
    serverip: o.serverip,
    kernelAddr,
    appsAddr,
    appsBlock,
    kernelBlock,
    kernelSize: kernel.length,
    appsSize: appsBin.length,
    flashKernel: o.flashKernel,
  };
  if (o.selfUpdate) {
    // The scratch RAM (CRC words, current and fetched script) starts at the kernel address, before the kernel loads.
    const end = kernelAddr + SELF_UPDATE_SCRATCH + 0x10000;
    if (end > layout.reserved.start) {
      throw new PbxError(
        "E_INVALID_INPUT",
        `--self-update: its scratch RAM ${hex(kernelAddr)}-${hex(end - 1)} runs into u-boot's ${
          hex(layout.reserved.start)
        }`,
      );
    }
  }
  const uenvText = o.selfUpdate ? buildSelfUpdateUEnv(uenvOpts, o.selfUpdate) : buildUEnv(uenvOpts);
  const uenv = new TextEncoder().encode(uenvText);
  const epoch = o.sourceDateEpoch ?? sourceDateEpoch();

  let uimage: Uint8Array | undefined;
  if (o.uimage) {
    const time = epoch ?? Math.floor(((await Deno.stat(o.kernel)).mtime?.getTime() ?? 0) / 1000);
    const name = o.uimageName ?? new TextDecoder().decode(new TextEncoder().encode(basename(o.kernel)).slice(0, 31));
    uimage = buildUImage(kernel, { load: kernelAddr, entry: kernelAddr, name, time, dataCrc: kernelCrc });
  }
  let sd: ReturnType<typeof buildSdCard> | undefined;
  if (o.sdcard) {
    if (!o.mlo || !o.uboot) throw new PbxError("E_USAGE", "--sdcard needs --mlo FILE and --uboot FILE");
    sd = buildSdCard({
      mlo: await readInput(o.mlo, "--mlo"),
      uboot: await readInput(o.uboot, "--uboot"),
      uenv,
      partitionSize: o.sdcardSize ?? SD_PART_SIZE,
      time: epoch ?? 0,
    });
  }

  try {
    await Deno.mkdir(o.outDir, { recursive: true });
  } catch (err) {
    throw new PbxError(toPbxError(err).code, `--out: cannot create directory '${o.outDir}': ${osErrorReason(err)}`, {
      cause: err,
    });
  }
  const files: OutputFile[] = [];
  const put = async (name: string, data: Uint8Array, crc?: number) => {
    const path = join(o.outDir, name);
    await writeFileAtomic(path, data);
    files.push(fileInfo(name, path, data, crc));
  };
  await put("os.bin", kernel, kernelCrc);
  await put("apps.bin", appsBin);
  await put("uEnv.txt", uenv);
  if (uimage) await put("uImage", uimage);
  let sdcard: PackReport["sdcard"];
  if (sd && o.sdcard) {
    await writeFileAtomic(o.sdcard, sd.head, { size: sd.size });
    sdcard = {
      path: o.sdcard,
      size: sd.size,
      partitionStart: sd.partitionStart,
      partitionSectors: sd.partitionSectors,
      volumeId: hex32(sd.volumeId),
    };
  }
  for (const w of layout.warnings) log.warn(w);
  return {
    outDir: o.outDir,
    mode,
    files,
    apps: entries,
    uenvcmd: o.selfUpdate ? selfUpdateCmd(uenvOpts) : buildUEnvCmd(uenvOpts),
    layout,
    partitions,
    appsGap,
    warnings: layout.warnings,
    uimage: uimage ? parseUImage(uimage, { dataCrc: kernelCrc }) : undefined,
    sdcard,
  };
}

/** What `inspect` found in a file: an apps image or a legacy uImage. */
export type InspectReport =
  | { kind: "apps"; path: string; info: AppsInfo }
  | { kind: "uimage"; path: string; header: UImageHeader };

/** Inspect an existing `apps.bin` (or a legacy `uImage`, recognised by its magic). */
export async function inspectFile(path: string): Promise<InspectReport> {
  const bytes = await readInput(path, "file", { limit: 4 * 1024 ** 3 });
  if (bytes.length >= 64 && new DataView(bytes.buffer).getUint32(0) === UIMAGE_MAGIC) {
    return { kind: "uimage", path, header: parseUImage(bytes) };
  }
  return { kind: "apps", path, info: inspectApps(bytes) };
}
