/**
 * The I/O side of `bbb-pack console`: opens a serial port (any tty or pty, set up with `stty` by argv: speed, raw,
 * no echo, 8N1, no flow control) or a unix socket (QEMU's `-serial unix:PATH,server`), and runs a
 * {@linkcode UbootDriver} on it, copying the board's output to `onOutput` as it comes.
 *
 * @module
 */

import { PbxError, runArgv } from "../common/mod.ts";
import { UbootDriver } from "./console.ts";
import type { ConsoleEvent, UbootDriverOptions } from "./console.ts";

/** A byte stream to the board. */
export interface PortConn {
  /** Read into `buf`; null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Write all of `data`. */
  write(data: Uint8Array): Promise<number>;
  /** Close the stream. */
  close(): void;
}

/** Baud rates `stty` accepts. */
export const BAUDS: readonly number[] = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000];

/** Open `port`: a unix socket is connected to, anything else is set up with `stty` and opened read-write. */
export async function openPort(port: string, baud = 115200): Promise<PortConn> {
  if (!BAUDS.includes(baud)) throw new PbxError("E_USAGE", `--baud: ${baud} is not one of ${BAUDS.join(", ")}`);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(port);
  } catch {
    throw new PbxError("E_NOT_FOUND", `--port: '${port}' does not exist (a tty such as /dev/ttyUSB0, or a socket)`);
  }
  if (info.isSocket) {
    try {
      return await Deno.connect({ transport: "unix", path: port });
    } catch (err) {
      throw new PbxError("E_NETWORK", `--port: cannot connect to unix socket '${port}': ${(err as Error).message}`);
    }
  }
  if (!info.isCharDevice) throw new PbxError("E_INVALID_INPUT", `--port: '${port}' is not a tty nor a socket`);
  const stty = await runArgv(
    ["stty", "-F", port, String(baud), "raw", "-echo", "cs8", "-cstopb", "-parenb", "-crtscts", "-ixon", "clocal"],
    { check: false, timeoutMs: 5000 },
  );
  if (stty.code !== 0) {
    throw new PbxError("E_EXTERNAL", `--port: stty cannot set up '${port}': ${stty.stderr.trim().split("\n")[0]}`);
  }
  // Two handles: Deno serialises the blocking operations of one file, so a pending read would hold up writes.
  const r = await Deno.open(port, { read: true }), w = await Deno.open(port, { write: true });
  return {
    read: (buf) => r.read(buf),
    write: (data) => w.write(data),
    close() {
      r.close();
      w.close();
    },
  };
}

/** Options of {@linkcode runConsole}. */
export interface RunConsoleOptions extends UbootDriverOptions {
  /** The board's output, as it arrives. */
  onOutput?: (bytes: Uint8Array) => void;
  /** The driver's events (steps with their times, the outcome). */
  onEvent?: (e: ConsoleEvent) => void;
}

/** How a console run ended. */
export interface ConsoleOutcome {
  /** True when every step passed (or the kernel was started). */
  ok: boolean;
  /** Why it failed. */
  reason?: string;
  /** The step that failed. */
  command?: string;
  /** Every event, in order. */
  events: ConsoleEvent[];
}

/** Run `steps` on the board behind `conn` until they are done, one fails, or a timeout passes. */
export async function runConsole(
  conn: PortConn,
  steps: readonly string[],
  options: RunConsoleOptions = {},
): Promise<ConsoleOutcome> {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const driver = new UbootDriver(steps, now(), options);
  const events: ConsoleEvent[] = [];
  let writing = Promise.resolve();
  let settle!: () => void;
  const over = new Promise<void>((r) => settle = r);
  const handle = (o: { send: Uint8Array[]; events: ConsoleEvent[] }) => {
    for (const b of o.send) writing = writing.then(() => writeAll(conn, b));
    for (const e of o.events) {
      events.push(e);
      options.onEvent?.(e);
    }
    if (driver.finished) settle();
  };
  handle(driver.start());
  const timer = setInterval(() => handle(driver.tick(now())), 100);
  const reader = (async () => {
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) break;
      const chunk = buf.slice(0, n);
      options.onOutput?.(chunk);
      handle(driver.feed(chunk, now()));
      if (driver.finished) break;
    }
    if (!driver.finished) {
      const e: ConsoleEvent = { kind: "failed", ok: false, reason: "the port closed", atMs: now() };
      events.push(e);
      options.onEvent?.(e);
    }
    settle();
  })();
  await over;
  clearInterval(timer);
  await writing.catch(() => {});
  void reader;
  const last = events.at(-1);
  if (last?.kind === "failed") return { ok: false, reason: last.reason, command: last.command, events };
  return { ok: true, events };
}

async function writeAll(conn: PortConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/**
 * Copy stdin to the port and the port to `onOutput` until Ctrl-] is typed, stdin ends or the port closes. The
 * terminal is put in raw mode while it runs.
 */
export async function interact(conn: PortConn, onOutput: (bytes: Uint8Array) => void): Promise<void> {
  const raw = Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  try {
    const fromPort = (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        onOutput(buf.slice(0, n));
      }
    })();
    const toPort = (async () => {
      const buf = new Uint8Array(1024);
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null) return;
        const i = buf.subarray(0, n).indexOf(0x1d);
        if (i >= 0) {
          if (i > 0) await writeAll(conn, buf.slice(0, i));
          return;
        }
        await writeAll(conn, buf.slice(0, n));
      }
    })();
    await Promise.race([fromPort, toPort]);
  } finally {
    if (raw) Deno.stdin.setRaw(false);
  }
}
