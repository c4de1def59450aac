/**
 * `seed` write-back (the user's): a write is acknowledged at once and its entry becomes WRITE_PENDING, queued for
 * the disk right away; the I/O scheduler decides when it reaches the disk.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import type { WritebackFactory, WritebackHost, WritebackPolicy } from "./policy.ts";

class SeedWriteback implements WritebackPolicy {
  readonly keepsDirty = false;
  readonly ackOnDisk = false;
  onWrite(host: WritebackHost, _thread: number, slot: number, version: number): boolean {
    host.queueWrite(slot);
    host.ack(slot, version);
    return true;
  }
  onRequest(): void {}
  tick(): void {}
}

/** The `seed` write-back policy. */
export const seedWriteback: WritebackFactory = {
  name: "seed",
  aliases: ["delayed"],
  describe: "acknowledge at once, queue the write for the disk at once (the user's design)",
  parse(pairs) {
    if (pairs.length > 0) throw new PbxError("E_USAGE", `--writeback: seed takes no options ('${pairs[0]}')`);
    return { name: "seed", label: "seed", create: () => new SeedWriteback() };
  },
};
