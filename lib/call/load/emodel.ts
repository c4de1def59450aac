/**
 * An E-model MOS estimate after ITU-T G.107 (simplified, as call-quality monitors use it): the default transmission
 * rating R0 - Is = 93.2, minus the delay impairment Idd from the one-way mouth-to-ear delay Ta, minus the effective
 * equipment impairment Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) for random loss (BurstR = 1). Echo terms
 * (Idte, Idle) and the advantage factor are left at their defaults (well-cancelled echo, A = 0).
 *
 * Codec values (Ie, Bpl) are from ITU-T G.113 Appendix I: G.711 with packet-loss concealment Ie 0, Bpl 25.1 (libwebrtc's
 * NetEq conceals loss for PCMU/PCMA), without concealment Bpl 4.3. G.113 has no entry for Opus; `opus` uses the
 * narrowband-equivalent values commonly quoted for it (Ie 0, Bpl 25.1 with its built-in PLC), an estimate.
 *
 * @module
 */

/** A codec's equipment impairment values. */
export interface CodecImpairment {
  /** Equipment impairment factor Ie (no loss). */
  ie: number;
  /** Packet-loss robustness factor Bpl. */
  bpl: number;
}

/** Ie/Bpl per codec (lower-case name as in the SDP, e.g. `pcmu`). */
export const CODEC_IMPAIRMENT: Readonly<Record<string, CodecImpairment>> = {
  pcmu: { ie: 0, bpl: 25.1 },
  pcma: { ie: 0, bpl: 25.1 },
  "pcmu-noplc": { ie: 0, bpl: 4.3 },
  "pcma-noplc": { ie: 0, bpl: 4.3 },
  g722: { ie: 0, bpl: 25.1 },
  opus: { ie: 0, bpl: 25.1 },
};

/** The impairment values for an SDP codec name like `PCMU/8000` or `opus/48000/2` (default: G.711 with PLC). */
export function codecImpairment(codec: string | undefined, options: { plc?: boolean } = {}): CodecImpairment {
  const name = (codec ?? "pcmu").split("/")[0].toLowerCase();
  const key = options.plc === false && CODEC_IMPAIRMENT[`${name}-noplc`] ? `${name}-noplc` : name;
  return CODEC_IMPAIRMENT[key] ?? CODEC_IMPAIRMENT.pcmu;
}

/** G.107 delay impairment Idd for a one-way delay `ta` (ms); 0 up to 100 ms. */
export function delayImpairment(ta: number): number {
  if (!(ta > 100)) return 0;
  const x = Math.log2(ta / 100);
  return 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2);
}

/** G.107 effective equipment impairment for a packet-loss percentage (random loss). */
export function lossImpairment(lossPct: number, codec: CodecImpairment): number {
  const ppl = Math.max(0, Math.min(100, lossPct));
  return codec.ie + (95 - codec.ie) * ppl / (ppl + codec.bpl);
}

/** G.107 MOS (conversational quality estimate) from R, clamped to 1..4.5. */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return Math.max(1, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6);
}

/** What the estimate needs. */
export interface EModelInput {
  /** One-way mouth-to-ear delay (ms). */
  delayMs: number;
  /** Packet loss (%). */
  lossPct: number;
  /** Codec impairment (see {@linkcode codecImpairment}). */
  codec: CodecImpairment;
}

/** The R factor and the MOS estimate. */
export function eModel(input: EModelInput): { r: number; mos: number } {
  const r = 93.2 - delayImpairment(input.delayMs) - lossImpairment(input.lossPct, input.codec);
  return { r, mos: mosFromR(r) };
}

/**
 * The one-way delay the E-model is given from what a call measures: half the RTCP round trip, plus a jitter buffer
 * of twice the interarrival jitter (at least 20 ms), plus 20 ms packetisation.
 */
export function mouthToEarMs(rttMs: number | undefined, jitterMs: number): number {
  return (rttMs ?? 0) / 2 + Math.max(20, 2 * jitterMs) + 20;
}
