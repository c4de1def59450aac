/**
 * Batched sends for plain TCP connections on Linux through io_uring (syscalls and `mmap` from libc through
 * `Deno.dlopen`): a connection's writer queues a `SEND` entry into the submission ring instead of calling `send(2)`,
 * and one `io_uring_enter` submits every entry queued in a turn: after each batch of the epoll poller's events
 * ({@linkcode setTurnHook} in `epoll_io.ts`) or, for sends made elsewhere, in a microtask. The sends carry
 * `MSG_DONTWAIT | MSG_NOSIGNAL`, so the kernel runs them inline during the enter (a full socket buffer gives
 * `-EAGAIN`, never a wait) and the completions are there when it returns; each completion goes to the writer's
 * callback, which falls back to `conn.write()` for whatever the kernel did not take, as with `fast_io.ts`.
 *
 * Where a syscall's entry and exit are dear (about 1.1 µs on the virtual machines this was measured on), 256
 * sends in one enter cost about 1.5 µs each against 4.2 µs for 256 separate `send` calls through FFI. In the echo
 * server that did not carry over: a loopback send's cost is mostly the kernel's delivery to the peer, which batching
 * does not save, and a queued send pays for its buffer's pointer and its completion; plain `send` calls were as cheap
 * or cheaper in every cell (docs/ws-serve.md, "(7)"). So the ring is off unless asked for (see {@linkcode uringMode}).
 *
 * When asked for: used for the connections the epoll poller reads, only for `Deno.TcpConn` (never TLS), only when
 * FFI is permitted and the kernel lets the process set up a ring (`kernel.io_uring_disabled`, seccomp); otherwise
 * sends stay plain `send` calls.
 *
 * @module
 */

import { openLibc } from "../common/mod.ts";
import { setTurnHook } from "./epoll_io.ts";
import { fdOf } from "./fast_io.ts";

const SYS_IO_URING_SETUP = 425n;
const SYS_IO_URING_ENTER = 426n;
const IORING_ENTER_GETEVENTS = 1;
const IORING_OP_SEND = 26;
const IORING_OFF_SQES = 0x10000000n;
const PROT_RW = 3;
const MAP_SHARED_POPULATE = 0x8001;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const ENTRIES = 1024;
const TWO_32 = 0x100000000;

