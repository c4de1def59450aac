/**
 * Plain RTP for one audio stream, sans I/O: {@linkcode RtpSender} turns 20 ms frames into RTP packets (G.711 or
 * opus, through the coders of `rtp_codec.ts`, the timestamp on the codec's clock) and
 * RFC 4733 telephone-events (growing durations, the end packet three times, one timestamp per event);
 * {@linkcode RtpReceiver} parses packets into a small jitter buffer (reordering, duplicates, loss as silence) played
 * out one frame per tick, keeps the RFC 3550 statistics (loss, interarrival jitter, A.8) and reports received
 * telephone-events; {@linkcode rtcpReport} builds a compound SR or RR + SDES CNAME, {@linkcode parseRtcp} reads
 * SR/RR. Packets are written into reused typed arrays; the caller's socket sends them.
 *
 * @module
 */

import { createRtpCodec, type RtpCodec, type RtpCodecName } from "./rtp_codec.ts";

/** Samples per 20 ms frame at 8 kHz. */
export const FRAME = 160;
const RTP_HEADER = 12;
/** Largest payload a coder may return (an opus packet is at most 1275 bytes per frame, RFC 6716 §3.4 R2). */
const MAX_PAYLOAD = 1500;

/** RFC 4733 event codes of the DTMF digits. */
const DTMF_EVENTS = "0123456789*#ABCD";

/** Fill a 12-byte RTP header. */
function writeHeader(b: Uint8Array, o: { pt: number; marker: boolean; seq: number; ts: number; ssrc: number }): void {
  b[0] = 0x80;
  b[1] = (o.marker ? 0x80 : 0) | (o.pt & 0x7f);
  b[2] = (o.seq >> 8) & 0xff;
  b[3] = o.seq & 0xff;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint32(4, o.ts >>> 0);
  v.setUint32(8, o.ssrc >>> 0);
}

/** One queued RFC 4733 step. */
interface DtmfStep {
  /** Event code, or -1 for a pause (silence). */
  event: number;
  /** Length in samples. */
  samples: number;
}

/** Produces the outgoing packets of one stream. */
export class RtpSender {
  /** Our SSRC. */
  readonly ssrc: number;
  /** Its payload type. */
  pt: number;
  /** telephone-event payload type (undefined: RFC 4733 not negotiated). */
  tePt?: number;
  /** Packets and payload octets sent (for RTCP SR). */
  packets = 0;
  octets = 0;
  /** RTP timestamp of the last packet. */
  lastTs = 0;
  #seq: number;
  #ts: number;
  #first = true;
  #pcm = new Int16Array(FRAME);
  #buf = new Uint8Array(RTP_HEADER + MAX_PAYLOAD);
  #coder: RtpCodec;
  /** Timestamp units per 20 ms frame: 160 at 8 kHz, 960 for opus. */
  #step: number;
  #dtmf: DtmfStep[] = [];
  #te?: { start: number; elapsed: number; endSent: number; ticks: number };

  /** A sender with random SSRC, sequence and timestamp origins (RFC 3550 §5.1), unless given. */
  constructor(o: { codec: RtpCodecName; pt: number; tePt?: number; ssrc?: number; seq?: number; ts?: number }) {
    this.#coder = createRtpCodec(o.codec);
    this.#step = this.#coder.clockRate / 50;
    this.pt = o.pt;
    this.tePt = o.tePt;
    const r = new Uint32Array(3);
    crypto.getRandomValues(r);
    this.ssrc = (o.ssrc ?? r[0]) >>> 0;
    this.#seq = (o.seq ?? r[1]) & 0xffff;
    this.#ts = (o.ts ?? r[2]) >>> 0;
  }

