/**
 * Test helpers shared by the suite: loud skips for missing system tools, running the CLI, free ports, polling,
 * child processes stopped by PID, and network namespaces the tests make and delete themselves.
 *
 * @module
 */

import { concatBytes, hasCommand } from "../../lib/common/mod.ts";

/** Absolute path of the repository root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What a test needs from the machine. */
export interface Requirements {
  /** Executables that must be on PATH (or absolute paths that must exist). */
  tools?: readonly string[];
  /** Files that must exist (libraries, firmware). */
  files?: readonly string[];
  /** Needs uid 0 (netns, nftables, port 69). */
  root?: boolean;
}

/** Why a test cannot run here, or undefined when it can. */
export function missing(req: Requirements): string | undefined {
  const why: string[] = [];
  if (req.root && Deno.uid() !== 0) why.push("needs root");
  for (const t of req.tools ?? []) if (!hasCommand(t)) why.push(`'${t}' not installed`);
  for (const f of req.files ?? []) {
    try {
      Deno.statSync(f);
    } catch {
      why.push(`'${f}' missing`);
    }
  }
  return why.length ? why.join(", ") : undefined;
}

/**
 * Register a test that needs system tools. When something is missing the test is registered as ignored with the
 * reason in its name, and a loud `SKIP` line goes to stderr: never a silent skip.
 */
export function testWith(
  name: string,
  req: Requirements,
  fn: (t: Deno.TestContext) => void | Promise<void>,
  options: { sanitizeOps?: boolean; sanitizeResources?: boolean } = {},
): void {
  const reason = missing(req);
  if (reason) {
    console.error(`SKIP ${name}: ${reason} (install with: apt-get install $(grep -v '^#' tests/apt-packages.txt))`);
  }
  Deno.test({
    name: reason ? `${name} [SKIPPED: ${reason}]` : name,
    ignore: reason !== undefined,
    fn,
    sanitizeOps: options.sanitizeOps ?? false,
    sanitizeResources: options.sanitizeResources ?? false,
  });
}

/** Result of {@linkcode runCli}. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The argv that runs `pbxkit ARGS...` with this Deno and the repository's config (for `Proc` or a netns wrapper). */
export function cliArgv(args: readonly string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-all",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/cli.ts`,
    ...args,
  ];
}

/** The argv that runs a Deno script with all permissions and the repository's config (agents, drivers, peers). */
export function denoRunArgv(script: string, args: readonly string[] = []): string[] {
  return [Deno.execPath(), "run", "-A", "--config", `${ROOT}/deno.json`, script, ...args];
}

/** Options for {@linkcode selfSignedCert}. */
export interface CertOptions {
  /** Subject common name (default `localhost`). */
  cn?: string;
  /** `subjectAltName` value (default `IP:127.0.0.1,DNS:localhost`). */
  san?: string;
  /** Key type: `ec` (P-256, the default) or `rsa` (2048 bits). */
  key?: "ec" | "rsa";
  /** Validity in days (default 2). */
  days?: number;
  /** Serial number, decimal or 0x-hex (default: openssl's random one). */
  serial?: string;
}

