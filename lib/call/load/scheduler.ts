/**
 * The load run's scheduler, sans-I/O: it is given the time and what happened to each call, and answers with what to
 * do ("start a call", "stop call 7"). It keeps `target` calls up at once, opens at most `rate` new calls per second
 * (paced, one every 1/rate s) until they are up, replaces each call that ends, holds each answered call `holdMs`,
 * and stops after `durationMs` (default: one round of `target` calls). It also tracks how late its own ticks were,
 * so the adapter can say when the generator, not the PBX, fell behind.
 *
 * @module
 */

/** Options for {@linkcode LoadScheduler}. */
export interface SchedulerOptions {
  /** Calls to keep up at once (N). */
  target: number;
  /** New calls per second (R). */
  rate: number;
  /** How long each answered call is held (ms). */
  holdMs: number;
  /** Run this long (ms), replacing calls that end; undefined: one round of `target` calls. */
  durationMs?: number;
}

/** What the scheduler asks the adapter to do. */
export type SchedulerCommand =
  | { kind: "start"; id: number }
  | { kind: "stop"; id: number };

interface Active {
  startedAt: number;
  upAt?: number;
  stopSent: boolean;
}

/** The pure state machine of a load run. */
export class LoadScheduler {
  /** The options it was made with. */
  readonly options: SchedulerOptions;
  #t0: number | undefined;
  #nextId = 1;
  #nextStartDue = 0;
  #active = new Map<number, Active>();
  #started = 0;
  #ended = 0;
  #answered = 0;
  #failed = 0;
  #maxLateMs = 0;
  #lateSum = 0;
  #lateCount = 0;

  /** Check and keep the options. */
  constructor(options: SchedulerOptions) {
    if (!(options.target >= 1) || !Number.isInteger(options.target)) throw new RangeError("target: an integer >= 1");
    if (!(options.rate > 0)) throw new RangeError("rate: > 0 calls per second");
    if (!(options.holdMs >= 0)) throw new RangeError("holdMs: >= 0");
    this.options = options;
  }

  /** Calls started and not ended yet. */
  get active(): number {
    return this.#active.size;
  }

  /** Calls answered and not ended yet. */
  get up(): number {
    let n = 0;
    for (const a of this.#active.values()) if (a.upAt !== undefined) n++;
    return n;
  }

  /** Counters so far. */
  get counts(): { started: number; ended: number; answered: number; failed: number } {
    return { started: this.#started, ended: this.#ended, answered: this.#answered, failed: this.#failed };
  }

  /** Lateness of starts behind their due time (ms): the largest and the mean. */
  get lateness(): { maxMs: number; meanMs: number } {
    return { maxMs: this.#maxLateMs, meanMs: this.#lateCount ? this.#lateSum / this.#lateCount : 0 };
  }

  /** Whether new calls may still be started at `now`. */
  #opening(now: number): boolean {
    const d = this.options.durationMs;
    if (d === undefined) return this.#started < this.options.target;
    return now - (this.#t0 ?? now) < d;
  }

  /** True once nothing more will be started and every call has ended. */
  done(now: number): boolean {
    return this.#t0 !== undefined && !this.#opening(now) && this.#active.size === 0;
  }

  /** Advance to `now` (ms, monotonic) and return the commands due. */
  tick(now: number): SchedulerCommand[] {
    const out: SchedulerCommand[] = [];
    if (this.#t0 === undefined) {
      this.#t0 = now;
      this.#nextStartDue = now;
    }
    const interval = 1000 / this.options.rate;
    const opening = this.#opening(now);
    const d = this.options.durationMs;
    const expired = d !== undefined && now - this.#t0 >= d;
    // stops: held long enough, or the run is over
    for (const [id, a] of this.#active) {
      if (a.stopSent) continue;
      if ((a.upAt !== undefined && now - a.upAt >= this.options.holdMs) || expired) {
        a.stopSent = true;
        out.push({ kind: "stop", id });
      }
    }
    // starts: paced, while below target; a start that has a free slot but waited for a tick counts as late
    while (opening && this.#active.size < this.options.target && now >= this.#nextStartDue) {
      const late = now - this.#nextStartDue;
      this.#maxLateMs = Math.max(this.#maxLateMs, late);
      this.#lateSum += late;
      this.#lateCount++;
      const id = this.#nextId++;
      this.#active.set(id, { startedAt: now, stopSent: false });
      this.#started++;
      out.push({ kind: "start", id });
      this.#nextStartDue += interval;
    }
    // a free slot does not bank starts: pacing restarts from now when we were idle below target
    if (this.#active.size >= this.options.target && this.#nextStartDue < now) this.#nextStartDue = now;
    return out;
  }

  /** When the next command may be due (ms), for the adapter's timer; undefined when only call events can help. */
  nextDue(now: number): number | undefined {
    let due: number | undefined;
    const take = (t: number) => due = due === undefined ? t : Math.min(due, t);
    if (this.#opening(now) && this.#active.size < this.options.target) take(Math.max(now, this.#nextStartDue));
    for (const a of this.#active.values()) if (a.upAt !== undefined && !a.stopSent) take(a.upAt + this.options.holdMs);
    if (this.options.durationMs !== undefined && this.#t0 !== undefined && this.#opening(now)) {
      take(this.#t0 + this.options.durationMs);
    }
    return due;
  }

  /** Call `id` was answered (its hold starts). */
  callUp(id: number, now: number): void {
    const a = this.#active.get(id);
    if (a && a.upAt === undefined) a.upAt = now;
  }

  /** Call `id` ended (answered or not); its slot is free for a replacement. */
  callEnded(id: number, outcome: { answered: boolean; ok: boolean }): void {
    if (!this.#active.delete(id)) return;
    this.#ended++;
    if (outcome.answered) this.#answered++;
    if (!outcome.ok) this.#failed++;
  }
}