  /** Codec (setting another one, on a re-INVITE, starts a new coder). */
  get codec(): RtpCodecName {
    return this.#coder.name;
  }
  set codec(name: RtpCodecName) {
    if (name === this.#coder.name) return;
    this.#coder.close();
    this.#coder = createRtpCodec(name);
    this.#step = this.#coder.clockRate / 50;
  }

  /** Free the coder's state. */
  close(): void {
    this.#coder.close();
  }

  /** Queue RFC 4733 digits (`,` = 2 s pause); false when telephone-event was not negotiated. */
  queueDtmf(digits: string, timing: { durationMs: number; gapMs: number }): boolean {
    if (this.tePt === undefined) return false;
    const perMs = this.#step / 20;
    for (const ch of digits.toUpperCase()) {
      if (ch === ",") this.#dtmf.push({ event: -1, samples: 2000 * perMs });
      const e = DTMF_EVENTS.indexOf(ch);
      if (e < 0) continue;
      this.#dtmf.push({ event: e, samples: Math.max(this.#step, Math.round(timing.durationMs * perMs)) });
      this.#dtmf.push({ event: -1, samples: Math.round(timing.gapMs * perMs) });
    }
    return true;
  }

  /** Whether DTMF is still being sent. */
  get sendingDtmf(): boolean {
    return this.#dtmf.length > 0;
  }

  /**
   * The packet for the next 20 ms: the audio `frame` (160 floats in -1..1) encoded, or, while DTMF is queued, a
   * telephone-event packet (the audio frame is then dropped). The returned view is reused by the next call.
   */
  next(frame: Float32Array): Uint8Array {
    const step = this.#dtmf[0];
    if (step && step.event >= 0) return this.#telephoneEvent(step);
    if (step) {
      step.samples -= this.#step;
      if (step.samples <= 0) this.#dtmf.shift();
    }
    const pcm = this.#pcm, b = this.#buf;
    for (let i = 0; i < FRAME; i++) {
      const s = frame[i];
      pcm[i] = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767);
    }
    const payload = this.#coder.encode(pcm);
    b.set(payload.subarray(0, MAX_PAYLOAD), RTP_HEADER);
    const pkt = this.#packet(this.pt, this.#first, this.#ts, Math.min(payload.length, MAX_PAYLOAD));
    this.#first = false;
    this.#ts = (this.#ts + this.#step) >>> 0;
    return pkt;
  }

  #telephoneEvent(step: DtmfStep): Uint8Array {
    const te = this.#te ??= { start: this.#ts, elapsed: 0, endSent: 0, ticks: 0 };
    te.ticks++;
    const marker = te.elapsed === 0;
    if (te.elapsed < step.samples) te.elapsed = Math.min(step.samples, te.elapsed + this.#step);
    const end = te.elapsed >= step.samples;
    const b = this.#buf;
    b[RTP_HEADER] = step.event;
    b[RTP_HEADER + 1] = (end ? 0x80 : 0) | 10; // volume -10 dBm0
    const dur = Math.min(te.elapsed, 0xffff);
    b[RTP_HEADER + 2] = dur >> 8;
    b[RTP_HEADER + 3] = dur & 0xff;
    const pkt = this.#packet(this.tePt!, marker, te.start, 4);
    if (end && ++te.endSent >= 3) {
      this.#dtmf.shift();
      // the media clock kept running while the event (and its repeated end) went out
      this.#ts = (te.start + te.ticks * this.#step) >>> 0;
      this.#te = undefined;
    }
    return pkt;
  }

  #packet(pt: number, marker: boolean, ts: number, payload: number): Uint8Array {
    writeHeader(this.#buf, { pt, marker, seq: this.#seq, ts, ssrc: this.ssrc });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.packets++;
    this.octets += payload;
    this.lastTs = ts;
    return this.#buf.subarray(0, RTP_HEADER + payload);
  }
}

/** A parsed RTP header (the payload is a view into the packet). */
export interface RtpHeaderInfo {
  /** Payload type. */
  pt: number;
  /** Marker bit. */
  marker: boolean;
  /** Sequence number. */
  seq: number;
  /** Timestamp. */
  ts: number;
  /** SSRC. */
  ssrc: number;
  /** The payload. */
  payload: Uint8Array;
}

/** Parse an RTP packet (version 2, CSRCs, extension and padding handled); undefined when it is not RTP. */
export function parseRtp(p: Uint8Array): RtpHeaderInfo | undefined {
  if (p.length < RTP_HEADER || (p[0] >> 6) !== 2) return undefined;
  const pt = p[1] & 0x7f;
  if (pt >= 72 && pt <= 76) return undefined; // RTCP on the RTP port (rtcp-mux)
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let off = RTP_HEADER + (p[0] & 0x0f) * 4;
  if (p[0] & 0x10) {
    if (off + 4 > p.length) return undefined;
    off += 4 + v.getUint16(off + 2) * 4;
  }
  let end = p.length;
  if (p[0] & 0x20) end -= p[p.length - 1];
  if (off > end) return undefined;
  return {
    pt,
    marker: (p[1] & 0x80) !== 0,
    seq: v.getUint16(2),
    ts: v.getUint32(4),
    ssrc: v.getUint32(8),
    payload: p.subarray(off, end),
  };
}

