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
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { DiskModel, type DiskParams } from "./disk.ts";
import { grown } from "./grow.ts";
import { Histogram } from "./histogram.ts";
import { KeyMap } from "./keymap.ts";
import { checkVolumes, type KeySpace, keySpace } from "./keys.ts";
import { VolumeCounter } from "./volumes.ts";
import { policyFactory, policyName } from "./policies/mod.ts";
import { NoVictimError, type Policy, type PolicyFactory } from "./policy.ts";
import { type ResultCounts, setRatios, zeroCounts } from "./result.ts";
import { IoTable, type Scheduler, schedulerName, SCHEDULERS } from "./schedulers/mod.ts";
import { EventQueue } from "./sim.ts";
import type { RequestBatch } from "./traces/batch.ts";
import type { WritebackHost, WritebackPolicy, WritebackSpec } from "./writeback/mod.ts";

/** Entry flags (the user's, plus DIRTY for periodic write-back). */
export const VALID = 1, READ_PENDING = 2, WRITE_PENDING = 4, FILL_PENDING = 8, IN_USE = 16, DIRTY = 32;
const PENDING = READ_PENDING | WRITE_PENDING | FILL_PENDING;

const EV_DISK_DONE = 1, EV_FLUSH = 2;
const RESUME_RETRY = 0, RESUME_CONTINUE = 1;

/** One seed-model configuration. */
export interface SeedConfig {
  /** Eviction policy. */
  policy: string;
  /** I/O scheduler. */
  scheduler: string;
  /** Write-back policy. */
  writeback: WritebackSpec;
  /** Cache entries (blocks). */
  cacheSize: number;
  /** Use this policy constructor instead of looking `policy` up (extensions, tests of the invariant checker). */
  policyFactory?: PolicyFactory;
}

/** Options shared by all seed-model runs. */
export interface SeedOptions {
  /** Block size in bytes (default 4096). */
  blockSize?: number;
  /** Disk model. */
  disk: DiskParams;
  /** Closed loop with this many threads; absent or 0 replays at the trace's timestamps. */
  threads?: number;
  /** Divide the trace's inter-arrival times by this (default 1). */
  speed?: number;
  /** Report the acknowledged-but-unwritten blocks at this simulated time (µs). */
  crashAtUs?: number;
  /** Check the model's invariants on every transition. */
  checkInvariants?: boolean;
  /** Deadline scheduler read expiry (µs). */
  readExpireUs?: number;
  /** Deadline scheduler write expiry (µs). */
  writeExpireUs?: number;
}

/** Results of one seed-model run. */
export interface SeedResult extends ResultCounts {
  /** Which model produced the row (always `"seed"`). */
  model: "seed";
  /** Block accesses that found the block cached (a request spans one or more blocks); includes `delayedHits`. */
  blockHits: number;
  /** Block accesses that found the block uncached (a read miss or a write that needed a fresh entry). */
  blockMisses: number;
  /** Block reads that found the block cached but READ_PENDING/FILL_PENDING and waited for it (counted in `blockHits`). */
  delayedHits: number;
  /** Disk read I/Os completed. */
  diskReads: number;
  /** Disk write I/Os completed (write-backs and write-throughs). */
  diskWrites: number;
  /** Writes to a block already dirty, merged into the pending write-back (periodic write-back only, else 0). */
  writesAbsorbed: number;
  /** Sum of head movements over all disk I/Os, in blocks. */
  seekTotal: number;
  /** `seekTotal` divided by the disk I/Os (reads + writes), in blocks; 0 with no I/O. */
  seekMean: number;
  /** Read requests' latency, arrival to completion (µs, rounded to 0.1). */
  readLatencyUs: LatencySummary;
  /** Write requests' latency, arrival to acknowledgement (µs, rounded to 0.1). */
  writeLatencyUs: LatencySummary;
  /** Peak number of acknowledged-but-unwritten blocks at any time. */
  maxDirtyBlocks: number;
  /** Longest time a block stayed acknowledged but unwritten (ms, rounded to 0.001). */
  oldestDirtyAgeMs: number;
  /** Time-weighted mean of acknowledged-but-unwritten blocks over the run (what a crash at a random time loses). */
  meanUnwrittenBlocks: number;
  /** Acknowledged writes not on disk at `--crash-at` (blocks), when asked. */
  lostAtCrash?: { atMs: number; blocks: number; bytes: number };
  /** Times a block access found every entry pending, dirty or in use and had to wait for one to free up. */
  waitsForFreeEntry: number;
  /** Simulated time of the last event (s). */
  simulatedSeconds: number;
  /** Invariant violations found (0 unless `checkInvariants`). */
  invariantViolations: number;
  /** The first 10 violations, each prefixed with its simulated time (`t=…µs: `). */
  invariantMessages: string[];
  /** Charts: latency CDFs and the dirty-blocks timeline (not printed in tables). */
  series: {
    readCdf: [number, number][];
    writeCdf: [number, number][];
    dirty: [number, number][];
  };
}

