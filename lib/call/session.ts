/**
 * The call-session core: a sans-I/O state machine for one call, outgoing or incoming, on any transport and media
 * stack. JsSIP session events (INVITE sent, provisional responses, SDP, answer, failure, end), "media is up", "the
 * played file ended", abort, and the passing of time go in; {@linkcode SessionCommand}s come out: events to print,
 * answer/reject/terminate the SIP session, start the outgoing audio, send DTMF, and finally the call's report.
 *
 * Time is whatever the driver says (`at`, milliseconds on any monotonic clock): the session keeps its deadlines
 * (ring timeout, duration, media timeout, the DTMF and hang-up-after-play delays, auto-answer delay) and fires them
 * from {@linkcode CallSession.tick}; {@linkcode CallSession.nextDeadline} tells the driver when to call it. Tests run it
 * on a fake clock without a PBX.
 *
 * Both directions follow the same rules: the media timeout runs from the answer, DTMF goes 300 ms after media is up
 * and the call answered, `--hangup-after-play` hangs up 300 ms after the file ended, `--duration` counts from the
 * answer, and codec filtering applies to our SDP (the offer when calling, the answer when called).
 *
 * @module
 */

import { codecOf, filterCodecs } from "./sdp.ts";
import { type CallOutcome, EXIT_STATUS, outcomeFromFailure, outcomeFromStatus } from "./status.ts";

/** How DTMF is sent. `auto`: RFC 4733 when the stack can, else SIP INFO. */
export type DtmfMode = "auto" | "rfc4733" | "info" | "inband";

/** One step of a call or of registration, for progress lines and `--json`. */
export interface CallEvent {
  /** What happened. */
  event:
    | "connecting"
    | "connected"
    | "registered"
    | "unregistered"
    | "disconnected"
    | "calling"
    | "trying"
    | "ringing"
    | "progress"
    | "incoming"
    | "answered"
    | "media"
    | "dtmf"
    | "ended"
    | "failed"
    | "warning";
  /** Seconds since the phone was opened. */
  t: number;
  /** Call number (1-based) for call events. */
  call?: number;
  /** SIP status code, when a response caused the event. */
  status?: number;
  /** SIP reason phrase or JsSIP cause. */
  reason?: string;
  /** Free text detail. */
  detail?: string;
  /** The other party (`sip:` URI). */
  peer?: string;
  /** The other party's display name. */
  displayName?: string;
}

/** The result of one call. */
export interface CallReport {
  /** 1-based call number. */
  call: number;
  /** Who started the call. */
  direction: "outgoing" | "incoming";
  /** The other party. */
  peer: string;
  /** Their display name, if any. */
  displayName?: string;
  /** How it ended. */
  outcome: CallOutcome;
  /** The documented exit status for the outcome. */
  exitStatus: number;
  /** JsSIP cause (`Terminated`, `Busy`, `Canceled`, ...). */
  cause: string;
  /** Who ended it: `local`, `remote` or `system`. */
  endedBy: string;
  /** Final SIP status code of the INVITE when it failed. */
  status?: number;
  /** Whether it was answered. */
  answered: boolean;
  /** Seconds from answer to hang-up (0 when not answered). */
  durationSeconds: number;
  /** Milliseconds from sending the INVITE (or answering) to media connected, if it connected. */
  setupMs?: number;
  /** Milliseconds from sending the INVITE (or the INVITE's arrival) to the answer. */
  answerMs?: number;
  /** Codec negotiated (first of the SDP answer), e.g. `PCMU/8000`. */
  codec?: string;
}

/** Event fields without the time stamp (the driver adds it). */
export type SessionEvent = Omit<CallEvent, "t">;

/** What the session asks its driver to do. */
export type SessionCommand =
  | { kind: "emit"; event: SessionEvent }
  | { kind: "answer" }
  | { kind: "reject"; status: number; reason?: string }
  | { kind: "terminate" }
  | { kind: "startMedia" }
  | { kind: "sendDtmf"; digits: string; mode: DtmfMode }
  | { kind: "done"; report: CallReport };

