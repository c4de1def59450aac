/**
 * A {@linkcode BlockSource} over an open file: positioned reads through a read-ahead buffer, so a transfer starts
 * at once (no whole-file read first) and costs one read per 256 KiB. An open file is a snapshot when files are
 * replaced by rename (as bbb-pack writes them): the transfer keeps the inode it opened.
 *
 * @module
 */

import type { BlockSource } from "./session.ts";

/** A block source reading `file` (size taken when opened); `close()` closes the file. */
export class FileSource implements BlockSource {
  readonly size: number;
  #file: Deno.FsFile;
  #buf: Uint8Array;
  #start = 0;
  #len = 0;

  /** Open `path` for reading. */
  constructor(path: string, readAhead = 256 * 1024) {
    this.#file = Deno.openSync(path, { read: true });
    this.size = this.#file.statSync().size;
    this.#buf = new Uint8Array(readAhead);
  }

  /** Copy the bytes at `offset` into `into`. */
  read(offset: number, into: Uint8Array): number {
    let done = 0;
    while (done < into.length) {
      const pos = offset + done;
      if (pos < this.#start || pos >= this.#start + this.#len) {
        if (pos >= this.size) break;
        this.#file.seekSync(pos, Deno.SeekMode.Start);
        let n = 0;
        while (n < this.#buf.length) {
          const r = this.#file.readSync(this.#buf.subarray(n));
          if (r === null || r === 0) break;
          n += r;
        }
        this.#start = pos;
        this.#len = n;
        if (n === 0) break;
      }
      const from = pos - this.#start;
      const take = Math.min(into.length - done, this.#len - from);
      into.set(this.#buf.subarray(from, from + take), done);
      done += take;
    }
    return done;
  }

  /** Close the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* closed */ }
  }
}
