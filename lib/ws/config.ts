/**
 * Configuration of `pbxkit ws-serve`: built-in defaults, a TOML file (`--config FILE`) and command-line flags,
 * merged in that order (flags win). Everything is validated into a {@linkcode WsServeConfig}; a bad value in the
 * file is a one-line error naming the file, the line and the key (exit status 2), a bad flag names the flag.
 *
 * ```toml
 * # /etc/pbxkit/ws.toml
 * webphone = true
 * subprotocols = ["sip"]
 * origins = ["https://pbx.example.com"]
 * max_message = "1MiB"
 * max_connections = 5000
 * idle_timeout = "120s"
 * handshake_timeout = "10s"
 * deflate = true
 * deflate_no_context_takeover = true
 *
 * [[listen]]
 * address = "[::]:443"
 * tls_cert = "/etc/letsencrypt/live/pbx.example.com/fullchain.pem"
 * tls_key = "/etc/letsencrypt/live/pbx.example.com/privkey.pem"
 *
 * [[listen]]
 * address = "[::]:80"
 * redirect = "https"        # 301 to https://HOST/PATH (the port of the first TLS listener unless redirect_port)
 *
 * [[proxy]]
 * path = "/pbxws"
 * upstream = "ws://127.0.0.1:8088/ws"
 * subprotocols = ["sip"]
 *
 * [metrics]
 * listen = "127.0.0.1:9464" # Prometheus /metrics (off when absent)
 * ```
 *
 * Flags: `--host`/`--port`/`--tls-cert`/`--tls-key` replace the file's listeners with one; `--proxy`, `--origin`
 * and `--subprotocol` replace the file's lists; every other flag replaces its key.
 *
 * @module
 */

import {
  configError,
  isTomlTable,
  MAX_TIMER_MS,
  parseDuration,
  parseHostPort,
  parseIntIn,
  parseMetricsAddress,
  parsePort,
  parseSize,
  parseTomlConfig,
  PbxError,
  readConfigText,
  type TomlConfig,
  type TomlPath,
  tomlPathText,
  tomlTypeName,
  usageError,
} from "../common/mod.ts";
import type { DeflateOptions } from "./deflate.ts";
import { checkDirectory, readPem } from "./service.ts";
import { isToken } from "./http.ts";
import { parseProxySpec, type ProxyRoute } from "./proxy.ts";

/** One listening socket. */
export interface ListenerConfig {
  /** Address to bind. */
  hostname: string;
  /** Port (0 picks a free one). */
  port: number;
  /** PEM certificate chain and key files: this listener serves `wss://` and `https://`. */
  tlsFiles?: { cert: string; key: string };
  /** Answer every request with a 301 to `https://HOST[:port]/PATH` instead of serving. */
  redirect?: { port?: number };
}

/** Everything `pbxkit ws-serve` needs to run. */
export interface WsServeConfig {
  /** The listening sockets (at least one). */
  listeners: ListenerConfig[];
  /** An echo endpoint on every path that is not a proxy. */
  echo: boolean;
  /** Proxy routes. */
  proxies: ProxyRoute[];
  /** Directory served over plain HTTP. */
  staticDir?: string;
  /** Serve the webphone page at `/` (using the first proxy path). */
  webphone: boolean;
  /** Largest message, bytes. */
  maxMessage: number;
  /** Most simultaneous connections per listener. */
  maxConnections: number;
  /** Idle timeout, ms (0 = never). */
  idleTimeout: number;
  /** TLS + HTTP handshake timeout, ms. */
  handshakeTimeout: number;
  /** Subprotocols accepted. */
  subprotocols?: string[];
  /** Allowed origins (absent: any). */
  origins?: string[];
  /** permessage-deflate: false = never, undefined = defaults. */
  deflate?: DeflateOptions | false;
  /** Where Prometheus metrics are served (`--metrics`, `[metrics] listen`); off when undefined. */
  metrics?: { hostname: string; port: number };
}

