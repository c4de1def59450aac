/**
 * `deno task bench ws`: echo throughput (messages/s) and p99 round trip of pbxkit's WebSocket server against
 * Deno's built-in `Deno.upgradeWebSocket` server and Node's `ws` package, with the same load generator
 * (`../shared/bench/wsload.c`, built with `gcc -O2`), server pinned to core 0 and generator to core 1 with
 * `taskset`. 1/16/256 connections x 32 B/16 KiB text messages, a few seconds per cell.
 *
 *   deno task bench ws [--seconds 1.5] [--warmup 0.3] [--depth 1] [--rounds 2] [--only pbxkit,deno,node]
 *
 * @module
 */

import { barChart, hasCommand, runArgv } from "../lib/common/mod.ts";
import { argValue, peerAbsent, printTable, ratio, saveResults } from "./_util.ts";
import { cliArgv, freePort, ROOT, waitForPort } from "../tests/_util/mod.ts";

const WORK = `${ROOT}/.tmp/bench-peers`;
const WSLOAD_SRC = `${ROOT}/../shared/bench/wsload.c`;
const CONNS = [1, 16, 256];
const SIZES = [32, 16384];

const DENO_ECHO = `const port = Number(Deno.args[0]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => console.log("ready") }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
});
`;

const NODE_ECHO = `const { WebSocketServer } = require("ws");
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[2]), perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on("listening", () => console.log("ready"));
`;

interface Cell {
  conns: number;
  size: number;
  rate: number;
  p50: number;
  p99: number;
  errors: number;
}

interface Peer {
  name: string;
  argv: (port: number) => string[];
}

async function buildWsload(): Promise<string> {
  const out = `${WORK}/wsload`;
  await Deno.mkdir(WORK, { recursive: true });
  await Deno.copyFile(WSLOAD_SRC, `${WORK}/wsload.c`);
  await runArgv(["gcc", "-O2", "-o", out, `${WORK}/wsload.c`], { timeoutMs: 60_000 });
  return out;
}

async function nodePeer(): Promise<Peer | undefined> {
  if (!hasCommand("node") || !hasCommand("npm")) {
    peerAbsent("node ws", "install Node.js and npm");
    return undefined;
  }
  try {
    await Deno.stat(`${WORK}/node_modules/ws/package.json`);
  } catch {
    const r = await runArgv(
      ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", WORK, "ws@8.23.0"],
      { timeoutMs: 120_000, check: false },
    );
    if (r.code !== 0) {
      peerAbsent("node ws", `npm install ws@8.23.0 failed: ${r.stderr.trim().split("\n")[0]}`);
      return undefined;
    }
  }
  await Deno.writeTextFile(`${WORK}/node_echo.js`, NODE_ECHO);
  return { name: "node ws", argv: (port) => ["node", `${WORK}/node_echo.js`, String(port)] };
}

function parseLine(line: string, conns: number, size: number): Cell {
  const num = (k: string) => Number(new RegExp(`${k}=([\\d.]+)`).exec(line)?.[1] ?? NaN);
  return { conns, size, rate: num("rate"), p50: num("p50"), p99: num("p99"), errors: num("errors") };
}

interface Running {
  peer: Peer;
  port: number;
  child: Deno.ChildProcess;
}

/** The load generator on core 1 against 127.0.0.1:`port` (`depth` only when given, as wsload's default). */
function wsloadArgv(
  wsload: string,
  o: { port: number; conns: number; size: number; seconds: number; warmup: number; depth?: number },
): string[] {
  return [
    "taskset",
    "-c",
    "1",
    wsload,
    "-h",
    "127.0.0.1",
    "-p",
    String(o.port),
    "-c",
    String(o.conns),
    ...(o.depth === undefined ? [] : ["-d", String(o.depth)]),
    "-s",
    String(o.size),
    "-t",
    String(o.seconds),
    "-w",
    String(o.warmup),
  ];
}

async function startPeer(peer: Peer, wsload: string): Promise<Running> {
  const port = freePort();
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", ...peer.argv(port)],
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  await waitForPort(port, "127.0.0.1", 30_000);
  // Warm the JIT (and the server's buffers) before the first measured cell.
  await runArgv(wsloadArgv(wsload, { port, conns: 16, size: 1024, seconds: 1, warmup: 0 }), {
    timeoutMs: 60_000,
    check: false,
  });
  return { peer, port, child };
}

