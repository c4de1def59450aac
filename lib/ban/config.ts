/**
 * Configuration of `pbxkit ban`: defaults, a TOML file (parsed by smol-toml) and command-line flags, merged in that
 * order (flags win). Every value is validated into a {@linkcode BanConfig}; bad values are `E_USAGE` errors naming
 * the key or flag.
 *
 * ```toml
 * interface = "eth0"
 * pbx = ["192.0.2.10:5060", "[2001:db8::10]:5060"]
 * max_failures = 10
 * find_time = "10m"
 * ban_time = "1h"
 * methods = ["REGISTER", "INVITE"]
 * exempt = ["127.0.0.0/8", "::1", "192.0.2.0/24"]
 * backend = "nft"          # nft | iptables | dry-run
 * scope = "ports"          # ports | all
 * ipset = true             # iptables backend: false = one rule per ban even with ipset installed
 * notify_cmd = ["/usr/local/bin/ban-mail", "--to", "admin@example.org"]
 * # share bans with the other PBXs over NATS JetStream (see docs/ban.md)
 * fleet = ["tls://nats1.example.org:4222", "tls://nats2.example.org:4222"]
 * fleet_node = "edge-1"
 * fleet_creds = "/etc/pbxkit/fleet.creds"
 * fleet_tls_ca = "/etc/pbxkit/nats-ca.pem"
 * ```
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import {
  openRead,
  osErrorReason,
  parseDuration,
  parseHostPort,
  parseIntIn,
  parseList,
  parsePort,
  parseSize,
  PbxError,
  usageError,
} from "../common/mod.ts";
import { type Cidr, parseCidr, parseIp } from "./net/addr.ts";
import { DEFAULT_EXEMPT } from "./engine.ts";
import { BACKENDS } from "./firewall/mod.ts";
import type { BanScope } from "./firewall/types.ts";
import { DEFAULT_FLEET_MAX_AGE_MS, type FleetConfig, NODE_NAME_RE } from "./fleet/mod.ts";

/** Everything `pbxkit ban` needs to run. */
export interface BanConfig {
  /** Capture interface (`any` by default). */
  interface: string;
  /** The PBX's addresses (empty: detected from the interface for live capture, any for replays). */
  pbxAddrs: Cidr[];
  /** The PBX's SIP ports. */
  ports: number[];
  /** Failures that trigger a ban. */
  maxFailures: number;
  /** Window for counting failures, ms. */
  findTimeMs: number;
  /** Ban duration, ms (0 = permanent). */
  banTimeMs: number;
  /** CSeq methods whose error responses count. */
  methods: string[];
  /** Never counted nor banned. */
  exempt: Cidr[];
  /** Firewall backend. */
  backend: string;
  /** What a ban blocks. */
  scope: BanScope;
  /** iptables backend: use ipset sets when installed (true, default) or always one rule per ban (false). */
  ipset: boolean;
  /** State file. */
  statePath: string;
  /** Control socket of the daemon. */
  socketPath: string;
  /** argv run per ban, the address appended. */
  notifyCmd: string[];
  /** Capture snap length. */
  snaplen: number;
  /** Kernel capture buffer, bytes. */
  bufferSize: number;
  /** BPF filter override (default: built from the PBX's addresses and ports). */
  bpf?: string;
  /** How often the daemon checks that its bans are still in the firewall (re-adding lost ones), ms. */
  recheckMs: number;
  /** Nice value for the daemon's threads (negative = higher priority; 0 leaves it). */
  nice: number;
  /** Share bans over NATS JetStream (undefined: no fleet). */
  fleet?: FleetConfig;
}

/** Default KV bucket of the fleet. */
export const DEFAULT_FLEET_BUCKET = "pbxkit_bans";

/** Default state file. */
export const DEFAULT_STATE = "/var/lib/pbxkit/ban-state.json";
/** Default control socket. */
export const DEFAULT_SOCKET = "/run/pbxkit-ban.sock";

