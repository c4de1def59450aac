/**
 * A FAT32 filesystem written from scratch, reproducibly: fixed timestamps (from `SOURCE_DATE_EPOCH` or the DOS
 * epoch), a caller-given volume id, files stored contiguously in the order given (so `MLO` can be the first file
 * the AM335x ROM finds). Long names get VFAT entries; all-lowercase 8.3 names use the NT case flags instead.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

const SECTOR = 512;
const RESERVED = 32;
const NUM_FATS = 2;
const EOC = 0x0fffffff;
/** Fewest clusters a FAT32 volume may have. */
export const FAT32_MIN_CLUSTERS = 65525;

/** A file to put in the root directory. */
export interface FatFile {
  /** File name; names that do not fit 8.3 get VFAT long-name entries. */
  name: string;
  /** File contents, stored in contiguous clusters. */
  data: Uint8Array;
}

/** Options for {@linkcode buildFat32}. */
export interface Fat32Options {
  /** Volume size in 512-byte sectors. */
  sectors: number;
  /** Sectors before the volume on the disk (the partition's start LBA, for the BPB). */
  hiddenSectors?: number;
  /** Volume id (serial number). */
  volumeId: number;
  /** Volume label, up to 11 characters (default `NO NAME`, none in the root directory). */
  label?: string;
  /** File times, in seconds since the epoch (default: the DOS epoch 1980-01-01 00:00:00). */
  time?: number;
}

/** A built volume: its bytes up to the last used sector, and its full size (the rest is zeros). */
export interface Fat32Volume {
  /** Bytes from the start of the volume to the end of the last used cluster. */
  head: Uint8Array;
  /** Full volume size in bytes. */
  size: number;
  /** Sectors per cluster chosen. */
  sectorsPerCluster: number;
  /** Data clusters in the volume. */
  clusters: number;
  /** Free clusters left. */
  freeClusters: number;
}

/** Sectors per cluster for a volume size (Microsoft's FAT32 table). */
function clusterSize(sectors: number): number {
  const mib = (sectors * SECTOR) / (1024 * 1024);
  if (mib <= 260) return 1;
  if (mib <= 8 * 1024) return 8;
  if (mib <= 16 * 1024) return 16;
  if (mib <= 32 * 1024) return 32;
  return 64;
}

