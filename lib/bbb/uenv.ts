/**
 * `uEnv.txt` for the BeagleBone Black: a `uenvcmd` that either fetches the kernel and apps over TFTP and writes the
 * apps raw to the eMMC (`dev`), or boots the kernel already on the eMMC (`stable`). Plain `\n` line endings: u-boot's
 * `env import -t` keeps a `\r` as part of the value.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { BLOCK } from "./apps_image.ts";

/** Boot modes. */
export type BootMode = "dev" | "stable";

/** Inputs of {@linkcode buildUEnv}. */
export interface UEnvOptions {
  /** `dev` (TFTP + write apps to eMMC) or `stable` (boot from eMMC). */
  mode: BootMode;
  /** Board address (`setenv ipaddr`); omitted from the script when not given (u-boot's saved env is used). */
  ipaddr?: string;
  /** TFTP server address (`setenv serverip`); omitted when not given. */
  serverip?: string;
  /** RAM address the kernel is loaded at and jumped to. */
  kernelAddr: number;
  /** RAM address the apps image is loaded at (dev). */
  appsAddr: number;
  /** eMMC block the apps image is written to. */
  appsBlock: number;
  /** eMMC block the kernel is read from (stable) or written to (dev with `flashKernel`). */
  kernelBlock: number;
  /** Kernel size in bytes (for the block count). */
  kernelSize: number;
  /** apps.bin size in bytes (for the block count). */
  appsSize: number;
  /** In dev mode, also write the kernel to the eMMC at `kernelBlock`, so `stable` boots it later. */
  flashKernel?: boolean;
  /** eMMC device number for `mmc dev` (the BBB's eMMC is 1). */
  mmcDev?: number;
  /** TFTP file name of the kernel (default `os.bin`). */
  kernelFile?: string;
  /** TFTP file name of the apps image (default `apps.bin`). */
  appsFile?: string;
  /**
   * Commands run first, after the `setenv ipaddr`/`serverip` (which stable mode then also gets when given): the
   * self-update's `run pbx_up` (see {@linkcode buildSelfUpdateUEnv}).
   */
  prelude?: readonly string[];
}

/** `0x` + lowercase hex, the way u-boot scripts are usually written. */
export function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Number of 512-byte blocks covering `bytes`. */
export function blocks(bytes: number): number {
  return Math.ceil(bytes / BLOCK);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Check an IPv4 address for `--ipaddr`/`--serverip`. */
export function checkIpv4(text: string, flag: string): string {
  if (!IPV4.test(text)) {
    throw new PbxError("E_USAGE", `${flag}: '${text}' is not an IPv4 address (u-boot's tftp is IPv4)`);
  }
  return text;
}

const SAFE_NAME = /^[A-Za-z0-9._\/-]+$/;

/** The `uenvcmd` value (without `uenvcmd=`). */
export function buildUEnvCmd(o: UEnvOptions): string {
  const dev = o.mmcDev ?? 1;
  const kname = o.kernelFile ?? "os.bin", aname = o.appsFile ?? "apps.bin";
  for (const n of [kname, aname]) {
    if (!SAFE_NAME.test(n)) {
      throw new PbxError("E_INVALID_INPUT", `TFTP file name '${n}' has characters u-boot would split on`);
    }
  }
  const k = hex(o.kernelAddr), kcount = hex(blocks(o.kernelSize)), kblock = hex(o.kernelBlock);
  const cmds: string[] = [];
  if (o.mode === "dev" || o.prelude?.length) {
    if (o.ipaddr !== undefined) cmds.push(`setenv ipaddr ${checkIpv4(o.ipaddr, "--ipaddr")}`);
    if (o.serverip !== undefined) cmds.push(`setenv serverip ${checkIpv4(o.serverip, "--serverip")}`);
  }
  cmds.push(...o.prelude ?? []);
  if (o.mode === "dev") {
    const a = hex(o.appsAddr);
    cmds.push(`tftp ${k} ${kname}`, `tftp ${a} ${aname}`, `mmc dev ${dev}`);
    cmds.push(`mmc write ${a} ${hex(o.appsBlock)} ${hex(blocks(o.appsSize))}`);
    if (o.flashKernel) cmds.push(`mmc write ${k} ${kblock} ${kcount}`);
    cmds.push(`go ${k}`);
  } else {
    cmds.push(`mmc dev ${dev}`, `mmc read ${k} ${kblock} ${kcount}`, `go ${k}`);
  }
  return cmds.join("; ");
}

/** The whole uEnv.txt text: one `uenvcmd=` line ending in `\n`. */
export function buildUEnv(o: UEnvOptions): string {
  return `uenvcmd=${buildUEnvCmd(o)}\n`;
}
