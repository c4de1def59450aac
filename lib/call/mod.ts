/**
 * `pbxkit call`: real SIP calls over WebSocket with JsSIP under Deno, real audio through a WebRTC stack
 * (`@roamhq/wrtc` or `werift`), distinct exit statuses per outcome, `--listen` answering machine mode, and the
 * browser webphone served by `ws-serve --webphone` (see `webphone.ts`).
 *
 * @module
 */

import { announce, checkOutputPath, log, PbxError, printJsonLine } from "../common/mod.ts";
import type { AudioPlan } from "./audio.ts";
import type { MediaBridge } from "./media.ts";
import { EXIT_STATUS } from "./status.ts";
import type { AudioSummary } from "./dsp.ts";
import type { CallEvent, CallReport, DtmfMode } from "./ua.ts";
import { readWav } from "./wav.ts";
import { installWebrtc, type WebrtcEngine, type WebrtcEngineName } from "./webrtc_shim.ts";
import type { TlsTrust } from "./ws_socket.ts";
import type { SipTransport } from "./sip_dns.ts";
import type { RtpCodecName } from "./rtp_sdp.ts";
import type { RtpMediaOptions } from "./media_rtp.ts";
import type { SrtpMode, SrtpStats } from "./srtp.ts";
import { openSignalling, phoneSocketOptions } from "./transport.ts";

export { EXIT_STATUS, exitStatusHelp, outcomeFromFailure, outcomeFromStatus } from "./status.ts";
export { chooseWebrtc } from "./webrtc_shim.ts";
export type { CallOutcome } from "./status.ts";
export type { CallEvent, CallReport, DtmfMode } from "./ua.ts";
export { webphoneAssets } from "./webphone.ts";
export type { WebphoneAsset, WebphoneOptions } from "./webphone.ts";
export type { AudioFeed, AudioPlan, DtmfTiming, Recorder } from "./audio.ts";
export type { MediaBridge } from "./media.ts";
export type { Audio } from "./wav.ts";
export type { AudioSummary } from "./dsp.ts";
export type { WebrtcEngine, WebrtcEngineName } from "./webrtc_shim.ts";
export type { TlsTrust } from "./ws_socket.ts";
export type { SipTransport } from "./sip_dns.ts";
export type { RtpMediaOptions } from "./media_rtp.ts";
export type { RtpCodecName } from "./rtp_sdp.ts";
export type { SrtpMode, SrtpStats } from "./srtp.ts";
export type { ErrorCode, PbxError, PbxErrorOptions } from "../common/mod.ts";

/** Everything `pbxkit call` can be asked to do. */
export interface CallSettings {
  /** Whom to call (`sip:100@pbx`, `100@pbx` or `100`); absent with `listen`. */
  target?: string;
  /** Answer incoming calls instead of calling. */
  listen: boolean;
  /** PBX WebSocket URL (`ws://` or `wss://`); empty with `--transport udp|tcp|tls`. */
  ws: string;
  /** SIP transport (default: ws/wss with `--ws`). */
  transport?: SipTransport;
  /** Outbound proxy/registrar `HOST[:PORT]` for udp/tcp/tls (default: the target's host, RFC 3263). */
  proxy?: string;
  /** Local SIP port for udp/tcp/tls (default: any). */
  localPort?: number;
  /** RTP port range for plain RTP media (default 10000-20000). */
  rtpPorts?: { min: number; max: number };
  /** `--srtp`: `sdes` requires SDES-SRTP (RTP/SAVP) on plain RTP media; default `off` (RTP/AVP only). */
  srtp?: SrtpMode;
  /** Our user (`alice` or `alice@pbx.example`). */
  user?: string;
  /** SIP domain when `user` has none (default: the target's domain, else the WebSocket host). */
  domain?: string;
  /** Digest password. */
  password?: string;
  /** Digest user when it differs. */
  authUser?: string;
  /** Display name. */
  displayName?: string;
  /** Register before calling (default true; listening always registers). */
  register: boolean;
  /** What to send. */
  audio: { play?: string; tone?: number; toneDbfs: number; loop: boolean; echo?: boolean };
  /** Record what we hear here (listen: `{n}` and `{from}` expand per call). */
  record?: string;
  /** Sample rate of the recording (default 16000). */
  recordRate: number;
  /** DTMF to send after media connects. */
  dtmf?: string;
  /** How to send DTMF. */
  dtmfMode: DtmfMode;
  /** Hang up after this long (ms). */
  durationMs?: number;
  /** Hang up when `--play` ends. */
  hangupAfterPlay: boolean;
  /** Cancel after ringing this long (ms). */
  ringTimeoutMs: number;
  /** Media must connect this long after the answer (ms; default 15 s), else the call is media-failed (exit 9). */
  mediaTimeoutMs?: number;
  /** Connect/registration timeout (ms). */
  connectTimeoutMs: number;
  /** Listen: answer automatically. */
  autoAnswer: boolean;
  /** Listen: delay before answering (ms). */
  answerDelayMs: number;
  /** Listen: reject each call with this status. */
  rejectStatus?: number;
  /** Listen: stop after this many calls. */
  maxCalls?: number;
  /** WebRTC stack. */
  webrtc: WebrtcEngineName;
  /** TLS trust for `wss://`. */
  tls: TlsTrust;
  /** Extra SIP headers on the INVITE. */
  headers: string[];
  /** Audio codecs to use, in order of preference (empty: whatever the stack offers). */
  codecs?: string[];
  /** JSON lines instead of text. */
  json: boolean;
  /** Log SIP messages (JsSIP's transport debug) on stderr. */
  sipTrace?: boolean;
}