/** The flags of `ws-serve` as commander gives them (undefined when not given). */
export interface WsServeFlags {
  /** `--host`. */
  host?: string;
  /** `--port`. */
  port?: string;
  /** `--tls-cert`. */
  tlsCert?: string;
  /** `--tls-key`. */
  tlsKey?: string;
  /** `--echo`. */
  echo?: boolean;
  /** `--proxy` (repeated). */
  proxy?: string[];
  /** `--static`. */
  static?: string;
  /** `--webphone`. */
  webphone?: boolean;
  /** `--subprotocol` (repeated). */
  subprotocol?: string[];
  /** `--origin` (repeated). */
  origin?: string[];
  /** `--max-message`. */
  maxMessage?: string;
  /** `--max-connections`. */
  maxConnections?: string;
  /** `--idle-timeout`. */
  idleTimeout?: string;
  /** `--handshake-timeout`. */
  handshakeTimeout?: string;
  /** false for `--no-deflate`. */
  deflate?: boolean;
  /** `--deflate-no-context-takeover`. */
  deflateNoContextTakeover?: boolean;
  /** `--metrics`. */
  metrics?: string;
}

/** Settings before defaults, from the file or the flags (each key set only when given). */
export interface WsServeLayer extends Partial<Omit<WsServeConfig, "deflate">> {
  /** false: never negotiate permessage-deflate. */
  deflate?: boolean;
  /** Answer `server_no_context_takeover`. */
  noContextTakeover?: boolean;
}

// ---- value checks shared by flags and file; `label` is the flag or the key ----

function checkMaxMessage(text: string, label: string): number {
  const n = parseSize(text, label);
  if (n < 125 || n > 2 ** 31) throw usageError(`${label} must be from 125 bytes to 2GiB`);
  return n;
}

function checkIdle(text: string, label: string): number {
  return text === "0" ? 0 : parseDuration(text, label, { max: MAX_TIMER_MS });
}

function checkHandshake(text: string, label: string): number {
  return parseDuration(text, label, { min: 1, max: MAX_TIMER_MS });
}

function isOrigin(text: string): boolean {
  try {
    return new URL(text).origin === text.toLowerCase();
  } catch {
    return false;
  }
}

function checkOrigin(o: string, label: string): string {
  if (o !== "null" && !isOrigin(o)) {
    throw usageError(`${label}: '${o}' is not an origin like https://pbx.example.com (scheme://host[:port])`);
  }
  return o;
}

function checkSubprotocol(s: string, label: string): string {
  if (!isToken(s)) throw usageError(`${label}: '${s}' is not a token`);
  return s;
}

function checkHost(h: string, label: string): string {
  if (!h.trim()) throw usageError(`${label}: give an address to listen on, e.g. 127.0.0.1 or ::`);
  return h;
}

function checkStatic(d: string, label: string): string {
  if (!d) throw usageError(`${label}: give a directory`);
  return d;
}

function checkProxies(proxies: ProxyRoute[], label: string): ProxyRoute[] {
  const paths = new Set<string>();
  for (const p of proxies) {
    if (paths.has(p.path)) throw usageError(`${label}: path ${p.path} given twice`);
    paths.add(p.path);
  }
  return proxies;
}

// ---- flags ----

function fromFlags(f: WsServeFlags): WsServeLayer {
  const out: WsServeLayer = {};
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) throw usageError("--tls-cert and --tls-key go together");
  if (f.host !== undefined || f.port !== undefined || f.tlsCert !== undefined) {
    out.listeners = [{
      hostname: checkHost(f.host ?? "127.0.0.1", "--host"),
      port: f.port === undefined ? 8080 : parsePort(f.port),
      tlsFiles: f.tlsCert !== undefined && f.tlsKey !== undefined ? { cert: f.tlsCert, key: f.tlsKey } : undefined,
    }];
  }
  if (f.echo) out.echo = true;
  if (f.proxy !== undefined) out.proxies = checkProxies(f.proxy.map(parseProxySpec), "--proxy");
  if (f.static !== undefined) out.staticDir = checkStatic(f.static, "--static");
  if (f.webphone) out.webphone = true;
  if (f.subprotocol !== undefined) out.subprotocols = f.subprotocol.map((s) => checkSubprotocol(s, "--subprotocol"));
  if (f.origin !== undefined) out.origins = f.origin.map((o) => checkOrigin(o, "--origin"));
  if (f.maxMessage !== undefined) out.maxMessage = checkMaxMessage(f.maxMessage, "--max-message");
  if (f.maxConnections !== undefined) {
    out.maxConnections = parseIntIn(f.maxConnections, "--max-connections", { min: 1, max: 1_000_000 });
  }
  if (f.idleTimeout !== undefined) out.idleTimeout = checkIdle(f.idleTimeout, "--idle-timeout");
  if (f.handshakeTimeout !== undefined) {
    out.handshakeTimeout = checkHandshake(f.handshakeTimeout, "--handshake-timeout");
  }
  if (f.deflate === false && f.deflateNoContextTakeover) {
    throw usageError("--no-deflate and --deflate-no-context-takeover exclude each other");
  }
  if (f.metrics !== undefined) out.metrics = parseMetricsAddress(f.metrics);
  if (f.deflate === false) out.deflate = false;
  if (f.deflateNoContextTakeover) {
    out.deflate = true;
    out.noContextTakeover = true;
  }
  return out;
}

