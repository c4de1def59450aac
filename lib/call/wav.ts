/**
 * PCM WAV files: parse (8/16/24/32-bit integer and 32/64-bit float, any channel count, mixed down to mono),
 * write (16-bit mono), and resample. Pure functions over typed arrays; the file I/O is in {@linkcode readWav} and
 * {@linkcode writeWav}.
 *
 * @module
 */

import { openRead, osErrorReason, PbxError, writeFileAtomic } from "../common/mod.ts";

/** Mono audio: samples in [-1, 1] at a sample rate. */
export interface Audio {
  /** Samples per second. */
  sampleRate: number;
  /** Mono samples, -1..1. */
  samples: Float32Array;
}

function bad(message: string): PbxError {
  return new PbxError("E_PARSE", `not a usable WAV file: ${message}`);
}

/** Parse a RIFF/WAVE file's bytes into mono float audio. Throws E_PARSE with a clear reason. */
export function parseWav(bytes: Uint8Array): Audio {
  if (bytes.length < 12) throw bad("too short");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]);
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw bad("missing RIFF/WAVE header");
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let data: Uint8Array | undefined;
  let o = 12;
  while (o + 8 <= bytes.length) {
    const id = tag(o);
    let size = dv.getUint32(o + 4, true);
    const body = o + 8;
    if (body + size > bytes.length) {
      if (id !== "data") throw bad(`chunk '${id}' runs past the end of the file`);
      size = bytes.length - body; // truncated recording: use what is there
    }
    if (id === "fmt ") {
      if (size < 16) throw bad("fmt chunk too short");
      let format = dv.getUint16(body, true);
      const bits = dv.getUint16(body + 14, true);
      if (format === 0xfffe && size >= 40) format = dv.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { format, channels: dv.getUint16(body + 2, true), rate: dv.getUint32(body + 4, true), bits };
    } else if (id === "data") {
      data = bytes.subarray(body, body + size);
    }
    o = body + size + (size & 1);
  }
  if (!fmt) throw bad("no fmt chunk");
  if (!data) throw bad("no data chunk");
  const { format, channels, rate, bits } = fmt;
  if (channels < 1 || channels > 32) throw bad(`${channels} channels`);
  if (rate < 1000 || rate > 384000) throw bad(`sample rate ${rate}`);
  const isFloat = format === 3;
  if (!(format === 1 || isFloat)) throw bad(`format ${format} (only PCM and IEEE float are supported)`);
  if (isFloat ? !(bits === 32 || bits === 64) : !(bits === 8 || bits === 16 || bits === 24 || bits === 32)) {
    throw bad(`${bits}-bit ${isFloat ? "float" : "PCM"}`);
  }
  const bps = bits / 8;
  const frames = Math.floor(data.length / (bps * channels));
  const out = new Float32Array(frames);
  const ddv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let f = 0, p = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, p += bps) {
      let v: number;
      if (isFloat) v = bits === 32 ? ddv.getFloat32(p, true) : ddv.getFloat64(p, true);
      else if (bits === 16) v = ddv.getInt16(p, true) / 32768;
      else if (bits === 8) v = (data[p] - 128) / 128;
      else if (bits === 24) v = ((data[p] | (data[p + 1] << 8) | (data[p + 2] << 16)) << 8 >> 8) / 8388608;
      else v = ddv.getInt32(p, true) / 2147483648;
      sum += v;
    }
    out[f] = sum / channels;
  }
  return { sampleRate: rate, samples: out };
}

/** Encode mono audio as a 16-bit PCM WAV file. */
export function encodeWav(audio: Audio): Uint8Array {
  const n = audio.samples.length;
  const out = new Uint8Array(44 + n * 2);
  const dv = new DataView(out.buffer);
  const put = (o: number, s: string) => {
    for (let i = 0; i < 4; i++) out[o + i] = s.charCodeAt(i);
  };
  put(0, "RIFF");
  dv.setUint32(4, 36 + n * 2, true);
  put(8, "WAVE");
  put(12, "fmt ");
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true);
  dv.setUint16(22, 1, true);
  dv.setUint32(24, audio.sampleRate, true);
  dv.setUint32(28, audio.sampleRate * 2, true);
  dv.setUint16(32, 2, true);
  dv.setUint16(34, 16, true);
  put(36, "data");
  dv.setUint32(40, n * 2, true);
  const pcm = new Int16Array(out.buffer, 44, n);
  floatToInt16(audio.samples, pcm);
  return out;
}

/** Convert float samples to 16-bit with clipping, into `out` (allocated when absent). */
export function floatToInt16(src: Float32Array, out: Int16Array = new Int16Array(src.length)): Int16Array {
  for (let i = 0; i < src.length; i++) {
    const v = src[i] * 32768;
    out[i] = v >= 32767 ? 32767 : v <= -32768 ? -32768 : Math.round(v);
  }
  return out;
}

/**
 * Resample mono audio to `rate` with a windowed-sinc (Lanczos, a=8) interpolator that also low-passes when
 * downsampling, so a 48 kHz file becomes clean 8 kHz telephone audio without aliasing.
 */
export function resample(audio: Audio, rate: number): Audio {
  if (audio.sampleRate === rate) return { sampleRate: rate, samples: audio.samples.slice() };
  const src = audio.samples;
  const ratio = rate / audio.sampleRate;
  const n = Math.floor(src.length * ratio);
  const out = new Float32Array(n);
  const cutoff = Math.min(1, ratio); // relative to the source Nyquist
  const a = 8;
  const half = Math.ceil(a / cutoff);
  for (let i = 0; i < n; i++) {
    const center = i / ratio;
    const first = Math.max(0, Math.ceil(center - half));
    const last = Math.min(src.length - 1, Math.floor(center + half));
    let acc = 0, wsum = 0;
    for (let j = first; j <= last; j++) {
      const x = (j - center) * cutoff;
      const w = sinc(x) * sinc(x / a);
      acc += src[j] * w;
      wsum += w;
    }
    out[i] = wsum > 0 ? acc / wsum : 0;
  }
  return { sampleRate: rate, samples: out };
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/** Read a WAV file (mono float), with a clear error when it is missing or malformed. */
export async function readWav(path: string): Promise<Audio> {
  let bytes: Uint8Array;
  try {
    // openRead refuses directories and devices (/dev/zero would be read forever)
    const { file } = await openRead(path, { what: "WAV file" });
    bytes = new Uint8Array(await new Response(file.readable).arrayBuffer());
  } catch (err) {
    if (err instanceof PbxError && err.code === "E_NOT_FOUND") {
      throw new PbxError("E_NOT_FOUND", `no such file: ${path}`);
    }
    if (err instanceof PbxError) throw err;
    throw new PbxError("E_INVALID_INPUT", `cannot read WAV file '${path}': ${osErrorReason(err)}`, { cause: err });
  }
  try {
    return parseWav(bytes);
  } catch (err) {
    if (err instanceof PbxError) throw new PbxError(err.code, `${path}: ${err.message}`);
    throw err;
  }
}

/** Write a 16-bit mono WAV file atomically (temp file + rename), so a crash never leaves half a file. */
export async function writeWav(path: string, audio: Audio): Promise<void> {
  await writeFileAtomic(path, encodeWav(audio));
}
