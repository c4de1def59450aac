/**
 * Offline replay: a pcap/pcapng file through the pure TypeScript reader into the engine, verdicts as they happen.
 *
 * @module
 */

import { BanEngine, type BanVerdict } from "./engine.ts";
import type { BanConfig } from "./config.ts";
import { type CaptureFormat, readCaptureFile } from "./pcap_file.ts";

/** What a replay found. */
export interface ReplayResult {
  /** Packets read. */
  packets: number;
  /** File format. */
  format: CaptureFormat;
  /** Wall-clock seconds spent. */
  seconds: number;
  /** Bans decided, in order. */
  bans: BanVerdict[];
  /** The engine (for its counters). */
  engine: BanEngine;
}

/** Make an engine from a config. */
export function engineFor(cfg: BanConfig): BanEngine {
  return new BanEngine({
    maxFailures: cfg.maxFailures,
    findTimeMs: cfg.findTimeMs,
    banTimeMs: cfg.banTimeMs,
    methods: cfg.methods,
    exempt: cfg.exempt,
    pbxAddrs: cfg.pbxAddrs,
    pbxPorts: cfg.ports,
  });
}

/** Replay `path`; `onBan` is called per verdict as it is decided. */
export async function replayCapture(
  path: string,
  cfg: BanConfig,
  options: { onBan?: (v: BanVerdict) => void; onProgress?: (done: number, total: number) => void } = {},
): Promise<ReplayResult> {
  const engine = engineFor(cfg);
  const bans: BanVerdict[] = [];
  let pending = 0;
  const t0 = performance.now();
  const r = await readCaptureFile(path, (lt, frame, caplen, ts) => {
    engine.packet(lt, frame, caplen, ts);
    if (engine.stats.bans !== pending) {
      pending = engine.stats.bans;
      for (const v of engine.takeVerdicts()) {
        bans.push(v);
        options.onBan?.(v);
      }
    }
  }, { onProgress: options.onProgress, what: "--pcap" });
  return { packets: r.packets, format: r.format, seconds: (performance.now() - t0) / 1000, bans, engine };
}

/** All counters of an engine, flat, for `--json` summaries and `status`. */
export function engineCounters(engine: BanEngine): Record<string, Record<string, number>> {
  return {
    decode: { ...engine.decodeStats },
    sip: { ...engine.stats },
    fragments: { ...engine.fragStats },
    tcp: { ...engine.tcpStats },
  };
}
