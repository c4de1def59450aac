/**
 * The TFTP server adapter: UDP sockets, files and timers around the sans-I/O sessions. One listening socket
 * (`[::]` dual-stack by default, so IPv4 and IPv6) takes requests; each transfer gets its own socket (a new TID,
 * RFC 1350) and runs concurrently. A repeated request from a client address and port that already has a transfer
 * running is ignored. Octet reads go block by block from the descriptor opened when the transfer starts (a snapshot
 * when files are replaced by rename: a rebuild during a transfer does not mix two versions); netascii reads are
 * converted in memory first. Uploads go to a temp file renamed over the target only when complete.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { formatBytes, log as rootLog, osErrorReason, PbxError, Progress } from "../common/mod.ts";
import type { Logger } from "../common/mod.ts";
import {
  encodeError,
  ERR,
  fromNetascii,
  OP,
  opcode,
  PacketError,
  parseError,
  parseRequest,
  toNetascii,
} from "./packet.ts";
import type { Request } from "./packet.ts";
import { resolveRead, resolveWrite } from "./paths.ts";
import { readOutcome, ReadSession, WriteSession } from "./session.ts";
import type { ReadOutcome, SessionConfig } from "./session.ts";
import { bindUdp } from "./udp.ts";
import { ffiAvailable, sockaddr } from "./ffi.ts";
import { TransferPool } from "./pool.ts";
import { FileSource } from "./source.ts";
import type { UdpAddr, UdpBackend, UdpSocket } from "./udp.ts";

/** Options for {@linkcode TftpServer.listen}. */
export interface TftpServerOptions extends SessionConfig {
  /** Directory served. */
  root: string;
  /** UDP port (default 69). */
  port?: number;
  /** Addresses to bind (default `::`, dual-stack; falls back to `0.0.0.0` without IPv6). */
  hostnames?: readonly string[];
  /** Accept write requests (uploads), atomically replacing the target. */
  allowWrite?: boolean;
  /** Largest upload (default 1 GiB). */
  maxUploadSize?: number;
  /** Largest file served (default 4 GiB). */
  maxFileSize?: number;
  /** Most transfers at once (default 128). */
  maxTransfers?: number;
  /** Draw a progress line per transfer (default: when stderr is a terminal). */
  progress?: boolean;
  /** Logger (default the `tftp` child of pbxkit's logger). */
  log?: Logger;
  /** Called for each transfer event. */
  onEvent?: (e: TransferEvent) => void;
  /**
   * How read transfers move data: `worker` (blocking libc UDP in worker threads, as fast as a C server; Linux with
   * FFI), `async` (`Deno.listenDatagram` on the main thread), `auto` (default: worker when available).
   */
  engine?: "auto" | "worker" | "async";
  /**
   * Worker engine: busy-poll for the client's answer this many microseconds before sleeping (default 0: off). It
   * can cut lock-step latency on an idle many-core host, but competes with the client for CPU on a small one.
   */
  spinUs?: number;
  /** UDP implementation for the listener and the async path (default `auto`; `node` is the fallback). */
  udpBackend?: UdpBackend;
  /** Most worker threads (default 8); more concurrent reads use the async path. */
  maxWorkers?: number;
}

