/**
 * Opus (RFC 6716) for plain RTP media (RFC 7587), through `opusscript` (libopus 1.4 compiled to WebAssembly, so no
 * native build): one mono encoder (VoIP application, in-band FEC on, 20 ms frames) and one decoder per stream. The
 * plain RTP pipeline runs at 8 kHz, so both sides of libopus are opened at 8 kHz: libopus encodes what it is given
 * (narrowband) and resamples whatever bandwidth the other side sends down to 8 kHz when decoding. On the wire the RTP
 * clock is 48 kHz whatever the audio bandwidth (RFC 7587 §4.1), so a 20 ms frame advances the timestamp by 960.
 *
 * @module
 */

import OpusScript from "opusscript";
import { PbxError } from "../common/mod.ts";

/** Internal sample rate of the plain RTP pipeline (Hz). */
const PCM_RATE = 8000;
/** Samples per 20 ms frame at {@linkcode PCM_RATE}. */
const FRAME = 160;
/** OPUS_SET_INBAND_FEC_REQUEST (opus_defines.h). */
const SET_INBAND_FEC = 4012;
/** OPUS_SET_PACKET_LOSS_PERC_REQUEST: FEC is only added when the encoder expects some loss. */
const SET_PACKET_LOSS_PERC = 4014;
/** OPUS_SET_COMPLEXITY_REQUEST: 5 of 10 halves the encoder's CPU time (about 0.26 ms a frame here) for speech. */
const SET_COMPLEXITY = 4010;

/** The RTP clock rate of opus, always 48 kHz (RFC 7587 §4.1). */
export const OPUS_CLOCK_RATE = 48000;

/**
 * The `a=fmtp` parameters pbxkit offers and answers with for opus (RFC 7587 §6.1): FEC welcome, mono both ways, and
 * `maxplaybackrate=8000` because pbxkit plays at 8 kHz: the other side need not spend CPU and bits on wideband that
 * would be resampled away (and decoding narrowband costs pbxkit a tenth of what fullband stereo does).
 */
export const OPUS_FMTP =
  "minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0;maxplaybackrate=8000;sprop-maxcapturerate=8000";

let warm = false;

/**
 * Run libopus once through its encoder and decoder paths (SILK narrowband as pbxkit sends, CELT fullband stereo as
 * a desktop peer may send), once per process. WebAssembly functions are compiled on their first call: without this
 * the first 20 ms frames of a call take 50-200 ms each on a loaded machine, and the media clock skips them.
 */
export function warmUpOpus(): void {
  if (warm) return;
  warm = true;
  try {
    const nb = new OpusScript(PCM_RATE, 1, OpusScript.Application.VOIP);
    const fb = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
    const dec = new OpusScript(PCM_RATE, 1, OpusScript.Application.VOIP);
    const pcm = new Int16Array(960 * 2);
    let seed = 1;
    for (let f = 0; f < 3; f++) {
      for (let i = 0; i < pcm.length; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        pcm[i] = ((seed >> 16) & 0x3fff) - 0x2000 + Math.round(6000 * Math.sin(i / 3));
      }
      const bytes = new Uint8Array(pcm.buffer);
      type In = Parameters<OpusScript["encode"]>[0];
      dec.decode(nb.encode(bytes.subarray(0, FRAME * 2) as unknown as In, FRAME));
      dec.decode(fb.encode(bytes as unknown as In, 960));
    }
    for (const o of [nb, fb, dec]) o.delete();
  } catch (err) {
    throw new PbxError("E_INTERNAL", `opus: ${(err as Error).message}`);
  }
}

/** Encodes 20 ms frames of 8 kHz 16-bit mono PCM into opus packets. */
export class OpusEncoder {
  readonly #enc: OpusScript;
  readonly #bytes = new Uint8Array(FRAME * 2);
  readonly #view = new DataView(this.#bytes.buffer);