/** Make a throw-away self-signed certificate with openssl (argv only) as `dir/cert.pem` and `dir/key.pem`. */
export async function selfSignedCert(dir: string, options: CertOptions = {}): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/cert.pem`, key = `${dir}/key.pem`;
  const newkey = (options.key ?? "ec") === "ec"
    ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    : ["-newkey", "rsa:2048"];
  await sh([
    "openssl",
    "req",
    "-x509",
    ...newkey,
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    String(options.days ?? 2),
    "-subj",
    `/CN=${options.cn ?? "localhost"}`,
    "-addext",
    `subjectAltName=${options.san ?? "IP:127.0.0.1,DNS:localhost"}`,
    ...(options.serial ? ["-set_serial", options.serial] : []),
  ]);
  return { cert, key };
}

/** Run `pbxkit ARGS...` in a subprocess (the same Deno, the same permissions as the launcher). */
export async function runCli(
  args: readonly string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const [deno, ...cliArgs] = cliArgv(args);
  const cmd = new Deno.Command(deno, {
    args: cliArgs,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd ?? ROOT,
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A UDP port that was free a moment ago on 127.0.0.1. */
export function freeUdpPort(): number {
  const l = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Poll `cond` until it returns truthy or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "condition"}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/**
 * Poll `cond` until it holds or `timeoutMs` (default 10 s) passes, without throwing: resolves with whether it held.
 * For state another process or worker produces later; assert on that state afterwards, so that a failure message
 * shows what was observed rather than only "timed out".
 */
export function settle(
  cond: () => unknown | Promise<unknown>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<boolean> {
  return waitFor(cond, options).then(() => true, () => false);
}

/** Wait until a TCP port accepts connections. */
export async function waitForPort(port: number, hostname = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => {
    try {
      const c = await Deno.connect({ hostname, port });
      c.close();
      return true;
    } catch {
      return false;
    }
  }, { timeoutMs, what: `port ${hostname}:${port}` });
}

/** A child process the test started; stopped by its own PID only. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  #stdout: Uint8Array[] = [];
  #stderr: Uint8Array[] = [];
  readonly done: Promise<Deno.CommandStatus>;

  /** Spawn argv (no shell) with piped output collected in memory. */
  constructor(argv: readonly string[], options: { env?: Record<string, string>; cwd?: string; stdin?: boolean } = {}) {
    this.name = argv[0];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1) as string[],
      stdout: "piped",
      stderr: "piped",
      stdin: options.stdin ? "piped" : "null",
      env: options.env,
      cwd: options.cwd,
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>, into: Uint8Array[]) => {
      for await (const chunk of s) into.push(chunk);
    };
    const a = pump(this.child.stdout, this.#stdout);
    const b = pump(this.child.stderr, this.#stderr);
    this.done = Promise.all([a, b]).then(() => this.child.status);
  }

  /** Output so far. */
  get stdout(): string {
    return new TextDecoder().decode(concat(this.#stdout));
  }
  /** Error output so far. */
  get stderr(): string {
    return new TextDecoder().decode(concat(this.#stderr));
  }
  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Send a signal, then SIGKILL after `graceMs` if it is still running; resolves with the status. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 3000): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    const st = await this.done;
    clearTimeout(timer);
    return st;
  }
}

/** The chunks one after another in one new array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return concatBytes(chunks);
}

/** Run argv to completion (no shell); throws with its stderr when it fails and `check` is set. */
export async function sh(
  argv: readonly string[],
  options: { check?: boolean; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1) as string[],
    stdout: "piped",
    stderr: "piped",
    stdin: options.stdin === undefined ? "null" : "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  const r = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if ((options.check ?? true) && r.code !== 0) {
    throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

/** One host of a test network: a namespace with a veth to the shared bridge. */
export interface NetnsHost {
  /** Namespace name (unique per test run). */
  ns: string;
  /** IPv4 address on the test network. */
  ipv4: string;
  /** IPv6 address on the test network. */
  ipv6: string;
}

/**
 * A private test network: a bridge namespace and N host namespaces, each with IPv4 10.x and IPv6 fd00::/64
 * addresses that exist only inside these namespaces. `close()` deletes every namespace it made.
 */
export class TestNet {
  readonly hosts: Record<string, NetnsHost> = {};
  readonly prefix: string;
  #made: string[] = [];
  #procs: Proc[] = [];
  #subnet: number;

  private constructor(prefix: string, subnet: number) {
    this.prefix = prefix;
    this.#subnet = subnet;
  }

  /** Create a network with the named hosts (e.g. ["pbx", "attacker", "friend"]). */
  static async create(names: readonly string[]): Promise<TestNet> {
    const id = `${Deno.pid % 10000}${Math.floor(Math.random() * 1000)}`;
    const subnet = 100 + Math.floor(Math.random() * 150);
    const net = new TestNet(`pbxt${id}`, subnet);
    try {
      const br = `${net.prefix}br`;
      await sh(["ip", "netns", "add", br]);
      net.#made.push(br);
      await sh(["ip", "-n", br, "link", "add", "br0", "type", "bridge"]);
      await sh(["ip", "-n", br, "link", "set", "br0", "up"]);
      await sh(["ip", "-n", br, "link", "set", "lo", "up"]);
      let i = 1;
      for (const name of names) {
        const ns = `${net.prefix}${name}`;
        await sh(["ip", "netns", "add", ns]);
        net.#made.push(ns);
        const a = `v${id}${i}a`.slice(0, 15), b = `v${id}${i}b`.slice(0, 15);
        await sh(["ip", "link", "add", a, "netns", ns, "type", "veth", "peer", "name", b, "netns", br]);
        await sh(["ip", "-n", br, "link", "set", b, "master", "br0", "up"]);
        const ipv4 = `10.${subnet}.0.${i}`;
        const ipv6 = `fd00:${subnet}::${i}`;
        await sh(["ip", "-n", ns, "link", "set", a, "name", "eth0"]);
        await sh(["ip", "-n", ns, "addr", "add", `${ipv4}/24`, "dev", "eth0"]);
        await sh(["ip", "-n", ns, "addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad"]);
        await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
        await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
        net.hosts[name] = { ns, ipv4, ipv6 };
        i++;
      }
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** argv prefix that runs a command inside host `name`. */
  wrap(name: string, argv: readonly string[]): string[] {
    return ["ip", "netns", "exec", this.hosts[name].ns, ...argv];
  }

  /** Run a command to completion inside host `name`. */
  run(name: string, argv: readonly string[], options: { check?: boolean } = {}) {
    return sh(this.wrap(name, argv), options);
  }

  /** Start a long-running process inside host `name`; it is stopped by PID in `close()`. */
  spawn(name: string, argv: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Proc {
    const p = new Proc(this.wrap(name, argv), options);
    this.#procs.push(p);
    return p;
  }

  /** Stop every process this network started (by PID) and delete every namespace it made. */
  async close(): Promise<void> {
    for (const p of this.#procs.reverse()) await p.stop("SIGTERM", 2000).catch(() => {});
    for (const ns of this.#made.reverse()) await sh(["ip", "netns", "delete", ns], { check: false });
    this.#made = [];
  }
}
