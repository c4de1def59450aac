/**
 * `deno task bench ws`: echo throughput (messages/s), p99 round trip and server CPU per echoed message of
 * pbxkit's WebSocket server against Deno's built-in `Deno.upgradeWebSocket` server and Node's `ws` package, with
 * the same load generator (`bench/wsload.c`, pbxkit's copy of `../shared/bench/wsload.c` with `-P PID`: the
 * server's utime+stime from `/proc/PID/stat` over exactly the measured window, all threads), built with `gcc -O2`.
 * Servers are pinned to core 0 and the generator to core 1 with `taskset`. Cells: 1/16/256 connections x
 * 32 B/16 KiB text messages plus 1024 x 32 B. Every cell runs `--rounds` times, servers interleaved (the order
 * rotates each round); the table prints each figure's median and its spread (min-max over the rounds).
 *
 *   deno task bench ws [--seconds 1.5] [--warmup 0.3] [--depth 1] [--rounds 3] [--only pbxkit,deno,node]
 *                      [--cells 256x32,1024x32] [--workers 2] [--together]
 *
 * `--together` measures pbxkit and each other server at the same time instead of one after the other: both pinned to
 * core 0, each with its own generator on core 1, so that both see the same moment of a machine whose speed varies
 * from second to second (a noisy virtual machine: back-to-back runs of one server differ by up to 2x there). It
 * prints the median (min-max) over the rounds of the paired ratios pbxkit/other: msg/s (each has about half a core,
 * so the rates are about half those of a run alone), CPU per message and p99.
 *
 * `--workers N` adds three servers and a second table that compares like with like: `pbxkit wN` (`ws-serve
 * --workers N`, not pinned: its workers may use both cores, competing with the generator for core 1) against
 * `pbxkit free` (one worker, not pinned either), and `pbxkit wN core0` (N workers pinned together to core 0)
 * against `pbxkit` (one, pinned to core 0). For the N-worker servers it also reads each worker thread's CPU
 * (`/proc/PID/task/*`, threads named `worker-K`) over the run: how evenly `SO_REUSEPORT` spread the load.
 *
 * @module
 */

import { barChart, hasCommand, runArgv } from "../lib/common/mod.ts";
import { argValue, median, parseProcStat, peerAbsent, printTable, ratio, saveResults } from "./_util.ts";
import { cliArgv, freePort, ROOT, waitForPort } from "../tests/_util/mod.ts";

const WORK = `${ROOT}/.tmp/bench-peers`;
const WSLOAD_SRC = `${ROOT}/bench/wsload.c`;
/** The grid: connections x message size. */
const CELLS: readonly { conns: number; size: number }[] = [
  { conns: 1, size: 32 },
  { conns: 1, size: 16384 },
  { conns: 16, size: 32 },
  { conns: 16, size: 16384 },
  { conns: 256, size: 32 },
  { conns: 256, size: 16384 },
  { conns: 1024, size: 32 },
];

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

/** One measured run of one cell against one server. */
interface Sample {
  rate: number;
  p50: number;
  p99: number;
  /** Server CPU (utime+stime) per echoed message, µs. */
  cpu: number;
  errors: number;
  /** Each worker thread's share of the workers' CPU over the run (N-worker servers only), in worker order. */
  shares?: number[];
}

/** The figures of a {@linkcode Sample} that are one number each. */
type NumKey = Exclude<keyof Sample, "shares">;

interface Peer {
  name: string;
  argv: (port: number) => string[];
  /** Pin the server to core 0 (default true). */
  pin?: boolean;
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** Read the worker threads' CPU over each run (`ws-serve --workers N`). */
  workers?: boolean;
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

function parseSample(text: string): Sample {
  const num = (k: string) => Number(new RegExp(`${k}=(-?[\\d.]+)`).exec(text)?.[1] ?? NaN);
  const cpu = num("cpu_us_per_msg");
  return { rate: num("rate"), p50: num("p50"), p99: num("p99"), cpu: cpu >= 0 ? cpu : NaN, errors: num("errors") };
}

interface Running {
  peer: Peer;
  port: number;
  child: Deno.ChildProcess;
}

/** The load generator on core 1 against 127.0.0.1:`port` (`depth` only when given, as wsload's default). */
function wsloadArgv(
  wsload: string,
  o: { port: number; conns: number; size: number; seconds: number; warmup: number; depth?: number; pid?: number },
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
    ...(o.pid === undefined ? [] : ["-P", String(o.pid)]),
  ];
}

