// The TFTP server against real clients (tftp-hpa, atftp, curl) and a raw UDP client for hostile requests.
// Ephemeral ports only (port 69 is used by the u-boot test alone).
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { cliArgv, settle, sh, TestNet, testWith, waitFor } from "../_util/mod.ts";
import {
  bindUdp,
  blockOf,
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
  ERR,
  OP,
  opcode,
  parseError,
  parseOack,
  TftpServer,
} from "../../lib/tftp/mod.ts";
import type { TransferEvent, UdpAddr, UdpSocket } from "../../lib/tftp/mod.ts";
import { Logger } from "../../lib/common/mod.ts";
import { atftpGet, bbbPackArgs, curlGet, randomBytes as rand, waitForLog } from "./_helpers.ts";

interface Fixture {
  dir: string;
  root: string;
  srv: TftpServer;
  port: number;
  events: TransferEvent[];
  files: Record<string, Uint8Array>;
  close(): Promise<void>;
}

async function fixture(
  opts: { allowWrite?: boolean; engine?: "worker" | "async"; udpBackend?: "auto" | "node" } = {},
): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "tftp-test-" });
  const root = `${dir}/root`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/secret.txt`, "outside the root\n");
  await Deno.mkdir(`${dir}/outside`);
  await Deno.writeTextFile(`${dir}/outside/x.txt`, "also outside\n");
  const files: Record<string, Uint8Array> = {
    "small.bin": rand(1000),
    "exact.bin": rand(1024),
    "big.bin": rand(2 * 1024 * 1024 + 77),
    "sub/n.bin": rand(5000),
    "text.txt": new TextEncoder().encode("line one\nline two\r\nlast line without newline"),
  };
  for (const [k, v] of Object.entries(files)) await Deno.writeFile(`${root}/${k}`, v);
  await Deno.symlink(`${dir}/secret.txt`, `${root}/escape.txt`);
  await Deno.symlink(`${dir}/outside`, `${root}/outdir`);
  await Deno.symlink(`${root}/small.bin`, `${root}/alias.bin`); // a symlink inside the root is fine
  const events: TransferEvent[] = [];
  const srv = await TftpServer.listen({
    root,
    port: 0,
    allowWrite: opts.allowWrite,
    engine: opts.engine,
    udpBackend: opts.udpBackend,
    onEvent: (e) => events.push(e),
    log: new Logger({ level: "error" }),
    progress: false,
  });
  return {
    dir,
    root,
    srv,
    port: srv.port,
    events,
    files,
    async close() {
      await srv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A raw UDP client for protocol-level checks. */
class Raw {
  constructor(readonly sock: UdpSocket, readonly server: UdpAddr) {}
  static async open(port: number, host = "127.0.0.1"): Promise<Raw> {
    return new Raw(await bindUdp(host, 0), { hostname: host, port });
  }
  #pending: Promise<[Uint8Array, UdpAddr]> | undefined;
  send(p: Uint8Array, to: UdpAddr = this.server): Promise<void> {
    return this.sock.send(p, to);
  }
  /** Next packet, or undefined after `ms`. */
  async recv(ms = 3000): Promise<[Uint8Array, UdpAddr] | undefined> {
    this.#pending ??= this.sock.receive(new Uint8Array(70000)).then(([d, a]) =>
      [d.slice(), a] as [Uint8Array, UdpAddr]
    );
    this.#pending.catch(() => {});
    let t: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      this.#pending,
      new Promise<undefined>((res) => (t = setTimeout(() => res(undefined), ms))),
    ]);
    clearTimeout(t);
    if (r) this.#pending = undefined;
    return r;
  }
  close(): void {
    this.sock.close();
  }
}

async function tftpHpa(port: number, args: string[]): Promise<string> {
  const out = await sh(["tftp", "127.0.0.1", String(port), ...args], { check: false });
  return out.stdout + out.stderr;
}

const TOOLS = { tools: ["tftp", "atftp", "curl"] };

for (
  const [engine, udpBackend] of [["worker", "auto"], ["async", "auto"], ["async", "node"]] as const
) {
  testWith(
    `real clients (${engine} engine, ${udpBackend} UDP): tftp-hpa (binary, netascii), atftp (blksize, windowsize), curl, IPv6, concurrency`,
    TOOLS,
    async () => {
      const f = await fixture({ engine, udpBackend });
      assertEquals(f.srv.engine, engine);
      try {
        const out = `${f.dir}/got`;
        const local = { host: "127.0.0.1", port: f.port };
        // tftp-hpa, binary
        for (const name of ["small.bin", "exact.bin", "sub/n.bin", "alias.bin"]) {
          const msg = await tftpHpa(f.port, ["-m", "binary", "-c", "get", name, out]);
          assertEquals(msg.trim(), "", msg);
          assertEquals(await Deno.readFile(out), f.files[name === "alias.bin" ? "small.bin" : name], name);
        }
        // tftp-hpa, netascii: the client converts back to local line endings
        await tftpHpa(f.port, ["-m", "netascii", "-c", "get", "text.txt", out]);
        assertEquals(await Deno.readTextFile(out), new TextDecoder().decode(f.files["text.txt"]));
        // atftp with blksize and windowsize (RFC 2348 / 7440)
        const bigDone = () => f.events.filter((e) => e.kind === "done" && e.file === "big.bin").length;
        for (
          const opts of [["blksize 1428"], ["blksize 1428", "windowsize 8"], ["blksize 65464", "windowsize 4"], []]
        ) {
          const before = bigDone();
          const r = await sh(atftpGet(opts, { remote: "big.bin", local: out }, local), { check: false });
          assertEquals(r.code, 0, r.stdout + r.stderr);
          assertEquals(await Deno.readFile(out), f.files["big.bin"], `atftp ${opts.join(",")}`);
          // the next transfer starts only once this one's "done" is in (it can come after atftp exits, from a
          // worker): the events below stay in the order of the runs
          await waitFor(() => bigDone() > before, { what: `big.bin done for atftp ${opts.join(",")}` });
        }
        // the server records "done" when the client's last ACK arrives, which may be after the client exits
        const ev = await waitFor(() => {
          const done = f.events.filter((e) => e.kind === "done" && e.file === "big.bin");
          return done.length >= 4 ? done : undefined;
        }, { what: "four big.bin transfers done" });
        assertEquals(ev.map((e) => [e.blksize, e.windowsize]), [[1428, 1], [1428, 8], [65464, 4], [512, 1]]);
        // curl, IPv4 and IPv6
        await sh(curlGet(`tftp://127.0.0.1:${f.port}/big.bin`, out, 20));
        assertEquals(await Deno.readFile(out), f.files["big.bin"]);
        await sh(curlGet(`tftp://[::1]:${f.port}/small.bin`, out, 20));
        assertEquals(await Deno.readFile(out), f.files["small.bin"]);
        const v6 = () => f.events.filter((e) => e.client.startsWith("[::1]"));
        const served = await waitFor(() => v6().some((e) => e.kind === "done"), { timeoutMs: 5000 }).catch(() => false);
        assert(served, `an IPv6 client was served; its events: ${JSON.stringify(v6())}`);
        // concurrent clients
        await Promise.all([0, 1, 2, 3].map(async (i) => {
          const r = await sh(
            atftpGet(["blksize 1428", "windowsize 8"], { remote: "big.bin", local: `${out}${i}` }, local),
            { check: false },
          );
          assertEquals(r.code, 0, r.stderr);
          assertEquals(await Deno.readFile(`${out}${i}`), f.files["big.bin"]);
        }));
      } finally {
        await f.close();
      }
    },
  );
}

