/**
 * Per-call media numbers from the WebRTC stack's standard `getStats()` (wrtc and werift both give it): RTP packets
 * sent and received, packets lost and interarrival jitter as the receiver computes them from sequence numbers and
 * timestamps (RFC 3550), and the round trip from RTCP receiver reports (`remote-inbound-rtp`) when the far end sends
 * them.
 *
 * @module
 */

import { codecImpairment, eModel, mouthToEarMs } from "./emodel.ts";
import { round } from "./stats.ts";
import type { CallResult } from "./types.ts";

/** One snapshot of a call's media counters. */
export interface MediaSnapshot {
  /** RTP packets we sent. */
  packetsSent: number;
  /** RTP packets we received. */
  packetsReceived: number;
  /** Packets the receiver counted as lost (sequence gaps). */
  packetsLost: number;
  /** Interarrival jitter (ms). */
  jitterMs: number;
  /** Round trip from RTCP (ms), when known. */
  rttMs?: number;
}

// deno-lint-ignore no-explicit-any
type Any = any;

function entries(report: Any): Any[] {
  if (!report) return [];
  if (typeof report.values === "function") return [...report.values()];
  if (Array.isArray(report)) return report;
  return Object.values(report);
}

/** Read a snapshot from an `RTCStatsReport` (audio streams only; sums when there are several). */
export function snapshotOf(report: unknown): MediaSnapshot | undefined {
  let found = false;
  const s: MediaSnapshot = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, jitterMs: 0 };
  for (const e of entries(report)) {
    const kind = e.kind ?? e.mediaType ?? "audio";
    if (kind !== "audio") continue;
    if (e.type === "inbound-rtp") {
      found = true;
      s.packetsReceived += Number(e.packetsReceived ?? 0);
      s.packetsLost += Math.max(0, Number(e.packetsLost ?? 0));
      if (typeof e.jitter === "number") s.jitterMs = Math.max(s.jitterMs, e.jitter * 1000);
    } else if (e.type === "outbound-rtp") {
      found = true;
      s.packetsSent += Number(e.packetsSent ?? 0);
    } else if (e.type === "remote-inbound-rtp" && typeof e.roundTripTime === "number" && e.roundTripTime > 0) {
      s.rttMs = e.roundTripTime * 1000;
    }
  }
  return found ? s : undefined;
}

/** Take a snapshot of a peer connection (undefined when it has none or is closed). */
export async function readMediaStats(pc: unknown, timeoutMs = 1000): Promise<MediaSnapshot | undefined> {
  const p = pc as Any;
  if (!p || typeof p.getStats !== "function" || p.connectionState === "closed") return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const report = await Promise.race([
      Promise.resolve(p.getStats()),
      new Promise((r) => timer = setTimeout(() => r(undefined), timeoutMs)),
    ]);
    return snapshotOf(report);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Loss in % of the packets expected (received + lost); NaN with nothing expected. */
export function lossPct(s: MediaSnapshot): number {
  const expected = s.packetsReceived + s.packetsLost;
  return expected > 0 ? (100 * s.packetsLost) / expected : NaN;
}

/** The media columns of a call's result. */
export type MediaColumns = Pick<
  CallResult,
  "loss_pct" | "jitter_ms" | "rtt_ms" | "mos" | "packets_received" | "packets_sent"
>;

/**
 * A call's media columns from its last snapshot: loss (%), jitter (ms), round trip (ms), the E-model MOS for `codec`
 * and the packet counts; null for what the snapshot does not give (no MOS without a loss figure, nor when
 * `answered` is false).
 */
export function mediaColumns(
  snap: MediaSnapshot | undefined,
  codec: string | undefined,
  answered = true,
): MediaColumns {
  const loss = snap ? lossPct(snap) : NaN;
  const jitter = snap ? snap.jitterMs : NaN;
  const mos = answered && Number.isFinite(loss)
    ? eModel({ delayMs: mouthToEarMs(snap?.rttMs, jitter), lossPct: loss, codec: codecImpairment(codec) }).mos
    : NaN;
  return {
    loss_pct: round(loss, 2),
    jitter_ms: round(jitter, 2),
    rtt_ms: snap?.rttMs === undefined ? null : round(snap.rttMs, 1),
    mos: round(mos, 2),
    packets_received: snap?.packetsReceived ?? null,
    packets_sent: snap?.packetsSent ?? null,
  };
}