async function startPeer(peer: Peer, wsload: string): Promise<Running> {
  const port = freePort();
  const argv = peer.argv(port);
  // taskset execs the server, so the child's pid is the server's own (its /proc/PID/stat covers all threads).
  const child = new Deno.Command(peer.pin === false ? argv[0] : "taskset", {
    args: peer.pin === false ? argv.slice(1) : ["-c", "0", ...argv],
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1", ...peer.env },
  }).spawn();
  await waitForPort(port, "127.0.0.1", 30_000);
  // Warm the JIT (and the server's buffers) before the first measured cell.
  await runArgv(wsloadArgv(wsload, { port, conns: 16, size: 1024, seconds: 1, warmup: 0 }), {
    timeoutMs: 60_000,
    check: false,
  });
  return { peer, port, child };
}

/** utime+stime (clock ticks) of each thread named `worker-K` of process `pid`, indexed by K - 1. */
function workerTicks(pid: number): number[] {
  const ticks: number[] = [];
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const m = /^worker-(\d+)$/.exec(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/comm`).trim());
      if (!m) continue;
      ticks[Number(m[1]) - 1] = parseProcStat(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`)).ticks;
    } catch { /* the thread ended */ }
  }
  return ticks;
}

async function runCell(
  r: Running,
  wsload: string,
  cell: { conns: number; size: number },
  opts: { seconds: number; warmup: number; depth: number },
): Promise<Sample> {
  const before = r.peer.workers ? workerTicks(r.child.pid) : undefined;
  const out = await runArgv(
    wsloadArgv(wsload, {
      port: r.port,
      ...cell,
      depth: opts.depth,
      seconds: opts.seconds,
      warmup: opts.warmup,
      pid: r.child.pid,
    }),
    { timeoutMs: (opts.seconds + opts.warmup) * 1000 + 60_000, check: false },
  );
  const lines = out.stdout.trim().split("\n");
  const sample = parseSample(lines.join(" "));
  if (before !== undefined) {
    const used = workerTicks(r.child.pid).map((t, i) => t - (before[i] ?? 0));
    const total = used.reduce((a, b) => a + b, 0);
    if (total > 0) sample.shares = used.map((u) => u / total);
  }
  console.log(
    `  ${r.peer.name.padEnd(9)} ${lines[0] || out.stderr.trim()} ` +
      `cpu=${Number.isFinite(sample.cpu) ? sample.cpu.toFixed(2) : "?"}us/msg`,
  );
  return sample;
}

/** `median (min-max)` of samples, with `digits` decimals. */
function spread(xs: number[], digits = 0): string {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return "n/a";
  const f = (x: number) => x.toFixed(digits);
  const lo = Math.min(...ok), hi = Math.max(...ok);
  return ok.length === 1 ? f(ok[0]) : `${f(median(ok))} (${f(lo)}-${f(hi)})`;
}