  /** A mono VoIP encoder, `bitrate` bits/s (default 24000), in-band FEC on, complexity 5. */
  constructor(bitrate = 24000) {
    try {
      this.#enc = new OpusScript(PCM_RATE, 1, OpusScript.Application.VOIP);
      this.#enc.setBitrate(bitrate);
      this.#enc.encoderCTL(SET_INBAND_FEC, 1);
      this.#enc.encoderCTL(SET_PACKET_LOSS_PERC, 5);
      this.#enc.encoderCTL(SET_COMPLEXITY, 5);
    } catch (err) {
      throw new PbxError("E_INTERNAL", `opus encoder: ${(err as Error).message}`);
    }
  }

  /** One opus packet for the 160 samples of `pcm` (a new array). */
  encode(pcm: Int16Array): Uint8Array {
    const v = this.#view;
    for (let i = 0; i < FRAME; i++) v.setInt16(i * 2, pcm[i] ?? 0, true);
    // opusscript copies its argument byte by byte into the WebAssembly heap: give it the little-endian bytes
    const out = this.#enc.encode(this.#bytes as unknown as Parameters<OpusScript["encode"]>[0], FRAME);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** Free the libopus state. */
  close(): void {
    this.#enc.delete();
  }
}

/** Decodes opus packets (any bandwidth, mono or stereo) into 8 kHz 16-bit mono PCM. */
export class OpusDecoder {
  readonly #dec: OpusScript;

  /** A mono decoder at 8 kHz. */
  constructor() {
    try {
      this.#dec = new OpusScript(PCM_RATE, 1, OpusScript.Application.VOIP);
    } catch (err) {
      throw new PbxError("E_INTERNAL", `opus decoder: ${(err as Error).message}`);
    }
  }

  /**
   * Decode `packet` into `pcm` (which holds one 20 ms frame); returns the samples written, 0 for a packet libopus
   * refuses (the caller plays silence). Packets longer than the frame are cut to it.
   */
  decode(packet: Uint8Array, pcm: Int16Array): number {
    let out: Uint8Array;
    try {
      out = this.#dec.decode(packet as unknown as Parameters<OpusScript["decode"]>[0]);
    } catch {
      return 0;
    }
    const n = Math.min(pcm.length, out.length >> 1);
    const v = new DataView(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < n; i++) pcm[i] = v.getInt16(i * 2, true);
    return n;
  }

  /** Free the libopus state. */
  close(): void {
    this.#dec.delete();
  }
}

/** What the TOC byte of an opus packet says (RFC 6716 §3.1). */
export interface OpusToc {
  /** Coding mode. */
  mode: "silk" | "hybrid" | "celt";
  /** Audio bandwidth. */
  bandwidth: "nb" | "mb" | "wb" | "swb" | "fb";
  /** Frame length (ms). */
  frameMs: number;
  /** Stereo flag. */
  stereo: boolean;
  /** Frames in the packet (code 0: 1, code 1 and 2: 2, code 3: from the frame count byte). */
  frames: number;
}

/** Read the TOC byte (and, for code 3, the frame count byte) of an opus packet; undefined for an empty one. */
export function opusToc(packet: Uint8Array): OpusToc | undefined {
  if (!packet.length) return undefined;
  const config = packet[0] >> 3, code = packet[0] & 3;
  const stereo = (packet[0] & 4) !== 0;
  let mode: OpusToc["mode"], bandwidth: OpusToc["bandwidth"], frameMs: number;
  if (config < 12) {
    mode = "silk";
    bandwidth = (["nb", "mb", "wb"] as const)[config >> 2];
    frameMs = [10, 20, 40, 60][config & 3];
  } else if (config < 16) {
    mode = "hybrid";
    bandwidth = config < 14 ? "swb" : "fb";
    frameMs = (config & 1) ? 20 : 10;
  } else {
    mode = "celt";
    bandwidth = (["nb", "wb", "swb", "fb"] as const)[(config - 16) >> 2];
    frameMs = [2.5, 5, 10, 20][config & 3];
  }
  const frames = code === 0 ? 1 : code < 3 ? 2 : (packet[1] ?? 0) & 0x3f;
  return { mode, bandwidth, frameMs, stereo, frames };
}