testWith(
  "hostile requests get RFC errors: traversal, absolute, symlink escapes, missing files, bad modes",
  TOOLS,
  async () => {
    const f = await fixture();
    const raw = await Raw.open(f.port);
    try {
      const cases: [string, number, string?][] = [
        ["../secret.txt", ERR.ACCESS],
        ["sub/../../secret.txt", ERR.ACCESS],
        ["/etc/passwd", ERR.ACCESS],
        ["escape.txt", ERR.ACCESS],
        ["outdir/x.txt", ERR.ACCESS],
        ["sub", ERR.ACCESS],
        ["missing.bin", ERR.NOT_FOUND],
        ["small.bin", ERR.ILLEGAL_OP, "mail"],
      ];
      for (const [name, code, mode] of cases) {
        await raw.send(encodeRequest(OP.RRQ, name, { mode: mode ?? "octet" }));
        const r = await raw.recv();
        assert(r, `reply for ${name}`);
        assertEquals(opcode(r[0]), OP.ERROR, name);
        assertEquals(parseError(r[0]).code, code, `${name}: ${parseError(r[0]).message}`);
      }
      // the same through tftp-hpa's eyes
      const msg = await tftpHpa(f.port, ["-m", "binary", "-c", "get", "../secret.txt", `${f.dir}/x`]);
      assertMatch(msg, /Error code 2/);
      // writes are refused by default
      await Deno.writeFile(`${f.dir}/up.bin`, rand(100));
      const w = await tftpHpa(f.port, ["-m", "binary", "-c", "put", `${f.dir}/up.bin`, "up.bin"]);
      assertMatch(w, /Error code 2/);
      assert(!(await Deno.stat(`${f.root}/up.bin`).catch(() => undefined)));
      // the server still serves
      await sh(curlGet(`tftp://127.0.0.1:${f.port}/small.bin`, `${f.dir}/ok`, 10));
      assertEquals(await Deno.readFile(`${f.dir}/ok`), f.files["small.bin"]);
    } finally {
      raw.close();
      await f.close();
    }
  },
);

