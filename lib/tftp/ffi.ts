/**
 * Blocking UDP through libc (`Deno.dlopen`) for the TFTP transfer workers: socket, bind, setsockopt, sendto and recvfrom
 * called synchronously from a worker thread cost a fraction of an async op each, which is what makes lock-step
 * transfers as fast as a C server. Linux only (the `sockaddr` layouts); {@linkcode ffiAvailable} says whether it can
 * be used here, otherwise the server keeps to `Deno.listenDatagram`.
 *
 * @module
 */

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
/** Longest a blocking receive sleeps before the caller gets to check its deadline and abort flag. */
export const RECV_SLICE_MS = 50;

// Sizes are passed as u32 and results read as i32 (datagrams are < 64 KiB): plain numbers keep V8's fast FFI calls
// (no BigInt); on x86-64 and AArch64 a 32-bit argument register is zero-extended, so size_t receives the same value.
const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "u32", "i32", "buffer", "u32"], result: "i32" },
  recvfrom: { parameters: ["i32", "buffer", "u32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: Libc | undefined;

/** True when blocking UDP through libc can be used (Linux, FFI permitted). */
export function ffiAvailable(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
    load();
    return true;
  } catch {
    return false;
  }
}

function load(): Libc {
  if (!libc) libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return libc;
}

/** Parse an IPv4 or IPv6 literal into 4 or 16 bytes (no zone ids); undefined when it is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? new Uint8Array(b) : undefined;
  }
  if (!/^[0-9a-f:.]+$/i.test(text) || !text.includes(":")) return undefined;
  let head = text, tailV4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseIp(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const parts = head.split("::");
  if (parts.length > 2) return undefined;
  const left = parts[0] ? parts[0].split(":") : [];
  const right = parts.length === 2 && parts[1] ? parts[1].split(":") : [];
  const fill = 8 - left.length - right.length;
  if ((parts.length === 1 && fill !== 0) || fill < 0) return undefined;
  const groups = [...left, ...Array(parts.length === 2 ? fill : 0).fill("0"), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/i.test(groups[i])) return undefined;
    const v = parseInt(groups[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** Options for {@linkcode sockaddr}. */
export interface SockaddrOptions {
  /** Family of the socket the address is for: 4 (`sockaddr_in`) or 6 (`sockaddr_in6`). */
  family: 4 | 6;
}

/**
 * A `struct sockaddr_in`/`sockaddr_in6` for an address; IPv4 addresses become v4-mapped for an IPv6 socket.
 * Undefined when `ip` is not an address of (or mappable to) `options.family`.
 */
export function sockaddr(ip: string, port: number, options: SockaddrOptions): Uint8Array | undefined {
  const family = options.family;
  let raw = parseIp(ip);
  if (!raw) return undefined;
  if (family === 4) {
    if (raw.length === 16) {
      const mapped = raw.subarray(0, 10).every((b) => b === 0) && raw[10] === 0xff && raw[11] === 0xff;
      if (!mapped) return undefined;
      raw = raw.slice(12);
    }
    const sa = new Uint8Array(16);
    new DataView(sa.buffer).setUint16(0, AF_INET, true);
    sa[2] = port >> 8;
    sa[3] = port & 0xff;
    sa.set(raw, 4);
    return sa;
  }
  if (raw.length === 4) {
    const m = new Uint8Array(16);
    m[10] = m[11] = 0xff;
    m.set(raw, 12);
    raw = m;
  }
  const sa = new Uint8Array(28);
  new DataView(sa.buffer).setUint16(0, AF_INET6, true);
  sa[2] = port >> 8;
  sa[3] = port & 0xff;
  sa.set(raw, 8);
  return sa;
}

/** A blocking UDP socket driven synchronously (use it from a worker, never the main thread). */
export class BlockingUdp {
  /** The socket's file descriptor. */
  readonly fd: number;
  /** Address family: 4 (`AF_INET`) or 6 (`AF_INET6`). */
  readonly family: 4 | 6;
  #c: Libc;
  #from = new Uint8Array(28);
  #fromLen = new Uint32Array(1);

  /** Open and bind to `ip` (wildcard `0.0.0.0`/`::` allowed) on an ephemeral port. */
  constructor(ip: string, family: 4 | 6) {
    this.#c = load();
    this.family = family;
    const sa = sockaddr(ip, 0, { family });
    if (!sa) throw new Error(`cannot bind '${ip}' for IPv${family}`);
    const fd = this.#c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("socket() failed");
    if (this.#c.bind(fd, sa, sa.length) !== 0) {
      this.#c.close(fd);
      throw new Error("bind() failed");
    }
    // A receive timeout instead of poll(): one syscall per packet instead of two.
    const tv = new BigInt64Array([0n, BigInt(RECV_SLICE_MS * 1000)]);
    this.#c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), 16);
    this.fd = fd;
  }

  /** Send to a `sockaddr`. */
  sendTo(p: Uint8Array, to: Uint8Array): void {
    this.#c.sendto(this.fd, p, p.length, 0, to, to.length);
  }

  /**
   * Wait for a datagram, up to `ms` but never longer than {@linkcode RECV_SLICE_MS}; returns its length (or -1 on
   * timeout). The sender is in {@linkcode from}.
   * With `spinUs`, first polls without blocking for that long: in lock-step the answer usually arrives within a few
   * tens of microseconds, and not going to sleep saves a wake-up on both sides (busy polling, as NIC drivers do).
   * Hot path: positional parameters by design (no per-call allocation).
   */
  recv(buf: Uint8Array, ms: number, spinUs = 0): number {
    if (spinUs > 0) {
      const end = performance.now() + spinUs / 1000;
      do {
        this.#fromLen[0] = this.#from.length;
        const n = this.#c.recvfrom(this.fd, buf, buf.length, MSG_DONTWAIT, this.#from, this.#fromLen);
        if (n >= 0) return n;
      } while (performance.now() < end);
    }
    if (ms <= 0) return -1;
    // Blocks at most RECV_SLICE_MS (SO_RCVTIMEO); -1 on timeout.
    this.#fromLen[0] = this.#from.length;
    const n = this.#c.recvfrom(this.fd, buf, buf.length, 0, this.#from, this.#fromLen);
    return n < 0 ? -1 : n;
  }

  /** The last sender's `sockaddr` (valid until the next {@linkcode recv}). */
  get from(): Uint8Array {
    return this.#from.subarray(0, this.#fromLen[0]);
  }

  /** Close the socket. */
  close(): void {
    this.#c.close(this.fd);
  }
}

/** Same address and port (byte-wise sockaddr comparison of family, port and address). */
export function sameSockaddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < 8 || b.length < 8 || a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2] || a[3] !== b[3]) return false;
  if (a[0] === AF_INET) return a[4] === b[4] && a[5] === b[5] && a[6] === b[6] && a[7] === b[7];
  for (let i = 8; i < 24; i++) if (a[i] !== b[i]) return false;
  return true;
}