/** A telephone-event the receiver finished. */
export interface ReceivedDigit {
  /** The digit. */
  digit: string;
  /** Its length (ms). */
  durationMs: number;
}

/** Receiver statistics (RFC 3550 A.3, A.8). */
export interface RtpReceiveStats {
  /** Packets received (audio and events). */
  packets: number;
  /** Expected minus received (never negative). */
  lost: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Highest extended sequence number. */
  extMax: number;
  /** Frames played out as silence because their packet was missing or late. */
  concealed: number;
  /** Packets dropped as late or duplicate. */
  late: number;
}

/**
 * Receives one stream: a jitter buffer of `depth` frames (default 3 = 60 ms) on the packets' timestamps; each
 * {@linkcode RtpReceiver.playout} yields the next 20 ms as 16-bit PCM (silence for a gap).
 */
export class RtpReceiver {
  /** Statistics. */
  readonly stats: RtpReceiveStats = { packets: 0, lost: 0, jitter: 0, extMax: 0, concealed: 0, late: 0 };
  /** Payload type -> codec, from the negotiation. */
  readonly codecs: Map<number, RtpCodecName>;
  /** telephone-event payload type. */
  tePt?: number;
  /** SSRC of the stream being received. */
  ssrc?: number;
  readonly #depth: number;
  readonly #coders = new Map<RtpCodecName, RtpCodec>();
  /** Timestamp units per frame of the stream being played (160 at 8 kHz, 960 for opus). */
  #step = FRAME;
  #slots: (Int16Array | undefined)[];
  #slotTs: number[];
  #nextTs?: number;
  #nextIdx = 0;
  #lateRun = 0;
  #baseSeq = 0;
  #cycles = 0;
  #maxSeq = -1;
  #transit?: number;
  #lastEvent?: { ts: number; done: boolean };
  #digits: ReceivedDigit[] = [];
  #silence = new Int16Array(FRAME);

  /** A receiver for the negotiated payload types. */
  constructor(o: { codecs: Map<number, RtpCodecName>; tePt?: number; depth?: number }) {
    this.codecs = o.codecs;
    this.tePt = o.tePt;
    this.#depth = o.depth ?? 3;
    this.#slots = new Array(this.#depth * 4);
    this.#slotTs = new Array(this.#depth * 4).fill(-1);
  }

