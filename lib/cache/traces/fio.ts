/**
 * fio iolog v2 and v3 (`fio --write_iolog`): after the `fio version N iolog` header, `[timestamp_us] filename
 * action [offset length]`. Reads and writes count; add/open/close/trim/sync/wait lines are ignored. Each file
 * name becomes its own device. v3 timestamps are microseconds since the start of the run; v2 has none (requests
 * are spaced 1 µs apart).
 *
 * @module
 */

import { type RequestBatch, WRITE } from "./batch.ts";
import { VolumeTable } from "../keys.ts";
import type { Scan } from "./lines.ts";
import { LINE_BAD, LINE_IGNORED, LINE_REQUEST, type LineParser } from "./text.ts";

/** Make a parser for fio iologs (it keeps the version and the file table). */
export function fioParser(): LineParser {
  let version = 0;
  let seq = 0;
  const volumes = new VolumeTable();
  let lastName = new Uint8Array(0);
  let lastDev = -1;
  const ends = new Int32Array(6);
  return {
    format: "fio",
    unit: "byte",
    volumes,
    reset() {
      version = 0;
      seq = 0;
      lastName = new Uint8Array(0);
      lastDev = -1;
    },
    expected: "'fio version 2|3 iolog' then '[time] file read|write offset length'",
    parse(s: Scan, b: RequestBatch, i: number, lineNo: number): number {
      if (version === 0) {
        if (!s.startsWith(s.pos, "fio version ")) return lineNo === 1 ? LINE_BAD : LINE_IGNORED;
        s.pos += 12;
        version = s.int();
        if (s.bad || (version !== 2 && version !== 3)) return LINE_BAD;
        return LINE_IGNORED;
      }
      const t = version === 3 ? s.int() : seq++;
      if (s.bad) return LINE_BAD;
      s.skipSpace();
      const nameStart = s.pos;
      // The last three whitespace-separated fields, from the right (file names may contain spaces).
      const buf = s.buf;
      let e = s.end, got = 0;
      while (got < 3 && e > nameStart) {
        while (e > nameStart && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
        let st = e;
        while (st > nameStart && buf[st - 1] !== 32 && buf[st - 1] !== 9) st--;
        ends[got * 2] = st;
        ends[got * 2 + 1] = e;
        got++;
        e = st;
      }
      if (got < 3) return LINE_IGNORED;
      const actSt = ends[4], actLen = ends[5] - ends[4];
      const isRead = actLen === 4 && s.startsWith(actSt, "read");
      const isWrite = actLen === 5 && s.startsWith(actSt, "write");
      if (!isRead && !isWrite) return LINE_IGNORED; // add/open/close/trim/sync/datasync/wait, or a file action
      s.pos = ends[2];
      const off = s.int();
      s.pos = ends[0];
      const len = s.int();
      if (s.bad) return LINE_BAD;
      let nameEnd = actSt;
      while (nameEnd > nameStart && (buf[nameEnd - 1] === 32 || buf[nameEnd - 1] === 9)) nameEnd--;
      // Decode the file name only when it differs from the previous line's (no string per line).
      let same = nameEnd - nameStart === lastName.length;
      for (let k = 0; same && k < lastName.length; k++) same = buf[nameStart + k] === lastName[k];
      if (!same) {
        lastName = buf.slice(nameStart, nameEnd);
        lastDev = volumes.intern(new TextDecoder().decode(lastName));
      }
      b.time[i] = t;
      b.dev[i] = lastDev;
      b.addr[i] = off;
      b.size[i] = len;
      b.op[i] = isWrite ? WRITE : 0;
      return LINE_REQUEST;
    },
  };
}
