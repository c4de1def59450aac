/**
 * Pipelined, acknowledged publishing of one outbox batch, sans-I/O. The adapter sends each record as a plain NATS
 * publish to the bucket's KV subject with a reply subject of its own (`INBOX.<batch>.<index>`), so that JetStream's
 * acknowledgement (`{"stream":"KV_…","seq":N}`) comes back to one subscription instead of one request (promise,
 * timer, inbox) per record. {@linkcode PublishWindow} says which record to send next (at most `window` awaiting
 * their acknowledgement), takes the acknowledgements as they come ({@linkcode parsePubAck}), and ends the batch: every
 * record acknowledged, or, after an error or when no acknowledgement has come for `stallMs`, the rest failed (they
 * stay in the outbox and are sent again; a record stored twice is applied once by every receiver).
 *
 * @module
 */

/** What an acknowledgement says. */
export type PubAck = { ok: true; seq: number } | { ok: false; error: string };

const decoder = new TextDecoder();

/**
 * Parse a JetStream publish acknowledgement: its payload (`{"stream":"KV_x","seq":7}` or
 * `{"error":{"code":503,"description":"…"}}`) and the status code of its headers when it has some (503: no
 * JetStream answered for the subject).
 */
export function parsePubAck(data: Uint8Array, status?: number): PubAck {
  if (status !== undefined && status >= 300) return { ok: false, error: `status ${status}` };
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: "acknowledgement is not JSON" };
  }
  if (typeof doc !== "object" || doc === null) return { ok: false, error: "acknowledgement is not an object" };
  const d = doc as { seq?: unknown; error?: { code?: unknown; description?: unknown } };
  if (d.error !== undefined) {
    const desc = typeof d.error?.description === "string" ? d.error.description : "error";
    return { ok: false, error: `${d.error?.code ?? "?"} ${desc}`.slice(0, 200) };
  }
  if (typeof d.seq !== "number" || !Number.isSafeInteger(d.seq) || d.seq < 1) {
    return { ok: false, error: "acknowledgement has no sequence" };
  }
  return { ok: true, seq: d.seq };
}

/** Options for {@linkcode PublishWindow}. */
export interface PublishWindowOptions {
  /** Most records awaiting their acknowledgement at once. */
  window: number;
  /** A batch with records in flight and no acknowledgement for this long fails the rest, ms. */
  stallMs: number;
}

/** The send/acknowledge bookkeeping of one batch (see the module doc). */
export class PublishWindow {
  #size: number;
  #window: number;
  #stallMs: number;
  #next = 0;
  #inflight = new Set<number>();
  #ok: number[] = [];
  #failed: number[] = [];
  #broken: string | undefined;
  #progressAt: number;

  /** A batch of `size` records, started at `now` (ms). */
  constructor(size: number, options: PublishWindowOptions, now: number) {
    this.#size = size;
    this.#window = Math.max(1, options.window);
    this.#stallMs = options.stallMs;
    this.#progressAt = now;
  }

  /** The next record to send now (its index), or undefined: window full, all sent, or the batch broken. */
  next(now: number): number | undefined {
    if (this.#broken !== undefined || this.#next >= this.#size || this.#inflight.size >= this.#window) {
      return undefined;
    }
    if (this.#inflight.size === 0) this.#progressAt = now; // the stall clock runs only while records are in flight
    const i = this.#next++;
    this.#inflight.add(i);
    return i;
  }

  /** Sending record `i` failed at once (the connection is closed): it and the rest fail. */
  sendFailed(i: number, error: string): void {
    if (!this.#inflight.delete(i)) return;
    this.#failed.push(i);
    this.#break(error);
  }

  /** The acknowledgement of record `i` came (an unknown or repeated index is ignored). */
  ack(i: number, ack: PubAck, now: number): void {
    if (!this.#inflight.delete(i)) return;
    this.#progressAt = now;
    if (ack.ok) this.#ok.push(i);
    else {
      this.#failed.push(i);
      this.#break(ack.error);
    }
  }

  /** The clock moved to `now`: fails what is in flight when nothing was acknowledged for `stallMs`. */
  tick(now: number): void {
    if (this.#inflight.size > 0 && now - this.#progressAt >= this.#stallMs) this.#break("no acknowledgement");
  }

  /** When {@linkcode PublishWindow.tick} should run next (ms), or undefined when nothing is in flight. */
  deadline(): number | undefined {
    return this.#inflight.size > 0 ? this.#progressAt + this.#stallMs : undefined;
  }

  /** Every record is acknowledged or failed. */
  get done(): boolean {
    return this.#ok.length + this.#failed.length === this.#size;
  }

  /** Why the batch broke off (the first error), or undefined. */
  get error(): string | undefined {
    return this.#broken;
  }

  /** The indexes acknowledged and failed, each ascending. */
  result(): { ok: number[]; failed: number[] } {
    return { ok: [...this.#ok].sort((a, b) => a - b), failed: [...this.#failed].sort((a, b) => a - b) };
  }

  #break(error: string): void {
    this.#broken ??= error;
    // what is in flight may still be stored (a duplicate later is harmless); it counts as failed and is sent again
    for (const i of this.#inflight) this.#failed.push(i);
    this.#inflight.clear();
    for (; this.#next < this.#size; this.#next++) this.#failed.push(this.#next);
  }
}
