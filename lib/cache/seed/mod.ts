/**
 * The seed model (`--model seed`): the user's block cache with delayed write-back as a discrete-event simulation.
 *
 * A fixed array of entries {device, block, flags, lastAccess} with the flags VALID, READ_PENDING, WRITE_PENDING,
 * FILL_PENDING and IN_USE (plus DIRTY for the periodic write-back alternative). Threads replay the trace (at its
 * timestamps, or closed-loop with N threads); every request is split into the blocks it touches, handled in order:
 *
 * - read hit: the cached data (also while a write is pending); a read of a READ_PENDING block waits for that one
 *   disk read (a delayed hit);
 * - read miss: a READ_PENDING entry, a disk read, the thread blocks until the IRQ;
 * - write to an uncached block: FILL_PENDING, filled, then WRITE_PENDING (seed), DIRTY (periodic) or
 *   WRITE_PENDING with the writer waiting (writethrough); an update while a write is pending waits for it;
 * - a full array evicts the policy's victim among entries neither pending, dirty nor in use; with none the
 *   requester waits (and, with periodic write-back, the oldest dirty block is queued so it can't wait forever);
 * - `schedule_io()` runs at each disk completion and when an I/O is queued to an idle disk, picking with the
 *   scheduler (the seed: first READ_PENDING in array order, writes only when no read is pending).
 *
 * With `checkInvariants` every flag change, eviction and completion is checked: no impossible flag combination,
 * no eviction of a pending/dirty/in-use entry, no acknowledged write lost (after the final sync the disk holds the
 * last acknowledged version of every block) and no read returning stale data.
 *
 * Memory is proportional to the cache plus the requests in flight, not the trace (the invariant checker adds one
 * entry per distinct block written).
 *
 * Layout: `sim.ts` (the simulation: event loop, arrivals, disk completions, results), `threads.ts` (the thread
 * table), `entries.ts` (the cache array and pinning), `blocks.ts` (block operations: read, write, allocate, evict,
 * waits), `dirty.ts` (dirty tracking), `disks.ts` (disks and `schedule_io()`), `invariants.ts` (the invariant
 * checker), `flags.ts` and `types.ts` (configuration, options, result).
 *
 * @module
 */

export { DIRTY, FILL_PENDING, flagNames, IN_USE, READ_PENDING, VALID, WRITE_PENDING } from "./flags.ts";
export type { FeedOptions, LatencySummary, SeedConfig, SeedOptions, SeedResult } from "./types.ts";
export { SeedSim } from "./sim.ts";
