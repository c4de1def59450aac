/**
 * Small signal tools for call audio: tone generation, Goertzel tone detection, RMS level in dBFS, the dominant
 * frequency of a stretch of audio, and G.711 mu-law/A-law codecs (used with the werift stack, which carries RTP
 * payloads rather than PCM). All work on typed arrays without per-sample allocation.
 *
 * @module
 */

/** Fill `out` with a sine tone, continuing from `phase` (radians); returns the next phase. */
export function sineInto(
  out: Float32Array,
  options: { hz: number; sampleRate: number; amplitude?: number; phase?: number },
): number {
  const amp = options.amplitude ?? 0.5;
  const step = 2 * Math.PI * options.hz / options.sampleRate;
  let ph = options.phase ?? 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = amp * Math.sin(ph);
    ph += step;
  }
  return ph % (2 * Math.PI);
}

/** A stretch `[start, end)` of a sample array (default: all of it). */
export interface SampleRange {
  /** First sample (default 0). */
  start?: number;
  /** End, exclusive (default the array's length). */
  end?: number;
}

/** Mean power (mean of the squared samples) of a stretch; 0 for silence or an empty stretch. */
export function meanPower(samples: Float32Array, range: SampleRange = {}): number {
  const start = range.start ?? 0, end = range.end ?? samples.length;
  let acc = 0;
  for (let i = start; i < end; i++) acc += samples[i] * samples[i];
  return acc / Math.max(1, end - start);
}

/** RMS level of samples in dBFS (a full-scale sine is -3 dBFS); -Infinity for silence. */
export function rmsDbfs(samples: Float32Array, range: SampleRange = {}): number {
  return 10 * Math.log10(meanPower(samples, range));
}

/** Options for {@linkcode goertzel}: the frequency, the sample rate and the stretch to look at. */
export interface GoertzelOptions extends SampleRange {
  /** Frequency to measure, Hz. */
  hz: number;
  /** Sample rate of `samples`, Hz. */
  sampleRate: number;
}

/** Power of one frequency in a block (Goertzel), normalised so a sine of amplitude A gives A^2/2... roughly. */
export function goertzel(samples: Float32Array, options: GoertzelOptions): number {
  const { hz, sampleRate } = options;
  const start = options.start ?? 0, end = options.end ?? samples.length;
  const n = end - start;
  if (n <= 0) return 0;
  const w = 2 * Math.PI * hz / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let i = start; i < end; i++) {
    const s0 = samples[i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return 2 * power / (n * n);
}

/**
 * The share of a block's power at one frequency: about 1 for a pure tone at `hz`, about 2/N for white noise of N
 * samples (exponentially distributed), so a threshold such as 0.01 tells a tone from noise without chance hits.
 *
 * @example
 * ```ts
 * const tone = Float32Array.from({ length: 8000 }, (_, i) => Math.sin(2 * Math.PI * 1000 * i / 8000));
 * toneShare(tone, { hz: 1000, sampleRate: 8000 }); // ~1
 * ```
 */
export function toneShare(samples: Float32Array, options: GoertzelOptions): number {
  const total = meanPower(samples, options);
  return total > 0 ? goertzel(samples, options) / total : 0;
}

/** Options for {@linkcode dominantFrequency}: the sample rate and the stretch to look at. */
export interface DominantOptions extends SampleRange {
  /** Sample rate of `samples`, Hz. */
  sampleRate: number;
}

/** Dominant frequency (Hz, 10 Hz steps from 100 Hz to Nyquist-100) and its share of the total power (0..1). */
export function dominantFrequency(samples: Float32Array, options: DominantOptions): { hz: number; purity: number } {
  const sampleRate = options.sampleRate;
  const start = options.start ?? 0, end = options.end ?? samples.length;
  // one options object, re-aimed at each frequency tried
  const probe: GoertzelOptions = { hz: 0, sampleRate, start, end };
  let best = 0, bestHz = 0;
  const top = Math.min(4000, sampleRate / 2 - 100);
  for (let hz = 100; hz <= top; hz += 10) {
    probe.hz = hz;
    const p = goertzel(samples, probe);
    if (p > best) {
      best = p;
      bestHz = hz;
    }
  }
  // refine to 1 Hz around the peak
  for (let hz = bestHz - 9; hz <= bestHz + 9; hz++) {
    probe.hz = hz;
    const p = goertzel(samples, probe);
    if (p > best) {
      best = p;
      bestHz = hz;
    }
  }
  const total = meanPower(samples, { start, end });
  return { hz: bestHz, purity: total > 0 ? Math.min(1, best / total) : 0 };
}

/** What a stretch of audio holds: level and dominant tone. */
export interface AudioSummary {
  /** Length in seconds. */
  seconds: number;
  /** RMS level (dBFS) over the non-silent part. */
  levelDbfs: number;
  /** Dominant frequency in Hz. */
  toneHz: number;
  /** Share of power in that tone (1 = a pure tone). */
  purity: number;
  /** Seconds of audio above -50 dBFS (in 20 ms blocks). */
  activeSeconds: number;
}

/** Summarise audio: active (non-silent) time, its level and its dominant tone. */
export function summarize(samples: Float32Array, sampleRate: number): AudioSummary {
  const block = Math.max(1, Math.round(sampleRate / 50));
  const active = new Float32Array(samples.length);
  let n = 0;
  for (let i = 0; i + block <= samples.length; i += block) {
    if (rmsDbfs(samples, { start: i, end: i + block }) > -50) {
      active.set(samples.subarray(i, i + block), n);
      n += block;
    }
  }
  const a = active.subarray(0, n);
  // limit analysis to 2 s of active audio to stay cheap
  const slice = a.subarray(0, Math.min(n, sampleRate * 2));
  const dom = n > 0 ? dominantFrequency(slice, { sampleRate }) : { hz: 0, purity: 0 };
  return {
    seconds: samples.length / sampleRate,
    levelDbfs: n > 0 ? rmsDbfs(a) : -Infinity,
    toneHz: dom.hz,
    purity: dom.purity,
    activeSeconds: n / sampleRate,
  };
}

const MULAW_BIAS = 0x84;

/** Encode one 16-bit linear sample to G.711 mu-law. */
export function linearToMulaw(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > 32635) s = 32635;
  s += MULAW_BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

/** Decode one G.711 mu-law byte to a 16-bit linear sample. */
export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + MULAW_BIAS) << ((u & 0x70) >> 4);
  return (u & 0x80) ? MULAW_BIAS - t : t - MULAW_BIAS;
}

/** Encode one 16-bit linear sample to G.711 A-law. */
export function linearToAlaw(sample: number): number {
  let s = sample >> 3;
  let mask: number;
  if (s >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    s = -s - 1;
  }
  const segEnd = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let seg = 0;
  while (seg < 8 && s > segEnd[seg]) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  let aval = seg << 4;
  aval |= seg < 2 ? (s >> 1) & 0x0f : (s >> seg) & 0x0f;
  return aval ^ mask;
}

/** Decode one G.711 A-law byte to a 16-bit linear sample. */
export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return (a & 0x80) ? t : -t;
}