// ---- file ----

type Kind = "string" | "boolean" | "integer" | "scalar" | "strings" | "tables" | "table";

const TOP_KEYS: Record<string, Kind> = {
  echo: "boolean",
  webphone: "boolean",
  static: "string",
  subprotocols: "strings",
  origins: "strings",
  max_message: "scalar",
  max_connections: "integer",
  idle_timeout: "scalar",
  handshake_timeout: "scalar",
  deflate: "boolean",
  deflate_no_context_takeover: "boolean",
  listen: "tables",
  proxy: "tables",
  metrics: "table",
};
const LISTEN_KEYS: Record<string, Kind> = {
  address: "string",
  tls_cert: "string",
  tls_key: "string",
  redirect: "string",
  redirect_port: "integer",
};
const PROXY_KEYS: Record<string, Kind> = { path: "string", upstream: "string", subprotocols: "strings" };

const KIND_TEXT: Record<Kind, string> = {
  string: "a string",
  boolean: "true or false",
  integer: "an integer",
  scalar: "a string or a number",
  strings: "a string or an array of strings",
  tables: "an array of tables ([[...]])",
  table: "a table ([...])",
};

function kindOk(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "scalar":
      return typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
    case "strings":
      return typeof v === "string" || (Array.isArray(v) && v.every((e) => typeof e === "string"));
    case "tables":
      return Array.isArray(v) && v.every(isTomlTable);
    case "table":
      return isTomlTable(v);
  }
}

/** Check a table's keys and value types; returns it. */
function checkTable(
  cfg: TomlConfig,
  table: Record<string, unknown>,
  at: TomlPath,
  keys: Record<string, Kind>,
): Record<string, unknown> {
  for (const [k, v] of Object.entries(table)) {
    const kind = keys[k];
    if (!kind) throw configError(cfg, [...at, k], `is not a known key (known: ${Object.keys(keys).join(", ")})`);
    if (!kindOk(kind, v)) throw configError(cfg, [...at, k], `must be ${KIND_TEXT[kind]}, not ${tomlTypeName(v)}`);
  }
  return table;
}

/** Run a value check with the key as its label; its error gets the file and line in front. */
function inFile<T>(cfg: TomlConfig, path: TomlPath, check: (label: string) => T): T {
  const label = tomlPathText(path);
  try {
    return check(label);
  } catch (err) {
    if (!(err instanceof PbxError)) throw err;
    const why = err.message.startsWith(`${label}: `) ? err.message.slice(label.length + 2) : err.message;
    throw configError(cfg, path, `is wrong: ${why}`, err.code);
  }
}

const list = (v: unknown): string[] => Array.isArray(v) ? v.map(String) : [String(v)];

function parseListener(cfg: TomlConfig, t: Record<string, unknown>, at: TomlPath): ListenerConfig {
  checkTable(cfg, t, at, LISTEN_KEYS);
  if (t.address === undefined) throw configError(cfg, at, 'needs an address, e.g. address = "[::]:443"');
  const address = String(t.address);
  const { host, port } = inFile(cfg, [...at, "address"], (label) => {
    const hp = parseHostPort(address.startsWith(":") ? `[::]${address}` : address, label);
    if (hp.port === undefined) throw usageError(`${label}: '${address}' has no port (HOST:PORT, [V6]:PORT or :PORT)`);
    return { host: checkHost(hp.host, label), port: hp.port };
  });
  const l: ListenerConfig = { hostname: host, port };
  if ((t.tls_cert === undefined) !== (t.tls_key === undefined)) {
    const [given, other] = t.tls_cert === undefined ? ["tls_key", "tls_cert"] : ["tls_cert", "tls_key"];
    throw configError(cfg, [...at, given], `needs ${other} as well`);
  }
  if (t.tls_cert !== undefined) l.tlsFiles = { cert: String(t.tls_cert), key: String(t.tls_key) };
  if (t.redirect !== undefined) {
    if (t.redirect !== "https") throw configError(cfg, [...at, "redirect"], `must be "https", not '${t.redirect}'`);
    if (l.tlsFiles) throw configError(cfg, [...at, "redirect"], "is for a plain listener (drop tls_cert/tls_key)");
    l.redirect = {};
  }
  if (t.redirect_port !== undefined) {
    if (!l.redirect) throw configError(cfg, [...at, "redirect_port"], 'needs redirect = "https"');
    l.redirect.port = inFile(cfg, [...at, "redirect_port"], (label) => parsePort(String(t.redirect_port), label));
  }
  return l;
}

