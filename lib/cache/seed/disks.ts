/**
 * The seed model's disks: one {@linkcode DiskModel} and one I/O scheduler per volume (made when the volume is first
 * used, each with its own seed), the table of queued and in-flight I/Os, and `schedule_io()`: keep each disk's
 * queue depth filled from its scheduler, posting a completion event per I/O.
 *
 * @module
 */

import { DiskModel, type DiskParams } from "../disk.ts";
import { IoTable, type Scheduler, SCHEDULERS } from "../schedulers/mod.ts";
import type { EventQueue } from "../sim.ts";

/** Event kind of a disk completion (`a` = disk index, `b` = I/O id). */
export const EV_DISK_DONE = 1;

interface DiskState {
  model: DiskModel;
  sched: Scheduler;
  inflight: number;
  head: number;
}

/** What the disks are made from. */
export interface DisksOptions {
  /** Disk model of every volume (the seed is varied per volume). */
  disk: DiskParams;
  /** Scheduler name (resolved). */
  scheduler: string;
  /** Block size in bytes. */
  blockSize: number;
  /** Deadline scheduler read expiry (µs). */
  readExpireUs?: number;
  /** Deadline scheduler write expiry (µs). */
  writeExpireUs?: number;
}

/** The disks of one model run. */
export class Disks {
  /** Every queued or in-flight I/O. */
  readonly io: IoTable = new IoTable();
  /** Sum of head movements over all I/Os started, in blocks. */
  seekTotal = 0;
  readonly #ev: EventQueue;
  readonly #o: DisksOptions;
  readonly #index = new Map<number, number>();
  readonly #list: DiskState[] = [];

  /** Disks posting their completions to `ev`. */
  constructor(ev: EventQueue, options: DisksOptions) {
    this.#ev = ev;
    this.#o = options;
  }

  #disk(dev: number): number {
    let d = this.#index.get(dev);
    if (d === undefined) {
      d = this.#list.length;
      this.#index.set(dev, d);
      const params = { ...this.#o.disk, seed: this.#o.disk.seed + dev * 7919 };
      this.#list.push({
        model: new DiskModel(params),
        sched: SCHEDULERS[this.#o.scheduler]({
          io: this.io,
          readExpireUs: this.#o.readExpireUs,
          writeExpireUs: this.#o.writeExpireUs,
        }),
        inflight: 0,
        head: 0,
      });
    }
    return d;
  }

  /**
   * Queue an I/O of entry `slot` (block `pos` on volume `dev`, data `version`) and start it if the disk has room.
   * Hot path: positional parameters by design.
   */
  queue(slot: number, dev: number, pos: number, version: number, write: boolean): void {
    const io = this.io;
    const id = io.alloc();
    io.slot[id] = slot;
    io.pos[id] = pos;
    io.write[id] = write ? 1 : 0;
    io.queuedAt[id] = this.#ev.now;
    io.version[id] = version;
    const d = this.#disk(dev);
    const disk = this.#list[d];
    disk.sched.push(id, disk.head);
    if (disk.inflight < disk.model.params.queueDepth) this.schedule(d);
  }

  /** The user's schedule_io(): fill disk `d`'s queue depth from its scheduler. */
  schedule(d: number): void {
    const disk = this.#list[d];
    const io = this.io;
    const ev = this.#ev;
    while (disk.inflight < disk.model.params.queueDepth) {
      const id = disk.sched.pop(ev.now, disk.head);
      if (id < 0) return;
      const pos = io.pos[id];
      const svc = disk.model.serviceUs(pos, disk.head, this.#o.blockSize, io.write[id] === 1);
      this.seekTotal += Math.abs(pos - disk.head);
      disk.head = pos;
      disk.inflight++;
      ev.at(ev.now + svc, EV_DISK_DONE, d, id);
    }
  }

  /** Disk `d` completed one I/O (its slot in {@linkcode io} is freed by the caller). */
  done(d: number): void {
    this.#list[d].inflight--;
  }
}
