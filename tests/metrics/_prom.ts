// Helpers for the metrics tests: promtool's linter on a scraped exposition, and a real Prometheus server started
// by hand (own temp dir and TSDB, a free loopback port, 1 s scrapes), queried over its HTTP API, stopped by PID.
import { assert } from "../_util/assert.ts";
import { freePort, Proc, settle, waitFor } from "../_util/mod.ts";

/** Run `promtool check metrics` on `text` (stdin); throws with promtool's output when it finds a problem. */
export async function promtoolCheck(text: string): Promise<void> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  const said = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
  assert(out.code === 0 && said === "", `promtool check metrics failed (exit ${out.code}): ${said}\n---\n${text}`);
}

/** Where Prometheus runs: argv wrapper (e.g. `ip netns exec NS`) and how to GET its API from the test. */
export interface PromPlace {
  /** Wrap the prometheus argv (default: as is). */
  wrap?: (argv: string[]) => string[];
  /** GET a URL on 127.0.0.1 where prometheus runs; the body (default: fetch). */
  get?: (url: string) => Promise<string>;
}

async function fetchText(url: string): Promise<string> {
  const r = await fetch(url);
  const t = await r.text();
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return t;
}

/** A Prometheus server scraping one target. */
export class PrometheusServer {
  readonly dir: string;
  readonly port: number;
  readonly proc: Proc;
  readonly #get: (url: string) => Promise<string>;

  private constructor(dir: string, port: number, proc: Proc, get: (url: string) => Promise<string>) {
    this.dir = dir;
    this.port = port;
    this.proc = proc;
    this.#get = get;
  }

  /** Start prometheus scraping `target` (`host:port`, path /metrics) every second; resolves when it is ready. */
  static async start(target: string, place: PromPlace = {}, job = "pbxkit"): Promise<PrometheusServer> {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-prom-" });
    const port = freePort();
    const config = [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      `  - job_name: ${job}`,
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
    const wrap = place.wrap ?? ((a: string[]) => a);
    const get = place.get ?? fetchText;
    const proc = new Proc(wrap([
      "prometheus",
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ]));
    const p = new PrometheusServer(dir, port, proc, get);
    try {
      await waitFor(async () => {
        try {
          await get(`http://127.0.0.1:${port}/-/ready`);
          return true;
        } catch {
          return false;
        }
      }, { timeoutMs: 20_000, intervalMs: 200, what: `prometheus ready on :${port}` });
    } catch (err) {
      await p.stop();
      throw new Error(`${(err as Error).message}; prometheus said: ${proc.stderr.slice(-2000)}`);
    }
    return p;
  }

  /** Run an instant query; the vector's samples as {labels, value}. */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    const j = JSON.parse(
      await this.#get(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(expr)}`),
    );
    if (j.status !== "success") throw new Error(`prometheus query '${expr}' failed: ${JSON.stringify(j)}`);
    return (j.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  }

  /** Poll `expr` until its first sample satisfies `ok` (default 15 s); returns the last value seen (or undefined). */
  async waitForValue(expr: string, ok: (v: number) => boolean, timeoutMs = 15_000): Promise<number | undefined> {
    let last: number | undefined;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const r = await this.query(expr);
      last = r[0]?.value;
      if (last !== undefined && ok(last)) return last;
      await new Promise((res) => setTimeout(res, 250));
    }
    return last;
  }

  /** Whether the scrape target is up (the `up` series is 1). */
  async targetUp(): Promise<boolean> {
    return (await this.waitForValue("up", (v) => v === 1)) === 1;
  }

  /** Stop prometheus by its PID and delete its directory. */
  async stop(): Promise<void> {
    await this.proc.stop("SIGTERM", 5000);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The value of one sample in an exposition text (`name` with exactly these labels), parsed here independently of
 * lib/common/metrics.ts; undefined when absent.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).sort().join(",");
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.trim()) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? "").match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)?.sort().join(",") ?? "";
    if (got === want) return m[3] === "+Inf" ? Infinity : Number(m[3]);
  }
  return undefined;
}

/** GET a /metrics URL; its body. */
export async function scrape(url: string): Promise<string> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`scrape ${url}: HTTP ${r.status}`);
  return await r.text();
}

/**
 * Scrape `url` until the sample `name` is 0 (a server books a connection or transfer when it has ended, a little
 * after the client is done), for up to `timeoutMs`; the last text either way, for the exact checks that follow.
 */
export async function scrapeUntilZero(url: string, name: string, timeoutMs = 10_000): Promise<string> {
  let text = "";
  await settle(async () => sample(text = await scrape(url), name) === 0, { timeoutMs, intervalMs: 50 });
  return text;
}
