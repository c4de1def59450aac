/**
 * Media for the werift stack (`--webrtc werift`): 20 ms G.711 frames out through `track.writeRtp`, G.711 in through
 * `onReceiveRtp`, and RFC 4733 telephone-events for DTMF. The peer connection itself is set up by
 * `werift_adapter.ts`.
 *
 * @module
 */

import { joinMediaClock, leaveMediaClock } from "./media_clock.ts";
import { log } from "../common/mod.ts";
import { AudioFeed, type AudioPlan, DTMF_FREQS, type DtmfTiming, Recorder } from "./audio.ts";
import { alawToLinear, linearToAlaw, linearToMulaw, mulawToLinear } from "./dsp.ts";
import type { MediaBridge, WebrtcEngine } from "./media.ts";
import { floatToInt16 } from "./wav.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const RATE = 8000;
const FRAME = 160; // 20 ms

/** A {@linkcode MediaBridge} that speaks G.711 RTP through werift. */
export class WeriftMedia implements MediaBridge {
  readonly stream: unknown;
  readonly feed: AudioFeed;
  readonly recorder: Recorder;
  #w: Any;
  #track: Any;
  #pc: Any;
  #tick?: () => void;
  #seq = Math.floor(Math.random() * 65535);
  #ts = Math.floor(Math.random() * 0xffffffff);
  #dtmfQueue: { event: number; samples: number }[] = [];
  /** Decode what is heard into the recorder (false: a load run, received RTP is only counted by werift). */
  #hear: boolean;

