/**
 * `deno task bench bbb`: a 16 MiB TFTP transfer with the same client from pbxkit's server and from `in.tftpd`
 * (tftpd-hpa), alternating, several rounds; prints median times and the ratio (in.tftpd time / pbxkit time, so
 * above 1.00x means pbxkit is faster). Clients: atftp (blksize 1428, with and without windowsize 8) and, when run as
 * root with QEMU present, u-boot under QEMU (blksize 1468 lockstep, and windowsize 8).
 *
 * Options: `--rounds N` (default 5), `--size BYTES` (default 16MiB), `--no-uboot`, `--engine auto|worker|async`
 * (pbxkit's transfer engine).
 *
 * pbxkit's server runs in its own process (`bench/bbb.ts serve ROOT PORT HOST`), like in.tftpd.
 *
 * @module
 */

import { barChart, formatBytes, hasCommand, parseSize } from "../lib/common/mod.ts";
import { crc32, hex32 } from "../lib/bbb/mod.ts";
import { TftpServer } from "../lib/tftp/mod.ts";
import { denoRunArgv, freeUdpPort, Proc, ROOT, sh, waitFor } from "../tests/_util/mod.ts";
import { UBOOT, UbootConsole } from "../tests/bbb/uboot_console.ts";
import { atftpGet, randomBytes } from "../tests/tftp/_helpers.ts";
import { argValue, median, peerAbsent, printTable, ratio, saveResults } from "./_util.ts";

/** pbxkit's engine for this run (`--engine auto|worker|async`). */
let ENGINE = "auto";

interface Peer {
  name: string;
  start(root: string, port: number, host: string): Promise<Proc>;
}

const pbxkit: Peer = {
  name: "pbxkit",
  async start(root, port, host) {
    const p = new Proc(denoRunArgv(`${ROOT}/bench/bbb.ts`, ["serve", root, String(port), host, ENGINE]));
    await waitFor(() => p.stdout.includes("ready") || p.stderr.includes("rror"), { timeoutMs: 20_000 });
    if (!p.stdout.includes("ready")) throw new Error(`pbxkit server did not start: ${p.stderr}`);
    return p;
  },
};

const intftpd: Peer = {
  name: "in.tftpd",
  async start(root, port, host) {
    // -L: foreground, one process; -s: chroot/secure to root; -a: address:port.
    const p = new Proc(["in.tftpd", "-L", "-s", root, "-a", `${host}:${port}`]);
    await new Promise((r) => setTimeout(r, 300));
    return p;
  },
};

