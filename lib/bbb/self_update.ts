/**
 * The self-updating `uEnv.txt` (`bbb-pack --self-update`): before its own boot commands, the script fetches
 * `uEnv.txt` over TFTP and, when it is a well-formed pbxkit script that differs from the one on the boot partition
 * (size and CRC-32, compared with u-boot's own `crc32` and `cmp.l`), writes it there with `fatwrite`; the next reset
 * runs it. Guards: a fetched script that `env import -t` rejects, or that has no `pbx_kind`, is not written; a stable
 * script only takes a stable one, or a dev one built with `--replace-stable`.
 *
 * Every step is its own environment variable, run with `run` from the one before: u-boot's hush may expand the
 * variables of a whole `if` block when it parses it, so a value set inside the block (`filesize` after a load) is
 * only read in a step parsed after it was set.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { buildUEnvCmd, hex } from "./uenv.ts";
import type { UEnvOptions } from "./uenv.ts";

/** Default boot partition the script rewrites: the BeagleBone Black's eMMC FAT partition. */
export const SELF_UPDATE_PART = "mmc 1:1";
/** Bytes of RAM from the scratch address the update uses (CRC words, the current script, then the fetched one). */
export const SELF_UPDATE_SCRATCH = 0x101000;
/** Largest current script read back from the partition (`fatload` byte limit). */
export const SELF_UPDATE_MAX = 0x100000;
/** Prefix of every line the script prints (each `echo` stays under u-boot's 16 arguments). */
export const SELF_UPDATE_TAG = "pbxkit self-update:";

/** Settings of the self-update. */
export interface SelfUpdateOptions {
  /** u-boot interface and `dev:part` of the FAT boot partition holding `uEnv.txt` (default `mmc 1:1`). */
  part?: string;
  /** RAM scratch address ({@linkcode SELF_UPDATE_SCRATCH} bytes from it; default the kernel address). */
  scratch?: number;
  /** Dev script only: mark it as allowed to replace a stable self-updating script. */
  replaceStable?: boolean;
}

/** The `pbx_kind` a script declares: `stable`, `dev`, or `dev-replaces-stable` (`--replace-stable`). */
export function scriptKind(mode: UEnvOptions["mode"], replaceStable = false): string {
  if (replaceStable && mode !== "dev") throw new PbxError("E_USAGE", "--replace-stable is for a dev uEnv.txt");
  return mode === "stable" ? "stable" : replaceStable ? "dev-replaces-stable" : "dev";
}

const PART = /^[a-z]+ \d+:\d+$/;

/** The helper variables (name, value) of the self-update, in the order they run. */
export function selfUpdateVars(o: UEnvOptions, su: SelfUpdateOptions = {}): [string, string][] {
  const part = su.part ?? SELF_UPDATE_PART;
  if (!PART.test(part)) {
    throw new PbxError("E_USAGE", `--self-update-part: '${part}' is not 'INTERFACE DEV:PART' (e.g. 'mmc 1:1')`);
  }
  const base = su.scratch ?? o.kernelAddr;
  const crcCur = hex(base), crcNew = hex(base + 4), cur = hex(base + 0x1000), fetched = hex(base + 0x1000 + 0x100000);
  const T = SELF_UPDATE_TAG;
  const accept = o.mode === "stable"
    ? `test "\${pbx_kind}" = stable || test "\${pbx_kind}" = dev-replaces-stable`
    : `test -n "\${pbx_kind}"`;
  const refused = o.mode === "stable"
    ? `echo ${T} fetched dev uEnv.txt not written over a stable one`
    : `echo ${T} fetched uEnv.txt has no pbx_kind, not written`;
  return [
    ["pbx_kind", scriptKind(o.mode, su.replaceStable)],
    [
      "pbx_up",
      `setenv pbx_nr \${netretry}; setenv netretry no; if tftp ${fetched} uEnv.txt; then run pbx_up1; ` +
      `else echo ${T} no uEnv.txt over TFTP, boot script unchanged; fi; run pbx_up9`,
    ],
    ["pbx_up1", `setenv pbx_nsize \${filesize}; run pbx_up2`],
    [
      "pbx_up2",
      // Cleared first: an import restricted to pbx_kind leaves the running script's value when the file has none.
      `setenv pbx_kind; if env import -t ${fetched} \${pbx_nsize} pbx_kind; then run pbx_up3; ` +
      `else echo ${T} fetched uEnv.txt fails env import -t, not written; fi`,
    ],
    ["pbx_up3", `if ${accept}; then run pbx_up4; else ${refused}; fi`],
    [
      "pbx_up4",
      `crc32 ${fetched} \${pbx_nsize} ${crcNew}; ` +
      `if fatload ${part} ${cur} uEnv.txt ${hex(SELF_UPDATE_MAX)}; then run pbx_up5; else run pbx_up6; fi`,
    ],
    [
      "pbx_up5",
      `crc32 ${cur} \${filesize} ${crcCur}; ` +
      `if test \${filesize} = \${pbx_nsize} && cmp.l ${crcCur} ${crcNew} 1; then echo ${T} uEnv.txt unchanged; ` +
      `else run pbx_up6; fi`,
    ],
    [
      "pbx_up6",
      `if fatwrite ${part} ${fetched} uEnv.txt \${pbx_nsize}; ` +
      `then echo ${T} wrote new uEnv.txt to ${part}, reset to run it; ` +
      `else echo ${T} fatwrite to ${part} failed; fi`,
    ],
    ["pbx_up9", `setenv netretry \${pbx_nr}; setenv pbx_nr`],
  ];
}

/** The whole self-updating `uEnv.txt`: the helper variables, then `uenvcmd` starting with `run pbx_up`. */
export function buildSelfUpdateUEnv(o: UEnvOptions, su: SelfUpdateOptions = {}): string {
  const lines = selfUpdateVars(o, su).map(([k, v]) => `${k}=${v}`);
  lines.push(`uenvcmd=${selfUpdateCmd(o)}`);
  return lines.join("\n") + "\n";
}

/** The `uenvcmd` of a self-updating script. */
export function selfUpdateCmd(o: UEnvOptions): string {
  return buildUEnvCmd({ ...o, prelude: ["run pbx_up"] });
}