  /** Create the outgoing track; frames flow once DTLS is connected (`hear` false: received audio is not decoded). */
  constructor(engine: WebrtcEngine, plan: AudioPlan, options: { maxRecordSeconds?: number; hear?: boolean } = {}) {
    this.#hear = options.hear !== false;
    this.#w = engine.module;
    this.#track = new this.#w.MediaStreamTrack({ kind: "audio" });
    const MS = engine.MediaStream as Any;
    this.stream = new MS([this.#track]);
    this.feed = new AudioFeed(plan, RATE);
    this.recorder = new Recorder({ maxSeconds: options.maxRecordSeconds });
  }

  /** Hook the peer connection: receive on `track`, start sending on connect. */
  attach(pc: unknown): void {
    const p = this.#pc = pc as Any;
    p.addEventListener("track", (ev: Any) => {
      const track = ev.track;
      if (track?.kind !== "audio") return;
      if (this.#hear) track.onReceiveRtp.subscribe((rtp: Any) => this.#receive(rtp));
    });
    p.addEventListener("connectionstatechange", () => {
      if (p.connectionState === "connected" && this.#tick === undefined) this.#start();
      if (p.connectionState === "closed" || p.connectionState === "failed") this.close();
    });
  }

  #payloadTypes(): { pcmu: number | undefined; pcma: number | undefined } {
    const codecs: Any[] = this.#pc?.getTransceivers?.()[0]?.codecs ?? [];
    const find = (n: string) => codecs.find((c) => String(c.mimeType).toLowerCase() === `audio/${n}`)?.payloadType;
    return { pcmu: find("pcmu"), pcma: find("pcma") };
  }

  #receive(rtp: Any): void {
    const pt = rtp.header.payloadType;
    const payload: Uint8Array = rtp.payload;
    let decode: ((b: number) => number) | undefined;
    if (pt === 0) decode = mulawToLinear;
    else if (pt === 8) decode = alawToLinear;
    else {
      const { pcmu, pcma } = this.#payloadTypes();
      if (pt === pcmu) decode = mulawToLinear;
      else if (pt === pcma) decode = alawToLinear;
    }
    if (!decode) return; // telephone-event, comfort noise: not audio
    const pcm = new Int16Array(payload.length);
    for (let i = 0; i < payload.length; i++) pcm[i] = decode(payload[i]);
    this.recorder.pushInt16(pcm, RATE);
  }

  #start(): void {
    const sender = this.#pc.getSenders().find((s: Any) => s.track === this.#track) ?? this.#pc.getSenders()[0];
    const f = new Float32Array(FRAME);
    const pcm = new Int16Array(FRAME);
    const t0 = performance.now();
    let sent = 0;
    this.#tick = () => {
      const codec = sender?.codec;
      const alaw = String(codec?.mimeType ?? "").toLowerCase() === "audio/pcma";
      const due = Math.floor((performance.now() - t0) / 20) + 1;
      if (due - sent > 5) sent = due - 5;
      while (sent < due) {
        sent++;
        if (this.#dtmfQueue.length) {
          this.#sendDtmfPacket(sender);
          continue;
        }
        this.feed.next(f);
        floatToInt16(f, pcm);
        const payload = new Uint8Array(FRAME);
        for (let i = 0; i < FRAME; i++) payload[i] = alaw ? linearToAlaw(pcm[i]) : linearToMulaw(pcm[i]);
        this.#write(payload, false);
        this.#ts += FRAME;
      }
    };
    joinMediaClock(20, this.#tick);
  }

  #write(payload: Uint8Array, marker: boolean, pt?: number): void {
    const w = this.#w;
    const header = new w.RtpHeader({
      payloadType: pt ?? 0,
      sequenceNumber: this.#seq,
      timestamp: this.#ts >>> 0,
      marker,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    const pkt = new w.RtpPacket(header, w.Buffer ? w.Buffer.from(payload) : payload);
    try {
      this.#track.writeRtp(pkt);
    } catch { /* track stopped */ }
  }

  /** One 20 ms step of the RFC 4733 queue: event packets carry growing durations, the end is sent 3 times. */
  #sendDtmfPacket(sender: Any): void {
    const d = this.#dtmfQueue[0];
    const te = this.#te ??= { start: this.#ts, elapsed: 0, endSent: 0 };
    if (d.event < 0) {
      // pause/gap: keep the clock moving with silence
      const payload = new Uint8Array(FRAME).fill(0xff);
      this.#write(payload, false);
      this.#ts += FRAME;
      d.samples -= FRAME;
      if (d.samples <= 0) {
        this.#dtmfQueue.shift();
        this.#te = undefined;
      }
      return;
    }
    te.elapsed += FRAME;
    const end = te.elapsed >= d.samples;
    const p = new Uint8Array(4);
    p[0] = d.event;
    p[1] = (end ? 0x80 : 0) | 10;
    const dur = Math.min(te.elapsed, 0xffff);
    p[2] = dur >> 8;
    p[3] = dur & 0xff;
    // the telephone-event packets keep the event's start timestamp
    const saved = this.#ts;
    this.#ts = te.start;
    this.#writeTe(sender, p, te.elapsed === FRAME);
    this.#ts = saved;
    if (end) {
      te.endSent++;
      te.elapsed -= FRAME; // repeat the same final duration
      if (te.endSent >= 3) {
        this.#dtmfQueue.shift();
        this.#ts = te.start + d.samples;
        this.#te = undefined;
      }
    }
  }

  #te?: { start: number; elapsed: number; endSent: number };

  #writeTe(sender: Any, payload: Uint8Array, marker: boolean): void {
    // werift's sender stamps every packet with the send codec's payload type; swap in telephone-event briefly.
    const codecs: Any[] = this.#pc?.getTransceivers?.()[0]?.codecs ?? [];
    const te = codecs.find((c) => String(c.mimeType).toLowerCase() === "audio/telephone-event");
    if (!te || !sender) {
      log.debug(`telephone-event not negotiated (codecs: ${codecs.map((c) => c.mimeType).join(",")})`);
      return;
    }
    log.debug(`RFC 4733 packet event=${payload[0]} end=${payload[1] >> 7} dur=${(payload[2] << 8) | payload[3]}`);
    const w = this.#w;
    const header = new w.RtpHeader({
      payloadType: te.payloadType,
      sequenceNumber: this.#seq,
      timestamp: this.#ts >>> 0,
      marker,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    const pkt = new w.RtpPacket(header, w.Buffer ? w.Buffer.from(payload) : payload);
    // dispatchRtp reads sender.codec synchronously before its first await, so the swap covers exactly this packet.
    const audio = sender.codec;
    sender.codec = te;
    try {
      sender.dispatchRtp(pkt)?.catch?.(() => {});
    } finally {
      sender.codec = audio;
    }
  }

  /** RFC 4733 DTMF, when telephone-event was negotiated. */
  sendRfc4733(digits: string, timing: Required<DtmfTiming>): Promise<boolean> {
    const { durationMs, gapMs } = timing;
    const codecs: Any[] = this.#pc?.getTransceivers?.()[0]?.codecs ?? [];
    if (!codecs.some((c) => String(c.mimeType).toLowerCase() === "audio/telephone-event")) {
      return Promise.resolve(false);
    }
    const order = "0123456789*#ABCD";
    for (const ch of digits.toUpperCase()) {
      if (ch === ",") {
        this.#dtmfQueue.push({ event: -1, samples: RATE * 2 });
        continue;
      }
      if (!DTMF_FREQS[ch]) continue;
      this.#dtmfQueue.push({ event: order.indexOf(ch), samples: Math.round(RATE * durationMs / 1000) });
      this.#dtmfQueue.push({ event: -1, samples: Math.round(RATE * gapMs / 1000) });
    }
    return Promise.resolve(true);
  }

  /** Stop sending. */
  close(): void {
    if (this.#tick) leaveMediaClock(20, this.#tick);
    try {
      this.#track.stop();
    } catch { /* stopped */ }
  }
}
