/**
 * `writethrough` write-back: the writer waits until its block is on disk; the write is acknowledged then.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import type { WritebackFactory, WritebackHost, WritebackPolicy } from "./policy.ts";

class WritethroughWriteback implements WritebackPolicy {
  readonly keepsDirty = false;
  readonly ackOnDisk = true;
  onWrite(host: WritebackHost, thread: number, slot: number): boolean {
    host.queueWrite(slot);
    host.waitForWrite(thread, slot);
    return false;
  }
  onRequest(): void {}
  tick(): void {}
}

/** The `writethrough` write-back policy. */
export const writethroughWriteback: WritebackFactory = {
  name: "writethrough",
  aliases: ["wt", "write-through"],
  describe: "the writer waits until its block is on disk",
  parse(pairs) {
    if (pairs.length > 0) throw new PbxError("E_USAGE", `--writeback: writethrough takes no options ('${pairs[0]}')`);
    return { name: "writethrough", label: "writethrough", create: () => new WritethroughWriteback() };
  },
};