async function runCell(
  r: Running,
  wsload: string,
  cell: { conns: number; size: number },
  opts: { seconds: number; warmup: number; depth: number },
): Promise<Cell> {
  const out = await runArgv(
    wsloadArgv(wsload, { port: r.port, ...cell, depth: opts.depth, seconds: opts.seconds, warmup: opts.warmup }),
    { timeoutMs: (opts.seconds + opts.warmup) * 1000 + 60_000, check: false },
  );
  const line = out.stdout.trim().split("\n").pop() ?? "";
  console.log(`  ${r.peer.name.padEnd(8)} ${line || out.stderr.trim()}`);
  return parseLine(line, cell.conns, cell.size);
}

/** Run the benchmark. */
export async function run(args: string[]): Promise<void> {
  const flag = (name: string, def: number) => {
    const v = argValue(args, name);
    return v === undefined ? def : Number(v);
  };
  const opts = {
    seconds: flag("--seconds", 1.5),
    warmup: flag("--warmup", 0.3),
    depth: flag("--depth", 1),
    rounds: flag("--rounds", 2),
  };
  const only = argValue(args, "--only")?.split(",") ?? ["pbxkit", "deno", "node"];
  for (const t of ["gcc", "taskset"]) {
    if (!hasCommand(t)) {
      console.log(`bench ws: '${t}' is needed (apt-get install ${t === "gcc" ? "gcc" : "util-linux"})`);
      return;
    }
  }
  const wsload = await buildWsload();
  await Deno.writeTextFile(`${WORK}/deno_echo.ts`, DENO_ECHO);
  const peers: Peer[] = [];
  if (only.includes("pbxkit")) {
    peers.push({
      name: "pbxkit",
      argv: (port) => cliArgv(["ws-serve", "--echo", "--port", String(port), "--idle-timeout", "0"]),
    });
  }
  if (only.includes("deno")) {
    peers.push({
      name: "deno",
      argv: (port) => [Deno.execPath(), "run", "--quiet", "-A", `${WORK}/deno_echo.ts`, String(port)],
    });
  }
  if (only.includes("node")) {
    const n = await nodePeer();
    if (n) peers.push(n);
  }
  console.log(
    `echo: ${CONNS.join("/")} connections x ${
      SIZES.join("/")
    } B text, depth ${opts.depth}, ${opts.seconds}s per cell ` +
      `(+${opts.warmup}s warm-up), best of ${opts.rounds} rounds; servers on core 0, wsload on core 1`,
  );
  // All servers run side by side (idle while not measured); each cell is measured for every server back to back,
  // `--rounds` times in rotation, keeping each server's best: fairer on a machine whose load varies.
  const running: Running[] = [];
  const results: Record<string, Cell[]> = {};
  try {
    for (const p of peers) running.push(await startPeer(p, wsload));
    for (const conns of CONNS) {
      for (const size of SIZES) {
        for (let round = 0; round < opts.rounds; round++) {
          for (const r of running) {
            const c = await runCell(r, wsload, { conns, size }, opts);
            const list = results[r.peer.name] ??= [];
            const prev = list.find((x) => x.conns === conns && x.size === size);
            if (!prev) list.push(c);
            else if (!(prev.rate >= c.rate)) Object.assign(prev, c);
          }
        }
      }
    }
  } finally {
    for (const r of running) {
      try {
        r.child.kill("SIGTERM");
      } catch { /* exited */ }
      await r.child.status;
    }
  }

  const names = peers.map((p) => p.name);
  const rows = CONNS.flatMap((c) =>
    SIZES.map((s) => {
      const get = (n: string) => results[n]?.find((x) => x.conns === c && x.size === s);
      const pbx = get("pbxkit"), deno = get("deno"), node = get("node ws");
      return [
        `${c} x ${s} B`,
        ...names.map((n) => Math.round(get(n)?.rate ?? NaN)),
        ...names.map((n) => (get(n)?.p99 ?? NaN).toFixed(0)),
        pbx && deno ? ratio(pbx.rate, deno.rate) : "n/a",
        pbx && node ? ratio(pbx.rate, node.rate) : "n/a",
      ];
    })
  );
  printTable(
    "WebSocket echo: messages/s (higher is better) and p99 round trip in µs (lower is better)",
    ["case", ...names.map((n) => `${n} msg/s`), ...names.map((n) => `${n} p99 µs`), "pbxkit/deno", "pbxkit/node"],
    rows,
  );
  const svg = barChart(
    CONNS.flatMap((c) =>
      SIZES.map((s) => ({
        label: `${c}c ${s >= 1024 ? `${s / 1024}KiB` : `${s}B`}`,
        values: names.map((n) => results[n]?.find((x) => x.conns === c && x.size === s)?.rate ?? 0),
      }))
    ),
    { title: "WebSocket echo throughput (msg/s)", yLabel: "messages / s", seriesNames: names },
  );
  await saveResults("ws", { options: opts, results }, svg);
}