function parseProxy(cfg: TomlConfig, t: Record<string, unknown>, at: TomlPath): ProxyRoute {
  checkTable(cfg, t, at, PROXY_KEYS);
  if (t.path === undefined || t.upstream === undefined) {
    throw configError(cfg, at, 'needs path and upstream, e.g. path = "/pbxws", upstream = "ws://127.0.0.1:8088/ws"');
  }
  const route = inFile(cfg, [...at, "upstream"], () => parseProxySpec(`${t.path}=${t.upstream}`));
  if (t.subprotocols !== undefined) {
    route.subprotocols = list(t.subprotocols).map((s, i) =>
      inFile(cfg, [...at, "subprotocols"], (label) => checkSubprotocol(s, `${label}[${i}]`))
    );
  }
  return route;
}

function fromFile(cfg: TomlConfig): WsServeLayer {
  const d = checkTable(cfg, cfg.data, [], TOP_KEYS);
  const out: WsServeLayer = {};
  if (d.listen !== undefined) {
    out.listeners = (d.listen as Record<string, unknown>[]).map((t, i) => parseListener(cfg, t, ["listen", i]));
    if (out.listeners.length === 0) throw configError(cfg, ["listen"], "needs at least one listener");
  }
  if (d.proxy !== undefined) {
    out.proxies = (d.proxy as Record<string, unknown>[]).map((t, i) => parseProxy(cfg, t, ["proxy", i]));
    inFile(cfg, ["proxy"], (label) => checkProxies(out.proxies!, label));
  }
  if (d.metrics !== undefined) {
    const t = checkTable(cfg, d.metrics as Record<string, unknown>, ["metrics"], { listen: "string" });
    if (t.listen === undefined) throw configError(cfg, ["metrics"], 'needs listen, e.g. listen = "127.0.0.1:9464"');
    out.metrics = inFile(cfg, ["metrics", "listen"], (l) => parseMetricsAddress(String(t.listen), l));
  }
  if (d.echo !== undefined) out.echo = d.echo as boolean;
  if (d.webphone !== undefined) out.webphone = d.webphone as boolean;
  if (d.static !== undefined) out.staticDir = inFile(cfg, ["static"], (l) => checkStatic(String(d.static), l));
  if (d.subprotocols !== undefined) {
    out.subprotocols = list(d.subprotocols).map((s) => inFile(cfg, ["subprotocols"], (l) => checkSubprotocol(s, l)));
  }
  if (d.origins !== undefined) {
    out.origins = list(d.origins).map((o) => inFile(cfg, ["origins"], (l) => checkOrigin(o, l)));
  }
  if (d.max_message !== undefined) {
    out.maxMessage = inFile(cfg, ["max_message"], (l) => checkMaxMessage(String(d.max_message), l));
  }
  if (d.max_connections !== undefined) {
    out.maxConnections = inFile(
      cfg,
      ["max_connections"],
      (l) => parseIntIn(String(d.max_connections), l, { min: 1, max: 1_000_000 }),
    );
  }
  if (d.idle_timeout !== undefined) {
    out.idleTimeout = inFile(cfg, ["idle_timeout"], (l) => checkIdle(String(d.idle_timeout), l));
  }
  if (d.handshake_timeout !== undefined) {
    out.handshakeTimeout = inFile(cfg, ["handshake_timeout"], (l) => checkHandshake(String(d.handshake_timeout), l));
  }
  if (d.deflate !== undefined) out.deflate = d.deflate as boolean;
  if (d.deflate_no_context_takeover !== undefined) out.noContextTakeover = d.deflate_no_context_takeover as boolean;
  if (out.deflate === false && out.noContextTakeover) {
    throw configError(cfg, ["deflate_no_context_takeover"], "needs deflate = true");
  }
  return out;
}

