/**
 * MSR Cambridge traces: `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`, timestamps in Windows
 * filetime (100 ns units), Type `Read`/`Write`, offsets and sizes in bytes. Each (hostname, disk) is a volume named
 * `hostname_disk` (`hm_0`, `src1_2`), interned to a dense id as first seen, so a file mixing volumes keeps them apart.
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import { VolumeTable } from "../keys.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Make a parser of MSR Cambridge CSV lines (it keeps the volume table). */
export function msrParser(): LineParser {
  const volumes = new VolumeTable();
  let lastHost = new Uint8Array(0);
  let lastDisk = -1, lastVol = -1;
  return {
    format: "msr",
    volumes,
    unit: "byte",
    expected: "Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime",
    parse(s: Scan, b: RequestBatch, i: number): number {
      const c0 = s.buf[s.pos];
      if (c0 === 35 /* # */ || s.startsWith(s.pos, "timestamp")) return LINE_IGNORED;
      const ts = s.int();
      s.sep(44);
      const hs = s.skipTo(44);
      const he = s.pos;
      s.sep(44);
      const disk = s.int();
      s.sep(44);
      s.skipSpace();
      const tpos = s.pos;
      const isWrite = s.lower(tpos) === 119; // w
      if (!isWrite && s.lower(tpos) !== 114) return LINE_BAD;
      s.skipTo(44);
      s.sep(44);
      const off = s.int();
      s.sep(44);
      const size = s.int();
      if (s.bad) return LINE_BAD;
      // Decode the hostname only when the volume differs from the previous line's (no string per line).
      let same = disk === lastDisk && he - hs === lastHost.length;
      for (let k = 0; same && k < lastHost.length; k++) same = s.buf[hs + k] === lastHost[k];
      if (!same) {
        lastHost = s.buf.slice(hs, he);
        lastDisk = disk;
        lastVol = volumes.intern(`${new TextDecoder().decode(lastHost).trim()}_${disk}`);
      }
      b.time[i] = ts / 10;
      b.dev[i] = lastVol;
      b.addr[i] = off;
      b.size[i] = size;
      b.op[i] = isWrite ? WRITE : 0;
      return LINE_REQUEST;
    },
  };
}
