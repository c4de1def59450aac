/**
 * Disk service-time models. HDD: seek time growing with the square root of the distance travelled (track-to-track
 * to full stroke), rotational latency (uniform over one revolution from a seeded PRNG; none for a sequential
 * follow-on), and transfer at the media rate; one request at a time. SSD: a fixed read or write latency plus
 * transfer, with a queue depth of concurrent requests.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { Prng } from "./traces/prng.ts";

/** Parameters of a disk model. */
export interface DiskParams {
  /** hdd or ssd. */
  kind: "hdd" | "ssd";
  /** HDD: spindle speed. */
  rpm: number;
  /** HDD: track-to-track seek (ms). */
  trackSeekMs: number;
  /** HDD: full-stroke seek (ms). */
  fullSeekMs: number;
  /** HDD: blocks across the full stroke (the device size in blocks). */
  spanBlocks: number;
  /** Media transfer rate (MB/s, 10^6 bytes). */
  transferMBps: number;
  /** SSD: read latency (µs). */
  readLatencyUs: number;
  /** SSD: write latency (µs). */
  writeLatencyUs: number;
  /** Requests in service at once (HDD 1). */
  queueDepth: number;
  /** Seed for the rotational-latency PRNG. */
  seed: number;
}

/** Default HDD: 7200 rpm, 0.8–16 ms seeks over 1 TiB of 4 KiB blocks, 160 MB/s. */
export const HDD_DEFAULTS: DiskParams = {
  kind: "hdd",
  rpm: 7200,
  trackSeekMs: 0.8,
  fullSeekMs: 16,
  spanBlocks: 2 ** 28,
  transferMBps: 160,
  readLatencyUs: 0,
  writeLatencyUs: 0,
  queueDepth: 1,
  seed: 1,
};

/** Default SSD: 80 µs reads, 25 µs writes, 500 MB/s, queue depth 32. */
export const SSD_DEFAULTS: DiskParams = {
  ...HDD_DEFAULTS,
  kind: "ssd",
  readLatencyUs: 80,
  writeLatencyUs: 25,
  transferMBps: 500,
  queueDepth: 32,
};

/** Parse `--disk hdd|ssd[,key=value...]` (keys: rpm, track-seek, full-seek, span, mbps, read-lat, write-lat, qd). */
export function parseDisk(text: string): DiskParams {
  const [kind, ...pairs] = text.split(",").map((s) => s.trim());
  if (kind !== "hdd" && kind !== "ssd") throw new PbxError("E_USAGE", `--disk: expected hdd or ssd, got '${kind}'`);
  const p: DiskParams = { ...(kind === "hdd" ? HDD_DEFAULTS : SSD_DEFAULTS) };
  const keys: Record<string, keyof DiskParams> = {
    rpm: "rpm",
    "track-seek": "trackSeekMs",
    "full-seek": "fullSeekMs",
    span: "spanBlocks",
    mbps: "transferMBps",
    "read-lat": "readLatencyUs",
    "write-lat": "writeLatencyUs",
    qd: "queueDepth",
    seed: "seed",
  };
  for (const pair of pairs) {
    const [k, v] = pair.split("=");
    const key = keys[k];
    const n = Number(v);
    if (!key || !Number.isFinite(n) || n < 0) {
      throw new PbxError("E_USAGE", `--disk: bad '${pair}' (keys: ${Object.keys(keys).join(", ")})`);
    }
    if (n === 0 && (key === "rpm" || key === "transferMBps" || key === "spanBlocks")) {
      throw new PbxError("E_USAGE", `--disk: '${pair}' must be more than 0`);
    }
    (p as unknown as Record<string, number>)[key] = n;
  }
  p.queueDepth = p.kind === "hdd" ? 1 : Math.max(1, p.queueDepth); // an HDD serves one I/O at a time
  return p;
}

/** A disk's service-time calculator. */
export class DiskModel {
  /** Parameters. */
  readonly params: DiskParams;
  #rng: Prng;
  #rotationUs: number;

  /** Make a model. */
  constructor(params: DiskParams) {
    this.params = params;
    this.#rng = new Prng(params.seed);
    this.#rotationUs = 60e6 / params.rpm;
  }

  /**
   * Service time (µs) of an I/O of `bytes` at block `pos` with the head (last position served) at `head`.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  serviceUs(pos: number, head: number, bytes: number, write: boolean): number {
    const p = this.params;
    const transfer = bytes / p.transferMBps; // bytes / (MB/s) = µs
    if (p.kind === "ssd") return (write ? p.writeLatencyUs : p.readLatencyUs) + transfer;
    const dist = Math.abs(pos - head);
    if (pos === head + 1) return transfer; // sequential follow-on: no seek, no rotation
    const seek = dist === 0
      ? 0
      : (p.trackSeekMs + (p.fullSeekMs - p.trackSeekMs) * Math.sqrt(Math.min(1, dist / p.spanBlocks))) * 1000;
    const rot = this.#rng.next() * this.#rotationUs;
    return seek + rot + transfer;
  }
}
