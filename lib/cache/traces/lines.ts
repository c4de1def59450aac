/**
 * Byte-wise line scanning for text traces: chunks are split into lines without decoding them to strings, and
 * fields are parsed straight from the bytes ({@linkcode Scan}). Only a line that straddles two chunks is copied.
 *
 * @module
 */

import { grown } from "../grow.ts";

/** A cursor over one line's bytes with number and token parsers (no allocation). */
export class Scan {
  /** The buffer. */
  buf: Uint8Array = new Uint8Array(0);
  /** Current position. */
  pos = 0;
  /** End of the line (exclusive, newline and CR stripped). */
  end = 0;
  /** Set when a parser found no number. */
  bad = false;
  /** Start of the line. */
  start = 0;

  /**
   * Point at a line.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  reset(buf: Uint8Array, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.start = start;
    this.end = end;
    this.bad = false;
  }

  /** Skip spaces and tabs. */
  skipSpace(): void {
    const b = this.buf;
    while (this.pos < this.end && (b[this.pos] === 32 || b[this.pos] === 9)) this.pos++;
  }

  /** At end of line (after spaces)? */
  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.end;
  }

  /** Expect a separator byte (after optional spaces); sets `bad` if absent. */
  sep(c: number): void {
    this.skipSpace();
    if (this.pos < this.end && this.buf[this.pos] === c) this.pos++;
    else this.bad = true;
  }

  /** Skip spaces and an optional sign (`-` or `+`); true for `-`. */
  #sign(): boolean {
    this.skipSpace();
    const c = this.buf[this.pos];
    if (this.pos < this.end && (c === 45 || c === 43)) {
      this.pos++;
      return c === 45;
    }
    return false;
  }

  /** Parse an unsigned or signed decimal integer (as a double; exact below 2^53). */
  int(): number {
    const neg = this.#sign();
    const b = this.buf;
    let i = this.pos;
    const start = i;
    let v = 0;
    while (i < this.end) {
      const d = b[i] - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    if (i === start) this.bad = true;
    this.pos = i;
    return neg ? -v : v;
  }

  /** Parse a decimal number with optional fraction and exponent. */
  float(): number {
    const neg = this.#sign();
    const b = this.buf;
    let i = this.pos;
    const start = i;
    let v = 0;
    while (i < this.end && b[i] >= 48 && b[i] <= 57) v = v * 10 + (b[i++] - 48);
    if (i < this.end && b[i] === 46) {
      i++;
      let scale = 0.1;
      while (i < this.end && b[i] >= 48 && b[i] <= 57) {
        v += (b[i++] - 48) * scale;
        scale /= 10;
      }
    }
    if (i === start) {
      this.bad = true;
      this.pos = i;
      return 0;
    }
    if (i < this.end && (b[i] === 101 || b[i] === 69)) {
      this.pos = i + 1;
      const e = this.int();
      v *= Math.pow(10, e);
      i = this.pos;
    }
    this.pos = i;
    return neg ? -v : v;
  }

  /** Skip a token up to (not including) byte `stop` or the line end; returns its start. */
  skipTo(stop: number): number {
    const start = this.pos;
    while (this.pos < this.end && this.buf[this.pos] !== stop) this.pos++;
    return start;
  }

  /** Skip a whitespace-delimited token; returns its start. */
  token(): number {
    this.skipSpace();
    const start = this.pos;
    const b = this.buf;
    while (this.pos < this.end && b[this.pos] !== 32 && b[this.pos] !== 9) this.pos++;
    return start;
  }

  /** Lower-cased first byte at `at`. */
  lower(at: number): number {
    const c = this.buf[at];
    return c >= 65 && c <= 90 ? c + 32 : c;
  }

  /** Does the text at `at` start with ASCII `word` (case-insensitive)? */
  startsWith(at: number, word: string): boolean {
    if (at + word.length > this.end) return false;
    for (let k = 0; k < word.length; k++) {
      let c = this.buf[at + k];
      if (c >= 65 && c <= 90) c += 32;
      if (c !== word.charCodeAt(k)) return false;
    }
    return true;
  }

  /** Decode part of the line (for error messages and rare string fields only). */
  text(start = 0, end = this.end): string {
    return new TextDecoder().decode(this.buf.subarray(start, end));
  }
}

/**
 * Split chunks into lines: yields [buffer, starts, ends, count] views where line k spans
 * `buffer[starts[k], ends[k])` (newline and CR removed). Arrays are reused between yields.
 */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ buf: Uint8Array; starts: Int32Array; ends: Int32Array; count: number }> {
  let starts = new Int32Array(4096), ends = new Int32Array(4096);
  let carry: Uint8Array | null = null as Uint8Array | null;
  const out: { buf: Uint8Array; starts: Int32Array; ends: Int32Array; count: number } = {
    buf: new Uint8Array(0),
    starts,
    ends,
    count: 0,
  };
  for await (const raw of chunks) {
    let buf: Uint8Array = raw;
    if (carry !== null) {
      buf = new Uint8Array(carry.length + raw.length);
      buf.set(carry);
      buf.set(raw, carry.length);
      carry = null;
    }
    let count = 0, s = 0;
    for (;;) {
      const nl = buf.indexOf(10, s);
      if (nl < 0) break;
      if (count === starts.length) {
        starts = grown(starts, count * 2);
        ends = grown(ends, count * 2);
      }
      starts[count] = s;
      ends[count] = nl > s && buf[nl - 1] === 13 ? nl - 1 : nl;
      count++;
      s = nl + 1;
    }
    if (s < buf.length) carry = buf.slice(s);
    out.buf = buf;
    out.starts = starts;
    out.ends = ends;
    out.count = count;
    if (count > 0) yield out;
  }
  if (carry !== null && carry.length > 0) {
    let e = carry.length;
    if (carry[e - 1] === 13) e--;
    out.buf = carry;
    out.starts[0] = 0;
    out.ends[0] = e;
    out.count = 1;
    yield out;
  }
}
