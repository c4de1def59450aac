/**
 * Ordered, non-blocking output of lines (a daemon's `--json` events): {@linkcode LineWriter.write} queues and
 * returns at once; one writer drains the queue in order, many lines per write. A slow reader of the pipe then delays
 * the lines, never the work that made them (a burst of 10,000 bans would otherwise wait on a full pipe). The queue
 * is bounded: past `maxQueued` lines waiting, new ones are dropped and counted ({@linkcode LineWriter.dropped}), so
 * a reader that never reads cannot grow the daemon's memory without end.
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
  #max: number;
  #dropped = 0;

  /** Lines go to `sink` (default: standard output); at most `maxQueued` (default 200,000) wait at once. */
  constructor(sink: LineSink = Deno.stdout, options: { maxQueued?: number } = {}) {
    this.#sink = sink;
    this.#max = options.maxQueued ?? 200_000;
  }

  /** Lines dropped because the queue was full (the reader fell that far behind). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queue one line (without its newline); false when it was dropped (queue full, or the sink failed). */
  write(line: string): boolean {
    if (this.#failed) return false;
    if (this.#queue.length >= this.#max) {
      this.#dropped++;
      return false;
    }
    this.#queue.push(line);
    this.#draining ??= this.#drain();
    return true;
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