const SYMBOLS = {
  setup: { name: "syscall", parameters: ["i64", "u32", "buffer"], result: "i64" },
  enter: { name: "syscall", parameters: ["i64", "i32", "u32", "u32", "u32", "pointer", "usize"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
} as const;

/** A completion callback: the bytes the kernel took, or a negative errno. */
export type SendDone = (res: number) => void;

/** The submission and completion rings of one io_uring instance, mapped into this process. */
class Ring {
  readonly #c: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
  readonly #fd: number;
  readonly #r: Uint32Array;
  readonly #rv: DataView;
  readonly #sqe: Uint32Array;
  readonly #sqTail: number;
  readonly #sqMask: number;
  readonly #sqArray: number;
  readonly #cqHead: number;
  readonly #cqTail: number;
  readonly #cqMask: number;
  readonly #cqes: number;
  /** Callbacks and buffers of queued or submitted sends, by slot (the entry's user_data). */
  readonly #done: (SendDone | undefined)[] = [];
  readonly #bufs: (Uint8Array | undefined)[] = [];
  readonly #free: number[] = [];
  #queued = 0;
  /** Entries in the ring that an enter did not take yet. */
  #carried = 0;
  #inFlight = 0;
  #scheduled = false;
  #flushing = false;

  constructor(c: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"]) {
    this.#c = c;
    const params = new Uint8Array(120);
    const fd = Number(c.setup(SYS_IO_URING_SETUP, ENTRIES, params));
    if (fd < 0) throw new Error("io_uring_setup failed");
    this.#fd = fd;
    const pv = new DataView(params.buffer);
    const sqEntries = pv.getUint32(0, true);
    const cqEntries = pv.getUint32(4, true);
    const features = pv.getUint32(20, true);
    if ((features & 1) === 0) throw new Error("io_uring without IORING_FEAT_SINGLE_MMAP");
    const so = (k: number) => pv.getUint32(40 + 4 * k, true);
    const co = (k: number) => pv.getUint32(80 + 4 * k, true);
    const size = Math.max(so(6) + sqEntries * 4, co(5) + cqEntries * 16);
    const ring = c.mmap(null, BigInt(size), PROT_RW, MAP_SHARED_POPULATE, fd, 0n);
    const sqes = c.mmap(null, BigInt(sqEntries * 64), PROT_RW, MAP_SHARED_POPULATE, fd, IORING_OFF_SQES);
    if (ring === null || sqes === null || Deno.UnsafePointer.value(ring) === -1n) throw new Error("mmap failed");
    this.#r = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(ring, size));
    this.#rv = new DataView(this.#r.buffer);
    this.#sqe = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(sqes, sqEntries * 64));
    this.#sqTail = so(1) / 4;
    this.#sqMask = this.#r[so(2) / 4];
    this.#sqArray = so(6) / 4;
    this.#cqHead = co(0) / 4;
    this.#cqTail = co(1) / 4;
    this.#cqMask = this.#r[co(2) / 4];
    this.#cqes = co(5);
    for (let i = sqEntries - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Queue a send of `bytes` on `fd`; `done` runs when it completed (at the next {@linkcode Ring.flush}). */
  queue(fd: number, bytes: Uint8Array, done: SendDone): void {
    if (this.#free.length === 0) this.flush();
    const slot = this.#free.pop();
    if (slot === undefined) {
      // every slot still waits on its completion: let the caller's fallback write instead
      done(0);
      return;
    }
    this.#done[slot] = done;
    this.#bufs[slot] = bytes;
    const r = this.#r;
    const tail = r[this.#sqTail] + this.#queued;
    const idx = tail & this.#sqMask;
    const s = this.#sqe;
    const o = idx * 16;
    const addr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    s[o] = IORING_OP_SEND; // opcode, flags 0, ioprio 0
    s[o + 1] = fd;
    s[o + 2] = 0; // off
    s[o + 3] = 0;
    s[o + 4] = addr % TWO_32;
    s[o + 5] = Math.floor(addr / TWO_32);
    s[o + 6] = bytes.length;
    s[o + 7] = MSG_DONTWAIT | MSG_NOSIGNAL;
    s[o + 8] = slot; // user_data
    s[o + 9] = 0;
    s.fill(0, o + 10, o + 16);
    r[this.#sqArray + idx] = idx;
    this.#queued++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#onMicrotask);
    }
  }

  #onMicrotask = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /** Submit what is queued, wait for those sends' completions (they run inline) and call their callbacks. */
  flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      // callbacks may queue more (the rest of a batch, the next batch): submit those too, a bounded number of times
      // (and completions an interrupted wait left outstanding)
      for (let round = 0; round < 8 && (this.#queued > 0 || this.#carried > 0 || this.#inFlight > 0); round++) {
        const r = this.#r;
        if (this.#queued > 0) Atomics.store(r, this.#sqTail, r[this.#sqTail] + this.#queued);
        const n = this.#queued + this.#carried;
        this.#queued = 0;
        const res = n === 0 ? 0 : Number(this.#c.enter(SYS_IO_URING_ENTER, this.#fd, n, 0, 0, null, 0n));
        if (res < 0) {
          // nothing was taken (EINTR, EAGAIN, EBUSY...): take the entries back and let their writers fall back
          this.#carried = 0;
          this.#failSubmitted(n);
          continue;
        }
        // entries the kernel did not take yet stay in the ring and go with the next enter
        this.#carried = n - res;
        this.#inFlight += res;
        this.#reap();
        // a send the kernel could not run inline completes on its own worker soon (MSG_DONTWAIT never waits for room)
        if (this.#inFlight > 0) {
          this.#c.enter(SYS_IO_URING_ENTER, this.#fd, 0, this.#inFlight, IORING_ENTER_GETEVENTS, null, 0n);
          this.#reap();
        }
      }
    } finally {
      this.#flushing = false;
      if ((this.#queued > 0 || this.#carried > 0 || this.#inFlight > 0) && !this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#onMicrotask);
      }
    }
  }

  /** The last `n` submitted entries were not taken: their writers get 0 (then `conn.write()`). */
  #failSubmitted(n: number): void {
    const r = this.#r;
    const tail = r[this.#sqTail];
    // take them back out of the ring: the kernel did not consume them
    Atomics.store(r, this.#sqTail, tail - n);
    for (let k = 0; k < n; k++) {
      const idx = (tail - n + k) & this.#sqMask;
      this.#complete(this.#sqe[idx * 16 + 8], 0);
    }
  }

  #reap(): void {
    const r = this.#r;
    let head = r[this.#cqHead];
    const tail = Atomics.load(r, this.#cqTail);
    const rv = this.#rv;
    while (head !== tail) {
      const at = this.#cqes + (head & this.#cqMask) * 16;
      const slot = rv.getUint32(at, true);
      const res = rv.getInt32(at + 8, true);
      head = (head + 1) >>> 0;
      this.#inFlight--;
      Atomics.store(r, this.#cqHead, head);
      this.#complete(slot, res);
    }
  }

  #complete(slot: number, res: number): void {
    const done = this.#done[slot];
    this.#done[slot] = undefined;
    this.#bufs[slot] = undefined;
    this.#free.push(slot);
    if (done === undefined) return;
    try {
      done(res);
    } catch { /* the writer reports its own errors */ }
  }
}

let ring: Ring | null | undefined;

function getRing(): Ring | null {
  if (ring !== undefined) return ring;
  ring = null;
  if (uringMode() === "off") return ring;
  const lib = openLibc(SYMBOLS);
  if (lib === undefined) return ring;
  try {
    const r = new Ring(lib.symbols);
    ring = r;
    setTurnHook(() => r.flush());
  } catch {
    lib.close();
  }
  return ring;
}

/**
 * A queued sender for `conn` when io_uring sends apply (see the module doc), else undefined: it queues `bytes` and
 * calls `done` with the bytes the kernel took (0 or a negative errno when it took none: the caller then uses
 * `conn.write()`). `bytes` must stay as they are until `done` runs. Call {@linkcode flushSends} before closing the
 * connection so that nothing queued outlives its fd.
 */
export function queuedSender(conn: unknown): ((bytes: Uint8Array, done: SendDone) => void) | undefined {
  const fd = fdOf(conn);
  if (fd === undefined) return undefined;
  const r = getRing();
  if (r === null) return undefined;
  return (bytes, done) => r.queue(fd, bytes, done);
}

/**
 * The environment's say (`PBXKIT_WS_URING`): "1" uses the ring for the connections the epoll poller reads (where a
 * turn has many sends to batch), "all" for every plain TCP connection (measurements), anything else (the default:
 * plain sends measured as cheap or cheaper) never.
 */
export function uringMode(): "off" | "always" | "auto" {
  const v = Deno.env.get("PBXKIT_WS_URING");
  return v === "1" ? "auto" : v === "all" ? "always" : "off";
}

/** Submit every queued send now (before a socket that may have some is closed). */
export function flushSends(): void {
  ring?.flush();
}