/** Build our SIP URI from `--user`/`--domain`/target/ws. */
export function ownUri(s: Pick<CallSettings, "user" | "domain" | "target" | "ws" | "proxy">): string {
  const user = s.user ?? "pbxkit";
  if (/^sips?:/i.test(user)) return user;
  if (user.includes("@")) return `sip:${user}`;
  let domain = s.domain;
  if (!domain && s.target) {
    const m = /^(?:sips?:)?[^@]+@([^;>?]+)/i.exec(s.target);
    if (m) domain = m[1];
  }
  if (!domain && !s.ws && s.proxy) domain = s.proxy.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (!domain) {
    try {
      domain = new URL(s.ws).hostname;
    } catch {
      throw new PbxError("E_USAGE", `--ws: not a URL: ${s.ws}`);
    }
  }
  return `sip:${user}@${domain}`;
}

/** Prepare what to send. */
export async function audioPlan(a: CallSettings["audio"]): Promise<AudioPlan> {
  if (a.echo) return { kind: "echo" };
  if (a.play) return { kind: "file", audio: await readWav(a.play), loop: a.loop };
  if (a.tone !== undefined) return { kind: "tone", hz: a.tone, dbfs: a.toneDbfs };
  return { kind: "silence" };
}

/**
 * Make the per-call media for the chosen stack. `options.hear` false (WebRTC stacks; a load run, whose numbers come
 * from `getStats()`) skips decoding and recording what is heard; echo plans always hear.
 */
export async function mediaFactory(
  engine: WebrtcEngine,
  plan: AudioPlan,
  rtp?: RtpMediaOptions,
  options: { hear?: boolean } = {},
): Promise<() => MediaBridge> {
  const hear = options.hear !== false || plan.kind === "echo";
  let make: () => MediaBridge;
  if (engine.name === "rtp") {
    if (!rtp) throw new PbxError("E_INTERNAL", "plain RTP media needs its local address and ports");
    const { RtpMedia } = await import("./media_rtp.ts");
    make = () => new RtpMedia(plan, rtp);
  } else {
    const Media = engine.name === "wrtc"
      ? (await import("./media_wrtc.ts")).WrtcMedia
      : (await import("./media_werift.ts")).WeriftMedia;
    make = () => new Media(engine, plan, { hear });
  }
  if (plan.kind !== "echo") return make;
  return () => {
    const m: MediaBridge = make();
    m.recorder.onFrame = (f, rate) => m.feed.pushEcho(f, rate);
    return m;
  };
}

