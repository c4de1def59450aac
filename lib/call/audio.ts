/**
 * Call audio: what pbxkit sends (a WAV file, a tone, or silence, with optional in-band DTMF) and what it records,
 * independent of the WebRTC stack. {@linkcode AudioFeed} produces fixed 10 ms frames on demand; {@linkcode Recorder}
 * collects received PCM and writes a WAV resampled to the requested rate. The stack adapters (wrtc in
 * `media_wrtc.ts`, werift in `werift_adapter.ts`) move these frames in and out of the peer connection.
 *
 * @module
 */

import { type Audio, resample, writeWav } from "./wav.ts";
import { type AudioSummary, sineInto, summarize } from "./dsp.ts";

/** What to send into the call. */
export type AudioPlan =
  | { kind: "silence" }
  | { kind: "echo" }
  | { kind: "tone"; hz: number; dbfs: number }
  | { kind: "file"; audio: Audio; loop: boolean };

/** DTMF digit -> [low, high] frequencies (Hz). */
export const DTMF_FREQS: Readonly<Record<string, readonly [number, number]>> = {
  "1": [697, 1209],
  "2": [697, 1336],
  "3": [697, 1477],
  "A": [697, 1633],
  "4": [770, 1209],
  "5": [770, 1336],
  "6": [770, 1477],
  "B": [770, 1633],
  "7": [852, 1209],
  "8": [852, 1336],
  "9": [852, 1477],
  "C": [852, 1633],
  "*": [941, 1209],
  "0": [941, 1336],
  "#": [941, 1477],
  "D": [941, 1633],
};