/** What happened to the call (times come separately as `at`). */
export type SessionInput =
  | { type: "sending" }
  | { type: "provisional"; status: number; reason?: string }
  | { type: "accepted"; status?: number; reason?: string; sdp?: string }
  | { type: "remoteSdp"; sdp: string }
  | { type: "media" }
  | { type: "playEnded" }
  | { type: "abort" }
  | { type: "answerFailed"; message: string }
  | { type: "dtmfFailed"; message: string }
  | { type: "error"; message: string }
  | { type: "failed"; cause: string; status?: number; reason?: string; originator: string }
  | { type: "ended"; cause: string; originator: string };

/** How a call should run. */
export interface CallSessionOptions {
  /** Call number (1-based). */
  call: number;
  /** Who starts it. */
  direction: "outgoing" | "incoming";
  /** The other party's URI. */
  peer: string;
  /** Their display name. */
  displayName?: string;
  /** Outgoing: CANCEL after ringing this long (ms). */
  ringTimeoutMs?: number;
  /** Hang up this long after the answer (ms). */
  durationMs?: number;
  /** Hang up 300 ms after the played file ended. */
  hangupAfterPlay?: boolean;
  /** DTMF digits to send once media is up. */
  dtmf?: string;
  /** DTMF method. */
  dtmfMode?: DtmfMode;
  /** Audio codecs allowed in our SDP, in order of preference. */
  codecs?: readonly string[];
  /** Media must be up this long after the answer (ms, default 15000), else the call is media-failed. */
  mediaTimeoutMs?: number;
  /** Incoming: answer automatically. */
  autoAnswer?: boolean;
  /** Incoming: delay before answering (ms). */
  answerDelayMs?: number;
  /** Incoming: refuse with this status instead. */
  rejectStatus?: number;
  /** Incoming: the cause recorded for the refusal (default `Rejected`). */
  rejectCause?: string;
  /** Incoming: the detail printed for the refusal. */
  rejectDetail?: string;
}

/** Delay from "media up and answered" to sending DTMF, and from the end of the played file to the hang-up (ms). */
export const SETTLE_MS = 300;
/** Default media timeout (ms). */
export const MEDIA_TIMEOUT_MS = 15_000;

type TimerName = "ring" | "duration" | "media" | "dtmf" | "answer" | "afterPlay";

/** One call's state machine. Feed it with {@linkcode CallSession.start}, `step`, `localSdp` and `tick`. */
export class CallSession {
  readonly options: CallSessionOptions;
  #t0 = 0;
  #inviteAt?: number;
  #answeredAt?: number;
  #answerSentAt?: number;
  #mediaAt?: number;
  #mediaReported = false;
  #tried = false;
  #canceledByUs = false;
  #mediaFailed = false;
  #codec?: string;
  #done?: CallReport;
  #timers = new Map<TimerName, number>();

  /** A session for one call (nothing happens until {@linkcode CallSession.start}). */
  constructor(options: CallSessionOptions) {
    this.options = options;
  }

  /** The report, once the call is over. */
  get report(): CallReport | undefined {
    return this.#done;
  }

  /** Whether the call is over. */
  get done(): boolean {
    return this.#done !== undefined;
  }

  /** Whether the call has been answered. */
  get answered(): boolean {
    return this.#answeredAt !== undefined;
  }