  /** Take one packet that arrived at `arrivalSamples` (the caller's clock in 8 kHz units, whatever the codec). */
  push(p: RtpHeaderInfo, arrivalSamples: number): void {
    if (this.ssrc !== undefined && p.ssrc !== this.ssrc) {
      // a new source (re-INVITE, forking, restart): start over
      this.#reset();
    }
    this.ssrc = p.ssrc;
    this.stats.packets++;
    this.#sequence(p.seq);
    // arrival on the stream's clock (the caller counts 8 kHz units)
    const transit = Math.round(arrivalSamples * (this.#step / FRAME)) - p.ts;
    if (this.#transit !== undefined) {
      const d = Math.abs(transit - this.#transit);
      this.stats.jitter += (d - this.stats.jitter) / 16;
    }
    this.#transit = transit;
    if (p.pt === this.tePt) return this.#event(p);
    const codec = this.codecs.get(p.pt);
    if (!codec) return; // comfort noise or unknown: ignore
    let coder = this.#coders.get(codec);
    if (!coder) this.#coders.set(codec, coder = createRtpCodec(codec));
    const stepTs = coder.clockRate / 50;
    if (stepTs !== this.#step) {
      // another clock (a re-INVITE to another codec): the buffered timestamps mean nothing now
      this.#step = stepTs;
      this.#nextTs = undefined;
      this.#slotTs.fill(-1);
      this.#transit = undefined;
    }
    if (this.#nextTs === undefined) this.#nextTs = (p.ts - (this.#depth - 1) * stepTs) >>> 0;
    let ahead = Math.floor(((p.ts - this.#nextTs) | 0) / stepTs);
    if (ahead < 0) {
      this.stats.late++;
      // the sender's clock stepped back (or ours drifted): after a few late packets in a row, follow it
      if (++this.#lateRun < 3) return;
      this.#nextTs = (p.ts - (this.#depth - 1) * stepTs) >>> 0;
      this.#slotTs.fill(-1);
      ahead = this.#depth - 1;
    }
    this.#lateRun = 0;
    if (ahead >= this.#slots.length) {
      // far ahead (sender's clock jumped): resynchronise on this packet
      this.#nextTs = (p.ts - (this.#depth - 1) * stepTs) >>> 0;
      this.#slotTs.fill(-1);
      ahead = this.#depth - 1;
    }
    const i = (this.#nextIdx + ahead) % this.#slots.length;
    if (this.#slotTs[i] === p.ts) {
      this.stats.late++; // duplicate
      return;
    }
    const pcm = this.#slots[i] ?? new Int16Array(FRAME);
    pcm.fill(0, coder.decode(p.payload, pcm));
    this.#slots[i] = pcm;
    this.#slotTs[i] = p.ts;
  }

  /** Whether the buffer holds enough to start playing. */
  get buffered(): number {
    if (this.#nextTs === undefined) return 0;
    let n = 0;
    for (const t of this.#slotTs) if (t !== -1 && ((t - this.#nextTs) | 0) >= 0) n++;
    return n;
  }

  /** The next 20 ms of audio, or undefined before the first packet. Gaps play as silence (counted). */
  playout(): Int16Array | undefined {
    if (this.#nextTs === undefined) return undefined;
    const ts = this.#nextTs;
    this.#nextTs = (ts + this.#step) >>> 0;
    const i = this.#nextIdx;
    this.#nextIdx = (i + 1) % this.#slots.length;
    const slotTs = this.#slotTs[i];
    this.#slotTs[i] = -1;
    if (slotTs !== -1 && Math.floor(((slotTs - ts) | 0) / this.#step) === 0) return this.#slots[i]!;
    this.stats.concealed++;
    return this.#silence;
  }

  /** Digits whose end packet arrived since the last call. */
  takeDigits(): ReceivedDigit[] {
    const d = this.#digits;
    this.#digits = [];
    return d;
  }

  #event(p: RtpHeaderInfo): void {
    if (p.payload.length < 4) return;
    const end = (p.payload[1] & 0x80) !== 0;
    const last = this.#lastEvent;
    if (last && last.ts === p.ts) {
      if (last.done || !end) return;
    }
    this.#lastEvent = { ts: p.ts, done: end };
    if (!end) return;
    const digit = DTMF_EVENTS[p.payload[0]];
    if (digit) this.#digits.push({ digit, durationMs: ((p.payload[2] << 8) | p.payload[3]) / (this.#step / 20) });
  }

  #sequence(seq: number): void {
    if (this.#maxSeq < 0) {
      this.#baseSeq = seq;
      this.#maxSeq = seq;
    } else {
      const delta = (seq - this.#maxSeq) & 0xffff;
      if (delta < 0x8000) {
        if (seq < this.#maxSeq) this.#cycles += 0x10000;
        this.#maxSeq = seq;
      }
    }
    this.stats.extMax = this.#cycles + this.#maxSeq;
    const expected = this.stats.extMax - this.#baseSeq + 1;
    this.stats.lost = Math.max(0, expected - this.stats.packets);
  }

  /** Free the coders' state. */
  close(): void {
    for (const c of this.#coders.values()) c.close();
    this.#coders.clear();
  }

  #reset(): void {
    this.#slots.fill(undefined);
    this.#slotTs.fill(-1);
    this.#nextTs = undefined;
    this.#maxSeq = -1;
    this.#cycles = 0;
    this.#transit = undefined;
    Object.assign(this.stats, { packets: 0, lost: 0, jitter: 0, extMax: 0 });
  }
}

/** What a sender/receiver report carries (see {@linkcode rtcpReport}). */
export interface RtcpReportInput {
  /** Our SSRC. */
  ssrc: number;
  /** CNAME for the SDES chunk. */
  cname: string;
  /** Sender info, when we sent media since the last report (makes it an SR). */
  sender?: { ntpMs: number; rtpTs: number; packets: number; octets: number };
  /** Report block about the stream we receive. */
  block?: {
    ssrc: number;
    fractionLost: number;
    cumulativeLost: number;
    extMax: number;
    jitter: number;
    /** Middle 32 bits of the last SR's NTP time, 0 if none. */
    lsr: number;
    /** Delay since that SR, 1/65536 s. */
    dlsr: number;
  };
}

/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_OFFSET = 2208988800;

/** A compound RTCP packet: SR (when `sender`) or RR, then SDES with the CNAME (RFC 3550 §6.1). */
export function rtcpReport(r: RtcpReportInput): Uint8Array {
  const blocks = r.block ? 1 : 0;
  const head = r.sender ? 28 : 8;
  const len1 = head + blocks * 24;
  const cname = new TextEncoder().encode(r.cname.slice(0, 255));
  const chunk = 4 + 2 + cname.length + 1; // ssrc, type+len, text, END
  const len2 = 4 + Math.ceil(chunk / 4) * 4;
  const out = new Uint8Array(len1 + len2);
  const v = new DataView(out.buffer);
  out[0] = 0x80 | blocks;
  out[1] = r.sender ? 200 : 201;
  v.setUint16(2, len1 / 4 - 1);
  v.setUint32(4, r.ssrc >>> 0);
  let off = 8;
  if (r.sender) {
    const sec = Math.floor(r.sender.ntpMs / 1000) + NTP_OFFSET;
    const frac = Math.floor(((r.sender.ntpMs % 1000) / 1000) * 2 ** 32);
    v.setUint32(8, sec >>> 0);
    v.setUint32(12, frac >>> 0);
    v.setUint32(16, r.sender.rtpTs >>> 0);
    v.setUint32(20, r.sender.packets >>> 0);
    v.setUint32(24, r.sender.octets >>> 0);
    off = 28;
  }
  if (r.block) {
    const b = r.block;
    v.setUint32(off, b.ssrc >>> 0);
    const lost = Math.max(-0x800000, Math.min(0x7fffff, b.cumulativeLost)) & 0xffffff;
    v.setUint32(off + 4, ((b.fractionLost & 0xff) << 24 | lost) >>> 0);
    v.setUint32(off + 8, b.extMax >>> 0);
    v.setUint32(off + 12, Math.round(b.jitter) >>> 0);
    v.setUint32(off + 16, b.lsr >>> 0);
    v.setUint32(off + 20, b.dlsr >>> 0);
  }
  out[len1] = 0x81;
  out[len1 + 1] = 202;
  v.setUint16(len1 + 2, len2 / 4 - 1);
  v.setUint32(len1 + 4, r.ssrc >>> 0);
  out[len1 + 8] = 1; // CNAME
  out[len1 + 9] = cname.length;
  out.set(cname, len1 + 10);
  return out;
}

/** What {@linkcode parseRtcp} found in a compound packet. */
export interface RtcpInfo {
  /** Sender reports: SSRC, the middle 32 bits of their NTP time (for LSR), packets and octets. */
  sr: { ssrc: number; ntpMid: number; packets: number; octets: number }[];
  /** Report blocks (from SR or RR): about which SSRC, loss and jitter. */
  blocks: { reporter: number; ssrc: number; fractionLost: number; cumulativeLost: number; jitter: number }[];
  /** BYE seen. */
  bye: boolean;
}

/** Parse a compound RTCP packet (SR, RR, BYE; other types skipped); undefined when malformed. */
export function parseRtcp(p: Uint8Array): RtcpInfo | undefined {
  const out: RtcpInfo = { sr: [], blocks: [], bye: false };
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let off = 0;
  while (off + 4 <= p.length) {
    if ((p[off] >> 6) !== 2) return undefined;
    const count = p[off] & 0x1f, type = p[off + 1];
    const len = (v.getUint16(off + 2) + 1) * 4;
    if (off + len > p.length) return undefined;
    if (type === 200 || type === 201) {
      const reporter = v.getUint32(off + 4);
      let b = off + 8;
      if (type === 200) {
        if (len < 28) return undefined;
        out.sr.push({
          ssrc: reporter,
          ntpMid: ((v.getUint32(off + 8) & 0xffff) << 16 | v.getUint32(off + 12) >>> 16) >>> 0,
          packets: v.getUint32(off + 20),
          octets: v.getUint32(off + 24),
        });
        b = off + 28;
      }
      for (let i = 0; i < count && b + 24 <= off + len; i++, b += 24) {
        const word = v.getUint32(b + 4);
        const cum = word & 0xffffff;
        out.blocks.push({
          reporter,
          ssrc: v.getUint32(b),
          fractionLost: word >>> 24,
          cumulativeLost: cum & 0x800000 ? cum - 0x1000000 : cum,
          jitter: v.getUint32(b + 12),
        });
      }
    } else if (type === 203) out.bye = true;
    off += len;
  }
  return out;
}