/** Built-in defaults. */
export function defaultConfig(): BanConfig {
  return {
    interface: "any",
    pbxAddrs: [],
    ports: [5060],
    maxFailures: 10,
    findTimeMs: 600_000,
    banTimeMs: 3_600_000,
    methods: ["REGISTER", "INVITE"],
    exempt: DEFAULT_EXEMPT.map((c) => parseCidr(c)),
    backend: "nft",
    scope: "ports",
    ipset: true,
    statePath: DEFAULT_STATE,
    socketPath: DEFAULT_SOCKET,
    notifyCmd: [],
    snaplen: 8192,
    bufferSize: 64 * 1024 * 1024,
    recheckMs: 30_000,
    nice: -10,
  };
}

/** Raw settings, as strings or string lists, from flags or a TOML file (same names, flags in camelCase). */
export interface RawSettings {
  /** Raw `interface` setting. */
  interface?: string;
  /** Raw `pbx` setting. */
  pbx?: string[];
  /** Raw `ports` setting. */
  ports?: string;
  /** Raw `maxFailures` setting. */
  maxFailures?: string;
  /** Raw `findTime` setting. */
  findTime?: string;
  /** Raw `banTime` setting. */
  banTime?: string;
  /** Raw `methods` setting. */
  methods?: string;
  /** Raw `exempt` setting. */
  exempt?: string[];
  /** Raw `backend` setting. */
  backend?: string;
  /** Raw `scope` setting. */
  scope?: string;
  /** Raw `ipset` setting (`true`/`false`). */
  ipset?: string;
  /** Raw `state` setting. */
  state?: string;
  /** Raw `socket` setting. */
  socket?: string;
  /** Raw `notifyCmd` setting. */
  notifyCmd?: string[] | string;
  /** Raw `snaplen` setting. */
  snaplen?: string;
  /** Raw `bufferSize` setting. */
  bufferSize?: string;
  /** Raw `bpf` setting. */
  bpf?: string;
  /** Raw `recheck` setting. */
  recheck?: string;
  /** Raw `nice` setting. */
  nice?: string;
  /** Raw `fleet` setting: server URLs. */
  fleet?: string[];
  /** Raw `fleetNode` setting. */
  fleetNode?: string;
  /** Raw `fleetBucket` setting. */
  fleetBucket?: string;
  /** Raw `fleetUser` setting. */
  fleetUser?: string;
  /** Raw `fleetPassword` setting. */
  fleetPassword?: string;
  /** Raw `fleetCreds` setting. */
  fleetCreds?: string;
  /** Raw `fleetTlsCa` setting. */
  fleetTlsCa?: string;
  /** Raw `fleetMaxPrefix` setting (`32,128` or `/24,/64`). */
  fleetMaxPrefix?: string;
  /** Raw `fleetReplicas` setting. */
  fleetReplicas?: string;
}

const TOML_KEYS: Record<string, keyof RawSettings> = {
  interface: "interface",
  pbx: "pbx",
  ports: "ports",
  max_failures: "maxFailures",
  find_time: "findTime",
  ban_time: "banTime",
  methods: "methods",
  exempt: "exempt",
  backend: "backend",
  scope: "scope",
  ipset: "ipset",
  state: "state",
  socket: "socket",
  notify_cmd: "notifyCmd",
  snaplen: "snaplen",
  buffer_size: "bufferSize",
  bpf: "bpf",
  recheck: "recheck",
  nice: "nice",
  fleet: "fleet",
  fleet_node: "fleetNode",
  fleet_bucket: "fleetBucket",
  fleet_user: "fleetUser",
  fleet_password: "fleetPassword",
  fleet_creds: "fleetCreds",
  fleet_tls_ca: "fleetTlsCa",
  fleet_max_prefix: "fleetMaxPrefix",
  fleet_replicas: "fleetReplicas",
};

/** Read a TOML config file into raw settings. Throws `E_PARSE` with the parser's message, `E_USAGE` on bad keys. */
export async function readConfigFile(path: string): Promise<RawSettings> {
  const { file } = await openRead(path, { what: "--config" });
  let text: string;
  try {
    text = new TextDecoder().decode(await new Response(file.readable).arrayBuffer());
  } catch (err) {
    throw new PbxError("E_INVALID_INPUT", `cannot read --config '${path}': ${osErrorReason(err)}`, { cause: err });
  }
  return parseConfigText(text, path);
}

