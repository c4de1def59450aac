/**
 * MBR partition tables: writing the one-partition table of an SD-card image, and reading the partitions of an eMMC
 * layout (an MBR sector or a whole disk image: primary entries, the extended/logical chain, and GPT behind a
 * protective MBR) to warn when a raw write region overlaps one.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

/** Sector size assumed throughout. */
export const SECTOR = 512;

/** A partition found in a table. */
export interface Partition {
  /** 1-4 for primary MBR entries, 5+ for logical ones, GPT entry number for GPT. */
  number: number;
  /** First sector (LBA). */
  start: number;
  /** Number of sectors. */
  sectors: number;
  /** MBR type byte, or -1 for a GPT entry. */
  type: number;
  /** Human description of the type (or the GPT name). */
  label: string;
  /** Active (bootable) flag. */
  active: boolean;
}

const TYPE_NAMES: Record<number, string> = {
  0x01: "FAT12",
  0x04: "FAT16 <32M",
  0x05: "Extended",
  0x06: "FAT16",
  0x07: "NTFS/exFAT",
  0x0b: "W95 FAT32",
  0x0c: "W95 FAT32 (LBA)",
  0x0e: "W95 FAT16 (LBA)",
  0x0f: "W95 Ext'd (LBA)",
  0x82: "Linux swap",
  0x83: "Linux",
  0x85: "Linux extended",
  0xee: "GPT protective",
};

function isExtended(type: number): boolean {
  return type === 0x05 || type === 0x0f || type === 0x85;
}

/** CHS triple for an LBA with the given geometry, clamped to 1023/254/63 as tools do past the CHS limit. */
function chs(lba: number, heads: number, spt: number): [number, number, number] {
  let c = Math.floor(lba / (heads * spt));
  let h = Math.floor(lba / spt) % heads;
  let s = (lba % spt) + 1;
  if (c > 1023) {
    c = 1023;
    h = 254;
    s = 63;
  }
  return [h, (s & 0x3f) | ((c >> 2) & 0xc0), c & 0xff];
}

/** Options for {@linkcode buildMbr}. */
export interface MbrOptions {
  /** The 32-bit disk signature at offset 440 (fixed for reproducible images). */
  diskId: number;
  /** Heads for the CHS fields (default 64). */
  heads?: number;
  /** Sectors per track for the CHS fields (default 32). */
  sectorsPerTrack?: number;
}

/** Build an MBR sector with up to four primary partitions. */
export function buildMbr(
  parts: readonly { start: number; sectors: number; type: number; active?: boolean }[],
  options: MbrOptions,
): Uint8Array {
  if (parts.length > 4) throw new PbxError("E_INTERNAL", "an MBR holds four primary partitions");
  const heads = options.heads ?? 64, spt = options.sectorsPerTrack ?? 32;
  const mbr = new Uint8Array(SECTOR);
  const dv = new DataView(mbr.buffer);
  dv.setUint32(440, options.diskId >>> 0, true);
  parts.forEach((p, i) => {
    const o = 446 + i * 16;
    mbr[o] = p.active ? 0x80 : 0;
    mbr.set(chs(p.start, heads, spt), o + 1);
    mbr[o + 4] = p.type;
    mbr.set(chs(p.start + p.sectors - 1, heads, spt), o + 5);
    dv.setUint32(o + 8, p.start, true);
    dv.setUint32(o + 12, p.sectors, true);
  });
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

/** Reads `count` sectors starting at `lba`; returns fewer bytes (or none) past the end of the source. */
export type SectorReader = (lba: number, count: number) => Uint8Array;

/** Read the partitions of a disk: MBR primaries, logical partitions in an extended one, or GPT entries. */
export function readPartitions(read: SectorReader): Partition[] {
  const mbr = read(0, 1);
  if (mbr.length < SECTOR || mbr[510] !== 0x55 || mbr[511] !== 0xaa) {
    throw new PbxError("E_PARSE", "no MBR signature (0x55AA) in the first sector");
  }
  const dv = new DataView(mbr.buffer, mbr.byteOffset, SECTOR);
  const out: Partition[] = [];
  let logical = 5;
  for (let i = 0; i < 4; i++) {
    const o = 446 + i * 16;
    const type = mbr[o + 4];
    const start = dv.getUint32(o + 8, true);
    const sectors = dv.getUint32(o + 12, true);
    if (type === 0 || sectors === 0) continue;
    if (type === 0xee) return readGpt(read);
    out.push({
      number: i + 1,
      start,
      sectors,
      type,
      label: TYPE_NAMES[type] ?? `type 0x${hex2(type)}`,
      active: mbr[o] === 0x80,
    });
    if (isExtended(type)) {
      // Follow the EBR chain: each EBR holds one logical partition (relative to the EBR) and a link (relative to
      // the extended partition's start).
      let ebrLba = start;
      const seen = new Set<number>();
      while (ebrLba && !seen.has(ebrLba) && seen.size < 128) {
        seen.add(ebrLba);
        const ebr = read(ebrLba, 1);
        if (ebr.length < SECTOR || ebr[510] !== 0x55 || ebr[511] !== 0xaa) break;
        const ev = new DataView(ebr.buffer, ebr.byteOffset, SECTOR);
        const lt = ebr[446 + 4], ls = ev.getUint32(446 + 8, true), ln = ev.getUint32(446 + 12, true);
        if (lt !== 0 && ln !== 0) {
          out.push({
            number: logical++,
            start: ebrLba + ls,
            sectors: ln,
            type: lt,
            label: TYPE_NAMES[lt] ?? `type 0x${hex2(lt)}`,
            active: ebr[446] === 0x80,
          });
        }
        const next = ev.getUint32(462 + 8, true);
        ebrLba = next ? start + next : 0;
      }
    }
  }
  return out;
}

function readGpt(read: SectorReader): Partition[] {
  const hdr = read(1, 1);
  if (hdr.length < 92 || new TextDecoder().decode(hdr.subarray(0, 8)) !== "EFI PART") {
    throw new PbxError("E_PARSE", "protective MBR but no GPT header in sector 1 (a bare MBR sector is not enough)");
  }
  const dv = new DataView(hdr.buffer, hdr.byteOffset, hdr.byteLength);
  const entriesLba = Number(dv.getBigUint64(72, true));
  const count = Math.min(dv.getUint32(80, true), 1024);
  const size = dv.getUint32(84, true);
  if (size < 128 || size > 4096) throw new PbxError("E_PARSE", `GPT entry size ${size} is not supported`);
  const bytes = read(entriesLba, Math.ceil((count * size) / SECTOR));
  const ev = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Partition[] = [];
  for (let i = 0; i < count && (i + 1) * size <= bytes.length; i++) {
    const o = i * size;
    if (bytes.subarray(o, o + 16).every((b) => b === 0)) continue;
    const first = Number(ev.getBigUint64(o + 32, true));
    const last = Number(ev.getBigUint64(o + 40, true));
    let name = "";
    for (let k = 0; k < 36; k++) {
      const c = ev.getUint16(o + 56 + k * 2, true);
      if (c === 0) break;
      name += String.fromCharCode(c);
    }
    out.push({ number: i + 1, start: first, sectors: last - first + 1, type: -1, label: name || "GPT", active: false });
  }
  return out;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** A {@linkcode SectorReader} over a file (an MBR sector dump or a disk image). Close it when done. */
export function fileSectorReader(file: Deno.FsFile): SectorReader {
  return (lba, count) => {
    const buf = new Uint8Array(count * SECTOR);
    file.seekSync(lba * SECTOR, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = file.readSync(buf.subarray(got));
      if (n === null || n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  };
}