async function time(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function atftp(port: number, out: string, options: string[]): Promise<void> {
  await sh(atftpGet(options, { remote: "big.bin", local: out }, { host: "127.0.0.1", port }));
}

/** Run the benchmark. */
export async function run(args: string[]): Promise<void> {
  const rounds = Number(argValue(args, "--rounds") ?? 5);
  const size = parseSize(argValue(args, "--size") ?? "16MiB", "--size");
  const withUboot = !args.includes("--no-uboot");
  ENGINE = argValue(args, "--engine") ?? "auto";
  const dir = await Deno.makeTempDir({ prefix: "bench-bbb-" });
  const data = randomBytes(size);
  await Deno.writeFile(`${dir}/big.bin`, data, { mode: 0o644 });
  await Deno.chmod(dir, 0o755); // in.tftpd drops to the tftp user
  await Deno.chmod(`${dir}/big.bin`, 0o644);
  const want = crc32(data);
  const haveHpa = hasCommand("in.tftpd");
  if (!haveHpa) peerAbsent("in.tftpd", "apt-get install tftpd-hpa");
  if (!hasCommand("atftp")) {
    peerAbsent("atftp", "apt-get install atftp");
    return;
  }
  console.log(`${(size / 1048576).toFixed(1)} MiB file, ${rounds} rounds, alternating servers; times in ms (median)`);
  const results: Record<string, Record<string, number[]>> = {};
  const record = (scenario: string, peer: string, ms: number) => {
    ((results[scenario] ??= {})[peer] ??= []).push(ms);
  };

  try {
    // atftp scenarios: each server on its own port, started once.
    const ports = { pbxkit: freeUdpPort(), "in.tftpd": freeUdpPort() };
    while (ports["in.tftpd"] === ports.pbxkit) ports["in.tftpd"] = freeUdpPort();
    const procs: Proc[] = [await pbxkit.start(dir, ports.pbxkit, "127.0.0.1")];
    if (haveHpa) procs.push(await intftpd.start(dir, ports["in.tftpd"], "127.0.0.1"));
    try {
      const scenarios: [string, string[]][] = [
        ["atftp blksize 1428", ["blksize 1428"]],
        ["atftp blksize 1428 windowsize 8", ["blksize 1428", "windowsize 8"]],
      ];
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? ["pbxkit", "in.tftpd"] : ["in.tftpd", "pbxkit"];
        for (const [name, opts] of scenarios) {
          for (const peer of order) {
            if (peer === "in.tftpd" && !haveHpa) continue;
            const out = `${dir}/out-${peer}`;
            const ms = await time(() => atftp(ports[peer as keyof typeof ports], out, opts));
            if (crc32(await Deno.readFile(out)) !== want) throw new Error(`${peer}: corrupt download`);
            record(name, peer, ms);
          }
        }
      }
    } finally {
      for (const p of procs) await p.stop();
    }

    // u-boot under QEMU: both servers must be on port 69, so they take turns on it.
    if (withUboot) {
      if (Deno.uid() !== 0 || !hasCommand("qemu-system-arm")) {
        peerAbsent("u-boot under QEMU", "needs root (port 69) and qemu-system-arm + u-boot-qemu");
      } else {
        let ok = true;
        try {
          await Deno.stat(UBOOT);
        } catch {
          ok = false;
          peerAbsent("u-boot under QEMU", "apt-get install u-boot-qemu");
        }
        if (ok) await ubootRounds(dir, size, want, rounds, haveHpa, record);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const best = (xs: number[] | undefined) => (xs?.length ? Math.min(...xs) : NaN);
  const rows = Object.entries(results).map(([scenario, byPeer]) => {
    const p = median(byPeer.pbxkit ?? []), h = median(byPeer["in.tftpd"] ?? []);
    const pb = best(byPeer.pbxkit), hb = best(byPeer["in.tftpd"]);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "n/a");
    return [scenario, f(p), f(h), ratio(h, p), f(pb), f(hb), ratio(hb, pb)];
  });
  printTable(
    `TFTP ${
      formatBytes(size)
    } transfer in ms: median and best of the rounds (ratio = in.tftpd / pbxkit; >1 means pbxkit faster)`,
    ["scenario", "pbxkit", "in.tftpd", "ratio", "pbxkit best", "in.tftpd best", "ratio best"],
    rows,
  );
  const wsP = median(results["atftp blksize 1428 windowsize 8"]?.pbxkit ?? []);
  const lsH = median(results["atftp blksize 1428"]?.["in.tftpd"] ?? []);
  console.log(
    `\npbxkit with windowsize 8 vs in.tftpd at its best (lockstep, blksize 1428): ${ratio(lsH, wsP)} ` +
      "(in.tftpd 5.2 does not implement RFC 7440 and ignores the windowsize option)",
  );
  const svg = barChart(
    Object.entries(results).map(([label, byPeer]) => ({
      label,
      values: [median(byPeer.pbxkit ?? []), median(byPeer["in.tftpd"] ?? [NaN])],
    })),
    {
      title: `TFTP ${formatBytes(size)} transfer (median, lower is better)`,
      yLabel: "ms",
      seriesNames: ["pbxkit", "in.tftpd"],
    },
  );
  await saveResults("bbb", { size, rounds, crc32: hex32(want), results }, svg);
}

async function ubootRounds(
  dir: string,
  size: number,
  want: number,
  rounds: number,
  haveHpa: boolean,
  record: (s: string, p: string, ms: number) => void,
): Promise<void> {
  const con = await UbootConsole.boot();
  try {
    await con.run("setenv ipaddr 10.0.2.15; setenv serverip 255.255.255.255");
    const scenarios: [string, string][] = [
      ["u-boot blksize 1468", "setenv tftpwindowsize 1; setenv tftpblocksize 1468"],
      ["u-boot blksize 1468 windowsize 8", "setenv tftpwindowsize 8; setenv tftpblocksize 1468"],
    ];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [pbxkit, intftpd] : [intftpd, pbxkit];
      for (const peer of order) {
        if (peer === intftpd && !haveHpa) continue;
        const proc = await startOn69(peer, dir);
        try {
          for (const [name, setup] of scenarios) {
            await con.run(setup);
            const t0 = performance.now();
            const out = await con.run("tftp 41000000 big.bin", 120_000);
            const ms = performance.now() - t0;
            if (!out.includes(`Bytes transferred = ${size} `)) throw new Error(`u-boot via ${peer.name}: ${out}`);
            const c = await con.crc32(0x41000000, size);
            if (c !== hex32(want)) throw new Error(`u-boot via ${peer.name}: crc ${c}`);
            record(name, peer.name, ms);
          }
        } finally {
          await proc.stop();
        }
      }
    }
  } finally {
    await con.close();
  }
}

async function startOn69(peer: Peer, dir: string): Promise<Proc> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const p = await peer.start(dir, 69, peer === intftpd ? "0.0.0.0" : "::").catch(() => undefined);
    if (p) {
      // in.tftpd exits at once when the port is taken
      const early = await Promise.race([p.done.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
      if (!early) return p;
    }
    if (Date.now() > deadline) throw new Error(`${peer.name} could not bind port 69`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// `bench/bbb.ts serve ROOT PORT HOST`: pbxkit's TFTP server in its own process for the benchmark.
if (import.meta.main && Deno.args[0] === "serve") {
  const [, root, port, host, engine] = Deno.args;
  const srv = await TftpServer.listen({
    root,
    port: Number(port),
    hostnames: [host],
    progress: false,
    engine: (engine ?? "auto") as "auto" | "worker" | "async",
  });
  console.log("ready", srv.port);
  const stop = () => srv.close().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