/** Digits `--dtmf` accepts (`,` is a 2 s pause, as in JsSIP). */
export const DTMF_PATTERN = /^[0-9A-Da-d*#,]+$/;

/** Length of each DTMF digit and the silence after it. */
export interface DtmfTiming {
  /** Tone length per digit, ms (default 100 for in-band digits). */
  durationMs?: number;
  /** Silence between digits, ms (default 70 for in-band digits). */
  gapMs?: number;
}

/** Produces the outgoing audio as consecutive frames at a fixed rate. */
export class AudioFeed {
  /** Samples per second of the frames produced (file audio is resampled to it). */
  readonly sampleRate: number;
  #plan: AudioPlan;
  #file?: Float32Array;
  #pos = 0;
  #phase = 0;
  #amp = 0;
  #dtmf: { low: number; high: number; left: number; gapLeft: number }[] = [];
  #dtmfPhase = [0, 0];
  #echo: Float32Array[] = [];
  #echoHead = 0;
  #echoLen = 0;
  /** Samples produced so far. */
  produced = 0;
  /** Until {@linkcode AudioFeed.start}, frames are silence and the file/tone does not advance (nothing is lost
   * before the call's media is connected). */
  #started = false;

  /** Begin the programme (call when media is connected). */
  start(): void {
    this.#started = true;
  }

  /** Prepare a feed at `sampleRate` (file audio is resampled once, here). */
  constructor(plan: AudioPlan, sampleRate: number) {
    this.sampleRate = sampleRate;
    this.#plan = plan;
    if (plan.kind === "file") this.#file = resample(plan.audio, sampleRate).samples;
    if (plan.kind === "tone") this.#amp = Math.SQRT2 * Math.pow(10, plan.dbfs / 20);
  }

  /** Whether a non-looping file has been played to its end. */
  get finished(): boolean {
    return this.#plan.kind === "file" && !this.#plan.loop && this.#file !== undefined &&
      this.#pos >= this.#file.length;
  }

  /** Queue in-band DTMF digits (each `durationMs` long, `gapMs` apart; `,` is a 2 s pause). */
  queueDtmf(digits: string, timing: DtmfTiming = {}): void {
    const durationMs = timing.durationMs ?? 100, gapMs = timing.gapMs ?? 70;
    for (const d of digits.toUpperCase()) {
      if (d === ",") {
        this.#dtmf.push({ low: 0, high: 0, left: 0, gapLeft: Math.round(this.sampleRate * 2) });
        continue;
      }
      const f = DTMF_FREQS[d];
      if (!f) continue;
      this.#dtmf.push({
        low: f[0],
        high: f[1],
        left: Math.round(this.sampleRate * durationMs / 1000),
        gapLeft: Math.round(this.sampleRate * gapMs / 1000),
      });
    }
  }

  /**
   * With an `echo` plan: queue received audio (mono float at `rate`) to be sent back. At most 200 ms wait in the
   * queue; older audio is dropped so the echo never drifts behind.
   */
  pushEcho(frame: Float32Array, rate: number): void {
    if (this.#plan.kind !== "echo" || !this.#started) return;
    const f = rate === this.sampleRate
      ? frame.slice()
      : resample({ sampleRate: rate, samples: frame }, this.sampleRate).samples;
    this.#echo.push(f);
    this.#echoLen += f.length;
    while (this.#echoLen - this.#echoHead > this.sampleRate / 5 && this.#echo.length > 1) {
      this.#echoLen -= this.#echo[0].length;
      this.#echo.shift();
      this.#echoHead = 0;
    }
  }

  #pullEcho(out: Float32Array): void {
    let o = 0;
    while (o < out.length && this.#echo.length) {
      const head = this.#echo[0];
      const n = Math.min(out.length - o, head.length - this.#echoHead);
      out.set(head.subarray(this.#echoHead, this.#echoHead + n), o);
      o += n;
      this.#echoHead += n;
      if (this.#echoHead >= head.length) {
        this.#echo.shift();
        this.#echoLen -= head.length;
        this.#echoHead = 0;
      }
    }
    out.fill(0, o);
  }

  /** Fill `out` with the next frame of audio. */
  next(out: Float32Array): void {
    const plan = this.#plan;
    if (!this.#started) {
      out.fill(0);
    } else if (plan.kind === "tone") {
      this.#phase = sineInto(out, {
        hz: plan.hz,
        sampleRate: this.sampleRate,
        amplitude: this.#amp,
        phase: this.#phase,
      });
    } else if (plan.kind === "echo") {
      this.#pullEcho(out);
    } else if (plan.kind === "file" && this.#file) {
      const f = this.#file;
      for (let i = 0; i < out.length; i++) {
        if (this.#pos >= f.length) {
          if (plan.loop && f.length > 0) this.#pos = 0;
          else {
            out[i] = 0;
            continue;
          }
        }
        out[i] = f[this.#pos++];
      }
    } else {
      out.fill(0);
    }
    if (this.#dtmf.length) this.#mixDtmf(out);
    this.produced += out.length;
  }

  #mixDtmf(out: Float32Array): void {
    for (let i = 0; i < out.length && this.#dtmf.length; i++) {
      const t = this.#dtmf[0];
      if (t.left > 0) {
        const a = 0.25;
        this.#dtmfPhase[0] += 2 * Math.PI * t.low / this.sampleRate;
        this.#dtmfPhase[1] += 2 * Math.PI * t.high / this.sampleRate;
        out[i] = out[i] * 0.2 + a * Math.sin(this.#dtmfPhase[0]) + a * Math.sin(this.#dtmfPhase[1]);
        t.left--;
      } else if (t.gapLeft > 0) {
        t.gapLeft--;
      } else {
        this.#dtmf.shift();
        this.#dtmfPhase = [0, 0];
      }
    }
  }
}

/** Collects received audio (mono float at the stack's rate) and writes it as WAV. */
export class Recorder {
  #chunks: Float32Array[] = [];
  #rate = 0;
  #length = 0;
  /** performance.now() when the first non-silent frame arrived (undefined until then). */
  firstAudioAt?: number;
  /** Called with every received frame (mono float, native rate), e.g. to time a tone's arrival. */
  onFrame?: (frame: Float32Array, sampleRate: number) => void;
  /** Longest recording kept, in seconds (older audio is not dropped: recording stops). */
  readonly maxSeconds: number;

  /** A recorder that keeps at most `maxSeconds` (default 1 hour). */
  constructor(options: { maxSeconds?: number } = {}) {
    this.maxSeconds = options.maxSeconds ?? 3600;
  }

  /** Add received 16-bit PCM (interleaved when `options.channels` > 1). */
  pushInt16(samples: Int16Array, sampleRate: number, options: { channels?: number } = {}): void {
    const channels = options.channels ?? 1;
    const frames = Math.floor(samples.length / channels);
    const f = new Float32Array(frames);
    let energy = 0;
    for (let i = 0, p = 0; i < frames; i++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += samples[p++];
      const v = s / channels / 32768;
      f[i] = v;
      energy += v * v;
    }
    this.#push(f, sampleRate, energy / Math.max(1, frames));
  }

  /** Add received float samples (mono). */
  pushFloat(samples: Float32Array, sampleRate: number): void {
    let energy = 0;
    for (let i = 0; i < samples.length; i++) energy += samples[i] * samples[i];
    this.#push(samples.slice(), sampleRate, energy / Math.max(1, samples.length));
  }

  #push(f: Float32Array, rate: number, meanSquare: number): void {
    if (this.#rate === 0) this.#rate = rate;
    if (rate !== this.#rate) {
      f = resample({ sampleRate: rate, samples: f }, this.#rate).samples;
    }
    if (this.firstAudioAt === undefined && meanSquare > 1e-5) this.firstAudioAt = performance.now();
    this.onFrame?.(f, this.#rate);
    if (this.#length + f.length > this.maxSeconds * this.#rate) return;
    this.#chunks.push(f);
    this.#length += f.length;
  }

  /** Seconds recorded so far. */
  get seconds(): number {
    return this.#rate ? this.#length / this.#rate : 0;
  }

  /** Everything recorded so far, at the native rate. */
  audio(): Audio {
    const out = new Float32Array(this.#length);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return { sampleRate: this.#rate || 8000, samples: out };
  }

  /** Level and dominant tone of what was heard. */
  summary(): AudioSummary {
    const a = this.audio();
    return summarize(a.samples, a.sampleRate);
  }

  /** Write the recording as 16-bit mono WAV at `rate` (default: as received). */
  async save(path: string, rate?: number): Promise<void> {
    const a = this.audio();
    await writeWav(path, rate && rate !== a.sampleRate ? resample(a, rate) : a);
  }
}