/** Latency summary in microseconds. */
export interface LatencySummary {
  /** Requests measured. */
  count: number;
  /** Mean latency (µs). */
  mean: number;
  /** Median latency (µs, from the histogram's buckets). */
  p50: number;
  /** 99th-percentile latency (µs, from the histogram's buckets). */
  p99: number;
  /** Largest latency (µs). */
  max: number;
}

function summary(h: Histogram): LatencySummary {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { count: h.count, mean: r(h.mean()), p50: r(h.percentile(50)), p99: r(h.percentile(99)), max: r(h.max) };
}

interface DiskState {
  model: DiskModel;
  sched: Scheduler;
  inflight: number;
  head: number;
}

/** Options for {@linkcode SeedSim.feed}. */
export interface FeedOptions {
  /** Next-use index of every request of the trace (-1 for none), for OPT. */
  nextUse?: Int32Array;
  /** Index in the trace of the batch's first request (default 0). */
  base?: number;
}

/** One seed-model simulation, fed batch by batch (so many configurations share one pass over the trace). */
export class SeedSim {
  readonly #cfg: SeedConfig;
  readonly #opts: SeedOptions;
  readonly #bs: number;
  readonly #cap: number;
  readonly #policy: Policy;
  readonly #ev = new EventQueue();
  readonly #io = new IoTable();
  readonly #disks = new Map<number, number>();
  readonly #diskList: DiskState[] = [];
  readonly #schedName: string;
  readonly #check: boolean;
  readonly #wb: WritebackPolicy;
  readonly #wbHost: WritebackHost;

  // entries
  readonly #map: KeyMap;
  readonly #key: Float64Array;
  readonly #dev: Int32Array;
  readonly #space: KeySpace;
  readonly #span: number;
  /** Per-volume requests, misses and disk I/O (read by the driver for multi-volume traces). */
  readonly volumeCounts: VolumeCounter = new VolumeCounter();
  readonly #block: Float64Array;
  readonly #flags: Uint8Array;
  readonly #users: Int32Array;
  readonly #lastAccess: Float64Array;
  readonly #version: Float64Array;
  readonly #acked: Uint8Array;
  readonly #dirtySince: Float64Array;
  readonly #dPrev: Int32Array;
  readonly #dNext: Int32Array;
  readonly #waitHead: Int32Array;
  readonly #freeSlots: Int32Array;
  #freeTop: number;
  #pinnedCount = 0;
  #dHead = -1;
  #dTail = -1;
  #dirtyCount = 0;

  // threads
  #tDev = new Int32Array(64);
  #tBlock = new Float64Array(64);
  #tEnd = new Float64Array(64);
  #tOp = new Uint8Array(64);
  #tArrival = new Float64Array(64);
  #tNextUse = new Float64Array(64);
  #tMissed = new Uint8Array(64);
  #tAnyMiss = new Uint8Array(64);
  #tAccessed = new Uint8Array(64);
  #tDelayed = new Uint8Array(64);
  #tResume = new Uint8Array(64);
  #tNext = new Int32Array(64);
  #tBytes = new Float64Array(64);
  #tFree: number[] = [];
  #tTop = 0;
  #active = 0;
  #runnable: number[] = [];
  #slotWaitHead = -1;
  #slotWaitTail = -1;
  #slotWaiters = 0;

  // invariant checker: key -> dense index, versions acknowledged / on disk
  #vIndex: KeyMap | undefined;
  #ackedVer = new Float64Array(0);
  #diskVer = new Float64Array(0);
  #verCounter = 0;

  // open/closed loop
  #lastArrival = NaN;
  #clock0 = 0;
  #idle: number;
  #ended = false;
  #crashRecorded = false;

  // stats
  #r: SeedResult;
  #readLat = new Histogram();
  #writeLat = new Histogram();
  #unwrittenIntegral = 0;
  #lastT = 0;
  #timeline: [number, number][] = [];
  #sampleUs = 10_000;
  #nextSample = 0;