/** DOS date and time words for seconds since the epoch (UTC), clamped to 1980..2107. */
export function dosDateTime(epochSeconds: number): { date: number; time: number } {
  const d = new Date(Math.max(epochSeconds, 315532800) * 1000);
  const y = Math.min(d.getUTCFullYear(), 2107);
  return {
    date: ((y - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

const SHORT_OK = /^[A-Z0-9!#$%&'()\-@^_`{}~]+$/;
// deno-lint-ignore no-control-regex
const LONG_BAD = /[\x00-\x1f"*/:<>?\\|\x7f]/;

interface DirName {
  short: Uint8Array; // 11 bytes
  ntFlags: number;
  long?: string;
}

function shortName(name: string, taken: Set<string>): DirName {
  if (!name || name === "." || name === ".." || LONG_BAD.test(name) || name.length > 255 || /[. ]$/.test(name)) {
    throw new PbxError("E_INVALID_INPUT", `'${name}' is not a valid FAT file name`);
  }
  const dot = name.lastIndexOf(".");
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : "";
  const B = base.toUpperCase(), E = ext.toUpperCase();
  const fits = B.length >= 1 && B.length <= 8 && E.length <= 3 && SHORT_OK.test(B) && (E === "" || SHORT_OK.test(E));
  const pad = (b: string, e: string) => new TextEncoder().encode(b.padEnd(8, " ") + e.padEnd(3, " "));
  if (fits && !taken.has(B + "." + E)) {
    taken.add(B + "." + E);
    const caseOf = (s: string) => (s === s.toUpperCase() ? "U" : s === s.toLowerCase() ? "L" : "M");
    const cb = caseOf(base), ce = caseOf(ext);
    if (cb !== "M" && ce !== "M") {
      return {
        short: pad(B, E),
        ntFlags: (cb === "L" && base !== B ? 0x08 : 0) | (ce === "L" && ext !== E ? 0x10 : 0),
      };
    }
    return { short: pad(B, E), ntFlags: 0, long: name };
  }
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9!#$%&'()\-@^_`{}~]/g, "_");
  const b6 = clean(base.replace(/[ .]/g, "")).slice(0, 6) || "FILE";
  const e3 = clean(ext.replace(/ /g, "")).slice(0, 3);
  for (let n = 1; n < 1000; n++) {
    const tail = `~${n}`;
    const b = b6.slice(0, 8 - tail.length) + tail;
    if (!taken.has(b + "." + e3)) {
      taken.add(b + "." + e3);
      return { short: pad(b, e3), ntFlags: 0, long: name };
    }
  }
  throw new PbxError("E_LIMIT", `too many files like '${name}'`);
}

function lfnChecksum(short: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]) & 0xff;
  return sum;
}

/** Directory entries (32 bytes each) for one file: VFAT long-name entries, then the 8.3 entry. */
function dirEntries(n: DirName, cluster: number, size: number, dt: { date: number; time: number }): Uint8Array {
  const units: number[] = [];
  if (n.long) {
    for (let i = 0; i < n.long.length; i++) units.push(n.long.charCodeAt(i));
  }
  const lfnCount = n.long ? Math.ceil((units.length + 1) / 13) : 0;
  if (n.long) {
    units.push(0);
    while (units.length < lfnCount * 13) units.push(0xffff);
  }
  const out = new Uint8Array((lfnCount + 1) * 32);
  const dv = new DataView(out.buffer);
  const sum = lfnChecksum(n.short);
  const slots = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
  for (let k = 0; k < lfnCount; k++) {
    const seq = lfnCount - k; // physically first entry holds the last part
    const o = k * 32;
    out[o] = seq | (k === 0 ? 0x40 : 0);
    out[o + 11] = 0x0f;
    out[o + 13] = sum;
    for (let j = 0; j < 13; j++) dv.setUint16(o + slots[j], units[(seq - 1) * 13 + j], true);
  }
  const o = lfnCount * 32;
  out.set(n.short, o);
  out[o + 11] = 0x20; // archive
  out[o + 12] = n.ntFlags;
  dv.setUint16(o + 14, dt.time, true);
  dv.setUint16(o + 16, dt.date, true);
  dv.setUint16(o + 18, dt.date, true);
  dv.setUint16(o + 20, (cluster >>> 16) & 0xffff, true);
  dv.setUint16(o + 22, dt.time, true);
  dv.setUint16(o + 24, dt.date, true);
  dv.setUint16(o + 26, cluster & 0xffff, true);
  dv.setUint32(o + 28, size, true);
  return out;
}

/** Build a FAT32 volume holding `files` in its root directory, in order. */
export function buildFat32(files: readonly FatFile[], options: Fat32Options): Fat32Volume {
  const total = options.sectors;
  const spc = clusterSize(total);
  let fatSz = 1;
  for (;;) {
    const clusters = Math.floor((total - RESERVED - NUM_FATS * fatSz) / spc);
    const need = Math.ceil(((clusters + 2) * 4) / SECTOR);
    if (need <= fatSz) break;
    fatSz = need;
  }
  const clusters = Math.floor((total - RESERVED - NUM_FATS * fatSz) / spc);
  if (clusters < FAT32_MIN_CLUSTERS) {
    const minMiB = Math.ceil(((FAT32_MIN_CLUSTERS + 1100) * SECTOR) / (1024 * 1024));
    throw new PbxError("E_LIMIT", `a FAT32 volume needs at least ${FAT32_MIN_CLUSTERS} clusters (about ${minMiB} MiB)`);
  }
  const clusterBytes = spc * SECTOR;
  const dt = dosDateTime(options.time ?? 0);
  const label = (options.label ?? "").toUpperCase();
  if (label.length > 11 || (label && !/^[A-Z0-9 !#$%&'()\-@^_`{}~]+$/.test(label))) {
    throw new PbxError("E_INVALID_INPUT", `volume label '${options.label}' must be up to 11 plain characters`);
  }

  // Directory entries first, to know the root directory's size; then files get clusters after it.
  const taken = new Set<string>();
  const names = files.map((f) => shortName(f.name, taken));
  const entryBytes = names.reduce((a, n) => a + 32 * (1 + (n.long ? Math.ceil((n.long.length + 1) / 13) : 0)), 0) +
    (label ? 32 : 0);
  const rootClusters = Math.max(1, Math.ceil(entryBytes / clusterBytes));
  let next = 2 + rootClusters;
  const placed = files.map((f) => {
    const n = Math.ceil(f.data.length / clusterBytes);
    const first = n ? next : 0;
    next += n;
    return { first, n };
  });
  const used = next - 2;
  if (used > clusters) {
    throw new PbxError("E_LIMIT", `the files need ${used} clusters, the volume has ${clusters}: make it bigger`);
  }
  const dataStart = RESERVED + NUM_FATS * fatSz;
  const headSectors = dataStart + used * spc;
  const head = new Uint8Array(headSectors * SECTOR);
  const dv = new DataView(head.buffer);

  // Boot sector (and its backup at 6).
  head.set([0xeb, 0x58, 0x90], 0);
  head.set(new TextEncoder().encode("MSWIN4.1"), 3);
  dv.setUint16(11, SECTOR, true);
  head[13] = spc;
  dv.setUint16(14, RESERVED, true);
  head[16] = NUM_FATS;
  head[21] = 0xf8;
  dv.setUint16(24, 32, true);
  dv.setUint16(26, 64, true);
  dv.setUint32(28, options.hiddenSectors ?? 0, true);
  dv.setUint32(32, total, true);
  dv.setUint32(36, fatSz, true);
  dv.setUint32(44, 2, true);
  dv.setUint16(48, 1, true);
  dv.setUint16(50, 6, true);
  head[64] = 0x80;
  head[66] = 0x29;
  dv.setUint32(67, options.volumeId >>> 0, true);
  head.set(new TextEncoder().encode((label || "NO NAME").padEnd(11, " ")), 71);
  head.set(new TextEncoder().encode("FAT32   "), 82);
  head[510] = 0x55;
  head[511] = 0xaa;
  // FSInfo (and its backup at 7).
  const fsi = SECTOR;
  dv.setUint32(fsi, 0x41615252, true);
  dv.setUint32(fsi + 484, 0x61417272, true);
  dv.setUint32(fsi + 488, clusters - used, true);
  dv.setUint32(fsi + 492, used < clusters ? next : 0xffffffff, true);
  dv.setUint32(fsi + 508, 0xaa550000, true);
  // Sector 2 carries the boot signature too, as the FAT32 spec's three-sector boot record.
  head[2 * SECTOR + 510] = 0x55;
  head[2 * SECTOR + 511] = 0xaa;
  head.copyWithin(6 * SECTOR, 0, 3 * SECTOR);

  // FATs.
  const fat = new Uint32Array(next);
  fat[0] = 0x0ffffff8;
  fat[1] = EOC;
  const chain = (first: number, n: number) => {
    for (let c = first; c < first + n; c++) fat[c] = c === first + n - 1 ? EOC : c + 1;
  };
  chain(2, rootClusters);
  for (const p of placed) if (p.n) chain(p.first, p.n);
  for (let i = 0; i < NUM_FATS; i++) {
    const o = (RESERVED + i * fatSz) * SECTOR;
    for (let c = 0; c < next; c++) dv.setUint32(o + c * 4, fat[c], true);
  }

  // Root directory, then file data.
  const clusterOff = (c: number) => (dataStart + (c - 2) * spc) * SECTOR;
  let d = clusterOff(2);
  files.forEach((f, i) => {
    const e = dirEntries(names[i], placed[i].first, f.data.length, dt);
    head.set(e, d);
    d += e.length;
    if (placed[i].n) head.set(f.data, clusterOff(placed[i].first));
  });
  if (label) {
    head.set(new TextEncoder().encode(label.padEnd(11, " ")), d);
    head[d + 11] = 0x08;
    dv.setUint16(d + 22, dt.time, true);
    dv.setUint16(d + 24, dt.date, true);
  }
  return { head, size: total * SECTOR, sectorsPerCluster: spc, clusters, freeClusters: clusters - used };
}