/** Parse ws-serve TOML text (sans-I/O part of {@linkcode loadWsServeConfig}); `source` names the file. */
export function parseWsServeToml(text: string, source: string): WsServeLayer {
  return fromFile(parseTomlConfig(text, source));
}

/** The built-in defaults (an echo server on ws://127.0.0.1:8080/). */
export function defaultWsServeConfig(): WsServeConfig {
  return {
    listeners: [{ hostname: "127.0.0.1", port: 8080 }],
    echo: false,
    proxies: [],
    webphone: false,
    maxMessage: 16 * 1024 * 1024,
    maxConnections: 10000,
    idleTimeout: 120_000,
    handshakeTimeout: 10_000,
  };
}

/** Merge defaults, the file's settings and the flags' (later wins) into a validated config. */
export function resolveWsServeConfig(file: WsServeLayer, flags: WsServeLayer): WsServeConfig {
  const c = defaultWsServeConfig();
  let deflate: boolean | undefined, nct: boolean | undefined;
  for (const p of [file, flags]) {
    if (p.listeners) c.listeners = p.listeners;
    if (p.echo !== undefined) c.echo = p.echo;
    if (p.proxies) c.proxies = p.proxies;
    if (p.staticDir !== undefined) c.staticDir = p.staticDir;
    if (p.webphone !== undefined) c.webphone = p.webphone;
    if (p.maxMessage !== undefined) c.maxMessage = p.maxMessage;
    if (p.maxConnections !== undefined) c.maxConnections = p.maxConnections;
    if (p.idleTimeout !== undefined) c.idleTimeout = p.idleTimeout;
    if (p.handshakeTimeout !== undefined) c.handshakeTimeout = p.handshakeTimeout;
    if (p.subprotocols) c.subprotocols = p.subprotocols;
    if (p.origins) c.origins = p.origins;
    if (p.metrics) c.metrics = p.metrics;
    if (p.deflate !== undefined) {
      deflate = p.deflate;
      if (p.deflate === false) nct = undefined;
    }
    if (p.noContextTakeover !== undefined) nct = p.noContextTakeover;
  }
  c.deflate = deflate === false ? false : nct ? { serverNoContextTakeover: true } : undefined;
  const serving = c.listeners.filter((l) => !l.redirect);
  if (serving.length === 0) throw usageError("ws-serve: every listener redirects; add one that serves");
  if (!c.echo && !c.proxies.length && !c.staticDir && !c.webphone) c.echo = true;
  return c;
}

/**
 * Read `--config FILE` (when given) and merge it with the flags. Throws a one-line `PbxError` with exit status 2:
 * the file, line and key for a bad file, the flag for a bad flag.
 */
export async function loadWsServeConfig(flags: WsServeFlags, configPath?: string): Promise<WsServeConfig> {
  const fromFlagsPart = fromFlags(flags);
  let filePart: WsServeLayer = {};
  if (configPath !== undefined) {
    const cfg = parseTomlConfig(await readConfigText(configPath), configPath);
    filePart = fromFile(cfg);
    checkFilePaths(cfg, filePart, fromFlagsPart);
  }
  return resolveWsServeConfig(filePart, fromFlagsPart);
}

/**
 * The files and directories the config file names (and the flags do not replace): the static root must be a
 * directory, each listener's certificate and key readable files. A missing one is a config error like any other:
 * one line naming the file, the line and the key, exit status 2 (the flags' own paths keep `E_NOT_FOUND`, exit 1).
 */
function checkFilePaths(cfg: TomlConfig, file: WsServeLayer, flags: WsServeLayer): void {
  if (file.staticDir !== undefined && flags.staticDir === undefined) {
    const dir = file.staticDir;
    inFile(cfg, ["static"], (l) => checkDirectory(dir, l));
  }
  if (file.listeners && !flags.listeners) {
    for (const [i, l] of file.listeners.entries()) {
      if (!l.tlsFiles) continue;
      const { cert, key } = l.tlsFiles;
      inFile(cfg, ["listen", i, "tls_cert"], (label) => readPem(cert, label));
      inFile(cfg, ["listen", i, "tls_key"], (label) => readPem(key, label));
    }
  }
}
