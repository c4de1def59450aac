/**
 * Legacy u-boot images (`uImage`): the 64-byte big-endian header `mkimage -T kernel -C none` writes, and a parser
 * for `inspect`. Byte-identical to `mkimage -A arm -O linux -T kernel -C none -a LOAD -e ENTRY -n NAME -d FILE`
 * run with the same `SOURCE_DATE_EPOCH`.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { crc32 } from "./crc32.ts";

/** The legacy image magic number. */
export const UIMAGE_MAGIC = 0x27051956;
/** Size of the legacy header. */
export const UIMAGE_HEADER_SIZE = 64;
/** Longest image name (the header field is 32 bytes; mkimage keeps at most 31 characters and a NUL). */
export const UIMAGE_NAME_MAX = 31;

/** Numeric codes from u-boot's `image.h` for the fields pbxkit writes and prints. */
export const UIMAGE_CODES = {
  os: { 5: "linux", 17: "u-boot", 0: "invalid" } as Record<number, string>,
  arch: { 2: "arm", 22: "arm64", 0: "invalid" } as Record<number, string>,
  type: { 2: "kernel", 1: "standalone", 5: "firmware", 0: "invalid" } as Record<number, string>,
  comp: { 0: "none", 1: "gzip", 2: "bzip2" } as Record<number, string>,
};

/** Options for {@linkcode buildUImage}. */
export interface UImageOptions {
  /** Load address (`-a`). */
  load: number;
  /** Entry point (`-e`, default the load address). */
  entry?: number;
  /** Image name (`-n`), at most 31 bytes of ASCII. */
  name: string;
  /** Header timestamp in seconds since the epoch (`SOURCE_DATE_EPOCH`, or the data file's mtime as mkimage does). */
  time: number;
  /** CRC-32 of `data` when the caller already has it (saves a pass over the data); computed here otherwise. */
  dataCrc?: number;
}

/** Options for {@linkcode parseUImage}. */
export interface ParseUImageOptions {
  /**
   * CRC-32 of the image's data when the caller already has it (it just built the image from that data): compared
   * with the header's instead of computing it again.
   */
  dataCrc?: number;
}

/** A parsed legacy header. */
export interface UImageHeader {
  /** Magic number ({@linkcode UIMAGE_MAGIC} for a valid image). */
  magic: number;
  /** Header CRC-32 stored in the header. */
  headerCrc: number;
  /** Whether `headerCrc` matches the CRC-32 of the 64 header bytes with the CRC field zeroed. */
  headerCrcOk: boolean;
  /** Header timestamp, seconds since the epoch. */
  time: number;
  /** Data size in bytes (after the 64-byte header). */
  size: number;
  /** Address u-boot loads the data to (`mkimage -a`). */
  load: number;
  /** Address u-boot jumps to (`mkimage -e`). */
  entry: number;
  /** Data CRC-32 stored in the header. */
  dataCrc: number;
  /** Whether `dataCrc` matches the data; undefined when the data is shorter than `size` (truncated file). */
  dataCrcOk: boolean | undefined;
  /** OS code (see `UIMAGE_CODES.os`; 5 = linux). */
  os: number;
  /** Architecture code (see `UIMAGE_CODES.arch`; 2 = arm). */
  arch: number;
  /** Image type code (see `UIMAGE_CODES.type`; 2 = kernel). */
  type: number;
  /** Compression code (see `UIMAGE_CODES.comp`; 0 = none). */
  comp: number;
  /** Image name, up to the first NUL (at most 32 bytes). */
  name: string;
}

/** Build a legacy uImage (header + data) for an ARM Linux-style kernel, uncompressed. */
export function buildUImage(data: Uint8Array, options: UImageOptions): Uint8Array {
  const nameBytes = new TextEncoder().encode(options.name);
  if (nameBytes.length > UIMAGE_NAME_MAX) {
    throw new PbxError("E_INVALID_INPUT", `uImage name '${options.name}' is longer than ${UIMAGE_NAME_MAX} bytes`);
  }
  for (const [k, v] of [["load", options.load], ["entry", options.entry ?? options.load]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new PbxError("E_INVALID_INPUT", `uImage ${k} address ${v} is not a 32-bit address`);
    }
  }
  if (data.length > 0xffffffff) throw new PbxError("E_LIMIT", "uImage data larger than 4 GiB");
  const out = new Uint8Array(UIMAGE_HEADER_SIZE + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, UIMAGE_MAGIC);
  dv.setUint32(8, Math.max(0, Math.floor(options.time)) >>> 0);
  dv.setUint32(12, data.length);
  dv.setUint32(16, options.load >>> 0);
  dv.setUint32(20, (options.entry ?? options.load) >>> 0);
  dv.setUint32(24, options.dataCrc ?? crc32(data));
  out[28] = 5; // IH_OS_LINUX
  out[29] = 2; // IH_ARCH_ARM
  out[30] = 2; // IH_TYPE_KERNEL
  out[31] = 0; // IH_COMP_NONE
  out.set(nameBytes, 32);
  dv.setUint32(4, crc32(out.subarray(0, UIMAGE_HEADER_SIZE)));
  out.set(data, UIMAGE_HEADER_SIZE);
  return out;
}

/** Parse a legacy header; checks the header CRC and, when the data is all there, the data CRC. */
export function parseUImage(bytes: Uint8Array, options: ParseUImageOptions = {}): UImageHeader {
  if (bytes.length < UIMAGE_HEADER_SIZE) throw new PbxError("E_PARSE", "too short for a uImage header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0);
  if (magic !== UIMAGE_MAGIC) throw new PbxError("E_PARSE", "not a legacy uImage (bad magic)");
  const hdr = bytes.slice(0, UIMAGE_HEADER_SIZE);
  const headerCrc = dv.getUint32(4);
  hdr.fill(0, 4, 8);
  const size = dv.getUint32(12);
  const dataCrc = dv.getUint32(24);
  const nameRaw = bytes.subarray(32, 64);
  const nul = nameRaw.indexOf(0);
  return {
    magic,
    headerCrc,
    headerCrcOk: crc32(hdr) === headerCrc,
    time: dv.getUint32(8),
    size,
    load: dv.getUint32(16),
    entry: dv.getUint32(20),
    dataCrc,
    dataCrcOk: bytes.length >= UIMAGE_HEADER_SIZE + size
      ? (options.dataCrc ?? crc32(bytes.subarray(UIMAGE_HEADER_SIZE, UIMAGE_HEADER_SIZE + size))) === dataCrc
      : undefined,
    os: bytes[28],
    arch: bytes[29],
    type: bytes[30],
    comp: bytes[31],
    name: new TextDecoder().decode(nul < 0 ? nameRaw : nameRaw.subarray(0, nul)),
  };
}