  /** When the earliest pending deadline falls (same clock as `at`), or undefined. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const at of this.#timers.values()) if (min === undefined || at < min) min = at;
    return min;
  }

  /** The call begins: an outgoing call is about to be placed, or an incoming INVITE arrived. */
  start(at: number): SessionCommand[] {
    this.#t0 = at;
    const o = this.options, out: SessionCommand[] = [];
    if (o.direction === "outgoing") {
      if (o.ringTimeoutMs !== undefined) this.#timers.set("ring", at + o.ringTimeoutMs);
      return out;
    }
    out.push(this.#emit({ event: "incoming", peer: o.peer, displayName: o.displayName }));
    if (o.rejectStatus) {
      out.push({ kind: "reject", status: o.rejectStatus });
      out.push(
        this.#emit({ event: "failed", status: o.rejectStatus, detail: o.rejectDetail ?? "rejected by --reject" }),
      );
      out.push(this.#finish(at, {
        outcome: outcomeFromStatus(o.rejectStatus),
        cause: o.rejectCause ?? "Rejected",
        endedBy: "local",
        answered: false,
      }));
      return out;
    }
    if (o.autoAnswer) this.#timers.set("answer", at + (o.answerDelayMs ?? 0));
    return out;
  }

  /**
   * Our SDP (offer when calling, answer when called) before it leaves: keep only `codecs`. Returns the SDP to send
   * and the commands; `error` is set (and a warning emitted) when none of the codecs is available, in which case the
   * driver must fail the SDP step (JsSIP then fails the call).
   */
  localSdp(sdp: string): { sdp: string; commands: SessionCommand[]; error?: Error } {
    const o = this.options;
    let result = sdp;
    if (o.codecs?.length) {
      try {
        result = filterCodecs(sdp, o.codecs);
      } catch (err) {
        return {
          sdp,
          commands: [this.#emit({ event: "warning", detail: (err as Error).message })],
          error: err as Error,
        };
      }
    }
    if (o.direction === "incoming") this.#codec = codecOf(result) ?? this.#codec;
    return { sdp: result, commands: [] };
  }

  /** Feed one input that happened at `at`. */
  step(input: SessionInput, at: number): SessionCommand[] {
    if (this.#done) return [];
    const o = this.options, out: SessionCommand[] = [];
    switch (input.type) {
      case "sending":
        this.#inviteAt = at;
        out.push(this.#emit({ event: "calling", peer: o.peer }));
        break;
      case "provisional": {
        if (input.status === 100) {
          if (this.#tried) break;
          this.#tried = true;
        }
        const ev = input.status === 100 ? "trying" : input.status === 180 ? "ringing" : "progress";
        out.push(this.#emit({ event: ev, status: input.status, reason: input.reason }));
        break;
      }
      case "remoteSdp":
        if (o.direction === "outgoing") this.#codec = codecOf(input.sdp) ?? this.#codec;
        break;
      case "accepted": {
        if (this.#answeredAt !== undefined) break;
        this.#answeredAt = at;
        this.#timers.delete("ring");
        if (o.direction === "outgoing") {
          if (input.sdp) this.#codec = codecOf(input.sdp) ?? this.#codec;
          out.push(this.#emit({ event: "answered", status: input.status, reason: input.reason }));
        } else {
          out.push(this.#emit({ event: "answered", peer: o.peer }));
        }
        if (o.durationMs !== undefined) this.#timers.set("duration", at + o.durationMs);
        if (this.#mediaAt === undefined) this.#timers.set("media", at + (o.mediaTimeoutMs ?? MEDIA_TIMEOUT_MS));
        out.push(...this.#reportMedia(at));
        break;
      }
      case "media":
        if (this.#mediaAt !== undefined) break;
        this.#mediaAt = at;
        this.#timers.delete("media");
        out.push({ kind: "startMedia" });
        out.push(...this.#reportMedia(at));
        break;
      case "playEnded":
        if (o.hangupAfterPlay && !this.#timers.has("afterPlay")) this.#timers.set("afterPlay", at + SETTLE_MS);
        break;
      case "abort":
        if (this.#answeredAt === undefined) this.#canceledByUs = true;
        out.push({ kind: "terminate" });
        break;
      case "answerFailed":
        out.push(this.#emit({ event: "warning", detail: `answer failed: ${input.message}` }));
        break;
      case "dtmfFailed":
        out.push(this.#emit({ event: "warning", detail: `DTMF failed: ${input.message}` }));
        break;
      case "error":
        out.push(this.#emit({ event: "failed", reason: input.message }));
        out.push(this.#finish(at, { outcome: "rejected", cause: input.message, endedBy: "local", answered: false }));
        break;
      case "failed": {
        const outcome: CallOutcome = this.#canceledByUs || input.cause === "Canceled"
          ? "no-answer"
          : outcomeFromFailure({ cause: input.cause, statusCode: input.status, originator: input.originator });
        out.push(this.#emit({
          event: "failed",
          status: input.status,
          reason: input.reason ?? input.cause,
          detail: `${outcome} (${input.cause}, by ${input.originator})`,
        }));
        out.push(this.#finish(at, {
          outcome,
          cause: input.cause,
          endedBy: input.originator,
          status: input.status,
          answered: false,
        }));
        break;
      }
      case "ended": {
        const dur = this.#answeredAt !== undefined ? (at - this.#answeredAt) / 1000 : 0;
        const mediaFailed = this.#mediaFailed ||
          (this.#mediaAt === undefined && input.cause === "RTP Timeout");
        out.push(
          this.#emit({
            event: "ended",
            reason: input.cause,
            detail: `by ${input.originator} after ${dur.toFixed(1)} s`,
          }),
        );
        out.push(this.#finish(at, {
          outcome: mediaFailed ? "media-failed" : "answered",
          cause: input.cause,
          endedBy: input.originator,
          answered: true,
        }));
        break;
      }
    }
    return out;
  }

  /** Fire the deadlines due at `at`. */
  tick(at: number): SessionCommand[] {
    if (this.#done) return [];
    const o = this.options, out: SessionCommand[] = [];
    const due = [...this.#timers].filter(([, t]) => t <= at).sort((a, b) => a[1] - b[1]);
    for (const [name] of due) {
      this.#timers.delete(name);
      switch (name) {
        case "ring":
          if (this.#answeredAt !== undefined) break;
          this.#canceledByUs = true;
          out.push(
            this.#emit({ event: "warning", detail: `no answer after ${(o.ringTimeoutMs ?? 0) / 1000} s: cancelling` }),
          );
          out.push({ kind: "terminate" });
          break;
        case "answer":
          this.#answerSentAt = at;
          out.push({ kind: "answer" });
          break;
        case "duration":
        case "afterPlay":
          out.push({ kind: "terminate" });
          break;
        case "media":
          if (this.#mediaAt !== undefined) break;
          this.#mediaFailed = true;
          out.push(this.#emit({ event: "warning", detail: "media did not connect: hanging up" }));
          out.push({ kind: "terminate" });
          break;
        case "dtmf":
          if (o.dtmf) out.push({ kind: "sendDtmf", digits: o.dtmf, mode: o.dtmfMode ?? "auto" });
          break;
      }
    }
    return out;
  }

  /** Where setup time is measured from: the INVITE when calling, our answer when called. */
  #setupFrom(): number {
    return (this.options.direction === "outgoing" ? this.#inviteAt : this.#answerSentAt ?? this.#answeredAt) ??
      this.#t0;
  }

  #reportMedia(at: number): SessionCommand[] {
    // media may connect before the answer is reported: print in the order a person expects
    if (this.#mediaReported || this.#mediaAt === undefined || this.#answeredAt === undefined) return [];
    this.#mediaReported = true;
    const ms = Math.round(this.#mediaAt - this.#setupFrom());
    const codec = this.#codec ? ` (${this.#codec})` : "";
    if (this.options.dtmf) this.#timers.set("dtmf", at + SETTLE_MS);
    return [this.#emit({ event: "media", detail: `connected in ${ms} ms${codec}` })];
  }

  #emit(e: Omit<SessionEvent, "call">): SessionCommand {
    return { kind: "emit", event: { call: this.options.call, ...e } };
  }

  #finish(
    at: number,
    r: Pick<CallReport, "outcome" | "cause" | "endedBy" | "answered" | "status">,
  ): SessionCommand {
    const o = this.options;
    this.#timers.clear();
    const dur = r.answered && this.#answeredAt !== undefined ? (at - this.#answeredAt) / 1000 : 0;
    const start = o.direction === "outgoing" ? this.#inviteAt : this.#t0;
    const report: CallReport = {
      call: o.call,
      direction: o.direction,
      peer: o.peer,
      ...(o.displayName ? { displayName: o.displayName } : {}),
      outcome: r.outcome,
      exitStatus: EXIT_STATUS[r.outcome],
      cause: r.cause,
      endedBy: r.endedBy,
      ...(r.status !== undefined ? { status: r.status } : {}),
      answered: r.answered,
      durationSeconds: Math.round(dur * 10) / 10,
    };
    if (r.answered) {
      if (this.#mediaAt !== undefined) report.setupMs = Math.round(this.#mediaAt - this.#setupFrom());
      if (this.#answeredAt !== undefined && start !== undefined) {
        report.answerMs = Math.round(this.#answeredAt - start);
      }
      if (this.#codec) report.codec = this.#codec;
    }
    this.#done = report;
    return { kind: "done", report };
  }
}