  /** Make a simulation for one configuration. */
  constructor(config: SeedConfig, options: SeedOptions) {
    this.#cfg = config;
    this.#opts = options;
    this.#bs = options.blockSize ?? 4096;
    this.#space = keySpace(this.#bs);
    this.#span = this.#space.span;
    const c = config.cacheSize;
    if (!(c >= 1)) throw new PbxError("E_USAGE", `cache size must be at least one block`);
    this.#cap = c;
    this.#schedName = schedulerName(config.scheduler);
    this.#check = options.checkInvariants ?? false;
    this.#map = new KeyMap(c);
    this.#key = new Float64Array(c);
    this.#dev = new Int32Array(c);
    this.#block = new Float64Array(c);
    this.#flags = new Uint8Array(c);
    this.#users = new Int32Array(c);
    this.#lastAccess = new Float64Array(c);
    this.#version = new Float64Array(c);
    this.#acked = new Uint8Array(c);
    this.#dirtySince = new Float64Array(c);
    this.#dPrev = new Int32Array(c).fill(-1);
    this.#dNext = new Int32Array(c).fill(-1);
    this.#waitHead = new Int32Array(c).fill(-1);
    this.#freeSlots = Int32Array.from({ length: c }, (_, i) => c - 1 - i);
    this.#freeTop = c;
    if (this.#check) this.#vIndex = new KeyMap(1024);
    this.#idle = options.threads && options.threads > 0 ? options.threads : Infinity;
    this.#wb = config.writeback.create();
    this.#wbHost = this.#makeWritebackHost();
    this.#policy = (config.policyFactory ?? policyFactory(config.policy))({
      capacity: c,
      pinned: (k) => this.#isPinned(this.#map.get(k)),
      onEvict: (k) => this.#evicted(k),
    });
    this.#r = {
      policy: config.policyFactory ? config.policy : policyName(config.policy),
      scheduler: this.#schedName,
      writeback: config.writeback.label,
      model: "seed",
      cacheSize: c,
      ...zeroCounts(),
      blockHits: 0,
      blockMisses: 0,
      delayedHits: 0,
      diskReads: 0,
      diskWrites: 0,
      writesAbsorbed: 0,
      seekTotal: 0,
      seekMean: 0,
      readLatencyUs: summary(this.#readLat),
      writeLatencyUs: summary(this.#writeLat),
      maxDirtyBlocks: 0,
      oldestDirtyAgeMs: 0,
      meanUnwrittenBlocks: 0,
      waitsForFreeEntry: 0,
      simulatedSeconds: 0,
      invariantViolations: 0,
      invariantMessages: [],
      series: { readCdf: [], writeCdf: [], dirty: [] },
    };
  }

  // ---------------------------------------------------------------- feeding

