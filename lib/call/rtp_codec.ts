/**
 * The audio codecs of the plain RTP stack, in one table: how each appears in SDP (payload type, encoding name,
 * clock rate, channels, fmtp) and a per-stream coder that turns 20 ms of 8 kHz 16-bit PCM into a payload and back.
 * G.711 (PCMU, PCMA; RFC 3551) is here; opus (RFC 7587) is in `codec_opus.ts`. Adding a codec is one row in
 * {@linkcode RTP_CODECS} and one case in {@linkcode createRtpCodec}.
 *
 * @module
 */

import { alawToLinear, linearToAlaw, linearToMulaw, mulawToLinear } from "./dsp.ts";
import { OPUS_CLOCK_RATE, OPUS_FMTP, OpusDecoder, OpusEncoder, warmUpOpus } from "./codec_opus.ts";

/** The audio codecs the plain RTP stack can send and receive. */
export type RtpCodecName = "pcmu" | "pcma" | "opus";

/** How a codec appears in SDP. */
export interface RtpCodecInfo {
  /** Payload type: static (RFC 3551) or the dynamic one pbxkit offers. */
  pt: number;
  /** Encoding name in `a=rtpmap`. */
  encoding: string;
  /** RTP clock rate (timestamp units per second). */
  clockRate: number;
  /** Channels in `a=rtpmap` (absent: none written). */
  channels?: number;
  /** `a=fmtp` parameters pbxkit sends. */
  fmtp?: string;
}

/** The codec table (the order is not a preference; see `media_rtp.ts` for the default order). */
export const RTP_CODECS: Readonly<Record<RtpCodecName, RtpCodecInfo>> = {
  pcmu: { pt: 0, encoding: "PCMU", clockRate: 8000 },
  pcma: { pt: 8, encoding: "PCMA", clockRate: 8000 },
  // RFC 7587 §7: always opus/48000/2 in SDP, whether the stream is mono or stereo
  opus: { pt: 111, encoding: "opus", clockRate: OPUS_CLOCK_RATE, channels: 2, fmtp: OPUS_FMTP },
};

/** Whether `name` is a codec of the plain RTP stack. */
export function isRtpCodec(name: string): name is RtpCodecName {
  return Object.hasOwn(RTP_CODECS, name);
}

/** One stream's coder: 160 samples (20 ms at 8 kHz) per frame on the PCM side. */
export interface RtpCodec {
  /** Which codec. */
  readonly name: RtpCodecName;
  /** RTP clock rate: the timestamp advances `clockRate / 50` per frame. */
  readonly clockRate: number;
  /** The payload for one frame (the view may be reused by the next call). */
  encode(pcm: Int16Array): Uint8Array;
  /** Decode one payload into `pcm` (one frame); returns the samples written (the caller zeroes the rest). */
  decode(payload: Uint8Array, pcm: Int16Array): number;
  /** Release what the coder holds. */
  close(): void;
}

/** A G.711 coder (stateless). */
class G711 implements RtpCodec {
  readonly name: RtpCodecName;
  readonly clockRate = 8000;
  readonly #out = new Uint8Array(160);
  readonly #enc: (s: number) => number;
  readonly #dec: (b: number) => number;
  constructor(name: "pcmu" | "pcma") {
    this.name = name;
    this.#enc = name === "pcma" ? linearToAlaw : linearToMulaw;
    this.#dec = name === "pcma" ? alawToLinear : mulawToLinear;
  }
  encode(pcm: Int16Array): Uint8Array {
    const n = Math.min(pcm.length, this.#out.length);
    for (let i = 0; i < n; i++) this.#out[i] = this.#enc(pcm[i]);
    return this.#out.subarray(0, n);
  }
  decode(payload: Uint8Array, pcm: Int16Array): number {
    const n = Math.min(pcm.length, payload.length);
    for (let i = 0; i < n; i++) pcm[i] = this.#dec(payload[i]);
    return n;
  }
  close(): void {}
}

/**
 * An opus coder: one libopus encoder and one decoder, made on first use. libopus is warmed up when the coder is made
 * (when the call's media is set up), so that compiling its WebAssembly does not happen inside the 20 ms ticks.
 */
class Opus implements RtpCodec {
  readonly name: RtpCodecName = "opus";
  readonly clockRate = OPUS_CLOCK_RATE;
  #enc?: OpusEncoder;
  #dec?: OpusDecoder;
  constructor() {
    warmUpOpus();
  }
  encode(pcm: Int16Array): Uint8Array {
    return (this.#enc ??= new OpusEncoder()).encode(pcm);
  }
  decode(payload: Uint8Array, pcm: Int16Array): number {
    return (this.#dec ??= new OpusDecoder()).decode(payload, pcm);
  }
  close(): void {
    this.#enc?.close();
    this.#dec?.close();
    this.#enc = this.#dec = undefined;
  }
}

/** A new coder for one stream of `name`. */
export function createRtpCodec(name: RtpCodecName): RtpCodec {
  return name === "opus" ? new Opus() : new G711(name);
}
