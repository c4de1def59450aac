/**
 * A small UDP socket interface for the TFTP server: `Deno.listenDatagram` when the runtime has it (needs
 * `"unstable": ["net"]`, the fast path), otherwise `node:dgram`.
 *
 * @module
 */

import dgram from "node:dgram";

/** A UDP peer address. */
export interface UdpAddr {
  /** IPv4 or IPv6 address (IPv4 clients on a dual-stack socket appear as `::ffff:a.b.c.d`). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** A bound UDP socket. */
export interface UdpSocket {
  /** Local address. */
  readonly addr: UdpAddr;
  /** Next datagram; the bytes may live in `buf` (valid until the next call). Rejects once closed. */
  receive(buf: Uint8Array): Promise<[Uint8Array, UdpAddr]>;
  /** Send a datagram. */
  send(data: Uint8Array, to: UdpAddr): Promise<void>;
  /** Close; a pending `receive` rejects. */
  close(): void;
}

type ListenDatagram = (o: { hostname: string; port: number; transport: "udp" }) => Deno.DatagramConn;

/** Which implementation {@linkcode bindUdp} uses: `auto` picks `Deno.listenDatagram` when present. */
export type UdpBackend = "auto" | "deno" | "node";

/** Options for {@linkcode bindUdp}. */
export interface BindUdpOptions {
  /** Which implementation to use (default `auto`). */
  backend?: UdpBackend;
}

/** Bind a UDP socket (`port` 0 for an ephemeral one). */
export async function bindUdp(hostname: string, port: number, options: BindUdpOptions = {}): Promise<UdpSocket> {
  const backend = options.backend ?? "auto";
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram }).listenDatagram;
  if (backend !== "node" && typeof listen === "function") {
    return denoSocket(listen({ hostname, port, transport: "udp" }));
  }
  if (backend === "deno") throw new Error("Deno.listenDatagram needs the unstable 'net' feature");
  return await nodeSocket(hostname, port);
}

function denoSocket(conn: Deno.DatagramConn): UdpSocket {
  const a = conn.addr as Deno.NetAddr;
  return {
    addr: { hostname: a.hostname, port: a.port },
    // Hot path: Deno's own address objects are passed through (they already carry `transport`).
    receive(buf) {
      return conn.receive(buf) as Promise<[Uint8Array, UdpAddr]>;
    },
    send(data, to) {
      const addr = (to as Partial<Deno.NetAddr>).transport === "udp"
        ? to as Deno.NetAddr
        : { transport: "udp" as const, hostname: to.hostname, port: to.port };
      return conn.send(data, addr) as unknown as Promise<void>;
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

async function nodeSocket(hostname: string, port: number): Promise<UdpSocket> {
  const sock = dgram.createSocket({ type: hostname.includes(":") ? "udp6" : "udp4" });
  await new Promise<void>((res, rej) => {
    sock.once("error", (e: Error & { code?: string }) =>
      rej(
        e.code === "EADDRINUSE"
          ? new Deno.errors.AddrInUse(e.message)
          : e.code === "EACCES"
          ? new Deno.errors.PermissionDenied(e.message)
          : e,
      ));
    sock.bind(port, hostname, () => {
      sock.removeAllListeners("error");
      res();
    });
  });
  const queue: [Uint8Array, UdpAddr][] = [];
  let waiter: { res: (v: [Uint8Array, UdpAddr]) => void; rej: (e: Error) => void } | undefined;
  let closed = false;
  sock.on("message", (msg: Uint8Array, r: { address: string; port: number }) => {
    const item: [Uint8Array, UdpAddr] = [new Uint8Array(msg), { hostname: r.address, port: r.port }];
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.res(item);
    } else if (queue.length < 1024) queue.push(item);
  });
  sock.on("error", () => {});
  const a = sock.address();
  return {
    addr: { hostname: a.address, port: a.port },
    receive() {
      if (closed) return Promise.reject(new Deno.errors.BadResource("socket closed"));
      const q = queue.shift();
      if (q) return Promise.resolve(q);
      return new Promise((res, rej) => (waiter = { res, rej }));
    },
    send(data, to) {
      return new Promise((res, rej) => sock.send(data, to.port, to.hostname, (e) => (e ? rej(e) : res())));
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
      waiter?.rej(new Deno.errors.BadResource("socket closed"));
      waiter = undefined;
    },
  };
}
