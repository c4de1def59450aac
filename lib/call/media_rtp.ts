/**
 * Plain RTP media (RTP/AVP, opus/PCMU/PCMA, RFC 4733 telephone-events) for SIP over UDP/TCP/TLS: the
 * {@linkcode MediaBridge} behind `--transport udp|tcp|tls`. It binds an even RTP port and RTCP on the next one in
 * `--rtp-ports`, writes the SDP through {@linkcode RtpPeerConnection} (see `rtp_pc.ts`), sends 20 ms packets to the
 * `c=`/`m=` address of the other side's SDP and switches to where their RTP really comes from (symmetric RTP),
 * plays received audio out of a 60 ms jitter buffer into the recorder, and sends an RTCP SR/RR + SDES every 5 s.
 * With `srtp: "sdes"` the media is RTP/SAVP: our SDP carries a fresh `a=crypto` key, and every packet goes through
 * {@linkcode SrtpTransform} on its way out and in (packets that fail authentication are counted and dropped).
 * The packet logic is sans-I/O in `rtp_stream.ts` and `srtp.ts`; SDP in `rtp_sdp.ts`.
 *
 * @module
 */

import { joinMediaClock, leaveMediaClock } from "./media_clock.ts";
import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { log, PbxError } from "../common/mod.ts";
import { AudioFeed, type AudioPlan, type DtmfTiming, Recorder } from "./audio.ts";
import type { MediaBridge } from "./media.ts";
import { RtpMediaStream, type RtpPeerConnection } from "./rtp_pc.ts";
import {
  buildSdp,
  negotiate,
  type Negotiated,
  parseRemoteSdp,
  type RemoteMedia,
  type RtpCodecName,
} from "./rtp_sdp.ts";
import { isRtpCodec, RTP_CODECS } from "./rtp_codec.ts";
import { FRAME, parseRtcp, parseRtp, rtcpReport, RtpReceiver, type RtpReceiveStats, RtpSender } from "./rtp_stream.ts";
import {
  acceptAnswer,
  acceptOffer,
  decodeSdesKey,
  loadSrtp,
  newSdesKey,
  SDES_SUITE,
  type SrtpMode,
  type SrtpStats,
  SrtpTransform,
} from "./srtp.ts";
import type { SdesCrypto } from "./rtp_sdp.ts";

const RATE = 8000;
const RTCP_INTERVAL_MS = 5000;
const DEFAULT_CODECS: readonly RtpCodecName[] = ["opus", "pcmu", "pcma"];

/** Options for {@linkcode RtpMedia}. */
export interface RtpMediaOptions {
  /** Our address for c= and the sockets. */
  localIp: string;
  /** Port range for RTP (even port) and RTCP (+1), inclusive. */
  ports: { min: number; max: number };
  /** Codecs in order of preference (default opus, PCMU, PCMA: opus when the other side has it too). */
  codecs?: readonly RtpCodecName[];
  /** Longest recording kept (s). */
  maxRecordSeconds?: number;
  /** `sdes`: SDES-SRTP required (RTP/SAVP, AES_CM_128_HMAC_SHA1_80); `off` (default): RTP/AVP only. */
  srtp?: SrtpMode;
}

/** Parse `--rtp-ports MIN-MAX` (at least two ports, 1024..65535). */
export function parseRtpPorts(text: string): { min: number; max: number } {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN, max = m ? Number(m[2]) : NaN;
  if (!m || !(min >= 1024 && max <= 65535 && max - min >= 1)) {
    throw new PbxError("E_USAGE", `--rtp-ports: '${text}' is not MIN-MAX within 1024-65535 (e.g. 10000-20000)`);
  }
  return { min, max };
}

type Peer = { address: string; port: number };

/** A {@linkcode MediaBridge} over plain RTP. */
export class RtpMedia implements MediaBridge {
  readonly stream: unknown = new RtpMediaStream();
  readonly feed: AudioFeed;
  readonly recorder: Recorder;
  /** Digits received as RFC 4733 events. */
  readonly receivedDigits: string[] = [];
  readonly #o: RtpMediaOptions;
  #pc?: RtpPeerConnection;
  #rtp?: dgram.Socket;
  #rtcp?: dgram.Socket;
  #port = 0;
  #remote?: RemoteMedia;
  #rtpTo?: Peer;
  #rtcpTo?: Peer;
  #latched = false;
  #sender?: RtpSender;
  #receiver?: RtpReceiver;
  #tick?: () => void;
  #rtcpTimer?: ReturnType<typeof setInterval>;
  #t0 = 0;
  #version = 1;
  #sessionId = String(Math.floor(Math.random() * 1e9));
  #lastSr?: { mid: number; at: number };
  #closed = false;
  #connected = false;
  /** Our SDES key (base64 key||salt), made once per call; the tag of the crypto line we use. */
  #key?: string;
  #tag = 1;
  #theirKey?: string;
  #srtp?: SrtpTransform;
  /** 20 ms ticks the media clock skipped after stalls (for the debug log). */
  #skipped = 0;