  /**
   * Replay a batch of requests; `options.nextUse` gives each request's next-use index for OPT. A byte-addressed
   * request on a volume id past the key space ({@linkcode KeySpace.maxVolumes}, 4096 at 4 KiB blocks) fails with
   * `E_USAGE`, as the object model does, instead of merging keys.
   */
  feed(b: RequestBatch, unitIsObject: boolean, options: FeedOptions = {}): void {
    const { nextUse, base = 0 } = options;
    const bs = this.#bs;
    const speed = this.#opts.speed ?? 1;
    const maxVolumes = this.#space.maxVolumes;
    for (let i = 0; i < b.n; i++) {
      let dev: number, first: number, end: number;
      if (unitIsObject) {
        dev = 0;
        first = b.addr[i];
        end = first + 1;
      } else {
        dev = b.dev[i];
        // volume ids are dense, so id N means N + 1 volumes: fail like the object model before keys merge
        if (dev >= maxVolumes) checkVolumes(dev + 1, this.#space);
        first = Math.floor(b.addr[i] / bs);
        end = Math.max(first + 1, Math.ceil((b.addr[i] + b.size[i]) / bs));
      }
      if (this.#idle !== Infinity) {
        // closed loop: wait for a free thread
        while (this.#idle === 0) this.#step();
      } else {
        const t = b.time[i];
        let at: number;
        if (t === t) {
          if (this.#lastArrival !== this.#lastArrival) this.#clock0 = this.#ev.now - t / speed;
          at = Math.max(this.#ev.now, this.#clock0 + t / speed);
          this.#lastArrival = t;
        } else at = this.#ev.now;
        while (this.#ev.nextTime() <= at) this.#step();
        this.#advance(at);
      }
      const nx = nextUse ? nextUse[base + i] : -1;
      this.#start(dev, first, end, b.op[i], b.size[i] > 0 ? b.size[i] : (end - first) * bs, nx < 0 ? Infinity : nx);
      this.#drainRunnable();
    }
  }

  /** End of trace: sync every dirty block, run to completion and return the results. */
  finish(): SeedResult {
    this.#ended = true;
    // final sync: queue every dirty block
    for (let s = this.#dHead; s >= 0; s = this.#dNext[s]) {
      if (this.#flags[s] & DIRTY) this.#queueDirty(s);
    }
    while (this.#ev.size > 0 || this.#runnable.length > 0) this.#step();
    if (this.#active > 0) {
      this.#violation(`deadlock: ${this.#active} requests never completed`);
    }
    if (this.#check) this.#finalCheck();
    return this.#results();
  }

  // ---------------------------------------------------------------- event loop

  #step(): void {
    if (this.#runnable.length > 0) {
      this.#drainRunnable();
      return;
    }
    const ev = this.#ev;
    const t = ev.nextTime();
    if (t === Infinity) {
      if (this.#active > 0 && this.#idle === 0) {
        throw new PbxError("E_STATE", `seed model deadlock: ${this.#active} requests waiting with no I/O in flight`);
      }
      return;
    }
    this.#advance(t);
    ev.pop();
    if (ev.kind === EV_DISK_DONE) this.#diskDone(ev.a, ev.b);
    else if (ev.kind === EV_FLUSH) this.#wb.tick(this.#wbHost);
    this.#drainRunnable();
  }

  /** Move time forward to `t`, integrating the unwritten-blocks curve and sampling the timeline. */
  #advance(t: number): void {
    const now = this.#lastT;
    if (t < now) return;
    const crash = this.#opts.crashAtUs;
    if (crash !== undefined && !this.#crashRecorded && crash < t && crash >= now) {
      this.#crashRecorded = true;
      this.#r.lostAtCrash = { atMs: crash / 1000, blocks: this.#dirtyCount, bytes: this.#dirtyCount * this.#bs };
    }
    this.#unwrittenIntegral += this.#dirtyCount * (t - now);
    if (this.#dHead >= 0) {
      const age = (t - this.#dirtySince[this.#dHead]) / 1000;
      if (age > this.#r.oldestDirtyAgeMs) this.#r.oldestDirtyAgeMs = age;
    }
    while (t >= this.#nextSample) {
      this.#timeline.push([this.#nextSample / 1e6, this.#dirtyCount]);
      this.#nextSample += this.#sampleUs;
      if (this.#timeline.length >= 4000) {
        const merged: [number, number][] = [];
        for (let i = 0; i + 1 < this.#timeline.length; i += 2) {
          merged.push([this.#timeline[i][0], Math.max(this.#timeline[i][1], this.#timeline[i + 1][1])]);
        }
        this.#timeline = merged;
        this.#sampleUs *= 2;
        this.#nextSample = merged[merged.length - 1][0] * 1e6 + this.#sampleUs;
      }
    }
    this.#lastT = t;
    this.#ev.now = t;
  }

  #drainRunnable(): void {
    const q = this.#runnable;
    while (q.length > 0) this.#run(q.shift()!);
  }

  // ---------------------------------------------------------------- threads

  #newThread(): number {
    const t = this.#tFree.pop();
    if (t !== undefined) return t;
    if (this.#tTop === this.#tDev.length) this.#growThreads();
    return this.#tTop++;
  }

  #growThreads(): void {
    const n = this.#tDev.length * 2;
    this.#tDev = grown(this.#tDev, n);
    this.#tBlock = grown(this.#tBlock, n);
    this.#tEnd = grown(this.#tEnd, n);
    this.#tOp = grown(this.#tOp, n);
    this.#tArrival = grown(this.#tArrival, n);
    this.#tNextUse = grown(this.#tNextUse, n);
    this.#tMissed = grown(this.#tMissed, n);
    this.#tAnyMiss = grown(this.#tAnyMiss, n);
    this.#tAccessed = grown(this.#tAccessed, n);
    this.#tDelayed = grown(this.#tDelayed, n);
    this.#tResume = grown(this.#tResume, n);
    this.#tNext = grown(this.#tNext, n);
    this.#tBytes = grown(this.#tBytes, n);
  }

  #start(dev: number, first: number, end: number, op: number, bytes: number, nextUse: number): void {
    const t = this.#newThread();
    this.#tDev[t] = dev;
    this.#tBlock[t] = first;
    this.#tEnd[t] = end;
    this.#tOp[t] = op;
    this.#tArrival[t] = this.#ev.now;
    this.#tNextUse[t] = nextUse;
    this.#tMissed[t] = 0;
    this.#tAnyMiss[t] = 0;
    this.#tAccessed[t] = 0;
    this.#tDelayed[t] = 0;
    this.#tResume[t] = RESUME_RETRY;
    this.#tBytes[t] = bytes;
    this.#active++;
    if (this.#idle !== Infinity) this.#idle--;
    this.#wb.onRequest(this.#wbHost);
    this.#run(t);
  }

  /** Run thread `t` until it blocks or its request completes. */
  #run(t: number): void {
    for (;;) {
      if (this.#tBlock[t] >= this.#tEnd[t]) return this.#complete(t);
      let done: boolean;
      if (this.#tResume[t] === RESUME_CONTINUE) {
        this.#tResume[t] = RESUME_RETRY;
        done = true;
      } else {
        done = this.#tOp[t] ? this.#writeBlock(t) : this.#readBlock(t);
      }
      if (!done) return;
      // block finished
      if (this.#tMissed[t]) {
        this.#r.blockMisses++;
        this.#tAnyMiss[t] = 1;
      } else {
        this.#r.blockHits++;
        if (this.#tDelayed[t]) this.#r.delayedHits++;
      }
      this.#tMissed[t] = 0;
      this.#tAccessed[t] = 0;
      this.#tDelayed[t] = 0;
      this.#tBlock[t]++;
    }
  }

  #complete(t: number): void {
    const r = this.#r;
    const lat = this.#ev.now - this.#tArrival[t];
    const bytes = this.#tBytes[t];
    r.requests++;
    r.bytes += bytes;
    if (this.#tOp[t]) {
      r.writes++;
      this.#writeLat.add(lat);
    } else {
      r.reads++;
      this.#readLat.add(lat);
    }
    this.volumeCounts.request(this.#tDev[t], this.#tAnyMiss[t] !== 0);
    if (this.#tAnyMiss[t]) {
      r.misses++;
      r.missBytes += bytes;
    } else r.hits++;
    this.#active--;
    this.#tFree.push(t);
    if (this.#idle !== Infinity) this.#idle++;
  }

  #waitOn(t: number, slot: number, resume: number): void {
    this.#tResume[t] = resume;
    this.#tNext[t] = this.#waitHead[slot];
    this.#waitHead[slot] = t;
    this.#setUsers(slot, this.#users[slot] + 1);
  }

  #wake(slot: number): void {
    let t = this.#waitHead[slot];
    this.#waitHead[slot] = -1;
    let n = 0;
    while (t >= 0) {
      this.#runnable.push(t);
      t = this.#tNext[t];
      n++;
    }
    if (n > 0) this.#setUsers(slot, this.#users[slot] - n);
  }

  #waitForSlot(t: number): void {
    this.#r.waitsForFreeEntry++;
    this.#tResume[t] = RESUME_RETRY;
    this.#tNext[t] = -1;
    if (this.#slotWaitTail >= 0) this.#tNext[this.#slotWaitTail] = t;
    else this.#slotWaitHead = t;
    this.#slotWaitTail = t;
    this.#slotWaiters++;
    // Dirty blocks (periodic write-back) are not queued yet: queue the oldest so the wait ends.
    this.#wbHost.flushOldestDirty();
  }

  #wakeSlotWaiters(): void {
    let budget = this.#freeTop + (this.#map.size - this.#pinnedCount);
    while (this.#slotWaitHead >= 0 && budget-- > 0) {
      const t = this.#slotWaitHead;
      this.#slotWaitHead = this.#tNext[t];
      if (this.#slotWaitHead < 0) this.#slotWaitTail = -1;
      this.#slotWaiters--;
      this.#runnable.push(t);
    }
  }

  // ---------------------------------------------------------------- block operations

  #keyOf(t: number): number {
    return this.#tDev[t] * this.#span + this.#tBlock[t];
  }

  /** Returns true when the block is done, false when the thread blocked. */
  #readBlock(t: number): boolean {
    const key = this.#keyOf(t);
    const slot = this.#touch(t, key, this.#map.get(key));
    if (slot >= 0) {
      const f = this.#flags[slot];
      if (f & (READ_PENDING | FILL_PENDING)) {
        this.#tDelayed[t] = 1;
        this.#waitOn(t, slot, RESUME_RETRY);
        return false;
      }
      if (this.#check) this.#checkRead(slot);
      return true;
    }
    const s = this.#allocate(t, key);
    if (s < 0) return false;
    this.#tMissed[t] = 1;
    this.#setFlags(s, READ_PENDING);
    this.#queueIo(s, false);
    this.#waitOn(t, s, RESUME_CONTINUE);
    return false;
  }

  #writeBlock(t: number): boolean {
    const key = this.#keyOf(t);
    let slot = this.#touch(t, key, this.#map.get(key));
    if (slot >= 0) {
      if (this.#flags[slot] & PENDING) {
        this.#waitOn(t, slot, RESUME_RETRY);
        return false;
      }
    } else {
      slot = this.#allocate(t, key);
      if (slot < 0) return false;
      this.#tMissed[t] = 1;
      // FILL_PENDING while the thread copies the new data in (instantaneous here), then valid.
      this.#setFlags(slot, FILL_PENDING);
      this.#version[slot] = this.#diskVersion(key);
      this.#setFlags(slot, VALID);
    }
    return this.#applyWrite(t, slot);
  }

  /**
   * A lookup that found `slot`: count one policy access per block per thread and update lastAccess. Returns the
   * slot, or -1 when the policy's bookkeeping evicted this very entry (libCacheSim's LIRS can demote a hit HIR
   * block out and back in): the caller then takes the miss path.
   */
  #touch(t: number, key: number, slot: number): number {
    if (slot < 0) return -1;
    if (!this.#tAccessed[t]) {
      this.#tAccessed[t] = 1;
      try {
        this.#policy.access(key, this.#tNextUse[t]);
      } catch (err) {
        // the policy's hit bookkeeping needed a victim and all candidates are pinned: serve the hit without it
        if (!(err instanceof NoVictimError)) throw err;
      }
      slot = this.#map.get(key);
      if (slot < 0) {
        this.#tAccessed[t] = 0;
        return -1;
      }
    }
    this.#lastAccess[slot] = this.#ev.now;
    return slot;
  }

  #applyWrite(t: number, slot: number): boolean {
    const v = ++this.#verCounter;
    this.#version[slot] = v;
    return this.#wb.onWrite(this.#wbHost, t, slot, v);
  }

  /** Get a free entry for `key`: the policy admits it, evicting an unpinned victim if needed; -1 = wait. */
  #allocate(t: number, key: number): number {
    if (this.#freeTop === 0 && this.#pinnedCount >= this.#map.size) {
      this.#waitForSlot(t);
      return -1;
    }
    this.#tAccessed[t] = 1;
    try {
      this.#policy.access(key, this.#tNextUse[t]);
    } catch (err) {
      if (err instanceof NoVictimError) {
        this.#waitForSlot(t);
        return -1;
      }
      throw err;
    }
    if (!this.#policy.contains(key)) {
      throw new PbxError(
        "E_USAGE",
        `policy ${this.#r.policy} does not admit blocks at cache size ${this.#cap} (use at least 20 blocks)`,
      );
    }
    if (this.#freeTop === 0) throw new PbxError("E_INTERNAL", `policy ${this.#r.policy} admitted without evicting`);
    const s = this.#freeSlots[--this.#freeTop];
    this.#map.set(key, s);
    this.#key[s] = key;
    this.#dev[s] = this.#tDev[t];
    this.#block[s] = this.#tBlock[t];
    this.#flags[s] = 0;
    this.#users[s] = 0;
    this.#acked[s] = 0;
    this.#lastAccess[s] = this.#ev.now;
    return s;
  }

  /** The policy evicted `key`: free its entry (it must not be pending, dirty or in use). */
  #evicted(key: number): void {
    const s = this.#map.get(key);
    if (s < 0) {
      this.#violation(`policy evicted block ${key} that is not in the cache`);
      return;
    }
    if (this.#isPinned(s)) {
      // Fatal: the entry's pending I/O and waiting threads would now point at a reused slot.
      const msg = `evicted block ${key} while pending/dirty/in use (flags ${flagNames(this.#flags[s])})`;
      this.#violation(msg);
      throw new PbxError("E_STATE", `invariant violated: policy ${this.#r.policy} ${msg}`);
    }
    if (this.#check && this.#acked[s]) this.#violation(`evicted block ${key} holding an unwritten acknowledged write`);
    this.#map.delete(key);
    this.#flags[s] = 0;
    this.#freeSlots[this.#freeTop++] = s;
  }

  // ---------------------------------------------------------------- flags and pinning

  #isPinned(s: number): boolean {
    return s >= 0 && ((this.#flags[s] & (PENDING | DIRTY)) !== 0 || this.#users[s] > 0);
  }

  #setFlags(s: number, f: number): void {
    const was = this.#isPinned(s);
    if (this.#users[s] > 0) f |= IN_USE;
    else f &= ~IN_USE;
    this.#flags[s] = f;
    if (this.#check) this.#checkFlags(s);
    const now = this.#isPinned(s);
    if (was !== now) this.#pinChanged(now);
  }

  #setUsers(s: number, n: number): void {
    const was = this.#isPinned(s);
    this.#users[s] = n;
    this.#flags[s] = n > 0 ? this.#flags[s] | IN_USE : this.#flags[s] & ~IN_USE;
    const now = this.#isPinned(s);
    if (was !== now) this.#pinChanged(now);
  }

  #pinChanged(pinned: boolean): void {
    if (pinned) this.#pinnedCount++;
    else {
      this.#pinnedCount--;
      if (this.#slotWaiters > 0) this.#wakeSlotWaiters();
    }
  }

  // ---------------------------------------------------------------- dirty tracking

  /** A write to slot `s` (version `v`) was acknowledged to its writer. */
  #ack(s: number, v: number): void {
    if (this.#check) this.#setAcked(this.#key[s], v);
    if (this.#acked[s]) return;
    this.#acked[s] = 1;
    this.#dirtySince[s] = this.#ev.now;
    this.#dPrev[s] = this.#dTail;
    this.#dNext[s] = -1;
    if (this.#dTail >= 0) this.#dNext[this.#dTail] = s;
    else this.#dHead = s;
    this.#dTail = s;
    this.#dirtyCount++;
    if (this.#dirtyCount > this.#r.maxDirtyBlocks) this.#r.maxDirtyBlocks = this.#dirtyCount;
  }

  #clean(s: number): void {
    if (!this.#acked[s]) return;
    this.#acked[s] = 0;
    const p = this.#dPrev[s], n = this.#dNext[s];
    if (p >= 0) this.#dNext[p] = n;
    else this.#dHead = n;
    if (n >= 0) this.#dPrev[n] = p;
    else this.#dTail = p;
    this.#dirtyCount--;
  }

  #queueDirty(s: number): void {
    const f = this.#flags[s];
    this.#setFlags(s, (f & ~DIRTY) | WRITE_PENDING);
    this.#queueIo(s, true);
  }

  /** Queue the disk write of slot `s` (dirty or freshly written). */
  #queueWrite(s: number): void {
    const f = this.#flags[s];
    if (f & DIRTY) this.#queueDirty(s);
    else {
      this.#setFlags(s, f | WRITE_PENDING);
      this.#queueIo(s, true);
    }
  }

  /** The model as seen by its write-back policy. */
  #makeWritebackHost(): WritebackHost {
    // deno-lint-ignore no-this-alias
    const sim = this;
    return {
      get now() {
        return sim.#ev.now;
      },
      get ended() {
        return sim.#ended;
      },
      get dirtyCount() {
        return sim.#dirtyCount;
      },
      markDirty: (s) => {
        const f = this.#flags[s];
        if (f & DIRTY) {
          this.#r.writesAbsorbed++;
          return false;
        }
        this.#setFlags(s, f | DIRTY);
        return true;
      },
      isDirty: (s) => (this.#flags[s] & DIRTY) !== 0,
      queueWrite: (s) => this.#queueWrite(s),
      ack: (s, v) => this.#ack(s, v),
      waitForWrite: (t, s) => this.#waitOn(t, s, RESUME_CONTINUE),
      flushDirtyOlderThan: (ageUs) => {
        const now = this.#ev.now;
        for (let s = this.#dHead; s >= 0;) {
          const next = this.#dNext[s];
          if (now - this.#dirtySince[s] < ageUs) break;
          if (this.#flags[s] & DIRTY) this.#queueDirty(s);
          s = next;
        }
      },
      flushOldestDirty: () => {
        for (let s = this.#dHead; s >= 0; s = this.#dNext[s]) {
          if (this.#flags[s] & DIRTY) {
            this.#queueDirty(s);
            break;
          }
        }
      },
      tickAt: (at) => this.#ev.at(at, EV_FLUSH),
    };
  }

  // ---------------------------------------------------------------- disks

  #disk(dev: number): number {
    let d = this.#disks.get(dev);
    if (d === undefined) {
      d = this.#diskList.length;
      this.#disks.set(dev, d);
      const params = { ...this.#opts.disk, seed: this.#opts.disk.seed + dev * 7919 };
      this.#diskList.push({
        model: new DiskModel(params),
        sched: SCHEDULERS[this.#schedName]({
          io: this.#io,
          readExpireUs: this.#opts.readExpireUs,
          writeExpireUs: this.#opts.writeExpireUs,
        }),
        inflight: 0,
        head: 0,
      });
    }
    return d;
  }

  #queueIo(s: number, write: boolean): void {
    const io = this.#io.alloc();
    this.#io.slot[io] = s;
    this.#io.pos[io] = this.#block[s];
    this.#io.write[io] = write ? 1 : 0;
    this.#io.queuedAt[io] = this.#ev.now;
    this.#io.version[io] = this.#version[s];
    const d = this.#disk(this.#dev[s]);
    const disk = this.#diskList[d];
    disk.sched.push(io, disk.head);
    if (disk.inflight < disk.model.params.queueDepth) this.#scheduleIo(d);
  }

  /** The user's schedule_io(): fill the disk's queue depth from the scheduler. */
  #scheduleIo(d: number): void {
    const disk = this.#diskList[d];
    const io = this.#io;
    while (disk.inflight < disk.model.params.queueDepth) {
      const id = disk.sched.pop(this.#ev.now, disk.head);
      if (id < 0) return;
      const pos = io.pos[id];
      const svc = disk.model.serviceUs(pos, disk.head, this.#bs, io.write[id] === 1);
      this.#r.seekTotal += Math.abs(pos - disk.head);
      disk.head = pos;
      disk.inflight++;
      this.#ev.at(this.#ev.now + svc, EV_DISK_DONE, d, id);
    }
  }

  /** The disk IRQ: complete the I/O, wake waiters, then schedule_io(). */
  #diskDone(d: number, id: number): void {
    const disk = this.#diskList[d];
    disk.inflight--;
    const io = this.#io;
    const s = io.slot[id];
    const key = this.#key[s];
    if (io.write[id]) {
      this.#r.diskWrites++;
      this.volumeCounts.disk(this.#dev[s], true);
      if (this.#check) {
        this.#setDiskVersion(key, io.version[id]);
        if (this.#wb.ackOnDisk) this.#setAcked(key, io.version[id]);
      }
      if (io.version[id] === this.#version[s]) this.#clean(s);
      else this.#violation(`block ${key}: written version ${io.version[id]} but cache holds ${this.#version[s]}`);
      this.#setFlags(s, this.#flags[s] & ~WRITE_PENDING);
    } else {
      this.#r.diskReads++;
      this.volumeCounts.disk(this.#dev[s], false);
      this.#version[s] = this.#diskVersion(key);
      if (this.#check) this.#checkRead(s);
      this.#setFlags(s, (this.#flags[s] & ~READ_PENDING) | VALID);
    }
    io.free(id);
    this.#wake(s);
    this.#scheduleIo(d);
  }

  // ---------------------------------------------------------------- invariants

  #violation(msg: string): void {
    this.#r.invariantViolations++;
    if (this.#r.invariantMessages.length < 10) this.#r.invariantMessages.push(`t=${this.#ev.now.toFixed(0)}µs: ${msg}`);
  }

  #checkFlags(s: number): void {
    const f = this.#flags[s];
    const bad = (f & READ_PENDING && f & (WRITE_PENDING | FILL_PENDING | VALID | DIRTY)) ||
      (f & FILL_PENDING && f & (WRITE_PENDING | VALID | DIRTY)) ||
      (f & WRITE_PENDING && !(f & VALID)) ||
      (f & DIRTY && !(f & VALID)) ||
      (f & DIRTY && f & WRITE_PENDING) ||
      (f & DIRTY && !this.#wb.keepsDirty);
    if (bad) this.#violation(`block ${this.#key[s]}: impossible flags ${flagNames(f)}`);
  }

  #vIdx(key: number): number {
    const m = this.#vIndex!;
    let i = m.get(key);
    if (i < 0) {
      i = m.size;
      m.set(key, i);
      if (i >= this.#ackedVer.length) {
        const n = Math.max(1024, this.#ackedVer.length * 2);
        this.#ackedVer = grown(this.#ackedVer, n);
        this.#diskVer = grown(this.#diskVer, n);
      }
    }
    return i;
  }

  #setAcked(key: number, v: number): void {
    this.#ackedVer[this.#vIdx(key)] = v;
  }

  #setDiskVersion(key: number, v: number): void {
    this.#diskVer[this.#vIdx(key)] = v;
  }

  #diskVersion(key: number): number {
    if (!this.#check) return 0;
    return this.#diskVer[this.#vIdx(key)];
  }

  /** A read must see the last acknowledged write (or newer data still being written through). */
  #checkRead(s: number): void {
    const i = this.#vIdx(this.#key[s]);
    if (this.#version[s] < this.#ackedVer[i]) {
      this.#violation(
        `block ${this.#key[s]}: read returned version ${this.#version[s]}, last acknowledged ${this.#ackedVer[i]}`,
      );
    }
  }

  #finalCheck(): void {
    const n = this.#vIndex!.size;
    let lost = 0;
    for (let i = 0; i < n; i++) if (this.#ackedVer[i] !== this.#diskVer[i]) lost++;
    if (lost > 0) this.#violation(`${lost} acknowledged writes are not on disk after the final sync`);
    if (this.#dirtyCount !== 0) this.#violation(`${this.#dirtyCount} blocks still dirty after the final sync`);
    for (let s = 0; s < this.#cap; s++) {
      if (this.#map.get(this.#key[s]) === s && this.#flags[s] & PENDING) {
        this.#violation(`block ${this.#key[s]} still pending at the end (flags ${flagNames(this.#flags[s])})`);
      }
    }
  }

  // ---------------------------------------------------------------- results

  #results(): SeedResult {
    const r = this.#r;
    setRatios(r);
    const ops = r.diskReads + r.diskWrites;
    r.seekMean = ops ? r.seekTotal / ops : 0;
    r.readLatencyUs = summary(this.#readLat);
    r.writeLatencyUs = summary(this.#writeLat);
    r.simulatedSeconds = this.#lastT / 1e6;
    r.meanUnwrittenBlocks = this.#lastT > 0 ? this.#unwrittenIntegral / this.#lastT : 0;
    r.oldestDirtyAgeMs = Math.round(r.oldestDirtyAgeMs * 1000) / 1000;
    if (this.#opts.crashAtUs !== undefined && !r.lostAtCrash) {
      r.lostAtCrash = { atMs: this.#opts.crashAtUs / 1000, blocks: 0, bytes: 0 };
    }
    this.#timeline.push([this.#lastT / 1e6, this.#dirtyCount]);
    r.series = { readCdf: this.#readLat.cdf(), writeCdf: this.#writeLat.cdf(), dirty: this.#timeline };
    return r;
  }
}

/** Flag bits as `VALID|WRITE_PENDING`. */
export function flagNames(f: number): string {
  const names: string[] = [];
  if (f & VALID) names.push("VALID");
  if (f & READ_PENDING) names.push("READ_PENDING");
  if (f & WRITE_PENDING) names.push("WRITE_PENDING");
  if (f & FILL_PENDING) names.push("FILL_PENDING");
  if (f & IN_USE) names.push("IN_USE");
  if (f & DIRTY) names.push("DIRTY");
  return names.join("|") || "0";
}
