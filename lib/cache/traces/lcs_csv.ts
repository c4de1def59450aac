/**
 * libCacheSim-style CSV traces: one request per line, comma-separated. With a header line the columns are found
 * by name (`time`/`timestamp`/`clock_time`, `obj_id`/`id`/`key`, `obj_size`/`size`, `op`/`type`,
 * `next_access_vtime`/`next`); without one the order is `time,obj_id,obj_size[,op]` (libCacheSim's
 * `time-col=1,obj-id-col=2,obj-size-col=3`). Object ids are integers; ops `read`/`get`/`r`/`0` and
 * `write`/`set`/`w`/`1`. Times are seconds.
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Make a parser for libCacheSim CSV traces (it learns the columns from the header). */
export function lcsCsvParser(): LineParser {
  let cols = { time: 0, id: 1, size: 2, op: 3, next: -1 };
  let first = true;
  return {
    format: "lcs-csv",
    unit: "object",
    expected: "time,obj_id,obj_size[,op] (or a header naming the columns)",
    reset() {
      first = true;
      cols = { time: 0, id: 1, size: 2, op: 3, next: -1 };
    },
    parse(s: Scan, b: RequestBatch, i: number): number {
      if (first) {
        first = false;
        const c = s.buf[s.pos];
        if (!(c >= 48 && c <= 57)) {
          const names = s.text(s.start, s.end).toLowerCase().split(",").map((x) => x.trim());
          const find = (...n: string[]) => names.findIndex((x) => n.includes(x));
          cols = {
            time: find("time", "timestamp", "clock_time", "ts"),
            id: find("obj_id", "id", "key", "object", "obj"),
            size: find("obj_size", "size", "bytes"),
            op: find("op", "type", "operation", "rw"),
            next: find("next_access_vtime", "next"),
          };
          return cols.id < 0 ? LINE_BAD : LINE_IGNORED;
        }
      }
      if (s.buf[s.pos] === 35) return LINE_IGNORED;
      let col = 0;
      let t = NaN, id = NaN, size = 1, op = 0, next = -1;
      for (;;) {
        if (col === cols.id) id = s.int();
        else if (col === cols.time) t = s.float();
        else if (col === cols.size) size = s.int();
        else if (col === cols.next) next = s.int();
        else if (col === cols.op) {
          s.skipSpace();
          const c = s.lower(s.pos);
          op = c === 119 || c === 115 || c === 49 ? WRITE : 0; // w, s(et), 1
        }
        s.skipTo(44);
        if (s.pos >= s.end) break;
        s.pos++;
        col++;
      }
      if (s.bad || id !== id) return LINE_BAD;
      b.time[i] = t * 1e6;
      b.dev[i] = 0;
      b.addr[i] = id;
      b.size[i] = size;
      b.op[i] = op;
      b.next[i] = next;
      return LINE_REQUEST;
    },
  };
}
