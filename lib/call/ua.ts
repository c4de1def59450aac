/**
 * A JsSIP user agent for the terminal: connect and register (digest auth), place a call or answer incoming ones,
 * send DTMF (RFC 4733, SIP INFO or in-band), hang up after a duration, and report every step as a
 * {@linkcode CallEvent}. The WebRTC globals must be installed (see `webrtc_shim.ts`) before {@linkcode Phone.open}.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { MediaBridge } from "./media.ts";
import {
  type CallEvent,
  type CallReport,
  CallSession,
  type DtmfMode,
  type SessionCommand,
  type SessionEvent,
  type SessionInput,
} from "./session.ts";
import { EXIT_STATUS } from "./status.ts";
import { type JsSipSocket, peekResponse, TapSocket } from "./sip_tap.ts";
import { SipWsSocket } from "./ws_socket.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

export type { CallEvent, CallReport, DtmfMode } from "./session.ts";
export { codecOf, filterCodecs } from "./sdp.ts";

/** Options for {@linkcode Phone.open}. */
export interface PhoneOptions {
  /** WebSocket URL of the PBX (for the default socket), or the `udp://`/`tcp://`/`tls://` next hop (for messages). */
  ws: string;
  /**
   * The JsSIP socket; default: pbxkit's own WebSocket client for `ws` ({@linkcode SipWsSocket}, TCP_NODELAY, whole
   * frames), with the system's trust store for `wss://` (give one from `wsSocketFor` for `--ca`/`--insecure`).
   */
  socket?: unknown;
  /** Host for JsSIP's Via (the socket puts the port and `rport` in); default JsSIP's random `.invalid` name. */
  viaHost?: string;
  /** Our Contact URI (over UDP/TCP/TLS: our real address); default JsSIP's. */
  contactUri?: string;
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
  /** Media must connect this long after each answer (ms, default 15 s), else the call is media-failed. */
  mediaTimeoutMs?: number;
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
  /** Listeners for `100 Trying` to our INVITEs, by Call-ID (JsSIP raises no event for it). */
  readonly #trying: Map<string, (status: number, reason: string) => void>;

  private constructor(
    ua: Any,
    options: PhoneOptions,
    t0: number,
    trying: Map<string, (status: number, reason: string) => void>,
  ) {
    this.#trying = trying;
    this.ua = ua;
    this.options = options;
    this.t0 = t0;
  }

  /** Seconds since open. */
  now(): number {
    return Math.round(performance.now() - this.t0) / 1000;
  }

