/**
 * A JsSIP user agent for the terminal: connect and register (digest auth), place a call or answer incoming ones,
 * send DTMF (RFC 4733, SIP INFO or in-band), hang up after a duration, and report every step as a
 * {@linkcode CallEvent}. The WebRTC globals must be installed (see `webrtc_shim.ts`) before {@linkcode Phone.open}.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { MediaBridge } from "./audio.ts";
import { type CallOutcome, EXIT_STATUS, outcomeFromFailure, outcomeFromStatus } from "./status.ts";
import { SipWsSocket } from "./ws_socket.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

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
  /** Milliseconds from sending the INVITE (or answering) to media connected (ICE + DTLS), if it connected. */
  setupMs?: number;
  /** Milliseconds from sending the INVITE to the answer. */
  answerMs?: number;
  /** Codec negotiated (from the SDP answer), e.g. `PCMU/8000`. */
  codec?: string;
}

/** Options for {@linkcode Phone.open}. */
export interface PhoneOptions {
  /** WebSocket URL of the PBX (for the Via and for the default socket). */
  ws: string;
  /**
   * The JsSIP socket; default: pbxkit's own WebSocket client for `ws` ({@linkcode SipWsSocket}, TCP_NODELAY, whole
   * frames), with the system's trust store for `wss://` (give one from `wsSocketFor` for `--ca`/`--insecure`).
   */
  socket?: unknown;
  /** Our SIP URI, e.g. `sip:alice@pbx.example`. */
  uri: string;
  /** Digest password. */
  password?: string;
  /** Digest user name when it differs from the URI's user. */
  authUser?: string;
  /** Display name in From. */
  displayName?: string;
  /** REGISTER (default true). */
  register?: boolean;
  /** Registration expiry (s). */
  registerExpires?: number;
  /** How long to wait for the WebSocket and the registration (ms). */
  timeoutMs?: number;
  /** User-Agent header. */
  userAgent?: string;
  /** Receives every event. */
  onEvent: (e: CallEvent) => void;
}

/** Options for {@linkcode Phone.call}. */
export interface DialOptions {
  /** Media for this call. */
  media: MediaBridge;
  /** Give up (CANCEL) after this long ringing (ms). */
  ringTimeoutMs: number;
  /** Hang up this long after the answer (ms); undefined: when the far end does. */
  durationMs?: number;
  /** Hang up when the played file ends. */
  hangupAfterPlay?: boolean;
  /** DTMF digits to send once media is up. */
  dtmf?: string;
  /** DTMF method. */
  dtmfMode?: DtmfMode;
  /** Extra SIP headers (`Name: value`). */
  extraHeaders?: string[];
  /** Audio codecs to offer/accept, in order of preference (see {@linkcode filterCodecs}). */
  codecs?: string[];
  /** How long media may take to connect after the answer before the call counts as media-failed (ms). */
  mediaTimeoutMs?: number;
  /** Abort: hang up now. */
  signal?: AbortSignal;
}

/** How DTMF is sent. `auto`: RFC 4733 when the stack can, else SIP INFO. */
export type DtmfMode = "auto" | "rfc4733" | "info" | "inband";

/** Options for {@linkcode Phone.listen}. */
export interface ListenOptions {
  /** Media for each incoming call. */
  media: (call: number) => MediaBridge;
  /** Answer automatically (else calls ring until the caller gives up). */
  autoAnswer: boolean;
  /** Delay before answering (ms). */
  answerDelayMs?: number;
  /** Reject every call with this SIP status instead of answering (e.g. 486, 603). */
  rejectStatus?: number;
  /** Hang up each answered call after this long (ms). */
  durationMs?: number;
  /** Hang up each call when the played file ends. */
  hangupAfterPlay?: boolean;
  /** DTMF to send in each answered call. */
  dtmf?: string;
  /** DTMF method. */
  dtmfMode?: DtmfMode;
  /** Stop after this many calls. */
  maxCalls?: number;
  /** Audio codecs to accept, in order of preference. */
  codecs?: string[];
  /** Called when each call ends (with its media, for recording). */
  onCallEnd?: (report: CallReport, media?: MediaBridge) => Promise<void> | void;
  /** Stop listening. */
  signal: AbortSignal;
}

const DTMF_DURATION = 100;
const DTMF_GAP = 70;
const DTMF_TIMING = { durationMs: DTMF_DURATION, gapMs: DTMF_GAP };

