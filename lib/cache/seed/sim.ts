/**
 * The seed model's simulation ({@linkcode SeedSim}): the event loop, request arrival (at the trace's timestamps or
 * closed-loop with N threads), each thread's walk over the blocks of its request, the disk completions, the
 * write-back policy's view of the model, and the result row. The parts it drives live beside it: the thread table
 * (`threads.ts`), the cache array (`entries.ts`), the block operations (`blocks.ts`), dirty tracking
 * (`dirty.ts`), the disks (`disks.ts`) and the invariant checker (`invariants.ts`).
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { Histogram } from "../histogram.ts";
import { checkVolumes, type KeySpace, keySpace } from "../keys.ts";
import { policyFactory, policyName } from "../policies/mod.ts";
import { setRatios, zeroCounts } from "../result.ts";
import { schedulerName } from "../schedulers/mod.ts";
import { EventQueue } from "../sim.ts";
import type { RequestBatch } from "../traces/batch.ts";
import { VolumeCounter } from "../volumes.ts";
import type { WritebackHost, WritebackPolicy } from "../writeback/mod.ts";
import { BlockOps } from "./blocks.ts";
import { DirtyList } from "./dirty.ts";
import { Disks, EV_DISK_DONE } from "./disks.ts";
import { EntryTable } from "./entries.ts";
import { DIRTY, READ_PENDING, VALID, WRITE_PENDING } from "./flags.ts";
import { InvariantChecker } from "./invariants.ts";
import { RESUME_CONTINUE, RESUME_RETRY, ThreadTable } from "./threads.ts";
import { type FeedOptions, type SeedConfig, type SeedOptions, type SeedResult, summary } from "./types.ts";

const EV_FLUSH = 2;

/** One seed-model simulation, fed batch by batch (so many configurations share one pass over the trace). */
export class SeedSim {
  readonly #opts: SeedOptions;
  readonly #bs: number;
  readonly #ev = new EventQueue();
  readonly #check: boolean;
  readonly #wb: WritebackPolicy;
  readonly #wbHost: WritebackHost;
  readonly #space: KeySpace;
  readonly #entries: EntryTable;
  readonly #threads = new ThreadTable();
  readonly #dirty: DirtyList;
  readonly #checker: InvariantChecker;
  readonly #disks: Disks;
  readonly #blocks: BlockOps;
  /** Per-volume requests, misses and disk I/O (read by the driver for multi-volume traces). */
  readonly volumeCounts: VolumeCounter = new VolumeCounter();

