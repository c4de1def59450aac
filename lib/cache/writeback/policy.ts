/**
 * The write-back policy interface of the seed model. A policy decides what a write does to its cache entry
 * (queue it for the disk now, leave it dirty for later, or make the writer wait for the disk) and may run a periodic
 * flusher. It talks to the model only through {@linkcode WritebackHost}, so adding a policy touches one file here and
 * the registry in `mod.ts`.
 *
 * @module
 */

/** What the seed model offers a write-back policy. */
export interface WritebackHost {
  /** Simulated time (µs). */
  readonly now: number;
  /** True once the trace has ended (the final sync has been queued). */
  readonly ended: boolean;
  /** Number of entries currently dirty. */
  readonly dirtyCount: number;
  /** Mark the entry dirty; returns false when it already was (the write is absorbed). */
  markDirty(slot: number): boolean;
  /** True when the entry is dirty (written, not yet queued for the disk). */
  isDirty(slot: number): boolean;
  /** Queue the entry's disk write now (it becomes WRITE_PENDING; a dirty entry stops being dirty). */
  queueWrite(slot: number): void;
  /** Acknowledge version `version` of the entry to the writer (a crash from now on loses it unless it is on disk). */
  ack(slot: number, version: number): void;
  /** Block thread `thread` until the entry's pending disk write completes. */
  waitForWrite(thread: number, slot: number): void;
  /** Queue every entry dirty for `ageUs` µs or longer (oldest first). */
  flushDirtyOlderThan(ageUs: number): void;
  /** Queue the oldest dirty entry, if any (so a request waiting for a free entry can make progress). */
  flushOldestDirty(): void;
  /** Call the policy's {@linkcode WritebackPolicy.tick} at time `at` (µs). */
  tickAt(at: number): void;
}

/** One write-back policy instance (one per simulation: it may keep state). */
export interface WritebackPolicy {
  /** Writes may leave entries DIRTY in the cache (an invariant the model checks). */
  readonly keepsDirty: boolean;
  /** A write counts as acknowledged only when its disk write completes (write-through). */
  readonly ackOnDisk: boolean;
  /**
   * A write of version `version` by thread `thread` to entry `slot` (valid, not pending). Returns true when the
   * writer may go on, false when it was made to wait ({@linkcode WritebackHost.waitForWrite}).
   */
  onWrite(host: WritebackHost, thread: number, slot: number, version: number): boolean;
  /** A request started (a flusher may need to be (re)armed). */
  onRequest(host: WritebackHost): void;
  /** The time asked for with {@linkcode WritebackHost.tickAt} has come. */
  tick(host: WritebackHost): void;
}

/** A parsed `--writeback` item: its name, its label in tables, and a factory for fresh instances. */
export interface WritebackSpec {
  /** Policy name (`seed`, `periodic`, `writethrough`, ...). */
  readonly name: string;
  /** The `--writeback` item it was parsed from (parsing it again gives the same spec: workers do). */
  readonly text: string;
  /** Short label for tables and JSON, e.g. `periodic(30s)`. */
  readonly label: string;
  /** A new instance for one simulation. */
  create(): WritebackPolicy;
}

/** A registered write-back policy. */
export interface WritebackFactory {
  /** Name used on the command line. */
  readonly name: string;
  /** Other accepted names. */
  readonly aliases: readonly string[];
  /** One line for `--help`. */
  readonly describe: string;
  /** Parse `key=value` options (already split); throws E_USAGE on unknown keys or bad values. */
  parse(pairs: readonly string[]): Omit<WritebackSpec, "text">;
}