/** A registered JsSIP user agent. */
export class Phone {
  readonly ua: Any;
  readonly options: PhoneOptions;
  readonly t0: number;
  #calls = 0;
  #registered = false;

  private constructor(ua: Any, options: PhoneOptions, t0: number) {
    this.ua = ua;
    this.options = options;
    this.t0 = t0;
  }

  /** Seconds since open. */
  now(): number {
    return Math.round(performance.now() - this.t0) / 1000;
  }

  #emit(e: Omit<CallEvent, "t">): void {
    this.options.onEvent({ ...e, t: this.now() } as CallEvent);
  }

  /**
   * Connect the WebSocket and (unless `register: false`) register. Rejects with a PbxError whose exit status is
   * 7 (network-error) or 6 (auth-failed).
   */
  static async open(options: PhoneOptions): Promise<Phone> {
    const JsSIP = (await import("jssip")).default as Any;
    const t0 = performance.now();
    const socket = options.socket ?? new SipWsSocket(new URL(options.ws), { insecure: false });
    const register = options.register ?? true;
    let ua: Any;
    try {
      ua = new JsSIP.UA({
        sockets: [socket],
        uri: options.uri,
        password: options.password,
        authorization_user: options.authUser,
        display_name: options.displayName,
        register,
        register_expires: options.registerExpires ?? 600,
        session_timers: false,
        user_agent: options.userAgent ?? "pbxkit",
        connection_recovery_min_interval: 2,
        connection_recovery_max_interval: 30,
        no_answer_timeout: 3600,
      });
    } catch (err) {
      throw new PbxError("E_USAGE", `invalid SIP settings: ${(err as Error).message}`);
    }
    const phone = new Phone(ua, options, t0);
    const timeoutMs = options.timeoutMs ?? 15_000;
    phone.#emit({ event: "connecting", detail: options.ws });
    await new Promise<void>((resolve, reject) => {
      let connected = false, settled = false;
      const fail = (err: PbxError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err); // before stop(): stopping emits more 'disconnected' events
        try {
          ua.stop();
        } catch { /* ignore */ }
      };
      const timer = setTimeout(() => {
        fail(
          new PbxError(
            "E_NETWORK",
            connected
              ? `no answer to REGISTER from ${options.ws} within ${timeoutMs / 1000} s`
              : `could not connect to ${options.ws} within ${timeoutMs / 1000} s`,
            { exitCode: EXIT_STATUS["network-error"] },
          ),
        );
      }, timeoutMs);
      ua.on("connected", () => {
        connected = true;
        phone.#emit({ event: "connected", detail: options.ws });
        if (!register && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      });
      ua.on("disconnected", (e: Any) => {
        if (settled && !phone.#registered) return; // our own stop() after a failure
        phone.#emit({ event: "disconnected", detail: e?.reason ? String(e.reason) : undefined });
        if (!connected || !phone.#registered) {
          const why = e?.reason ||
            (connected
              ? `closed${e?.code ? ` (code ${e.code})` : ""}`
              : "refused, unreachable, or not a WebSocket endpoint");
          fail(
            new PbxError("E_NETWORK", `WebSocket to ${options.ws} failed: ${why}`, {
              exitCode: EXIT_STATUS["network-error"],
            }),
          );
        }
      });
      ua.on("registered", () => {
        phone.#registered = true;
        phone.#emit({ event: "registered", detail: options.uri });
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      });
      ua.on("unregistered", () => {
        phone.#registered = false;
      });
      ua.on("registrationFailed", (e: Any) => {
        const status = e?.response?.status_code as number | undefined;
        const reason = e?.response?.reason_phrase ?? e?.cause;
        const auth = e?.cause === "Authentication Error" || status === 401 || status === 403 || status === 407;
        fail(
          auth
            ? new PbxError("E_PERMISSION", `registration of ${options.uri} refused: ${status ?? ""} ${reason}`.trim(), {
              exitCode: EXIT_STATUS["auth-failed"],
            })
            : new PbxError(
              "E_NETWORK",
              `registration of ${options.uri} failed: ${status ? `${status} ` : ""}${reason}`,
              { exitCode: status ? EXIT_STATUS.rejected : EXIT_STATUS["network-error"] },
            ),
        );
      });
      ua.start();
    });
    return phone;
  }

  /** Place a call and run it to its end; resolves with the report (never rejects for call failures). */
  call(target: string, options: DialOptions): Promise<CallReport> {
    const n = ++this.#calls;
    const media = options.media;
    return new Promise<CallReport>((resolve) => {
      let inviteAt = 0, answeredAt = 0, mediaAt = 0;
      let canceledByUs = false, mediaFailed = false, done = false;
      let codec: string | undefined;
      const timers: ReturnType<typeof setTimeout>[] = [];
      const peer = normalizePeer(target, this.options.uri);
      let session: Any;
      const finish = (r: Omit<CallReport, "call" | "direction" | "peer" | "exitStatus">) => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        options.signal?.removeEventListener("abort", onAbort);
        resolve({ call: n, direction: "outgoing", peer, exitStatus: EXIT_STATUS[r.outcome], ...r });
      };
      const hangup = () => {
        try {
          session?.terminate();
        } catch { /* already ended */ }
      };
      const onAbort = () => {
        if (!answeredAt) canceledByUs = true;
        hangup();
      };
      options.signal?.addEventListener("abort", onAbort);
      let mediaReported = false;
      const reportMedia = () => {
        // ICE/DTLS may finish before JsSIP reports the answer: print in the order a person expects
        if (mediaReported || !mediaAt || !answeredAt) return;
        mediaReported = true;
        this.#emit({
          event: "media",
          call: n,
          detail: `connected in ${Math.round(mediaAt - inviteAt)} ms${codec ? ` (${codec})` : ""}`,
        });
        if (options.dtmf) {
          const dtmf = { call: n, digits: options.dtmf, mode: options.dtmfMode };
          timers.push(setTimeout(() => this.#sendDtmf(session, media, dtmf), 300));
        }
      };
      const onMedia = () => {
        if (mediaAt) return;
        mediaAt = performance.now();
        media.feed.start();
        reportMedia();
      };
      try {
        session = this.ua.call(target, {
          mediaStream: media.stream,
          pcConfig: { iceServers: [] },
          rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
          extraHeaders: options.extraHeaders ?? [],
          eventHandlers: {
            peerconnection: (e: Any) => {
              media.attach(e.peerconnection);
              watchMedia(e.peerconnection, onMedia);
            },
            sdp: (e: Any) => {
              if (e.originator !== "local" || !options.codecs?.length) return;
              try {
                e.sdp = filterCodecs(e.sdp, options.codecs);
              } catch (err) {
                this.#emit({ event: "warning", call: n, detail: (err as Error).message });
                throw err; // JsSIP fails the call (WebRTC error)
              }
            },
            sending: () => {
              inviteAt = performance.now();
              this.#emit({ event: "calling", call: n, peer });
            },
          },
        });
      } catch (err) {
        this.#emit({ event: "failed", call: n, reason: (err as Error).message });
        finish({
          outcome: "rejected",
          cause: (err as Error).message,
          endedBy: "local",
          answered: false,
          durationSeconds: 0,
        });
        return;
      }
      const emitTrying = (reason?: string) => this.#emit({ event: "trying", call: n, status: 100, reason });
      // JsSIP reports no event for 100 Trying; see it where JsSIP receives INVITE responses (called per response)
      const receive = session._receiveInviteResponse;
      if (typeof receive === "function") {
        let tried = false;
        session._receiveInviteResponse = function (this: Any, response: Any) {
          if (response?.status_code === 100 && !tried) {
            tried = true;
            emitTrying(response.reason_phrase);
          }
          return receive.call(this, response);
        };
      }
      session.on("progress", (e: Any) => {
        const code = e.response?.status_code as number | undefined;
        const reason = e.response?.reason_phrase as string | undefined;
        const ev = code === 100 ? "trying" : code === 180 ? "ringing" : "progress";
        this.#emit({ event: ev, call: n, status: code, reason });
      });
      timers.push(setTimeout(() => {
        if (!answeredAt) {
          canceledByUs = true;
          this.#emit({
            event: "warning",
            call: n,
            detail: `no answer after ${options.ringTimeoutMs / 1000} s: cancelling`,
          });
          hangup();
        }
      }, options.ringTimeoutMs));
      session.on("accepted", (e: Any) => {
        answeredAt = performance.now();
        codec = codecOf(e.response?.body);
        this.#emit({ event: "answered", call: n, status: e.response?.status_code, reason: e.response?.reason_phrase });
        reportMedia();
        if (options.durationMs !== undefined) timers.push(setTimeout(hangup, options.durationMs));
        if (options.hangupAfterPlay) {
          const iv = setInterval(() => {
            if (media.feed.finished) {
              clearInterval(iv);
              timers.push(setTimeout(hangup, 300));
            }
          }, 100);
          timers.push(iv);
        }
        timers.push(setTimeout(() => {
          if (!mediaAt && !done) {
            mediaFailed = true;
            this.#emit({ event: "warning", call: n, detail: "media did not connect (ICE/DTLS): hanging up" });
            hangup();
          }
        }, options.mediaTimeoutMs ?? 15_000));
      });
      session.on("failed", (e: Any) => {
        const status = e.message?.status_code as number | undefined;
        const outcome = outcomeFromFailure(
          { cause: e.cause, statusCode: status, originator: e.originator },
          canceledByUs,
        );
        this.#emit({
          event: "failed",
          call: n,
          status,
          reason: e.message?.reason_phrase ?? e.cause,
          detail: `${outcome} (${e.cause}, by ${e.originator})`,
        });
        finish({ outcome, cause: e.cause, endedBy: e.originator, status, answered: false, durationSeconds: 0 });
      });
      session.on("ended", (e: Any) => {
        const dur = answeredAt ? (performance.now() - answeredAt) / 1000 : 0;
        const outcome: CallOutcome = mediaFailed || (!mediaAt && e.cause === "RTP Timeout")
          ? "media-failed"
          : "answered";
        this.#emit({
          event: "ended",
          call: n,
          reason: e.cause,
          detail: `by ${e.originator} after ${dur.toFixed(1)} s`,
        });
        finish({
          outcome,
          cause: e.cause,
          endedBy: e.originator,
          answered: true,
          durationSeconds: Math.round(dur * 10) / 10,
          setupMs: mediaAt ? Math.round(mediaAt - inviteAt) : undefined,
          answerMs: answeredAt ? Math.round(answeredAt - inviteAt) : undefined,
          codec,
        });
      });
    });
  }

  /** Answer (or reject, or let ring) incoming calls until `signal` aborts or `maxCalls` calls ended. */
  listen(options: ListenOptions): Promise<CallReport[]> {
    const reports: CallReport[] = [];
    let active: Any = null;
    return new Promise<CallReport[]>((resolve) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        this.ua.removeListener("newRTCSession", onSession);
        if (active) {
          try {
            active.terminate();
          } catch { /* gone */ }
        }
        // give the BYE/CANCEL a moment to leave
        setTimeout(() => resolve(reports), active ? 300 : 0);
      };
      if (options.signal.aborted) return stop();
      options.signal.addEventListener("abort", stop);
      const onSession = (data: Any) => {
        if (data.originator !== "remote") return;
        const session = data.session;
        const n = ++this.#calls;
        const peer = String(session.remote_identity?.uri ?? "unknown");
        const displayName = session.remote_identity?.display_name || undefined;
        this.#emit({ event: "incoming", call: n, peer, displayName });
        if (active) {
          session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
          this.#emit({ event: "failed", call: n, status: 486, reason: "Busy Here", detail: "already in a call" });
          reports.push(incomingReport(n, { peer, displayName, outcome: "busy", cause: "Busy", endedBy: "local" }));
          return;
        }
        if (options.rejectStatus) {
          session.terminate({ status_code: options.rejectStatus });
          this.#emit({ event: "failed", call: n, status: options.rejectStatus, detail: "rejected by --reject" });
          const r = incomingReport(n, {
            peer,
            displayName,
            outcome: outcomeFromStatus(options.rejectStatus),
            cause: "Rejected",
            endedBy: "local",
          });
          reports.push(r);
          void Promise.resolve(options.onCallEnd?.(r)).then(() => checkMax());
          return;
        }
        active = session;
        const media = options.media(n);
        let answeredAt = 0, mediaAt = 0, answerSentAt = 0;
        let codec: string | undefined;
        const timers: ReturnType<typeof setTimeout>[] = [];
        session.on("peerconnection", (e: Any) => {
          media.attach(e.peerconnection);
          watchMedia(e.peerconnection, () => {
            if (mediaAt) return;
            mediaAt = performance.now();
            media.feed.start();
            this.#emit({ event: "media", call: n, detail: `connected in ${Math.round(mediaAt - answerSentAt)} ms` });
            if (options.dtmf) {
              const dtmf = { call: n, digits: options.dtmf, mode: options.dtmfMode };
              timers.push(setTimeout(() => this.#sendDtmf(session, media, dtmf), 300));
            }
          });
        });
        session.on("accepted", () => {
          answeredAt = performance.now();
          this.#emit({ event: "answered", call: n, peer });
          if (options.durationMs !== undefined) timers.push(setTimeout(() => session.terminate(), options.durationMs));
          if (options.hangupAfterPlay) {
            const iv = setInterval(() => {
              if (media.feed.finished) {
                clearInterval(iv);
                session.terminate();
              }
            }, 100);
            timers.push(iv);
          }
        });
        session.on("sdp", (e: Any) => {
          if (e.originator === "remote" && !codec) codec = codecOf(e.sdp);
          if (e.originator === "local" && options.codecs?.length) {
            try {
              e.sdp = filterCodecs(e.sdp, options.codecs);
              codec = codecOf(e.sdp);
            } catch (err) {
              this.#emit({ event: "warning", call: n, detail: (err as Error).message });
              throw err;
            }
          }
        });
        const end = (r: CallReport) => {
          for (const t of timers) clearTimeout(t);
          media.close();
          active = null;
          reports.push(r);
          void Promise.resolve(options.onCallEnd?.(r, media)).then(() => checkMax());
        };
        session.on("ended", (e: Any) => {
          const dur = answeredAt ? (performance.now() - answeredAt) / 1000 : 0;
          this.#emit({
            event: "ended",
            call: n,
            reason: e.cause,
            detail: `by ${e.originator} after ${dur.toFixed(1)} s`,
          });
          end({
            ...incomingReport(n, {
              peer,
              displayName,
              outcome: mediaAt ? "answered" : "media-failed",
              cause: e.cause,
              endedBy: e.originator,
              answered: true,
              seconds: dur,
            }),
            setupMs: mediaAt ? Math.round(mediaAt - answerSentAt) : undefined,
            codec,
          });
        });
        session.on("failed", (e: Any) => {
          const status = e.message?.status_code as number | undefined;
          const outcome = e.cause === "Canceled"
            ? "no-answer"
            : outcomeFromFailure({ cause: e.cause, statusCode: status });
          this.#emit({ event: "failed", call: n, reason: e.cause, detail: `${outcome} (by ${e.originator})` });
          end(incomingReport(n, { peer, displayName, outcome, cause: e.cause, endedBy: e.originator }));
        });
        if (options.autoAnswer) {
          timers.push(setTimeout(() => {
            if (session.isEnded()) return;
            answerSentAt = performance.now();
            try {
              session.answer({ mediaStream: media.stream, pcConfig: { iceServers: [] } });
            } catch (err) {
              this.#emit({ event: "warning", call: n, detail: `answer failed: ${(err as Error).message}` });
            }
          }, options.answerDelayMs ?? 0));
        }
      };
      const checkMax = () => {
        if (options.maxCalls && reports.length >= options.maxCalls) stop();
      };
      this.ua.on("newRTCSession", onSession);
    });
  }

  #sendDtmf(session: Any, media: MediaBridge, options: { call: number; digits: string; mode?: DtmfMode }): void {
    const n = options.call, digits = options.digits;
    const mode = options.mode ?? "auto";
    const run = async () => {
      if (session.isEnded()) return;
      if (mode === "inband") {
        media.feed.queueDtmf(digits, DTMF_TIMING);
        this.#emit({ event: "dtmf", call: n, detail: `${digits} (in-band tones)` });
        return;
      }
      if (mode === "rfc4733" || mode === "auto") {
        const ok = await media.sendRfc4733?.(digits, DTMF_TIMING);
        if (ok) {
          this.#emit({ event: "dtmf", call: n, detail: `${digits} (RFC 4733)` });
          return;
        }
        if (mode === "rfc4733") {
          this.#emit({ event: "warning", call: n, detail: "this WebRTC stack cannot send RFC 4733; using SIP INFO" });
        }
      }
      session.sendDTMF(digits, { transportType: "INFO", duration: DTMF_DURATION, interToneGap: DTMF_GAP });
      this.#emit({ event: "dtmf", call: n, detail: `${digits} (SIP INFO)` });
    };
    run().catch((err) => this.#emit({ event: "warning", call: n, detail: `DTMF failed: ${(err as Error).message}` }));
  }

  /** Unregister and close the WebSocket (bounded: at most ~2 s). */
  async close(): Promise<void> {
    const ua = this.ua;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      if (this.#registered) {
        ua.once("unregistered", () => {
          clearTimeout(timer);
          setTimeout(resolve, 50);
        });
      } else {
        clearTimeout(timer);
        resolve();
      }
      try {
        ua.stop();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** How an incoming call ended, for {@linkcode incomingReport}. */
interface IncomingEnd {
  peer: string;
  displayName: string | undefined;
  outcome: CallOutcome;
  /** JsSIP's cause, or ours (`Busy`, `Rejected`). */
  cause: string;
  /** `local` or `remote`. */
  endedBy: string;
  /** Whether the call was answered (default false). */
  answered?: boolean;
  /** Seconds from the answer to the end (default 0). */
  seconds?: number;
}

/** The report of incoming call number `n`. */
function incomingReport(n: number, end: IncomingEnd): CallReport {
  return {
    call: n,
    direction: "incoming",
    peer: end.peer,
    displayName: end.displayName,
    outcome: end.outcome,
    exitStatus: EXIT_STATUS[end.outcome],
    cause: end.cause,
    endedBy: end.endedBy,
    answered: end.answered ?? false,
    durationSeconds: Math.round((end.seconds ?? 0) * 10) / 10,
  };
}

/** Call `onConnected` once the peer connection's media path is up (DTLS connected, or ICE when no DTLS state). */
function watchMedia(pc: Any, onConnected: () => void): void {
  const check = () => {
    const st = pc.connectionState;
    if (st === "connected") onConnected();
    else if (st === undefined && (pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed")) {
      onConnected();
    }
  };
  pc.addEventListener("connectionstatechange", check);
  pc.addEventListener("iceconnectionstatechange", check);
}

/** The first audio codec of an SDP body, e.g. `PCMU/8000`. */
export function codecOf(sdp: string | undefined): string | undefined {
  if (!sdp) return undefined;
  const m = /^m=audio \d+ \S+ (\d+)/m.exec(sdp);
  if (!m) return undefined;
  const pt = m[1];
  const r = new RegExp(`^a=rtpmap:${pt} ([^\\r\\n]+)`, "m").exec(sdp);
  if (r) return r[1];
  return ({ "0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000" } as Record<string, string>)[pt] ?? `PT ${pt}`;
}

function normalizePeer(target: string, own: string): string {
  if (/^sips?:/i.test(target)) return target;
  const domain = own.replace(/^sips?:[^@]*@/i, "");
  return target.includes("@") ? `sip:${target}` : `sip:${target}@${domain}`;
}

/**
 * Keep only the named audio codecs (case-insensitive, e.g. `["pcma", "pcmu"]`) in an SDP, in that order of
 * preference; telephone-event (DTMF) is always kept. Lines of dropped payload types go too. Throws E_USAGE when none
 * of the names is offered.
 */
export function filterCodecs(sdp: string, names: readonly string[]): string {
  const want = names.map((n) => n.toLowerCase());
  const lines = sdp.split(/\r\n|\n/);
  const mIdx = lines.findIndex((l) => l.startsWith("m=audio "));
  if (mIdx < 0) return sdp;
  let end = lines.findIndex((l, i) => i > mIdx && l.startsWith("m="));
  if (end < 0) end = lines.length;
  const m = lines[mIdx].split(" ");
  const pts = m.slice(3);
  const nameOf = new Map<string, string>();
  for (let i = mIdx + 1; i < end; i++) {
    const r = /^a=rtpmap:(\d+) ([^/]+)/.exec(lines[i]);
    if (r) nameOf.set(r[1], r[2].toLowerCase());
  }
  const fixed: Record<string, string> = { "0": "pcmu", "8": "pcma", "9": "g722", "18": "g729" };
  const name = (pt: string) => nameOf.get(pt) ?? fixed[pt] ?? "";
  const kept: string[] = [];
  for (const w of want) for (const pt of pts) if (name(pt) === w && !kept.includes(pt)) kept.push(pt);
  if (!kept.length) {
    const offered = [...new Set(pts.map(name).filter((n) => n && n !== "telephone-event"))].join(", ");
    throw new PbxError("E_USAGE", `--codecs: none of ${names.join(", ")} is available (offered: ${offered})`);
  }
  for (const pt of pts) if (name(pt) === "telephone-event" && !kept.includes(pt)) kept.push(pt);
  const drop = new Set(pts.filter((pt) => !kept.includes(pt)));
  const out = lines.filter((l, i) => {
    if (i <= mIdx || i >= end) return true;
    const a = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ ]/.exec(l);
    return !(a && drop.has(a[1]));
  });
  out[mIdx] = [...m.slice(0, 3), ...kept].join(" ");
  return out.join("\r\n");
}