testWith(
  "protocol abuse: garbage, unknown options, duplicate requests, wrong TID, error mid-transfer, lost ACKs",
  TOOLS,
  async () => {
    const f = await fixture();
    const raw = await Raw.open(f.port);
    const other = await Raw.open(f.port);
    try {
      // garbage to the server port: "illegal operation", and nothing breaks
      for (const g of [new Uint8Array([0xff]), new Uint8Array([0, 1, 65]), new Uint8Array([0, 7, 0, 0]), rand(600)]) {
        await raw.send(g);
        const r = await raw.recv();
        assert(r && opcode(r[0]) === OP.ERROR, "garbage answered with an error");
        assertEquals(parseError(r[0]).code === ERR.ILLEGAL_OP || parseError(r[0]).code === ERR.OPTION, true);
      }
      // unknown options are ignored (RFC 2347), known ones acknowledged
      const rrq = encodeRequest(OP.RRQ, "small.bin", {
        mode: "octet",
        // timeout 3: the 700 ms wait for "no second OACK" below is far from the first retransmission
        options: { foo: "bar", blksize: "600", tsize: "0", timeout: "3", "x-y": "1" },
      });
      await raw.send(rrq);
      let r = await raw.recv();
      assert(r && opcode(r[0]) === OP.OACK);
      assertEquals([...parseOack(r[0])], [["blksize", "600"], ["tsize", "1000"], ["timeout", "3"]]);
      const tid = r[1];
      // a duplicate of the same request from the same port does not start a second transfer
      await raw.send(rrq);
      assertEquals(await raw.recv(700), undefined, "no second OACK");
      // the event is recorded when the server reads the duplicate, which a loaded machine may do late
      await waitFor(() => f.events.some((e) => e.kind === "duplicate"), { what: "the duplicate request seen" });
      assertEquals(f.events.filter((e) => e.kind === "duplicate").length, 1);
      // a packet from a wrong TID gets error 5 and does not disturb the transfer
      await other.send(encodeAck(0), tid);
      const e5 = await other.recv();
      assert(e5 && parseError(e5[0]).code === ERR.UNKNOWN_TID);
      // lost ACK: don't acknowledge the OACK -> the server retransmits it after its timeout
      const again = await raw.recv(8000);
      assert(again && opcode(again[0]) === OP.OACK, "OACK retransmitted");
      await raw.send(encodeAck(0), tid);
      r = await raw.recv();
      assert(r && opcode(r[0]) === OP.DATA && blockOf(r[0]) === 1 && r[0].length === 4 + 600);
      // lose the ACK of block 1 -> DATA 1 comes again
      const d1again = await raw.recv(8000);
      assert(d1again && opcode(d1again[0]) === OP.DATA && blockOf(d1again[0]) === 1, "DATA retransmitted");
      await raw.send(encodeAck(1), tid);
      r = await raw.recv();
      assert(r && blockOf(r[0]) === 2 && r[0].length === 4 + 400);
      await raw.send(encodeAck(2), tid);
      await waitFor(() => f.events.some((e) => e.kind === "done" && e.file === "small.bin"), { what: "done" });

      // an error packet mid-transfer ends that transfer, the server goes on
      await raw.send(encodeRequest(OP.RRQ, "big.bin", { mode: "octet" }));
      r = await raw.recv();
      assert(r && opcode(r[0]) === OP.DATA);
      await raw.send(encodeError(ERR.UNDEFINED, "user abort"), r[1]);
      await waitFor(() => f.events.some((e) => e.kind === "failed" && e.file === "big.bin"), { what: "abort seen" });
      assertStringIncludes(f.events.find((e) => e.kind === "failed")!.error!, "user abort");
      assertEquals(await raw.recv(1500), undefined, "nothing more after the client's error");
      await sh(curlGet(`tftp://127.0.0.1:${f.port}/big.bin`, `${f.dir}/ok`, 10));
      assertEquals(await Deno.readFile(`${f.dir}/ok`), f.files["big.bin"]);
      // curl exits once it has sent its last ACK; the server ends the transfer when that ACK arrives
      await settle(() => f.srv.activeTransfers === 0);
      assertEquals(f.srv.activeTransfers, 0);
    } finally {
      raw.close();
      other.close();
      await f.close();
    }
  },
);