function parseCells(text: string | undefined): { conns: number; size: number }[] {
  if (text === undefined) return [...CELLS];
  return text.split(",").map((t) => {
    const m = /^(\d+)x(\d+)$/.exec(t.trim());
    if (!m) throw new Error(`--cells: '${t}' is not CONNSxSIZE (e.g. 256x32)`);
    return { conns: Number(m[1]), size: Number(m[2]) };
  });
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
    rounds: flag("--rounds", 3),
    workers: flag("--workers", 0),
    together: args.includes("--together"),
  };
  const cells = parseCells(argValue(args, "--cells"));
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
  const pbxkitArgv = (port: number, extra: string[] = []) =>
    cliArgv(["ws-serve", "--echo", "--port", String(port), "--idle-timeout", "0", ...extra]);
  if (only.includes("pbxkit")) peers.push({ name: "pbxkit", argv: (port) => pbxkitArgv(port) });
  // the same server without the epoll read path (Deno's read op for every connection), to measure it
  if (only.includes("pbxkit-noepoll")) {
    peers.push({ name: "pbxkit noepoll", argv: (port) => pbxkitArgv(port), env: { PBXKIT_WS_EPOLL: "0" } });
  }
  // the same server whose poller always waits on the blocking pool (no look for ready events on the loop's thread)
  if (only.includes("pbxkit-nospin")) {
    peers.push({ name: "pbxkit nospin", argv: (port) => pbxkitArgv(port), env: { PBXKIT_WS_SPIN: "0" } });
  }
  // the same server whose polled connections send a turn's sends in one io_uring_enter instead of one plain
  // send(2) each
  if (only.includes("pbxkit-uring")) {
    peers.push({ name: "pbxkit uring", argv: (port) => pbxkitArgv(port), env: { PBXKIT_WS_URING: "1" } });
  }
  const wName = `pbxkit w${opts.workers}`;
  if (opts.workers > 1) {
    const argv = (port: number) => pbxkitArgv(port, ["--workers", String(opts.workers)]);
    peers.push({ name: "pbxkit free", argv: (port) => pbxkitArgv(port), pin: false });
    peers.push({ name: wName, argv, pin: false, workers: true });
    peers.push({ name: `${wName} core0`, argv, workers: true });
    if (!only.includes("pbxkit")) peers.push({ name: "pbxkit", argv: (port) => pbxkitArgv(port) });
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
  const cellName = (c: { conns: number; size: number }) => `${c.conns} x ${c.size} B`;
  console.log(
    `echo: ${cells.map(cellName).join(", ")} text, depth ${opts.depth}, ${opts.seconds}s per run ` +
      `(+${opts.warmup}s warm-up), ${opts.rounds} interleaved rounds; servers on core 0, wsload on core 1`,
  );
  // All servers run side by side (idle while not measured); each cell is measured for every server back to back,
  // `--rounds` times with the order rotated each round: fairer on a machine whose load varies.
  const running: Running[] = [];
  const results: Record<string, Record<string, Sample[]>> = {};
  /** `--together`: per other server and cell, the paired ratios pbxkit/other of each round. */
  const pairs: Record<string, Record<string, { rate: number; cpu: number; p99: number }[]>> = {};
  const keep = (r: Running, cell: { conns: number; size: number }, sample: Sample) =>
    ((results[r.peer.name] ??= {})[cellName(cell)] ??= []).push(sample);
  try {
    for (const p of peers) running.push(await startPeer(p, wsload));
    const base = running.find((r) => r.peer.name === "pbxkit");
    if (opts.together && base === undefined) throw new Error("--together needs pbxkit in --only");
    const others = running.filter((r) => r !== base);
    for (const cell of cells) {
      console.log(cellName(cell));
      for (let round = 0; round < opts.rounds; round++) {
        if (opts.together) {
          // pbxkit and one other server at once, each against its own generator
          for (let k = 0; k < others.length; k++) {
            const r = others[(k + round) % others.length];
            const [a, b] = await Promise.all([runCell(base!, wsload, cell, opts), runCell(r, wsload, cell, opts)]);
            keep(base!, cell, a);
            keep(r, cell, b);
            ((pairs[r.peer.name] ??= {})[cellName(cell)] ??= []).push({
              rate: a.rate / b.rate,
              cpu: a.cpu / b.cpu,
              p99: a.p99 / b.p99,
            });
          }
          continue;
        }
        for (let k = 0; k < running.length; k++) {
          const r = running[(k + round) % running.length];
          keep(r, cell, await runCell(r, wsload, cell, opts));
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
  const get = (n: string, c: { conns: number; size: number }) => results[n]?.[cellName(c)] ?? [];
  const med = (n: string, c: { conns: number; size: number }, k: NumKey) =>
    median(get(n, c).map((s) => s[k]).filter(Number.isFinite));
  // The ratio columns, only for the peers this run measured.
  const ratioCols = ([
    { peer: "deno", key: "rate", title: "pbxkit/deno msg/s" },
    { peer: "deno", key: "cpu", title: "pbxkit/deno CPU" },
    { peer: "node ws", key: "rate", title: "pbxkit/node msg/s" },
  ] as const).filter((r) => names.includes("pbxkit") && names.includes(r.peer));
  const rows = cells.map((c) => [
    cellName(c),
    ...names.map((n) => spread(get(n, c).map((s) => s.rate))),
    ...names.map((n) => spread(get(n, c).map((s) => s.cpu), 2)),
    ...names.map((n) => spread(get(n, c).map((s) => s.p99))),
    ...ratioCols.map((r) => ratio(med("pbxkit", c, r.key), med(r.peer, c, r.key))),
  ]);
  printTable(
    `WebSocket echo, median (min-max) of ${opts.rounds} rounds: messages/s (higher is better), server CPU µs per ` +
      "message (utime+stime / echoed messages; lower is better), p99 round trip µs",
    [
      "case",
      ...names.map((n) => `${n} msg/s`),
      ...names.map((n) => `${n} CPU µs/msg`),
      ...names.map((n) => `${n} p99 µs`),
      ...ratioCols.map((r) => r.title),
    ],
    rows,
  );
  if (opts.workers > 1) printWorkers(cells, { name: wName, get, med });
  if (opts.together) printPairs(cells, pairs);
  const svg = barChart(
    cells.map((c) => ({
      label: `${c.conns}c ${c.size >= 1024 ? `${c.size / 1024}KiB` : `${c.size}B`}`,
      values: names.map((n) => med(n, c, "rate") || 0),
    })),
    { title: "WebSocket echo throughput (msg/s, median)", yLabel: "messages / s", seriesNames: names },
  );
  await saveResults("ws", { options: opts, cells, results }, svg);
}

/** The `--together` table: median (min-max) of the paired ratios pbxkit/other over the rounds, per cell. */
function printPairs(
  cells: { conns: number; size: number }[],
  pairs: Record<string, Record<string, { rate: number; cpu: number; p99: number }[]>>,
): void {
  const names = Object.keys(pairs);
  const col = (n: string, c: { conns: number; size: number }, k: "rate" | "cpu" | "p99") =>
    spread((pairs[n][`${c.conns} x ${c.size} B`] ?? []).map((x) => x[k]), 2);
  printTable(
    "pbxkit and each other server measured at the same time (both on core 0, a generator each on core 1): median " +
      "(min-max) of the rounds' ratios pbxkit/other; msg/s > 1 and CPU, p99 < 1 are pbxkit ahead",
    [
      "case",
      ...names.map((n) => `pbxkit/${n} msg/s`),
      ...names.map((n) => `pbxkit/${n} CPU`),
      ...names.map((n) => `pbxkit/${n} p99`),
    ],
    cells.map((c) => [
      `${c.conns} x ${c.size} B`,
      ...names.map((n) => col(n, c, "rate")),
      ...names.map((n) => col(n, c, "cpu")),
      ...names.map((n) => col(n, c, "p99")),
    ]),
  );
}

/**
 * The `--workers` table: N workers against one, both unpinned and both on core 0, with each worker's share of the
 * CPU (median over the rounds; `even` is 1/N each).
 */
function printWorkers(
  cells: { conns: number; size: number }[],
  o: {
    name: string;
    get: (n: string, c: { conns: number; size: number }) => Sample[];
    med: (n: string, c: { conns: number; size: number }, k: NumKey) => number;
  },
): void {
  const { name, get, med } = o;
  const shares = (c: { conns: number; size: number }) => {
    const s = get(name, c).map((x) => x.shares).filter((x): x is number[] => x !== undefined);
    if (s.length === 0) return "n/a";
    return s[0].map((_, i) => `${(median(s.map((x) => x[i] ?? 0)) * 100).toFixed(0)}%`).join("/");
  };
  printTable(
    `${name} against one worker, median of the rounds: CPU µs per message (all threads) and msg/s; "free" = not ` +
      "pinned (both cores, shared with the generator on core 1), core0 = pinned to core 0",
    [
      "case",
      "1 free CPU",
      `${name} CPU`,
      "free ratio",
      "1 core0 CPU",
      `${name} core0 CPU`,
      "core0 ratio",
      "1 free msg/s",
      `${name} msg/s`,
      "worker CPU shares",
    ],
    cells.map((c) => [
      `${c.conns} x ${c.size} B`,
      med("pbxkit free", c, "cpu").toFixed(2),
      med(name, c, "cpu").toFixed(2),
      ratio(med(name, c, "cpu"), med("pbxkit free", c, "cpu")),
      med("pbxkit", c, "cpu").toFixed(2),
      med(`${name} core0`, c, "cpu").toFixed(2),
      ratio(med(`${name} core0`, c, "cpu"), med("pbxkit", c, "cpu")),
      med("pbxkit free", c, "rate").toFixed(0),
      med(name, c, "rate").toFixed(0),
      shares(c),
    ]),
  );
}
