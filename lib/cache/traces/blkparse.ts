/**
 * blkparse's default text output: `maj,min cpu seq time pid action rwbs sector + blocks [process]`. Only queue
 * (`Q`) events of reads and writes count, the requests as the block layer received them; other actions, the
 * per-CPU and total summaries blkparse prints at the end, and discards/flushes without data are ignored.
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import { VolumeTable } from "../keys.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Make a parser of blkparse default output (it keeps the volume table; a volume is a `maj,min` device). */
export function blkparseParser(): LineParser {
  const volumes = new VolumeTable();
  const ids = new Map<number, number>();
  return {
    format: "blkparse",
    volumes,
    unit: "byte",
    expected: "'maj,min cpu seq time pid action rwbs sector + blocks'",
    parse(s: Scan, b: RequestBatch, i: number): number {
      s.skipSpace();
      const c0 = s.buf[s.pos];
      if (c0 < 48 || c0 > 57) return LINE_IGNORED; // summaries ("CPU0 (8,0):", "Total", "Events", ...)
      const maj = s.int();
      if (s.buf[s.pos] !== 44) return LINE_IGNORED; // e.g. " Reads Queued: ..." continuation lines
      s.pos++;
      const min = s.int();
      s.int(); // cpu
      s.int(); // sequence
      const t = s.float();
      s.int(); // pid
      if (s.bad) return LINE_BAD;
      const a = s.token();
      if (s.pos - a !== 1 || s.buf[a] !== 81 /* Q */) return LINE_IGNORED;
      const r = s.token();
      let isWrite = false, isRead = false;
      for (let k = r; k < s.pos; k++) {
        if (s.buf[k] === 87) isWrite = true;
        else if (s.buf[k] === 82) isRead = true;
      }
      if (!isWrite && !isRead) return LINE_IGNORED;
      const sector = s.int();
      s.sep(43); // +
      const blocks = s.int();
      if (s.bad) return LINE_BAD;
      b.time[i] = t * 1e6;
      const devNo = maj * 4294967296 + min;
      let vol = ids.get(devNo);
      if (vol === undefined) ids.set(devNo, vol = volumes.intern(`${maj},${min}`));
      b.dev[i] = vol;
      b.addr[i] = sector * 512;
      b.size[i] = blocks * 512;
      b.op[i] = isWrite ? WRITE : 0;
      return LINE_REQUEST;
    },
  };
}
