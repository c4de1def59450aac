/**
 * The shared driver of the line-oriented trace formats: streams a file through {@linkcode splitLines}, hands each
 * line to the format's parser, fills reusable batches, makes times relative to the first request, and turns a
 * malformed line into `E_PARSE` naming the file and line (or counts and skips it with `skipBad`).
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { checkOffset, OFFSET_LIMIT, type VolumeTable } from "../keys.ts";
import { type AddressUnit, newBatch, type RequestBatch, type TraceSource } from "./batch.ts";
import { Scan, splitLines } from "./lines.ts";
import { openTrace } from "./open.ts";

/** Result codes of {@linkcode LineParser.parse}. */
export const LINE_REQUEST = 1, LINE_IGNORED = 0, LINE_BAD = -1;

/** A format's per-line parser. */
export interface LineParser {
  /** Format name (for messages). */
  readonly format: string;
  /** Address unit of the format. */
  readonly unit: AddressUnit;
  /** What a good line looks like (for error messages). */
  readonly expected: string;
  /** Forget per-read state (a header seen, a version line) before a new read of the file; volumes are kept. */
  reset?(): void;
  /** The volumes the parser interned (multi-volume formats). */
  readonly volumes?: VolumeTable;
  /**
   * Parse the line in `s` into slot `i` of `b` (time in µs, any origin). Returns LINE_REQUEST, LINE_IGNORED
   * (header, comment, another action) or LINE_BAD.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  parse(s: Scan, b: RequestBatch, i: number, lineNo: number): number;
}

/** Options of text sources. */
export interface TextSourceOptions {
  /** Count and skip malformed lines instead of failing. */
  skipBad?: boolean;
}

/** A streamed text trace. */
export function textSource(path: string, parser: LineParser, options: TextSourceOptions = {}): TraceSource {
  const state = { skipped: 0 };
  return {
    name: path,
    unit: parser.unit,
    volumes: parser.volumes?.names ?? [],
    get skipped() {
      return state.skipped;
    },
    batches: () => read(path, parser, options, state),
  };
}

async function* read(
  path: string,
  parser: LineParser,
  options: TextSourceOptions,
  state: { skipped: number },
): AsyncGenerator<RequestBatch> {
  const opened = await openTrace(path);
  state.skipped = 0; // a count of the file's lines, however many passes read it
  parser.reset?.();
  const b = newBatch();
  const cap = b.time.length;
  const s = new Scan();
  let lineNo = 0;
  const byte = parser.unit === "byte";
  let t0 = NaN;
  let i = 0;
  for await (const lines of splitLines(opened.chunks)) {
    const { buf, starts, ends, count } = lines;
    for (let k = 0; k < count; k++) {
      lineNo++;
      const st = starts[k], en = ends[k];
      if (en <= st) continue;
      s.reset(buf, st, en);
      let r = parser.parse(s, b, i, lineNo);
      if (r === LINE_REQUEST && !s.bad) {
        const a = b.addr[i], end = byte ? a + b.size[i] : a;
        if (a < 0 || b.size[i] < 0) r = LINE_BAD;
        else if (a >= OFFSET_LIMIT || end > OFFSET_LIMIT) {
          checkOffset(Math.max(a, end), byte ? "end offset" : "object id", `${path}:${lineNo}`);
        }
      }
      if (r === LINE_REQUEST && !s.bad) {
        const t = b.time[i];
        if (t0 !== t0 && t === t) t0 = t;
        b.time[i] = t - t0;
        b.next[i] = -1;
        if (++i === cap) {
          b.n = i;
          yield b;
          i = 0;
        }
      } else if (r === LINE_BAD || s.bad) {
        if (options.skipBad) {
          state.skipped++;
          continue;
        }
        const shown = s.text(st, Math.min(en, st + 80));
        throw new PbxError(
          "E_PARSE",
          `${path}:${lineNo}: malformed ${parser.format} line '${shown}' (expected ${parser.expected}; --skip-bad skips such lines)`,
        );
      }
    }
  }
  if (i > 0) {
    b.n = i;
    yield b;
  }
}