/** Keys whose TOML value must be a string (not a number, table or array). */
const STRING_KEYS = new Set([
  "interface",
  "backend",
  "scope",
  "state",
  "socket",
  "bpf",
  "fleet_node",
  "fleet_bucket",
  "fleet_user",
  "fleet_password",
  "fleet_creds",
  "fleet_tls_ca",
]);
/** Keys that take a list (an array, or one value). */
const LIST_KEYS = new Set(["pbx", "exempt", "methods", "ports", "notify_cmd", "fleet", "fleet_max_prefix"]);

function checkTomlType(source: string, key: string, v: unknown): void {
  const scalar = (x: unknown) => typeof x === "string" || (typeof x === "number" && Number.isFinite(x));
  let ok: boolean;
  if (STRING_KEYS.has(key)) ok = typeof v === "string";
  else if (key === "ipset") ok = typeof v === "boolean" || v === "true" || v === "false";
  else if (LIST_KEYS.has(key)) ok = scalar(v) || (Array.isArray(v) && v.every(scalar));
  else ok = scalar(v);
  if (!ok) {
    const want = STRING_KEYS.has(key)
      ? "a string"
      : key === "ipset"
      ? "true or false"
      : LIST_KEYS.has(key)
      ? "a string, a number or an array of them"
      : "a string or a number";
    const got = Array.isArray(v)
      ? "an array"
      : v instanceof Date
      ? "a date"
      : v === null
      ? "null"
      : typeof v === "object"
      ? "a table"
      : `a ${typeof v}`;
    throw usageError(`${source}: '${key}' must be ${want}, not ${got}`);
  }
}

/** Parse TOML config text (sans-I/O part of {@linkcode readConfigFile}). */
export function parseConfigText(text: string, source = "config"): RawSettings {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new PbxError("E_PARSE", `${source}: ${(err as Error).message.split("\n")[0]}`);
  }
  // allow a [ban] table or top-level keys
  if (doc.ban && typeof doc.ban === "object" && !Array.isArray(doc.ban)) doc = doc.ban as Record<string, unknown>;
  const out: RawSettings = {};
  for (const [k, v] of Object.entries(doc)) {
    const key = TOML_KEYS[k];
    if (!key) throw usageError(`${source}: unknown key '${k}' (known: ${Object.keys(TOML_KEYS).join(", ")})`);
    checkTomlType(source, k, v);
    const asList = (x: unknown): string[] => {
      if (Array.isArray(x)) return x.map((e) => String(e));
      return [String(x)];
    };
    if (key === "pbx" || key === "exempt" || key === "fleet") out[key] = asList(v);
    else if (key === "notifyCmd") out.notifyCmd = Array.isArray(v) ? asList(v) : String(v);
    else if (key === "methods" || key === "ports" || key === "fleetMaxPrefix") {
      out[key] = Array.isArray(v) ? v.join(",") : String(v);
    } else (out as Record<string, string>)[key] = String(v);
  }
  return out;
}

/** Split a command string into argv on whitespace (no shell, no quoting rules: use a TOML array for those). */
export function splitCommand(text: string): string[] {
  return text.trim().split(/\s+/).filter((s) => s.length > 0);
}