/** What happened to a request. */
export interface TransferEvent {
  /**
   * `start`: transfer accepted; `done`/`failed`: it ended; `refused`: answered with an ERROR before any transfer;
   * `duplicate`: a repeated request from a client that already has a transfer running, ignored.
   */
  kind: "start" | "done" | "failed" | "refused" | "duplicate";
  /** `read` for a download (RRQ), `write` for an upload (WRQ). */
  op: "read" | "write";
  /** File name as the client sent it. */
  file: string;
  /** `host:port` of the client. */
  client: string;
  /**
   * Bytes: the file size on a read `start`; on `done`/`failed`, the bytes sent (the whole file when done, else the
   * bytes acknowledged) or received. Undefined otherwise.
   */
  bytes?: number;
  /** Transfer duration in milliseconds, on `done` and `failed`. */
  ms?: number;
  /** Negotiated block size in bytes, on read `done`/`failed`. */
  blksize?: number;
  /** Negotiated window size in blocks, on read `done`/`failed`. */
  windowsize?: number;
  /** DATA blocks sent more than once, on read `done`/`failed`. */
  retransmits?: number;
  /** Why the request was refused or the transfer failed, on `refused` and `failed`. */
  error?: string;
  /** The TFTP error code the server answered with (RFC 1350 §5, 2347: 8), on `refused` and, when sent, `failed`. */
  code?: number;
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`, `[v6]:port` formatting. */
export function formatPeer(a: UdpAddr): string {
  const h = a.hostname.startsWith("::ffff:") && a.hostname.includes(".") ? a.hostname.slice(7) : a.hostname;
  return h.includes(":") ? `[${h}]:${a.port}` : `${h}:${a.port}`;
}

interface Session {
  readonly active: boolean;
  readonly deadline: number;
  start(now: number): Uint8Array[];
  receive(p: Uint8Array, now: number): Uint8Array[];
  timeout(now: number): Uint8Array[];
}

/** A running TFTP server. */
export class TftpServer {
  #opts: TftpServerOptions;
  #rootReal: string;
  #listeners: UdpSocket[] = [];
  #sockets = new Set<UdpSocket>();
  #active = new Map<string, Uint8Array>();
  #tasks = new Set<Promise<void>>();
  #closing = false;
  #log: Logger;
  #pool: TransferPool | undefined;

  private constructor(opts: TftpServerOptions, rootReal: string) {
    this.#opts = opts;
    this.#rootReal = rootReal;
    this.#log = opts.log ?? rootLog.child("tftp");
    const engine = opts.engine ?? "auto";
    if (engine !== "async") {
      if (ffiAvailable()) this.#pool = new TransferPool(opts.maxWorkers ?? 8, 1);
      else if (engine === "worker") {
        throw new PbxError("E_UNSUPPORTED", "the worker engine needs Linux and --allow-ffi");
      }
    }
  }

  /** Which engine moves read transfers. */
  get engine(): "worker" | "async" {
    return this.#pool ? "worker" : "async";
  }

  /** Bind and start serving. Throws `E_PERMISSION` for port 69 without root, `E_NETWORK` when the port is taken. */
  static async listen(opts: TftpServerOptions): Promise<TftpServer> {
    let rootReal: string;
    try {
      rootReal = await Deno.realPath(opts.root);
    } catch {
      throw new PbxError("E_NOT_FOUND", `TFTP root '${opts.root}' does not exist`);
    }
    if (!(await Deno.stat(rootReal)).isDirectory) {
      throw new PbxError("E_INVALID_INPUT", `TFTP root '${opts.root}' is not a directory`);
    }
    const srv = new TftpServer(opts, rootReal);
    const port = opts.port ?? 69;
    const hosts = opts.hostnames ?? ["::"];
    let binding = hosts[0];
    try {
      for (const h of hosts) {
        binding = h;
        try {
          srv.#listeners.push(await bindUdp(h, port, { backend: opts.udpBackend }));
        } catch (err) {
          if (
            opts.hostnames === undefined && h === "::" && !(err instanceof Deno.errors.AddrInUse) &&
            !(err instanceof Deno.errors.PermissionDenied)
          ) {
            srv.#listeners.push(await bindUdp("0.0.0.0", port, { backend: opts.udpBackend })); // no IPv6 on this host
          } else throw err;
        }
      }
    } catch (err) {
      for (const l of srv.#listeners) l.close();
      await srv.#pool?.close();
      if (err instanceof Deno.errors.AddrInUse) {
        throw new PbxError("E_NETWORK", `UDP port ${port} is already in use (another TFTP server?)`, { cause: err });
      }
      if (err instanceof Deno.errors.PermissionDenied) {
        throw new PbxError("E_PERMISSION", `binding UDP port ${port} needs root (or use --tftp-port)`, { cause: err });
      }
      if (err instanceof PbxError) throw err;
      throw new PbxError("E_NETWORK", `cannot listen for TFTP on ${binding} port ${port}: ${osErrorReason(err)}`, {
        cause: err,
      });
    }
    if (srv.#pool) {
      // Let the first worker load before taking requests, so the first transfer does not wait for it.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([srv.#pool.ready, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
    for (const l of srv.#listeners) srv.#track(srv.#acceptLoop(l));
    return srv;
  }

  /** Bound addresses. */
  get addrs(): UdpAddr[] {
    return this.#listeners.map((l) => l.addr);
  }
  /** The bound port. */
  get port(): number {
    return this.#listeners[0].addr.port;
  }
  /** The served directory (resolved). */
  get root(): string {
    return this.#rootReal;
  }
  /** Transfers running now. */
  get activeTransfers(): number {
    return this.#active.size;
  }

  /** Stop listening, abort transfers and wait for them to end. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const l of this.#listeners) l.close();
    for (const s of this.#sockets) s.close();
    await this.#pool?.close();
    while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
  }

  #track(p: Promise<void>): void {
    const t = p.catch((err) => this.#log.error(`internal error: ${(err as Error)?.message ?? err}`)).finally(() =>
      this.#tasks.delete(t)
    );
    this.#tasks.add(t);
  }

  #emit(e: TransferEvent): void {
    try {
      this.#opts.onEvent?.(e);
    } catch { /* a listener's problem is not the server's */ }
  }

  async #acceptLoop(sock: UdpSocket): Promise<void> {
    const buf = new Uint8Array(65536);
    while (!this.#closing) {
      let pkt: Uint8Array, from: UdpAddr;
      try {
        [pkt, from] = await sock.receive(buf);
      } catch (err) {
        if (this.#closing || err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) return;
        this.#log.debug(`receive error: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 10)); // never spin on a failing socket
        continue;
      }
      const op = opcode(pkt);
      if (op === OP.ERROR) continue; // never answer an error (no error loops)
      let req: Request;
      try {
        req = parseRequest(pkt);
      } catch (err) {
        const e = err instanceof PacketError ? err : new PacketError(ERR.ILLEGAL_OP, "bad packet");
        this.#log.debug(`bad packet from ${formatPeer(from)}: ${e.message}`);
        await sock.send(encodeError(e.code, e.message), from).catch(() => {});
        continue;
      }
      const key = `${from.hostname}|${from.port}`;
      const op2 = req.op === OP.RRQ ? "read" : "write";
      if (this.#active.has(key)) {
        this.#log.debug(`duplicate request from ${formatPeer(from)} for ${req.filename} ignored`);
        this.#emit({ kind: "duplicate", op: op2, file: req.filename, client: formatPeer(from) });
        continue;
      }
      if (this.#active.size >= (this.#opts.maxTransfers ?? 128)) {
        const client = formatPeer(from);
        this.#emit({ kind: "refused", op: op2, file: req.filename, client, error: "server busy", code: ERR.UNDEFINED });
        await sock.send(encodeError(ERR.UNDEFINED, "server busy, try again"), from).catch(() => {});
        continue;
      }
      this.#active.set(key, pkt.slice());
      const local = sock.addr.hostname;
      this.#track(
        (req.op === OP.RRQ ? this.#serveRead(req, from, local) : this.#serveWrite(req, from, local)).finally(() =>
          this.#active.delete(key)
        ),
      );
    }
  }

  async #open(local: string): Promise<UdpSocket> {
    const s = await bindUdp(local, 0, { backend: this.#opts.udpBackend });
    this.#sockets.add(s);
    return s;
  }

  #close(s: UdpSocket): void {
    s.close();
    this.#sockets.delete(s);
  }

  #refuse(sock: UdpSocket, client: UdpAddr, op: "read" | "write", req: Request, err: unknown): Promise<void> {
    const e = err instanceof PacketError ? err : new PacketError(ERR.UNDEFINED, "server error");
    if (!(err instanceof PacketError)) this.#log.warn(`${op} ${req.filename}: ${(err as Error)?.message ?? err}`);
    this.#log.info(`refused ${op} '${req.filename}' from ${formatPeer(client)}: ${e.message}`);
    this.#emit({ kind: "refused", op, file: req.filename, client: formatPeer(client), error: e.message, code: e.code });
    return sock.send(encodeError(e.code, e.message), client).catch(() => {});
  }

  async #serveRead(req: Request, client: UdpAddr, local: string): Promise<void> {
    // octet: the file is read block by block from an open descriptor (a snapshot when files are replaced by rename);
    // netascii: converted in memory first (the size changes).
    let data: Uint8Array | undefined;
    let path: string;
    let size: number;
    try {
      if (req.mode === "mail") throw new PacketError(ERR.ILLEGAL_OP, "mail mode is not supported");
      path = await resolveRead(this.#rootReal, req.filename);
      const st = await Deno.stat(path);
      if (st.size > (this.#opts.maxFileSize ?? 4 * 1024 ** 3)) throw new PacketError(ERR.ACCESS, "file too large");
      if (req.mode === "netascii") data = toNetascii(await Deno.readFile(path));
      else await (await Deno.open(path, { read: true })).close(); // readable now, or a clear error now
      size = data?.length ?? st.size;
    } catch (err) {
      const sock = await this.#open(local);
      try {
        return await this.#refuse(sock, client, "read", req, err);
      } finally {
        this.#close(sock);
      }
    }
    const peer = formatPeer(client);
    const t0 = performance.now();
    this.#emit({ kind: "start", op: "read", file: req.filename, client: peer, bytes: size });
    const bar = new Progress(`tftp ${req.filename} -> ${peer}`, {
      total: size,
      bytes: true,
      enabled: this.#opts.progress,
    });
    let result: ReadOutcome;
    const family = local.includes(":") ? 6 : 4;
    const fast = this.#pool && sockaddr(client.hostname, client.port, { family }) && sockaddr(local, 0, { family })
      ? this.#pool.run({
        data: data ? data.slice().buffer as ArrayBuffer : path,
        options: [...req.options],
        config: {
          maxBlksize: this.#opts.maxBlksize,
          maxWindowsize: this.#opts.maxWindowsize,
          timeoutMs: this.#opts.timeoutMs,
          retries: this.#opts.retries,
        },
        bindIp: local,
        family,
        spinUs: this.#opts.spinUs ?? 0,
        clientIp: client.hostname,
        clientPort: client.port,
      }, (bytes) => bar.update(bytes))
      : undefined;
    if (fast) {
      result = await fast;
    } else {
      const sock = await this.#open(local);
      const src = data ? undefined : new FileSource(path);
      try {
        const s = new ReadSession(data ?? src!, req.options, this.#opts);
        await this.#run(sock, client, s, () => {
          bar.update(s.bytesAcked);
          return undefined;
        });
        result = readOutcome(s);
      } finally {
        src?.close();
        this.#close(sock);
      }
    }
    bar.finish({ clear: true });
    const ms = performance.now() - t0;
    const common = {
      op: "read" as const,
      file: req.filename,
      client: peer,
      ms,
      bytes: result.bytes,
      blksize: result.blksize,
      windowsize: result.windowsize,
      retransmits: result.retransmits,
    };
    if (result.state === "done") {
      this.#log.info(
        `sent ${req.filename} to ${peer}: ${formatBytes(size)} in ${(ms / 1000).toFixed(2)} s (${
          formatBytes(size / Math.max(ms / 1000, 1e-6))
        }/s) blksize=${result.blksize} windowsize=${result.windowsize} retransmits=${result.retransmits}`,
      );
      this.#emit({ kind: "done", ...common });
    } else {
      this.#log.warn(`sending ${req.filename} to ${peer} failed: ${result.error ?? "aborted"}`);
      this.#emit({ kind: "failed", error: result.error ?? "aborted", ...common });
    }
  }

  async #serveWrite(req: Request, client: UdpAddr, local: string): Promise<void> {
    const sock = await this.#open(local);
    let tmp: string | undefined;
    let file: Deno.FsFile | undefined;
    try {
      let target: string;
      try {
        if (!this.#opts.allowWrite) {
          throw new PacketError(ERR.ACCESS, "write requests are refused (server is read-only)");
        }
        if (req.mode === "mail") throw new PacketError(ERR.ILLEGAL_OP, "mail mode is not supported");
        target = await resolveWrite(this.#rootReal, req.filename);
        tmp = join(dirname(target), `.${basename(target)}.tftp-${crypto.randomUUID().slice(0, 8)}`);
        file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      } catch (err) {
        return await this.#refuse(sock, client, "write", req, err);
      }
      const s = new WriteSession(req.options, { ...this.#opts, maxSize: this.#opts.maxUploadSize });
      const peer = formatPeer(client);
      const t0 = performance.now();
      const na = req.mode === "netascii" ? { pendingCr: false } : undefined;
      this.#emit({ kind: "start", op: "write", file: req.filename, client: peer });
      const f = file;
      const dest = target;
      let writeErr: unknown;
      let committed = false;
      const guarded: Session = {
        get active() {
          return s.active && !writeErr;
        },
        get deadline() {
          return s.deadline;
        },
        start: (now) => s.start(now),
        receive: (p, now) => s.receive(p, now),
        timeout: (now) => s.timeout(now),
      };
      // The final ACK goes out only after the file is complete on disk and renamed into place.
      await this.#run(sock, client, guarded, async () => {
        try {
          for (const c of s.take()) {
            const bytes = na ? fromNetascii(c, na) : c;
            let off = 0;
            while (off < bytes.length) off += await f.write(bytes.subarray(off));
          }
          if (s.state === "done" && !committed) {
            if (na?.pendingCr) await f.write(new Uint8Array([13]));
            await f.sync();
            f.close();
            file = undefined;
            await Deno.rename(tmp!, dest);
            tmp = undefined;
            committed = true;
          }
          return undefined;
        } catch (err) {
          writeErr ??= err;
          return [encodeError(ERR.DISK_FULL, "write failed on the server")];
        }
      });
      const ms = performance.now() - t0;
      if (committed) {
        this.#log.info(
          `received ${req.filename} from ${peer}: ${formatBytes(s.bytesReceived)} in ${(ms / 1000).toFixed(2)} s`,
        );
        this.#emit({ kind: "done", op: "write", file: req.filename, client: peer, bytes: s.bytesReceived, ms });
        // Dally: answer a resent last block if our final ACK was lost.
        const dally = performance.now() + Math.min(s.params.timeoutMs, 2000);
        await this.#run(
          sock,
          client,
          {
            active: true,
            deadline: dally,
            start: () => [],
            receive: (p, now) => s.receive(p, now),
            timeout: () => [],
          },
          undefined,
          true,
        );
      } else {
        const why = writeErr ? `write failed: ${(writeErr as Error).message}` : s.error ?? "aborted";
        this.#log.warn(`receiving ${req.filename} from ${peer} failed: ${why} (the old file, if any, is untouched)`);
        this.#emit({
          kind: "failed",
          op: "write",
          file: req.filename,
          client: peer,
          bytes: s.bytesReceived,
          ms,
          error: why,
          code: writeErr ? ERR.DISK_FULL : undefined,
        });
      }
    } finally {
      file?.close();
      if (tmp) await Deno.remove(tmp).catch(() => {});
      this.#close(sock);
    }
  }

  /**
   * Drive a session: send its packets and feed it the client's. The receive loop awaits only the socket; a lazy
   * timer (re-armed only when it fires before the session's deadline) handles retransmission and gives up by
   * closing the socket. The session is called again only once its previous packets have left (it reuses buffers).
   */
  #run(
    sock: UdpSocket,
    client: UdpAddr,
    s: Session,
    after?: () => Uint8Array[] | undefined | Promise<Uint8Array[] | undefined>,
    once = false,
  ): Promise<void> {
    const buf = new Uint8Array(65536 + 4);
    let inflight: Promise<unknown> | undefined;
    let settled = true;
    const send = (pkts: Uint8Array[]) => {
      if (pkts.length === 0) return;
      settled = false;
      const ps = pkts.map((p) => sock.send(p, client));
      const all = ps.length === 1 ? ps[0] : Promise.all(ps);
      const done = () => {
        if (inflight === mine) settled = true;
      };
      const mine = all.then(done, done);
      inflight = mine;
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
      wake?.();
    };
    const onTimer = async () => {
      timer = undefined;
      if (stopped) return;
      if (performance.now() >= s.deadline) {
        if (once) return stop();
        if (!settled) await inflight;
        send(s.timeout(performance.now()));
        if (!s.active) return stop();
      }
      timer = setTimeout(onTimer, Math.max(1, s.deadline - performance.now()));
    };
    const loop = async () => {
      send(s.start(performance.now()));
      timer = setTimeout(onTimer, Math.max(1, s.deadline - performance.now()));
      while (s.active && !this.#closing && !stopped) {
        const r = await sock.receive(buf);
        if (stopped) break;
        const [p, from] = r;
        if (from.port !== client.port || from.hostname !== client.hostname) {
          if (opcode(p) !== OP.ERROR) {
            await sock.send(encodeError(ERR.UNKNOWN_TID, "unknown transfer ID"), from).catch(() => {});
          }
          continue;
        }
        if (opcode(p) === OP.ERROR) this.#log.debug(`error from ${formatPeer(client)}: ${parseError(p).message}`);
        if (!settled) await inflight;
        const out = s.receive(p, performance.now());
        const replaced = after ? await after() : undefined;
        send(replaced ?? out);
      }
    };
    // The loop ends when the session ends, or (timer) by `stop()` racing the pending receive.
    const stopped$ = new Promise<void>((res) => (wake = res));
    return Promise.race([loop(), stopped$])
      .catch((err) => {
        if (this.#closing || err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) return;
        throw err;
      })
      .finally(async () => {
        stop();
        if (!settled) await inflight;
      });
  }
}
