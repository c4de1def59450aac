/**
 * Ordered, non-blocking output of lines (a daemon's `--json` events): {@linkcode LineWriter.write} queues and
 * returns at once; one writer drains the queue in order, many lines per write. A slow reader of the pipe then delays
 * the lines, never the work that made them (a burst of 10,000 bans would otherwise wait on a full pipe).
 *
 * @module
 */

/** Where the lines go. */
export interface LineSink {
  /** Write some bytes; resolves with how many were written. */
  write(p: Uint8Array): Promise<number>;
}

/** The queue and its writer (see the module doc). */
export class LineWriter {
  #sink: LineSink;
  #queue: string[] = [];
  #draining?: Promise<void>;
  #enc = new TextEncoder();
  #failed = false;

  /** Lines go to `sink` (default: standard output). */
  constructor(sink: LineSink = Deno.stdout) {
    this.#sink = sink;
  }

  /** Queue one line (without its newline). */
  write(line: string): void {
    if (this.#failed) return;
    this.#queue.push(line);
    this.#draining ??= this.#drain();
  }

  /** Resolves when every queued line is written (or the sink failed: the rest is dropped). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length) {
        const text = this.#queue.join("\n") + "\n";
        this.#queue = [];
        const bytes = this.#enc.encode(text);
        for (let off = 0; off < bytes.length;) off += await this.#sink.write(bytes.subarray(off));
      }
    } catch {
      // the reader went away: the daemon goes on without its event lines
      this.#failed = true;
      this.#queue = [];
    } finally {
      this.#draining = undefined;
    }
  }
}
