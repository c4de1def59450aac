/**
 * SPC/UMass traces (Financial, WebSearch): `ASU,LBA,Size,Opcode,Timestamp` with LBA in 512-byte sectors, size in
 * bytes, opcode `r`/`w` (either case) and the timestamp in seconds. Each ASU is a volume (`asu0`, `asu1`, ...), interned
 * to a dense id as first seen.
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import { VolumeTable } from "../keys.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Make a parser of SPC/UMass lines (it keeps the volume table). */
export function spcParser(): LineParser {
  const volumes = new VolumeTable();
  const ids = new Map<number, number>();
  return {
    format: "spc",
    volumes,
    unit: "byte",
    expected: "ASU,LBA,Size,Opcode,Timestamp",
    parse(s: Scan, b: RequestBatch, i: number): number {
      const c0 = s.buf[s.pos];
      if (c0 === 35 || s.startsWith(s.pos, "asu")) return LINE_IGNORED;
      const asu = s.int();
      s.sep(44);
      const lba = s.int();
      s.sep(44);
      const size = s.int();
      s.sep(44);
      s.skipSpace();
      const op = s.lower(s.pos);
      if (op !== 114 && op !== 119) return LINE_BAD;
      s.skipTo(44);
      s.sep(44);
      const t = s.float();
      if (s.bad) return LINE_BAD;
      b.time[i] = t * 1e6;
      let vol = ids.get(asu);
      if (vol === undefined) ids.set(asu, vol = volumes.intern(`asu${asu}`));
      b.dev[i] = vol;
      b.addr[i] = lba * 512;
      b.size[i] = size;
      b.op[i] = op === 119 ? WRITE : 0;
      return LINE_REQUEST;
    },
  };
}