  #emit(e: SessionEvent): void {
    this.options.onEvent({ ...e, t: this.now() });
  }

  /**
   * Connect the WebSocket and (unless `register: false`) register. Rejects with a PbxError whose exit status is
   * 7 (network-error) or 6 (auth-failed).
   */
  static async open(options: PhoneOptions): Promise<Phone> {
    const JsSIP = (await import("jssip")).default as Any;
    const t0 = performance.now();
    const inner = (options.socket ?? new SipWsSocket(new URL(options.ws), { insecure: false })) as JsSipSocket;
    const trying = new Map<string, (status: number, reason: string) => void>();
    const socket = new TapSocket(inner, (text) => {
      if (!trying.size || !text.startsWith("SIP/2.0 100")) return;
      const r = peekResponse(text);
      if (r && r.method === "INVITE") trying.get(r.callId)?.(r.status, r.reason);
    });
    const register = options.register ?? true;
    let ua: Any;
    try {
      ua = new JsSIP.UA({
        sockets: [socket],
        ...(options.viaHost ? { via_host: options.viaHost } : {}),
        ...(options.contactUri ? { contact_uri: options.contactUri } : {}),
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
    const phone = new Phone(ua, options, t0, trying);
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
            new PbxError(
              "E_NETWORK",
              `${/^wss?:/.test(options.ws) ? "WebSocket" : "SIP"} to ${options.ws} failed: ${why}`,
              {
                exitCode: EXIT_STATUS["network-error"],
              },
            ),
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
    const cs = new CallSession({
      call: n,
      direction: "outgoing",
      peer: normalizePeer(target, this.options.uri),
      ringTimeoutMs: options.ringTimeoutMs,
      durationMs: options.durationMs,
      hangupAfterPlay: options.hangupAfterPlay,
      dtmf: options.dtmf,
      dtmfMode: options.dtmfMode,
      codecs: options.codecs,
      mediaTimeoutMs: options.mediaTimeoutMs,
    });
    return new Promise<CallReport>((resolve) => {
      const drv = this.#driver(cs, media, (report) => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve(report);
      });
      const onAbort = () => drv.feed({ type: "abort" });
      options.signal?.addEventListener("abort", onAbort);
      drv.run(cs.start(performance.now()));
      let session: Any;
      try {
        session = this.ua.call(target, {
          mediaStream: media.stream,
          pcConfig: { iceServers: [] },
          rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
          extraHeaders: options.extraHeaders ?? [],
          eventHandlers: {
            peerconnection: (e: Any) => drv.peerconnection(e.peerconnection),
            sdp: (e: Any) => drv.sdp(e),
            sending: (e: Any) => {
              const callId = e?.request?.call_id;
              if (typeof callId === "string") {
                this.#trying.set(callId, (status, reason) => drv.feed({ type: "provisional", status, reason }));
                drv.onDone(() => this.#trying.delete(callId));
              }
              drv.feed({ type: "sending" });
            },
          },
        });
      } catch (err) {
        drv.feed({ type: "error", message: (err as Error).message });
        return;
      }
      drv.attach(session);
      if (options.signal?.aborted) onAbort();
    });
  }

  /** Answer (or reject, or let ring) incoming calls until `signal` aborts or `maxCalls` calls ended. */
  listen(options: ListenOptions): Promise<CallReport[]> {
    const reports: CallReport[] = [];
    let active: Driver | null = null;
    return new Promise<CallReport[]>((resolve) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        this.ua.removeListener("newRTCSession", onSession);
        const busy = active;
        busy?.feed({ type: "abort" });
        // give the BYE/CANCEL a moment to leave
        setTimeout(() => resolve(reports), busy ? 300 : 0);
      };
      if (options.signal.aborted) return stop();
      options.signal.addEventListener("abort", stop);
      const checkMax = () => {
        if (options.maxCalls && reports.length >= options.maxCalls) stop();
      };
      const onSession = (data: Any) => {
        if (data.originator !== "remote") return;
        const session = data.session;
        const n = ++this.#calls;
        const peer = String(session.remote_identity?.uri ?? "unknown");
        const displayName = session.remote_identity?.display_name || undefined;
        const busy = active !== null;
        const cs = new CallSession({
          call: n,
          direction: "incoming",
          peer,
          displayName,
          durationMs: options.durationMs,
          hangupAfterPlay: options.hangupAfterPlay,
          dtmf: options.dtmf,
          dtmfMode: options.dtmfMode,
          codecs: options.codecs,
          mediaTimeoutMs: options.mediaTimeoutMs,
          autoAnswer: options.autoAnswer,
          answerDelayMs: options.answerDelayMs,
          rejectStatus: busy ? 486 : options.rejectStatus,
          rejectCause: busy ? "Busy" : undefined,
          rejectDetail: busy ? "already in a call" : undefined,
        });
        const media = busy || options.rejectStatus ? undefined : options.media(n);
        const drv = this.#driver(cs, media, (r) => {
          if (media) {
            media.close();
            if (active === drv) active = null;
          }
          reports.push(r);
          void Promise.resolve(options.onCallEnd?.(r, media)).then(() => checkMax());
        });
        if (media) active = drv;
        drv.attach(session);
        drv.run(cs.start(performance.now()));
      };
      this.ua.on("newRTCSession", onSession);
    });
  }

  /** The I/O half of a {@linkcode CallSession}: JsSIP events in, its commands carried out, its deadlines timed. */
  #driver(cs: CallSession, media: MediaBridge | undefined, onReport: (r: CallReport) => void): Driver {
    let session: Any;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const cleanups: (() => void)[] = [];
    const run = (commands: SessionCommand[]) => {
      for (const c of commands) exec(c);
      clearTimeout(timer);
      timer = undefined;
      if (cs.done) return;
      const next = cs.nextDeadline();
      if (next !== undefined) {
        timer = setTimeout(() => run(cs.tick(performance.now())), Math.max(0, next - performance.now()));
      }
    };
    const feed = (input: SessionInput) => run(cs.step(input, performance.now()));
    const exec = (c: SessionCommand) => {
      switch (c.kind) {
        case "emit":
          this.#emit(c.event);
          break;
        case "answer":
          if (!session || session.isEnded()) break;
          try {
            session.answer({ mediaStream: media?.stream, pcConfig: { iceServers: [] } });
          } catch (err) {
            feed({ type: "answerFailed", message: (err as Error).message });
          }
          break;
        case "reject":
          try {
            session?.terminate({ status_code: c.status, ...(c.reason ? { reason_phrase: c.reason } : {}) });
          } catch { /* already gone */ }
          break;
        case "terminate":
          try {
            session?.terminate();
          } catch { /* already ended */ }
          break;
        case "startMedia":
          media?.feed.start();
          if (media && cs.options.hangupAfterPlay) {
            poll = setInterval(() => {
              if (!media.feed.finished) return;
              clearInterval(poll);
              feed({ type: "playEnded" });
            }, 100);
          }
          break;
        case "sendDtmf":
          if (media) {
            this.#sendDtmf(session, media, { digits: c.digits, mode: c.mode }).then(
              (e) => e && this.#emit({ call: cs.options.call, ...e }),
              (err) => feed({ type: "dtmfFailed", message: (err as Error).message }),
            );
          }
          break;
        case "done":
          clearInterval(poll);
          for (const f of cleanups) f();
          onReport(c.report);
          break;
      }
    };
    const drv: Driver = {
      run,
      feed,
      onDone: (f) => cleanups.push(f),
      peerconnection: (pc) => {
        if (!media) return;
        media.attach(pc);
        watchMedia(pc, () => feed({ type: "media" }));
      },
      sdp: (e) => {
        if (e.originator === "remote") return feed({ type: "remoteSdp", sdp: e.sdp });
        const r = cs.localSdp(e.sdp);
        run(r.commands);
        if (r.error) throw r.error; // JsSIP fails the call
        e.sdp = r.sdp;
      },
      attach: (s) => {
        session = s;
        if (cs.options.direction === "incoming") {
          s.on("peerconnection", (e: Any) => drv.peerconnection(e.peerconnection));
          s.on("sdp", (e: Any) => drv.sdp(e));
        }
        s.on("progress", (e: Any) => {
          if (cs.options.direction !== "outgoing") return;
          const status = e.response?.status_code as number | undefined;
          if (status) feed({ type: "provisional", status, reason: e.response?.reason_phrase });
        });
        s.on("accepted", (e: Any) =>
          feed({
            type: "accepted",
            status: e.response?.status_code,
            reason: e.response?.reason_phrase,
            sdp: e.response?.body,
          }));
        s.on("failed", (e: Any) =>
          feed({
            type: "failed",
            cause: String(e.cause),
            status: e.message?.status_code,
            reason: e.message?.reason_phrase,
            originator: String(e.originator),
          }));
        s.on("ended", (e: Any) => feed({ type: "ended", cause: String(e.cause), originator: String(e.originator) }));
      },
    };
    return drv;
  }

  /** Send DTMF the way `mode` says (RFC 4733 falls back to SIP INFO when the stack cannot); returns the event. */
  async #sendDtmf(
    session: Any,
    media: MediaBridge,
    options: { digits: string; mode: DtmfMode },
  ): Promise<Omit<SessionEvent, "call"> | undefined> {
    const { digits, mode } = options;
    if (!session || session.isEnded()) return undefined;
    if (mode === "inband") {
      media.feed.queueDtmf(digits, DTMF_TIMING);
      return { event: "dtmf", detail: `${digits} (in-band tones)` };
    }
    if (mode === "rfc4733" || mode === "auto") {
      const ok = await media.sendRfc4733?.(digits, DTMF_TIMING);
      if (ok) return { event: "dtmf", detail: `${digits} (RFC 4733)` };
      if (mode === "rfc4733") {
        this.#emit({ event: "warning", detail: "this media stack cannot send RFC 4733; using SIP INFO" });
      }
    }
    session.sendDTMF(digits, { transportType: "INFO", duration: DTMF_DURATION, interToneGap: DTMF_GAP });
    return { event: "dtmf", detail: `${digits} (SIP INFO)` };
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

/** What a call's driver offers to Phone.call and Phone.listen. */
interface Driver {
  run(commands: SessionCommand[]): void;
  feed(input: SessionInput): void;
  onDone(f: () => void): void;
  peerconnection(pc: Any): void;
  sdp(e: { originator: string; sdp: string }): void;
  attach(session: Any): void;
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

function normalizePeer(target: string, own: string): string {
  if (/^sips?:/i.test(target)) return target;
  const domain = own.replace(/^sips?:[^@]*@/i, "");
  return target.includes("@") ? `sip:${target}` : `sip:${target}@${domain}`;
}
