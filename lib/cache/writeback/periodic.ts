/**
 * `periodic` write-back (like Linux's `dirty_expire_centisecs`/`dirty_writeback_centisecs`): a write marks the entry
 * dirty and is acknowledged; a flusher every `interval` queues the entries dirty for longer than `expire`; rewrites of
 * a dirty entry are absorbed. Options: `expire=DURATION` (30s), `interval=DURATION` (5s, at least 1 ms).
 *
 * @module
 */

import { parseDuration, PbxError } from "../../common/mod.ts";
import type { WritebackFactory, WritebackHost, WritebackPolicy } from "./policy.ts";

class PeriodicWriteback implements WritebackPolicy {
  readonly keepsDirty = true;
  readonly ackOnDisk = false;
  #expireUs: number;
  #intervalUs: number;
  #scheduled = false;

  constructor(expireUs: number, intervalUs: number) {
    this.#expireUs = expireUs;
    this.#intervalUs = intervalUs;
  }

  onWrite(host: WritebackHost, _thread: number, slot: number, version: number): boolean {
    host.markDirty(slot);
    host.ack(slot, version);
    // after the end-of-trace sync, late writes of requests still in flight are synced at once
    if (host.ended && host.isDirty(slot)) host.queueWrite(slot);
    else this.#arm(host);
    return true;
  }

  onRequest(host: WritebackHost): void {
    this.#arm(host);
  }

  tick(host: WritebackHost): void {
    this.#scheduled = false;
    host.flushDirtyOlderThan(this.#expireUs);
    if (!host.ended || host.dirtyCount > 0) this.#arm(host);
  }

  #arm(host: WritebackHost): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    host.tickAt(host.now + this.#intervalUs);
  }
}

/** The `periodic` write-back policy. */
export const periodicWriteback: WritebackFactory = {
  name: "periodic",
  aliases: [],
  describe: "mark dirty; a flusher every interval queues blocks dirty longer than expire (expire=30s,interval=5s)",
  parse(pairs) {
    let expireUs = 30e6, intervalUs = 5e6;
    for (const pair of pairs) {
      const [k, v] = pair.split("=");
      if ((k !== "expire" && k !== "interval") || v === undefined) {
        throw new PbxError("E_USAGE", `--writeback: bad '${pair}' (periodic takes expire=DURATION,interval=DURATION)`);
      }
      const us = parseDuration(v, `--writeback ${k}`) * 1000;
      if (k === "expire") expireUs = us;
      else intervalUs = Math.max(1000, us);
    }
    return {
      name: "periodic",
      label: `periodic(${+(expireUs / 1e6).toPrecision(3)}s)`,
      create: () => new PeriodicWriteback(expireUs, intervalUs),
    };
  },
};