/** Render one event as a progress line. */
export function formatEvent(e: CallEvent): string {
  const t = `[${e.t.toFixed(3).padStart(8)}s]`;
  const call = e.call ? ` #${e.call}` : "";
  const parts: string[] = [];
  if (e.peer) parts.push(e.displayName ? `"${e.displayName}" <${e.peer}>` : e.peer);
  if (e.status) parts.push(`${e.status}${e.reason ? ` ${e.reason}` : ""}`);
  else if (e.reason) parts.push(e.reason);
  if (e.detail) parts.push(e.detail);
  return `${t}${call} ${e.event}${parts.length ? " " + parts.join(", ") : ""}`;
}

/** Which call a `--record` path is for. */
export interface RecordPathOptions {
  /** Call number (1 for the first). */
  n: number;
  /** The other party's SIP URI (`{from}` is its user part). */
  peer: string;
}

/** Expand `{n}` and `{from}` in a `--record` path; without them, calls after the first get `-N` before `.wav`. */
export function recordPath(template: string, options: RecordPathOptions): string {
  const { n, peer } = options;
  const from = (/^sips?:([^@;>]+)/i.exec(peer)?.[1] ?? "unknown").replace(/[^A-Za-z0-9_.+-]/g, "_");
  if (template.includes("{n}") || template.includes("{from}")) {
    return template.replaceAll("{n}", String(n)).replaceAll("{from}", from);
  }
  if (n === 1) return template;
  return /\.wav$/i.test(template) ? template.replace(/\.wav$/i, `-${n}.wav`) : `${template}-${n}`;
}

/** The summary printed after each call. */
export interface CallSummary extends CallReport {
  /** What we heard. */
  heard?: { seconds: number; levelDbfs: number | null; toneHz: number; activeSeconds: number };
  /** Where the recording went. */
  recording?: string;
  /** SDES-SRTP packet counts (with `--srtp sdes`): protected, unprotected, dropped (failed authentication, replays). */
  srtp?: SrtpStats;
}

function heardOf(s: AudioSummary | undefined): CallSummary["heard"] {
  if (!s) return undefined;
  return {
    seconds: Math.round(s.seconds * 100) / 100,
    levelDbfs: Number.isFinite(s.levelDbfs) ? Math.round(s.levelDbfs * 10) / 10 : null,
    toneHz: s.toneHz,
    activeSeconds: Math.round(s.activeSeconds * 100) / 100,
  };
}

function summaryLine(s: CallSummary): string {
  const who = s.displayName ? `"${s.displayName}" <${s.peer}>` : s.peer;
  const bits = [`call #${s.call} ${s.direction} ${who}: ${s.outcome}`];
  if (s.answered) bits.push(`${s.durationSeconds.toFixed(1)} s`);
  if (s.setupMs !== undefined) bits.push(`media in ${s.setupMs} ms`);
  if (s.codec) bits.push(s.codec);
  if (s.srtp) {
    const { rtpAuthFailures, rtcpAuthFailures, rtpReplays, rtcpReplays } = s.srtp;
    const bad = rtpAuthFailures + rtcpAuthFailures, replays = rtpReplays + rtcpReplays;
    const dropped = [bad ? `${bad} failed authentication` : "", replays ? `${replays} replayed` : ""].filter(Boolean);
    bits.push(`SRTP${dropped.length ? ` (dropped: ${dropped.join(", ")})` : ""}`);
  }
  bits.push(`cause ${s.cause} (by ${s.endedBy})`);
  if (s.heard && s.answered) {
    bits.push(
      s.heard.levelDbfs === null
        ? "heard silence"
        : `heard ${s.heard.activeSeconds.toFixed(1)} s at ${s.heard.levelDbfs} dBFS, mostly ${s.heard.toneHz} Hz`,
    );
  }
  if (s.recording) bits.push(`recorded to ${s.recording}`);
  return bits.join(", ");
}

/**
 * Run `pbxkit call`: register, call or listen, print progress, and return the exit status (0 answered, see
 * {@linkcode EXIT_STATUS}). Throws PbxError (with its own exit status) for setup failures.
 */