  /** Media for one call (sockets are bound when the SDP is made). */
  constructor(plan: AudioPlan, options: RtpMediaOptions) {
    this.#o = options;
    this.feed = new AudioFeed(plan, RATE);
    this.recorder = new Recorder({ maxSeconds: options.maxRecordSeconds });
  }

  /** The port RTP is bound to (0 before the SDP). */
  get port(): number {
    return this.#port;
  }

  /** Receive statistics (RFC 3550), once media flows. */
  get stats(): RtpReceiveStats | undefined {
    return this.#receiver?.stats;
  }

  /** SRTP packet counts (protected, unprotected, authentication failures, replays), once SRTP is keyed. */
  get srtpStats(): SrtpStats | undefined {
    return this.#srtp?.stats;
  }

  #mode(): SrtpMode {
    return this.#o.srtp ?? "off";
  }

  /** Check their SDP (offer or answer) against `--srtp`; a refusal is logged as one line, then thrown. */
  #accept(remote: RemoteMedia, role: "offer" | "answer"): SdesCrypto | undefined {
    try {
      return role === "offer" ? acceptOffer(remote, this.#mode()) : acceptAnswer(remote, this.#mode(), this.#tag);
    } catch (err) {
      log.warn((err as Error).message);
      throw err;
    }
  }

  #codecs(): readonly RtpCodecName[] {
    return this.#o.codecs?.length ? this.#o.codecs : DEFAULT_CODECS;
  }

  /** Take JsSIP's (plain RTP) peer connection. */
  attach(pc: unknown): void {
    const p = this.#pc = pc as RtpPeerConnection;
    p.endpoint = {
      offer: async () => {
        await this.#bind();
        this.#tag = 1;
        return buildSdp(this.#local());
      },
      checkOffer: (offer) => void this.#accept(parseRemoteSdp(offer), "offer"),
      answer: async (offer) => {
        await this.#bind();
        const remote = parseRemoteSdp(offer);
        const crypto = this.#accept(remote, "offer");
        if (crypto) this.#tag = crypto.tag;
        const n = negotiate(remote, this.#codecs(), true);
        this.#start(remote, n, crypto);
        return buildSdp(this.#local(), { ...n, direction: remote.direction });
      },
      remoteAnswer: (sdp) => {
        const remote = parseRemoteSdp(sdp);
        const crypto = this.#accept(remote, "answer");
        this.#start(remote, negotiate(remote, this.#codecs()), crypto);
      },
      close: () => this.close(),
    };
  }

  #local() {
    const sdes = this.#mode() === "sdes";
    if (sdes) this.#key ??= newSdesKey();
    return {
      crypto: sdes ? { tag: this.#tag, suite: SDES_SUITE, keyB64: this.#key! } : undefined,
      ip: this.#o.localIp,
      port: this.#port,
      codecs: this.#codecs(),
      sessionId: this.#sessionId,
      version: this.#version++,
    };
  }

  async #bind(): Promise<void> {
    if (this.#mode() === "sdes") await loadSrtp();
    if (this.#rtp) return;
    const { min, max } = this.#o.ports;
    const lo = min + (min % 2), span = Math.floor((max - lo - 1) / 2) + 1;
    if (span < 1) throw new PbxError("E_USAGE", `--rtp-ports ${min}-${max} has no even port with a next one`);
    const fam = this.#o.localIp.includes(":") ? "udp6" : "udp4";
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < Math.min(span, 64); i++) {
      const port = lo + ((start + i) % span) * 2;
      const rtp = dgram.createSocket(fam), rtcp = dgram.createSocket(fam);
      try {
        await bindTo(rtp, port, this.#o.localIp);
        await bindTo(rtcp, port + 1, this.#o.localIp);
      } catch {
        for (const s of [rtp, rtcp]) {
          try {
            s.close();
          } catch { /* not bound */ }
        }
        continue;
      }
      this.#rtp = rtp;
      this.#rtcp = rtcp;
      this.#port = port;
      rtp.on("message", (b: Buffer, from: Peer) => this.#onRtp(b, from));
      rtcp.on("message", (b: Buffer) => this.#onRtcp(b));
      for (const s of [rtp, rtcp]) s.on("error", (err: Error) => log.debug(`RTP socket: ${err.message}`));
      return;
    }
    throw new PbxError("E_NETWORK", `no free RTP port pair in ${min}-${max} on ${this.#o.localIp}`, { exitCode: 9 });
  }

  #start(remote: RemoteMedia, n: Negotiated, crypto?: SdesCrypto): void {
    if (crypto && crypto.keyB64 !== this.#theirKey) {
      // a new key from them (first answer, or a re-INVITE that re-keys): new SRTP contexts both ways
      this.#key ??= newSdesKey();
      this.#srtp = new SrtpTransform(decodeSdesKey(this.#key), decodeSdesKey(crypto.keyB64));
      this.#theirKey = crypto.keyB64;
    }
    this.#remote = remote;
    if (!this.#latched) this.#rtpTo = { address: remote.ip, port: remote.port };
    this.#rtcpTo = { address: remote.ip, port: remote.rtcpPort };
    if (this.#sender) {
      this.#sender.codec = n.codec;
      this.#sender.pt = n.pt;
      this.#sender.tePt = n.tePt;
    } else this.#sender = new RtpSender({ codec: n.codec, pt: n.pt, tePt: n.tePt });
    this.#receiver ??= new RtpReceiver({ codecs: new Map(), tePt: n.tePt });
    this.#receiver.codecs.clear();
    for (const p of remote.payloads) {
      if (isRtpCodec(p.name) && p.rate === RTP_CODECS[p.name].clockRate) this.#receiver.codecs.set(p.pt, p.name);
    }
    this.#receiver.tePt = n.tePt;
    if (this.#tick === undefined) this.#run();
  }

  #run(): void {
    const frame = new Float32Array(FRAME);
    this.#t0 = performance.now();
    let ticks = 0;
    const tick = () => {
      const due = Math.floor((performance.now() - this.#t0) / 20) + 1;
      if (due - ticks > 5) {
        this.#skipped += due - 5 - ticks;
        ticks = due - 5; // after a stall, never burst more than 100 ms
      }
      while (ticks < due) {
        ticks++;
        this.feed.next(frame);
        const send = this.#remote?.direction !== "recvonly" && this.#remote?.direction !== "inactive" &&
          this.#remote?.port !== 0;
        if (send && this.#rtpTo && this.#sender) {
          const pkt = this.#sender.next(frame);
          this.#send(this.#rtp, this.#srtp ? this.#srtp.protectRtp(pkt) : pkt, this.#rtpTo);
        }
        const pcm = this.#receiver?.playout();
        if (pcm) this.recorder.pushInt16(pcm, RATE);
      }
      for (const d of this.#receiver?.takeDigits() ?? []) {
        this.receivedDigits.push(d.digit);
        log.debug(`RFC 4733 digit received: ${d.digit} (${d.durationMs} ms)`);
      }
    };
    this.#tick = tick;
    joinMediaClock(20, tick);
    this.#rtcpTimer = setInterval(() => this.#sendRtcp(false), RTCP_INTERVAL_MS);
  }

  #send(sock: dgram.Socket | undefined, bytes: Uint8Array, to: Peer): void {
    if (!sock || this.#closed) return;
    try {
      // a copy: node:dgram (Deno) reads the bytes after send() returns, and the sender reuses its packet buffer, so
      // two packets sent in one tick (a catch-up burst, an RFC 4733 end packet) went out as one packet twice
      sock.send(bytes.slice(), to.port, to.address);
    } catch (err) {
      log.debug(`RTP send: ${(err as Error).message}`);
    }
  }

  /** A packet from the wire, unprotected when SRTP is on; undefined (dropped) when it fails authentication. */
  #clear(raw: Uint8Array, rtcp: boolean): Uint8Array | undefined {
    if (this.#mode() === "off") return raw;
    const s = this.#srtp;
    if (!s) return undefined; // before their key (early media without an answer): nothing to check it with
    const failures = () =>
      s.stats.rtpAuthFailures + s.stats.rtcpAuthFailures + s.stats.rtpReplays + s.stats.rtcpReplays;
    const before = failures();
    const out = rtcp ? s.unprotectRtcp(raw) : s.unprotectRtp(raw);
    if (!out && before === 0 && failures() === 1) {
      log.warn(
        `SRTP: dropped a${rtcp ? "n RTCP" : "n RTP"} packet that failed authentication or was a replay ` +
          "(more are only counted)",
      );
    }
    return out;
  }

  #onRtp(b: Buffer, from: Peer): void {
    let raw: Uint8Array | undefined = new Uint8Array(b.buffer, b.byteOffset, b.length);
    if (raw.length >= 2 && (raw[1] & 0x7f) >= 72 && (raw[1] & 0x7f) <= 76) return; // RTCP on the RTP port
    raw = this.#clear(raw, false);
    const p = raw && parseRtp(raw);
    if (!p || !this.#receiver) return;
    // symmetric RTP: answer to where their RTP comes from (NAT, or an SDP address that is not the sender)
    if (!this.#latched || this.#rtpTo?.address !== from.address || this.#rtpTo?.port !== from.port) {
      if (!this.#latched && (this.#rtpTo?.address !== from.address || this.#rtpTo?.port !== from.port)) {
        log.debug(
          `symmetric RTP: sending to ${from.address}:${from.port} (SDP said ${this.#rtpTo?.address}:${this.#rtpTo?.port})`,
        );
      }
      this.#latched = true;
      this.#rtpTo = { address: from.address, port: from.port };
    }
    this.#receiver.push(p, Math.round((performance.now() - this.#t0) * 8));
    if (!this.#connected) {
      this.#connected = true;
      this.#pc?.setMediaState("connected");
    }
  }

  #onRtcp(b: Buffer): void {
    const raw = this.#clear(new Uint8Array(b.buffer, b.byteOffset, b.length), true);
    const info = raw && parseRtcp(raw);
    if (!info) return;
    const sr = info.sr.at(-1);
    if (sr) this.#lastSr = { mid: sr.ntpMid, at: performance.now() };
  }

  #sendRtcp(bye: boolean): void {
    const s = this.#sender, r = this.#receiver, to = this.#rtcpTo;
    if (!s || !to) return;
    const st = r?.stats;
    const expected = st && r.ssrc !== undefined ? st.packets + st.lost : 0;
    const report = rtcpReport({
      ssrc: s.ssrc,
      cname: `pbxkit@${this.#o.localIp}`,
      sender: s.packets ? { ntpMs: Date.now(), rtpTs: s.lastTs, packets: s.packets, octets: s.octets } : undefined,
      block: st && r.ssrc !== undefined
        ? {
          ssrc: r.ssrc,
          fractionLost: expected ? Math.min(255, Math.floor((st.lost * 256) / expected)) : 0,
          cumulativeLost: st.lost,
          extMax: st.extMax,
          jitter: st.jitter,
          lsr: this.#lastSr?.mid ?? 0,
          dlsr: this.#lastSr ? Math.round(((performance.now() - this.#lastSr.at) / 1000) * 65536) : 0,
        }
        : undefined,
    });
    let out = report;
    if (bye) {
      out = new Uint8Array(report.length + 8);
      out.set(report);
      out.set([0x81, 203, 0, 1], report.length);
      new DataView(out.buffer).setUint32(report.length + 4, s.ssrc >>> 0);
    }
    this.#send(this.#rtcp, this.#srtp ? this.#srtp.protectRtcp(out) : out, to);
  }

  /** RFC 4733 when telephone-event was negotiated (else false: the caller falls back to SIP INFO). */
  sendRfc4733(digits: string, timing: Required<DtmfTiming>): Promise<boolean> {
    return Promise.resolve(this.#sender?.queueDtmf(digits, timing) ?? false);
  }

  /** Send RTCP BYE, stop the clocks, close the sockets. */
  close(): void {
    if (this.#closed) return;
    const st = this.#receiver?.stats;
    if (st) {
      log.debug(
        `RTP received (${this.#sender?.codec}): ${st.packets} packets, ${st.lost} lost, ${st.late} late or duplicate, ` +
          `${st.concealed} frames concealed, jitter ${Math.round(st.jitter)} timestamp units; ` +
          `${this.#skipped} ticks skipped after stalls`,
      );
    }
    this.#sendRtcp(true);
    this.#closed = true;
    const sst = this.#srtp?.stats;
    if (sst && (sst.rtpAuthFailures || sst.rtcpAuthFailures || sst.rtpReplays || sst.rtcpReplays)) {
      log.warn(
        `SRTP: dropped ${sst.rtpAuthFailures} RTP and ${sst.rtcpAuthFailures} RTCP packets that failed authentication, ` +
          `${sst.rtpReplays} RTP and ${sst.rtcpReplays} RTCP replays`,
      );
    }
    if (this.#tick) leaveMediaClock(20, this.#tick);
    clearInterval(this.#rtcpTimer);
    this.#sender?.close();
    this.#receiver?.close();
    for (const s of [this.#rtp, this.#rtcp]) {
      try {
        s?.close();
      } catch { /* closed */ }
    }
  }
}

function bindTo(s: dgram.Socket, port: number, ip: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind(port, ip, () => {
      s.off("error", reject);
      resolve();
    });
  });
}