testWith(
  "uploads with allow-write: tftp-hpa put lands atomically; an aborted upload never replaces the file",
  TOOLS,
  async () => {
    const f = await fixture({ allowWrite: true });
    const raw = await Raw.open(f.port);
    try {
      const up = rand(300_000);
      await Deno.writeFile(`${f.dir}/up.bin`, up);
      const msg = await tftpHpa(f.port, ["-m", "binary", "-c", "put", `${f.dir}/up.bin`, "sub/new.bin"]);
      assertEquals(msg.trim(), "", msg);
      assertEquals(await Deno.readFile(`${f.root}/sub/new.bin`), up);
      // atftp with windowsize uploads too
      const r = await sh([
        "atftp",
        "--option",
        "blksize 1428",
        "--option",
        "windowsize 8",
        "-p",
        "-l",
        `${f.dir}/up.bin`,
        "-r",
        "w8.bin",
        "127.0.0.1",
        String(f.port),
      ], { check: false });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await Deno.readFile(`${f.root}/w8.bin`), up);
      // partial upload over an existing file, then the client gives up with an error
      await raw.send(encodeRequest(OP.WRQ, "small.bin", { mode: "octet" }));
      let a = await raw.recv();
      assert(a && opcode(a[0]) === OP.ACK && blockOf(a[0]) === 0);
      await raw.send(encodeData(1, rand(512)), a[1]);
      a = await raw.recv();
      assert(a && blockOf(a[0]) === 1);
      await raw.send(encodeError(ERR.UNDEFINED, "cancelled"), a[1]);
      await waitFor(() => f.events.some((e) => e.op === "write" && e.kind === "failed"), { what: "upload failure" });
      assertEquals(await Deno.readFile(`${f.root}/small.bin`), f.files["small.bin"], "old file untouched");
      // the server reports the failure first, then removes its temp file and forgets the transfer (until then a new
      // request from this same port would be ignored as a duplicate)
      const temps = () => [...Deno.readDirSync(f.root)].map((e) => e.name).filter((n) => n.includes(".tftp-"));
      await settle(() => temps().length === 0 && f.srv.activeTransfers === 0);
      assertEquals(temps(), [], "no temp files left");
      // uploads cannot escape either
      await raw.send(encodeRequest(OP.WRQ, "outdir/evil.txt", { mode: "octet" }));
      const e = await raw.recv();
      assert(e && parseError(e[0]).code === ERR.ACCESS);
      await raw.send(encodeRequest(OP.WRQ, "escape.txt", { mode: "octet" }));
      const e2 = await raw.recv();
      assert(e2 && parseError(e2[0]).code === ERR.ACCESS);
      assertEquals(await Deno.readTextFile(`${f.dir}/secret.txt`), "outside the root\n");
    } finally {
      raw.close();
      await f.close();
    }
  },
);

testWith(
  "across namespaces: the CLI on the default port 69 serves an IPv4 and an IPv6 client on another host",
  { tools: ["ip", "atftp", "curl"], root: true },
  async () => {
    const net = await TestNet.create(["server", "board"]);
    const dir = await Deno.makeTempDir({ prefix: "tftp-netns-" });
    try {
      const os = rand(300_000);
      await Deno.writeFile(`${dir}/os.bin`, os);
      await Deno.writeFile(`${dir}/a.bin`, rand(1000));
      const srv = net.spawn("server", cliArgv(bbbPackArgs(dir, `${dir}/out`, ["--tftp"])));
      await waitForLog(srv, "tftp: serving", "server in the namespace");
      assertStringIncludes(srv.stderr, "udp [::]:69");
      const { ipv4, ipv6 } = net.hosts.server;
      const r4 = await net.run(
        "board",
        atftpGet(["blksize 1428", "windowsize 8"], { remote: "os.bin", local: `${dir}/got4` }, {
          host: ipv4,
          port: 69,
        }),
        { check: false },
      );
      assertEquals(r4.code, 0, r4.stderr);
      assertEquals(await Deno.readFile(`${dir}/got4`), os);
      await net.run("board", curlGet(`tftp://[${ipv6}]/os.bin`, `${dir}/got6`, 15));
      assertEquals(await Deno.readFile(`${dir}/got6`), os);
      const board = net.hosts.board;
      await waitFor(() => srv.stderr.includes(`to [${board.ipv6}]:`) && srv.stderr.includes(`to ${board.ipv4}:`), {
        timeoutMs: 5000,
        what: "both transfers logged",
      });
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
