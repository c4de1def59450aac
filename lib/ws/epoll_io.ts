/**
 * An alternative read path for plain TCP connections on Linux: readiness from one shared `epoll` instance
 * (libc through `Deno.dlopen`), whose `epoll_wait` runs as a non-blocking FFI call (on Deno's blocking thread
 * pool, one call per turn of the event loop for all connections), and synchronous `recv(MSG_DONTWAIT)` on the
 * socket Deno accepted. Where Deno's read op costs an async op, a promise and its resolution per read per
 * connection, this costs one FFI promise per batch of ready connections plus one plain syscall per read.
 *
 * Sockets are registered edge-triggered (`EPOLLET`): an event means "new data arrived". A {@linkcode PolledReader}
 * keeps a `readable` flag: set by an event, cleared when a `recv` returns less than the buffer or `EAGAIN` (as
 * tokio does), so a request/response exchange costs one `recv` per message. Deno's own reactor keeps its
 * registration of the fd; it never reads from it while this path is used.
 *
 * Used only for `Deno.TcpConn` and only when FFI is permitted, from {@linkcode POLL_ON} open connections on (below
 * that one read op per read is cheaper than a thread hop per read); `PBXKIT_WS_EPOLL=0` turns it off and `=1` uses it
 * for every connection (see {@linkcode epollMode}).
 *
 * @module
 */

import { openLibc } from "../common/mod.ts";

const EPOLLIN = 0x001;
const EPOLLRDHUP = 0x2000;
const EPOLLET = 1 << 31;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const MAX_EVENTS = 256;
/** Batches of events taken without a thread hop before the wait yields to the event loop (`PBXKIT_WS_SPIN`). */
const SPIN_TURNS = spinTurns();
/** `struct epoll_event` is packed on x86_64 (12 bytes: u32 events, u64 data), 16 bytes elsewhere. */
const EV_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
const EV_DATA = Deno.build.arch === "x86_64" ? 4 : 8;