export async function runCall(s: CallSettings): Promise<number> {
  const out = (e: CallEvent) => {
    if (s.json) printJsonLine(e);
    else announce(formatEvent(e), { ...e });
  };
  if (s.record !== undefined) await checkOutputPath(recordPath(s.record, { n: 1, peer: "" }), { what: "--record" });
  const plan = await audioPlan(s.audio);
  const transport = s.transport ?? "ws";
  const plainRtp = transport !== "ws" && transport !== "wss" && s.webrtc === "rtp";
  const engine = await installWebrtc(s.webrtc);
  const uri = ownUri(s);
  const sig = await openSignalling({
    transport,
    ws: s.ws,
    proxy: s.proxy,
    target: s.target,
    uri,
    localPort: s.localPort,
    tls: s.tls,
  });
  const rtpCodecs = (s.codecs ?? []).filter((c): c is RtpCodecName => c === "opus" || c === "pcmu" || c === "pcma");
  const makeMedia = await mediaFactory(
    engine,
    plan,
    plainRtp
      ? { localIp: sig.localIp!, ports: s.rtpPorts ?? { min: 10000, max: 20000 }, codecs: rtpCodecs, srtp: s.srtp }
      : undefined,
  );
  const { Phone } = await import("./ua.ts");
  if (s.sipTrace) {
    const JsSIP = (await import("jssip")).default as unknown as { debug: { enable(ns: string): void } };
    JsSIP.debug.enable("JsSIP:Transport");
  }
  const phone = await Phone.open({
    ...phoneSocketOptions(sig),
    uri,
    password: s.password,
    authUser: s.authUser,
    displayName: s.displayName,
    register: s.listen && (transport === "ws" || transport === "wss") ? true : s.register,
    timeoutMs: s.connectTimeoutMs,
    onEvent: out,
  });
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  const finishCall = async (r: CallReport, media?: MediaBridge): Promise<CallSummary> => {
    const summary: CallSummary = { ...r };
    if (media) {
      summary.heard = heardOf(r.answered ? media.recorder.summary() : undefined);
      if (media.srtpStats) summary.srtp = { ...media.srtpStats };
      if (s.record && r.answered) {
        const path = recordPath(s.record, { n: r.call, peer: r.peer });
        try {
          await media.recorder.save(path, s.recordRate);
          summary.recording = path;
        } catch (err) {
          log.error(`could not write ${path}: ${(err as Error).message}`);
        }
      }
    }
    if (s.json) printJsonLine({ event: "summary", ...summary });
    else announce(summaryLine(summary), { event: "summary", ...summary });
    return summary;
  };
  try {
    if (s.listen) {
      await phone.listen({
        media: makeMedia,
        autoAnswer: s.autoAnswer,
        answerDelayMs: s.answerDelayMs,
        rejectStatus: s.rejectStatus,
        durationMs: s.durationMs,
        hangupAfterPlay: s.hangupAfterPlay,
        dtmf: s.dtmf,
        dtmfMode: s.dtmfMode,
        maxCalls: s.maxCalls,
        codecs: s.codecs,
        mediaTimeoutMs: s.mediaTimeoutMs,
        signal: ac.signal,
        onCallEnd: async (r, media) => {
          await finishCall(r, media);
        },
      });
      return 0;
    }
    const media = makeMedia();
    let report: CallReport;
    try {
      report = await phone.call(s.target!, {
        media,
        ringTimeoutMs: s.ringTimeoutMs,
        durationMs: s.durationMs,
        hangupAfterPlay: s.hangupAfterPlay,
        dtmf: s.dtmf,
        dtmfMode: s.dtmfMode,
        extraHeaders: s.headers,
        codecs: s.codecs,
        mediaTimeoutMs: s.mediaTimeoutMs,
        signal: ac.signal,
      });
    } finally {
      media.close();
    }
    const summary = await finishCall(report, media);
    return summary.exitStatus;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
    await phone.close();
  }
}

/** The error `pbxkit call` exits with for a call that was not answered. */
export function outcomeError(target: string, status: number): PbxError | undefined {
  if (status === 0) return undefined;
  const name = Object.entries(EXIT_STATUS).find(([, v]) => v === status)?.[0] ?? "failed";
  const code = name === "network-error" ? "E_NETWORK" : name === "auth-failed" ? "E_PERMISSION" : "E_EXTERNAL";
  return new PbxError(code, `call to ${target}: ${name}`, { exitCode: status });
}