/** Merge defaults, file settings and flag settings (later wins) into a validated config. */
export function resolveConfig(file: RawSettings, flags: RawSettings): BanConfig {
  const c = defaultConfig();
  for (const raw of [file, flags]) {
    if (raw.interface !== undefined) {
      if (!raw.interface.trim()) throw usageError("--interface: give an interface name (or 'any')");
      c.interface = raw.interface;
    }
    if (raw.ports !== undefined) c.ports = parseList(raw.ports).map((p) => parsePort(p, "--ports"));
    if (raw.pbx !== undefined && raw.pbx.length > 0) {
      const addrs: Cidr[] = [];
      const ports = new Set<number>();
      for (const entry of raw.pbx) {
        const hp = parseHostPort(entry, "--pbx");
        if (!parseIp(hp.host)) throw usageError(`--pbx: '${entry}' is not ADDR[:PORT] with an IP address`);
        addrs.push(parseCidr(hp.host, "--pbx"));
        if (hp.port !== undefined) ports.add(hp.port);
      }
      c.pbxAddrs = addrs;
      if (ports.size > 0 && raw.ports === undefined) c.ports = [...ports];
    }
    if (raw.maxFailures !== undefined) {
      c.maxFailures = parseIntIn(raw.maxFailures, "--max-failures", { min: 1, max: 1_000_000 });
    }
    if (raw.findTime !== undefined) c.findTimeMs = parseDuration(raw.findTime, "--find-time");
    if (raw.banTime !== undefined) c.banTimeMs = parseDuration(raw.banTime, "--ban-time");
    if (raw.methods !== undefined) {
      c.methods = parseList(raw.methods).map((m) => m.toUpperCase());
      if (c.methods.length === 0) throw usageError("--methods: give at least one SIP method, e.g. REGISTER,INVITE");
      for (const m of c.methods) if (!/^[A-Z]+$/.test(m)) throw usageError(`--methods: '${m}' is not a SIP method`);
    }
    if (raw.exempt !== undefined) c.exempt = raw.exempt.flatMap((e) => parseList(e)).map((e) => parseCidr(e));
    if (raw.backend !== undefined) {
      if (!(BACKENDS as readonly string[]).includes(raw.backend)) {
        throw usageError(`--backend: '${raw.backend}' is not one of ${BACKENDS.join(", ")}`);
      }
      c.backend = raw.backend;
    }
    if (raw.scope !== undefined) {
      if (raw.scope !== "ports" && raw.scope !== "all") throw usageError(`--scope: '${raw.scope}' is not ports or all`);
      c.scope = raw.scope;
    }
    if (raw.ipset !== undefined) {
      if (raw.ipset !== "true" && raw.ipset !== "false") throw usageError(`ipset: '${raw.ipset}' is not true or false`);
      c.ipset = raw.ipset === "true";
    }
    if (raw.state !== undefined) {
      if (!raw.state.trim()) throw usageError("--state: give a file");
      c.statePath = raw.state;
    }
    if (raw.socket !== undefined) {
      // sockaddr_un holds 108 bytes including the terminating NUL
      if (!raw.socket.trim() || new TextEncoder().encode(raw.socket).length > 107) {
        throw usageError(`--socket: '${raw.socket}' must be a path of 1 to 107 bytes (a Unix socket's limit)`);
      }
      c.socketPath = raw.socket;
    }
    if (raw.notifyCmd !== undefined) {
      c.notifyCmd = Array.isArray(raw.notifyCmd) ? raw.notifyCmd : splitCommand(raw.notifyCmd);
    }
    if (raw.snaplen !== undefined) c.snaplen = parseIntIn(raw.snaplen, "--snaplen", { min: 128, max: 262144 });
    if (raw.bufferSize !== undefined) c.bufferSize = parseSize(raw.bufferSize, "--buffer-size");
    if (raw.bpf !== undefined) c.bpf = raw.bpf;
    if (raw.nice !== undefined) c.nice = parseIntIn(raw.nice, "--nice", { min: -20, max: 19 });
    if (raw.recheck !== undefined) c.recheckMs = Math.max(1000, parseDuration(raw.recheck, "--recheck"));
  }
  c.fleet = resolveFleet(file, flags, c.banTimeMs);
  if (c.ports.length === 0) throw usageError("--ports: at least one port is needed");
  if (c.findTimeMs <= 0) throw usageError("--find-time must be positive");
  return c;
}

