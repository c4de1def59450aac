/**
 * MSR Cambridge traces: `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`, timestamps in Windows
 * filetime (100 ns units), Type `Read`/`Write`, offsets and sizes in bytes. The device is the hostname hash and
 * disk number, so a file mixing volumes keeps them apart.
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Parser of MSR Cambridge CSV lines. */
export const msrParser: LineParser = {
  format: "msr",
  unit: "byte",
  expected: "Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime",
  parse(s: Scan, b: RequestBatch, i: number): number {
    const c0 = s.buf[s.pos];
    if (c0 === 35 /* # */ || s.startsWith(s.pos, "timestamp")) return LINE_IGNORED;
    const ts = s.int();
    s.sep(44);
    const hs = s.skipTo(44);
    let h = 0;
    for (let k = hs; k < s.pos; k++) h = (Math.imul(h, 31) + s.buf[k]) | 0;
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
    b.time[i] = ts / 10;
    b.dev[i] = ((h & 0xffff) << 8) | (disk & 0xff);
    b.addr[i] = off;
    b.size[i] = size;
    b.op[i] = isWrite ? WRITE : 0;
    return LINE_REQUEST;
  },
};