const SYMBOLS = {
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  // the same call on the event loop's own thread, with timeout 0: a look for events that are already there
  epoll_poll: { name: "epoll_wait", parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // results as i32: ssize_t values here fit (lengths < 2 GiB), and an i32 result keeps the call on the fast path
  // and the length as a pointer-typed value (see `sizeArg` in fast_io.ts)
  recv: { parameters: ["i32", "buffer", "pointer", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The symbols as called (sizes as numbers: Deno accepts them for `usize`; results fit i32-range numbers). */
interface Libc {
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  epoll_wait(epfd: number, events: Uint8Array, max: number, timeout: number): Promise<number>;
  epoll_poll(epfd: number, events: Uint8Array, max: number, timeout: number): number;
  recv(fd: number, buf: Uint8Array, len: Deno.PointerValue, flags: number): number;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Uint8Array, len: number): number | bigint;
  read(fd: number, buf: Uint8Array, len: number): number | bigint;
  __errno_location(): Deno.PointerValue;
}
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc === undefined) libc = (openLibc(SYMBOLS)?.symbols ?? null) as Libc | null;
  return libc;
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** The shared epoll instance and its wait loop (one per thread; started with the first socket). */
class Poller {
  readonly #c: Libc;
  readonly #epfd: number;
  readonly #wakeFd: number;
  readonly #events = new Uint8Array(EV_SIZE * MAX_EVENTS);
  readonly #view = new DataView(this.#events.buffer);
  readonly #ev = new Uint8Array(EV_SIZE);
  readonly #evView = new DataView(this.#ev.buffer);
  readonly #handlers = new Map<number, () => void>();
  #running = false;

  constructor(c: Libc) {
    this.#c = c;
    this.#epfd = c.epoll_create1(EPOLL_CLOEXEC);
    if (this.#epfd < 0) throw new Error(`epoll_create1 failed (errno ${errno(c)})`);
    this.#wakeFd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.#wakeFd < 0) throw new Error(`eventfd failed (errno ${errno(c)})`);
    this.#ctl(EPOLL_CTL_ADD, this.#wakeFd, EPOLLIN);
  }

  #ctl(op: number, fd: number, events: number): boolean {
    this.#evView.setUint32(0, events >>> 0, true);
    this.#evView.setUint32(EV_DATA, fd, true);
    this.#evView.setUint32(EV_DATA + 4, 0, true);
    return this.#c.epoll_ctl(this.#epfd, op, fd, this.#ev) === 0;
  }

  /** Watch `fd`: `onEvent` runs on every edge (new data, hang-up, error). False when epoll refused it. */
  add(fd: number, onEvent: () => void): boolean {
    if (!this.#ctl(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP | EPOLLET)) return false;
    this.#handlers.set(fd, onEvent);
    if (!this.#running) {
      this.#running = true;
      this.#loop();
    }
    return true;
  }

  /**
   * Stop watching `fd` (before it is closed) if `onEvent` is still its handler: when the fd was closed elsewhere
   * first, its number may already belong to a newer socket, which keeps its registration.
   */
  remove(fd: number, onEvent: () => void): void {
    if (this.#handlers.get(fd) !== onEvent) return;
    this.#handlers.delete(fd);
    this.#ctl(EPOLL_CTL_DEL, fd, 0);
    // Wake the pending epoll_wait so the loop ends (and its op with it) when nothing is left to watch.
    if (this.#handlers.size === 0) this.#c.write(this.#wakeFd, ONE, 8);
  }

  async #loop(): Promise<void> {
    const c = this.#c;
    const view = this.#view;
    let looks = 0;
    try {
      while (this.#handlers.size > 0) {
        // Events that are already there are taken on this thread (no hop to the blocking pool and back), up to
        // SPIN_TURNS batches in a row; then the wait goes to the pool, which lets the rest of the event loop run.
        let n = looks < SPIN_TURNS ? c.epoll_poll(this.#epfd, this.#events, MAX_EVENTS, 0) : 0;
        if (n > 0) looks++;
        else {
          looks = 0;
          n = await c.epoll_wait(this.#epfd, this.#events, MAX_EVENTS, 1000);
        }
        if (n < 0) {
          if (errno(c) === EINTR) continue;
          throw new Error(`epoll_wait failed (errno ${errno(c)})`);
        }
        for (let i = 0; i < n; i++) {
          const fd = view.getUint32(i * EV_SIZE + EV_DATA, true);
          if (fd === this.#wakeFd) {
            c.read(this.#wakeFd, SCRATCH, 8);
            continue;
          }
          const h = this.#handlers.get(fd);
          if (h === undefined) continue;
          try {
            h();
          } catch { /* the reader reports its own errors */ }
          // the hook's batch is at most HOOK_EVERY sockets: the first answers of a big turn do not wait for the last
          if (turnHook !== undefined && i % HOOK_EVERY === HOOK_EVERY - 1) turnHook();
        }
        if (turnHook !== undefined) turnHook();
      }
    } finally {
      this.#running = false;
    }
  }
}

let turnHook: (() => void) | undefined;
/** The turn hook also runs after every this many events of a batch. */
const HOOK_EVERY = 64;

/**
 * Run `fn` after each batch of the poller's events (and after every 64 events of a larger one), before it looks for
 * the next (`uring_io.ts` submits the sends the batch queued). One hook per thread; a later call replaces it.
 */
export function setTurnHook(fn: () => void): void {
  turnHook = fn;
}

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
const SCRATCH = new Uint8Array(8);
let poller: Poller | null | undefined;

function getPoller(): Poller | null {
  if (poller !== undefined) return poller;
  const c = loadLibc();
  try {
    poller = c === null ? null : new Poller(c);
  } catch {
    poller = null;
  }
  return poller;
}

/** Open readers (watched or not): the poller is worth its thread hop per turn only with several busy sockets. */
let openReaders = 0;
const always = epollMode() === "always";
/** Readers switch to the poller at this many open ones, and back to Deno's read op below {@linkcode POLL_OFF}. */
export const POLL_ON = 8;
/** See {@linkcode POLL_ON}. */
export const POLL_OFF = 4;

/**
 * Reads for one connection through the shared poller. While fewer than {@linkcode POLL_ON} readers are open the
 * connection should keep using Deno's read op (one op per read is cheaper than a thread hop per read);
 * {@linkcode PolledReader.use} says which, and (un)registers the socket with epoll on a switch.
 */
export interface PolledReader {
  /**
   * True when the next read should go through the poller (registering the socket on the first such call); false
   * when it should use Deno's read op (unregistering it when it was registered).
   */
  use(): boolean;
  /** One non-blocking read into `buf`: bytes read, 0 at end of stream, -1 when none are there yet. */
  recv(buf: Uint8Array): number;
  /** True until a read comes back short or empty (and again after each readiness event). */
  readonly readable: boolean;
  /** True while the socket is registered with the poller (its reads come in the poller's turns). */
  readonly watched: boolean;
  /** Stop watching the socket (call before closing it). */
  close(): void;
}

/**
 * A {@linkcode PolledReader} for `fd` calling `onReadable` on each readiness event while registered, or undefined
 * when the path does not apply (not Linux, no FFI permission, no epoll).
 */
export function polledReader(fd: number, onReadable: () => void): PolledReader | undefined {
  const p = getPoller();
  if (p === null) return undefined;
  const c = libc as Libc;
  let readable = true;
  let open = true;
  let watched = false;
  let lenOf = -1;
  let lenArg: Deno.PointerValue = null;
  openReaders++;
  const onEvent = () => {
    readable = true;
    if (open) onReadable();
  };
  return {
    get readable() {
      return readable;
    },
    get watched() {
      return watched;
    },
    use(): boolean {
      if (!open) return false;
      if (watched) {
        if (always || openReaders >= POLL_OFF) return true;
        watched = false;
        p.remove(fd, onEvent);
        return false;
      }
      if (!always && openReaders < POLL_ON) return false;
      // Data may have arrived while Deno's op read: try a read first (EAGAIN then waits for the next edge).
      readable = true;
      watched = p.add(fd, onEvent);
      return watched;
    },
    recv(buf: Uint8Array): number {
      if (buf.length !== lenOf) {
        lenOf = buf.length;
        lenArg = Deno.UnsafePointer.create(BigInt(lenOf));
      }
      const n = c.recv(fd, buf, lenArg, MSG_DONTWAIT);
      if (n > 0) {
        if (n < buf.length) readable = false;
        return n;
      }
      if (n === 0) return 0;
      const e = errno(c);
      if (e === EAGAIN || e === EINTR) {
        readable = false;
        return -1;
      }
      throw recvError(e);
    },
    close() {
      if (!open) return;
      open = false;
      openReaders--;
      if (watched) p.remove(fd, onEvent);
      watched = false;
    },
  };
}

function recvError(e: number): Error {
  switch (e) {
    case 104: // ECONNRESET
      return new Deno.errors.ConnectionReset(`recv: connection reset (errno ${e})`);
    case 32: // EPIPE
      return new Deno.errors.BrokenPipe(`recv: broken pipe (errno ${e})`);
    case 9: // EBADF
      return new Deno.errors.BadResource(`recv: bad file descriptor (errno ${e})`);
    default:
      return new Error(`recv failed (errno ${e})`);
  }
}

/** `PBXKIT_WS_SPIN`: how many batches in a row the poller takes without a thread hop (default 4; 0 never). */
function spinTurns(): number {
  const v = Number(Deno.env.get("PBXKIT_WS_SPIN") ?? "4");
  return Number.isInteger(v) && v >= 0 && v <= 64 ? v : 4;
}

/**
 * The environment's say (`PBXKIT_WS_EPOLL`): "0" never uses the poller, "1" uses it for every connection (tests,
 * measurements), anything else (the default) from {@linkcode POLL_ON} open connections on.
 */
export function epollMode(): "off" | "always" | "auto" {
  const v = Deno.env.get("PBXKIT_WS_EPOLL");
  return v === "0" ? "off" : v === "1" ? "always" : "auto";
}
