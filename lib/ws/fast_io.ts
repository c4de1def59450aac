/**
 * A faster write path for plain TCP connections on Linux: `send(2)` from libc through `Deno.dlopen`, called
 * synchronously with `MSG_DONTWAIT | MSG_NOSIGNAL` on the socket Deno accepted (its fd; Deno's sockets are
 * already non-blocking). When the kernel takes the bytes at once (the common case: the socket buffer has room)
 * a write costs one syscall and no promise, where `conn.write()` costs an async op, a promise and a turn of the
 * event loop. When it does not (`EAGAIN`, a partial write, an error) the caller falls back to `conn.write()` for
 * the rest, which waits for room or reports the error as before.
 *
 * Used only for `Deno.TcpConn` (never TLS: that would bypass the encryption), only when FFI is permitted, and
 * not when `PBXKIT_WS_FFI_SEND=0` (to measure without it). Reads use Deno's op below a few open connections (from
 * there on `epoll_io.ts` takes over), and {@linkcode rawReader} calls that op directly: `TcpConn.read()` wraps it in an async function that adds a
 * second promise, a try/finally and two Set updates per read (`PBXKIT_WS_RAW_READ=0` turns it off).
 *
 * @module
 */

import { openLibc } from "../common/mod.ts";

const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

type Libc = {
  symbols: {
    send: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
    sendP: (fd: number, buf: Uint8Array, len: Deno.PointerValue, flags: number) => number;
  };
};
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  const lib = Deno.env.get("PBXKIT_WS_FFI_SEND") === "0" ? undefined : openLibc({
    // ssize_t send(int fd, const void *buf, size_t len, int flags); results fit i32 (writes are < 2 GiB)
    send: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
    // the same with the length as a pointer-typed value (see sizeArg)
    sendP: { name: "send", parameters: ["i32", "buffer", "pointer", "i32"], result: "i32" },
  });
  libc = lib ? { symbols: lib.symbols } as unknown as Libc : null;
  return libc;
}

const sizes = new Map<number, Deno.PointerValue>();
const MAX_SIZES = 4096;

/**
 * A `size_t` argument as a pointer-typed FFI value, or undefined when `n` is not cached and the cache is full (then
 * pass it as `usize`). Deno converts a `usize` number argument on a slower path (about 0.5-0.8 µs more per call here,
 * measured against the same `recv` with the length as a pointer); a pointer value is passed as is, all 64 bits. The
 * values are created once per distinct size (messages on a busy connection come in few sizes).
 */
export function sizeArg(n: number): Deno.PointerValue | undefined {
  let p = sizes.get(n);
  if (p === undefined && !sizes.has(n)) {
    if (sizes.size >= MAX_SIZES) return undefined;
    p = Deno.UnsafePointer.create(BigInt(n));
    sizes.set(n, p);
  }
  return p;
}

/** A TcpConn's internal numbers (`Deno.internal.fd`, `Deno.internal.rid`), or undefined for anything else. */
function internalId(conn: unknown, what: "fd" | "rid"): number | undefined {
  // Deno's TcpConn class is not a global; TlsConn (whose fd carries ciphertext) has another name
  if (typeof conn !== "object" || conn === null || conn.constructor?.name !== "TcpConn") return undefined;
  const sym = Object.getOwnPropertySymbols(conn).find((s) => s.description === `Deno.internal.${what}`);
  const v = sym === undefined ? undefined : (conn as unknown as Record<symbol, unknown>)[sym];
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** The socket fd of a plain `Deno.TcpConn`, or undefined (TLS, adapters, no internal API). */
export function fdOf(conn: unknown): number | undefined {
  return internalId(conn, "fd");
}

type CoreRead = (rid: number, buf: Uint8Array) => Promise<number>;

/**
 * Deno's read op for a plain TCP `conn` without the `TcpConn.read()` wrapper: resolves with the byte count,
 * **0 at end of stream** (not null). Undefined when it does not apply (TLS, other adapters, no internal API).
 */
export function rawReader(conn: unknown): ((buf: Uint8Array) => Promise<number>) | undefined {
  if (Deno.env.get("PBXKIT_WS_RAW_READ") === "0") return undefined;
  const rid = internalId(conn, "rid");
  if (rid === undefined) return undefined;
  const internal = (Deno as unknown as Record<symbol, { core?: { read?: CoreRead } } | undefined>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const read = internal?.core?.read;
  if (typeof read !== "function") return undefined;
  return (buf) => read(rid, buf);
}

/**
 * A synchronous sender for `conn` when the fast path applies (see the module doc), else undefined. The sender
 * returns the bytes the kernel took (0 when it took none: `EAGAIN` or an error; the caller then uses
 * `conn.write()`). Stop calling it once the connection is closed (the fd number may be reused).
 */
export function syncSender(conn: unknown): ((bytes: Uint8Array) => number) | undefined {
  const fd = fdOf(conn);
  if (fd === undefined) return undefined;
  const c = loadLibc();
  if (c === null) return undefined;
  const { send, sendP } = c.symbols;
  return (bytes) => {
    const len = sizeArg(bytes.length);
    const n = len === undefined
      ? send(fd, bytes, bytes.length, MSG_DONTWAIT | MSG_NOSIGNAL)
      : sendP(fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n > 0 ? n : 0;
  };
}