/** A fleet server URL: `nats://HOST:PORT` or `tls://HOST:PORT` (IPv6 in brackets), no credentials in it. */
export function parseFleetServer(text: string): string {
  const m = /^(nats|tls):\/\/([^/?#@\s]+)$/.exec(text.trim());
  if (!m) {
    if (/^[a-z]+:\/\/[^/]*@/i.test(text.trim())) {
      throw usageError("--fleet: put credentials in --fleet-user/--fleet-password or --fleet-creds, not in the URL");
    }
    throw usageError(`--fleet: '${text}' is not nats://HOST:PORT or tls://HOST:PORT`);
  }
  const hp = parseHostPort(m[2], "--fleet");
  if (!hp.host) throw usageError(`--fleet: '${text}' has no host`);
  return `${m[1]}://${m[2]}${hp.port === undefined ? ":4222" : ""}`;
}

function resolveFleet(file: RawSettings, flags: RawSettings, banTimeMs: number): FleetConfig | undefined {
  const pick = <K extends keyof RawSettings>(k: K): RawSettings[K] => flags[k] !== undefined ? flags[k] : file[k];
  const servers = pick("fleet");
  const others = (["fleetNode", "fleetBucket", "fleetUser", "fleetPassword", "fleetCreds", "fleetTlsCa"] as const)
    .filter((k) => pick(k) !== undefined);
  if (!servers || servers.length === 0) {
    if (others.length) throw usageError(`--${kebab(others[0])} needs --fleet nats://HOST:4222`);
    return undefined;
  }
  const node = pick("fleetNode") ?? Deno.hostname().split(".")[0];
  if (!NODE_NAME_RE.test(node)) {
    throw usageError(`--fleet-node: '${node}' must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  const bucket = pick("fleetBucket") ?? DEFAULT_FLEET_BUCKET;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(bucket)) {
    throw usageError(`--fleet-bucket: '${bucket}' must be 1-64 letters, digits, '_' or '-'`);
  }
  const user = pick("fleetUser"), password = pick("fleetPassword"), creds = pick("fleetCreds");
  if ((user === undefined) !== (password === undefined)) {
    throw usageError("--fleet-user and --fleet-password go together");
  }
  if (creds !== undefined && user !== undefined) {
    throw usageError("--fleet-creds and --fleet-user/--fleet-password are exclusive");
  }
  const tlsCa = pick("fleetTlsCa");
  let maxPrefix4 = 32, maxPrefix6 = 128;
  const mp = pick("fleetMaxPrefix");
  if (mp !== undefined) {
    const parts = parseList(mp).map((p) => p.replace(/^\//, ""));
    if (parts.length < 1 || parts.length > 2) {
      throw usageError(`--fleet-max-prefix: '${mp}' is not V4[,V6], e.g. 32,128`);
    }
    maxPrefix4 = parseIntIn(parts[0], "--fleet-max-prefix (IPv4)", { min: 8, max: 32 });
    if (parts[1] !== undefined) maxPrefix6 = parseIntIn(parts[1], "--fleet-max-prefix (IPv6)", { min: 16, max: 128 });
  }
  const r = pick("fleetReplicas");
  const replicas = r === undefined ? 1 : parseIntIn(r, "--fleet-replicas", { min: 1, max: 5 });
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) throw usageError("--fleet-replicas: 1, 3 or 5");
  const maxAgeMs = Math.max(DEFAULT_FLEET_MAX_AGE_MS, banTimeMs);
  return {
    servers: servers.flatMap((s) => parseList(s)).map(parseFleetServer),
    node,
    bucket,
    user,
    password,
    credsFile: creds,
    tlsCa,
    maxPrefix4,
    maxPrefix6,
    replicas,
    maxAgeMs,
  };
}

function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Link types whose frames may carry an in-packet 802.1Q tag (Ethernet). */
const ETHERNET_LINKTYPES = new Set([1]);

/**
 * The BPF filter for the PBX's outgoing SIP (and IP fragments, which carry no ports). On Ethernet (`linkType` 1, the
 * default when unknown) it also matches the same traffic inside one 802.1Q/802.1ad tag, for captures on a trunk:
 * `(F) or (vlan and (F))`. Linux cooked captures (`any`, link types 113/276) see frames with the tag already removed,
 * and libpcap has no `vlan` for them, so they get `F` alone. A `--bpf` override is used as given.
 */
export function bpfFor(c: BanConfig, options: { linkType?: number } = {}): string {
  if (c.bpf) return c.bpf;
  const ports = c.ports.map((p) => `src port ${p}`).join(" or ");
  const hosts = c.pbxAddrs.map((a) => `src net ${a.text}`).join(" or ");
  const frag = "(ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] = 44)";
  const l4 = `((udp or tcp) and (${ports}))`;
  const f = hosts ? `(${hosts}) and (${l4} or ${frag})` : `${l4} or ${frag}`;
  return ETHERNET_LINKTYPES.has(options.linkType ?? 1) ? `(${f}) or (vlan and (${f}))` : f;
}