  // threads
  #active = 0;
  readonly #runnable: number[] = [];

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
    this.#opts = options;
    this.#bs = options.blockSize ?? 4096;
    this.#space = keySpace(this.#bs);
    const c = config.cacheSize;
    if (!(c >= 1)) throw new PbxError("E_USAGE", `cache size must be at least one block`);
    const schedName = schedulerName(config.scheduler);
    this.#check = options.checkInvariants ?? false;
    this.#entries = new EntryTable(c);
    this.#dirty = new DirtyList(c);
    this.#checker = new InvariantChecker(this.#ev, this.#check);
    this.#disks = new Disks(this.#ev, {
      disk: options.disk,
      scheduler: schedName,
      blockSize: this.#bs,
      readExpireUs: options.readExpireUs,
      writeExpireUs: options.writeExpireUs,
    });
    this.#idle = options.threads && options.threads > 0 ? options.threads : Infinity;
    this.#wb = config.writeback.create();
    if (this.#check) {
      const entries = this.#entries, checker = this.#checker, keepsDirty = this.#wb.keepsDirty;
      entries.onFlags = (s) => checker.checkFlags(entries, s, keepsDirty);
    }
    this.#wbHost = this.#makeWritebackHost();
    const name = config.policyFactory ? config.policy : policyName(config.policy);
    this.#blocks = new BlockOps({
      entries: this.#entries,
      threads: this.#threads,
      dirty: this.#dirty,
      checker: this.#checker,
      ev: this.#ev,
      wb: this.#wb,
      wbHost: this.#wbHost,
      runnable: this.#runnable,
      queueIo: (s, write) => this.#queueIo(s, write),
      span: this.#space.span,
      policyName: name,
    }, config.policyFactory ?? policyFactory(config.policy));
    this.#r = {
      policy: name,
      scheduler: schedName,
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
    const dirty = this.#dirty, flags = this.#entries.flags;
    for (let s = dirty.head; s >= 0; s = dirty.next[s]) {
      if (flags[s] & DIRTY) this.#queueDirty(s);
    }
    while (this.#ev.size > 0 || this.#runnable.length > 0) this.#step();
    if (this.#active > 0) {
      this.#checker.violation(`deadlock: ${this.#active} requests never completed`);
    }
    if (this.#check) this.#checker.finalCheck(this.#entries, dirty.count);
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
    const dirty = this.#dirty;
    const crash = this.#opts.crashAtUs;
    if (crash !== undefined && !this.#crashRecorded && crash < t && crash >= now) {
      this.#crashRecorded = true;
      this.#r.lostAtCrash = { atMs: crash / 1000, blocks: dirty.count, bytes: dirty.count * this.#bs };
    }
    this.#unwrittenIntegral += dirty.count * (t - now);
    if (dirty.head >= 0) {
      const age = (t - dirty.since[dirty.head]) / 1000;
      if (age > this.#r.oldestDirtyAgeMs) this.#r.oldestDirtyAgeMs = age;
    }
    while (t >= this.#nextSample) {
      this.#timeline.push([this.#nextSample / 1e6, dirty.count]);
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

  // ---------------------------------------------------------------- requests

  #start(dev: number, first: number, end: number, op: number, bytes: number, nextUse: number): void {
    const th = this.#threads;
    const t = th.alloc();
    th.dev[t] = dev;
    th.block[t] = first;
    th.end[t] = end;
    th.op[t] = op;
    th.arrival[t] = this.#ev.now;
    th.nextUse[t] = nextUse;
    th.missed[t] = 0;
    th.anyMiss[t] = 0;
    th.accessed[t] = 0;
    th.delayed[t] = 0;
    th.resume[t] = RESUME_RETRY;
    th.bytes[t] = bytes;
    this.#active++;
    if (this.#idle !== Infinity) this.#idle--;
    this.#wb.onRequest(this.#wbHost);
    this.#run(t);
  }

  /** Run thread `t` until it blocks or its request completes. */
  #run(t: number): void {
    const th = this.#threads, blocks = this.#blocks, r = this.#r;
    for (;;) {
      if (th.block[t] >= th.end[t]) return this.#complete(t);
      let done: boolean;
      if (th.resume[t] === RESUME_CONTINUE) {
        th.resume[t] = RESUME_RETRY;
        done = true;
      } else {
        done = th.op[t] ? blocks.write(t) : blocks.read(t);
      }
      if (!done) return;
      // block finished
      if (th.missed[t]) {
        r.blockMisses++;
        th.anyMiss[t] = 1;
      } else {
        r.blockHits++;
        if (th.delayed[t]) r.delayedHits++;
      }
      th.missed[t] = 0;
      th.accessed[t] = 0;
      th.delayed[t] = 0;
      th.block[t]++;
    }
  }

  #complete(t: number): void {
    const r = this.#r, th = this.#threads;
    const lat = this.#ev.now - th.arrival[t];
    const bytes = th.bytes[t];
    r.requests++;
    r.bytes += bytes;
    if (th.op[t]) {
      r.writes++;
      this.#writeLat.add(lat);
    } else {
      r.reads++;
      this.#readLat.add(lat);
    }
    this.volumeCounts.request(th.dev[t], th.anyMiss[t] !== 0);
    if (th.anyMiss[t]) {
      r.misses++;
      r.missBytes += bytes;
    } else r.hits++;
    this.#active--;
    th.release(t);
    if (this.#idle !== Infinity) this.#idle++;
  }

  // ---------------------------------------------------------------- write-back

  /** A write to entry `s` (version `v`) was acknowledged to its writer. */
  #ack(s: number, v: number): void {
    if (this.#check) this.#checker.setAcked(this.#entries.key[s], v);
    this.#dirty.add(s, this.#ev.now);
  }

  #queueDirty(s: number): void {
    const e = this.#entries;
    e.setFlags(s, (e.flags[s] & ~DIRTY) | WRITE_PENDING);
    this.#queueIo(s, true);
  }

  /** Queue the disk write of entry `s` (dirty or freshly written). */
  #queueWrite(s: number): void {
    const e = this.#entries;
    const f = e.flags[s];
    if (f & DIRTY) this.#queueDirty(s);
    else {
      e.setFlags(s, f | WRITE_PENDING);
      this.#queueIo(s, true);
    }
  }

  /** The model as seen by its write-back policy. */
  #makeWritebackHost(): WritebackHost {
    // deno-lint-ignore no-this-alias
    const sim = this;
    const e = this.#entries, dirty = this.#dirty;
    return {
      get now() {
        return sim.#ev.now;
      },
      get ended() {
        return sim.#ended;
      },
      get dirtyCount() {
        return dirty.count;
      },
      markDirty: (s) => {
        const f = e.flags[s];
        if (f & DIRTY) {
          this.#r.writesAbsorbed++;
          return false;
        }
        e.setFlags(s, f | DIRTY);
        return true;
      },
      isDirty: (s) => (e.flags[s] & DIRTY) !== 0,
      queueWrite: (s) => this.#queueWrite(s),
      ack: (s, v) => this.#ack(s, v),
      waitForWrite: (t, s) => this.#blocks.waitOn(t, s, RESUME_CONTINUE),
      flushDirtyOlderThan: (ageUs) => {
        const now = this.#ev.now;
        for (let s = dirty.head; s >= 0;) {
          const next = dirty.next[s];
          if (now - dirty.since[s] < ageUs) break;
          if (e.flags[s] & DIRTY) this.#queueDirty(s);
          s = next;
        }
      },
      flushOldestDirty: () => {
        for (let s = dirty.head; s >= 0; s = dirty.next[s]) {
          if (e.flags[s] & DIRTY) {
            this.#queueDirty(s);
            break;
          }
        }
      },
      tickAt: (at) => this.#ev.at(at, EV_FLUSH),
    };
  }

  // ---------------------------------------------------------------- disks

  #queueIo(s: number, write: boolean): void {
    const e = this.#entries;
    this.#disks.queue(s, e.dev[s], e.block[s], e.version[s], write);
  }

  /** The disk IRQ: complete the I/O, wake waiters, then schedule_io(). */
  #diskDone(d: number, id: number): void {
    const disks = this.#disks, e = this.#entries, checker = this.#checker;
    disks.done(d);
    const io = disks.io;
    const s = io.slot[id];
    const key = e.key[s];
    if (io.write[id]) {
      this.#r.diskWrites++;
      this.volumeCounts.disk(e.dev[s], true);
      if (this.#check) {
        checker.setDiskVersion(key, io.version[id]);
        if (this.#wb.ackOnDisk) checker.setAcked(key, io.version[id]);
      }
      if (io.version[id] === e.version[s]) this.#dirty.remove(s);
      else checker.violation(`block ${key}: written version ${io.version[id]} but cache holds ${e.version[s]}`);
      e.setFlags(s, e.flags[s] & ~WRITE_PENDING);
    } else {
      this.#r.diskReads++;
      this.volumeCounts.disk(e.dev[s], false);
      e.version[s] = checker.diskVersion(key);
      if (this.#check) checker.checkRead(e, s);
      e.setFlags(s, (e.flags[s] & ~READ_PENDING) | VALID);
    }
    io.free(id);
    this.#blocks.wake(s);
    disks.schedule(d);
  }

  // ---------------------------------------------------------------- results

  #results(): SeedResult {
    const r = this.#r;
    r.seekTotal = this.#disks.seekTotal;
    r.maxDirtyBlocks = this.#dirty.max;
    r.waitsForFreeEntry = this.#blocks.waitsForFreeEntry;
    r.invariantViolations = this.#checker.count;
    r.invariantMessages = this.#checker.messages;
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
    this.#timeline.push([this.#lastT / 1e6, this.#dirty.count]);
    r.series = { readCdf: this.#readLat.cdf(), writeCdf: this.#writeLat.cdf(), dirty: this.#timeline };
    return r;
  }
}
