/**
 * Configuration of `pbxkit tftp-serve`: defaults, a TOML file and flags, merged in that order (flags win), validated
 * into {@linkcode TftpServeConfig}. File errors name the file, the line and the key (exit 2).
 *
 * ```toml
 * root = "/srv/tftp"            # directory served
 * port = 69
 * address = ["::"]              # addresses to bind (:: = IPv4 and IPv6)
 * allow_write = false           # accept uploads (atomic)
 * max_blksize = 65464
 * max_windowsize = 64
 * max_transfers = 128
 * max_upload_size = "1GiB"
 *
 * [metrics]
 * listen = "127.0.0.1:9465"     # Prometheus /metrics (off when absent)
 * ```
 *
 * @module
 */

import {
  configError,
  isTomlTable,
  parseIntIn,
  parseMetricsAddress,
  parsePort,
  parseSize,
  parseTomlConfig,
  readConfigText,
  tomlTypeName,
  usageError,
} from "../common/mod.ts";

/** Everything `pbxkit tftp-serve` needs. */
export interface TftpServeConfig {
  /** Directory served. */
  root: string;
  /** UDP port. */
  port: number;
  /** Addresses to bind (undefined: `::`, dual-stack). */
  hostnames?: string[];
  /** Accept uploads. */
  allowWrite: boolean;
  /** Largest blksize granted. */
  maxBlksize: number;
  /** Largest windowsize granted. */
  maxWindowsize: number;
  /** Most transfers at once. */
  maxTransfers: number;
  /** Largest upload, bytes. */
  maxUploadSize: number;
  /** Where Prometheus metrics are served (`--metrics`, `[metrics] listen`); off when undefined. */
  metrics?: { hostname: string; port: number };
}

/** Raw settings from flags or a TOML file (strings as flags give them). */
export interface TftpRawSettings {
  /** Raw `root`. */
  root?: string;
  /** Raw `port`. */
  port?: string;
  /** Raw `address` list. */
  address?: string[];
  /** Raw `allow_write` (`true`/`false`). */
  allowWrite?: string;
  /** Raw `max_blksize`. */
  maxBlksize?: string;
  /** Raw `max_windowsize`. */
  maxWindowsize?: string;
  /** Raw `max_transfers`. */
  maxTransfers?: string;
  /** Raw `max_upload_size`. */
  maxUploadSize?: string;
  /** Raw metrics address (`[metrics] listen`, `--metrics`). */
  metrics?: string;
}

/** Default served directory (the unit's `StateDirectory=pbxkit`). */
export const DEFAULT_TFTP_ROOT = "/var/lib/pbxkit-tftp";

const KEYS: Record<string, { key: keyof TftpRawSettings; type: "string" | "int" | "size" | "bool" | "list" }> = {
  root: { key: "root", type: "string" },
  port: { key: "port", type: "int" },
  address: { key: "address", type: "list" },
  allow_write: { key: "allowWrite", type: "bool" },
  max_blksize: { key: "maxBlksize", type: "int" },
  max_windowsize: { key: "maxWindowsize", type: "int" },
  max_transfers: { key: "maxTransfers", type: "int" },
  max_upload_size: { key: "maxUploadSize", type: "size" },
};

/** The TOML keys a tftp config may hold. */
export const TFTP_CONFIG_KEYS: readonly string[] = Object.keys(KEYS);

/** Read a TOML config file into raw settings (errors: one line with file, line and key, exit 2). */
export async function readTftpConfigFile(path: string): Promise<TftpRawSettings> {
  return parseTftpConfigText(await readConfigText(path, "--config"), path);
}

/** Parse TOML config text into raw settings; keys at the top level or in a `[tftp]` table. */
export function parseTftpConfigText(text: string, source = "config"): TftpRawSettings {
  const config = parseTomlConfig(text, source);
  let doc = config.data;
  // [metrics] listen = "HOST:PORT", beside a [tftp] table or the top-level keys
  let metrics: string | undefined;
  if (isTomlTable(doc.metrics)) {
    for (const [k, v] of Object.entries(doc.metrics)) {
      if (k !== "listen") throw configError(config, ["metrics", k], "is not a known key (known: listen)");
      if (typeof v !== "string") {
        throw configError(config, ["metrics", k], `must be a string like "127.0.0.1:9465", not ${tomlTypeName(v)}`);
      }
      try {
        parseMetricsAddress(v);
      } catch (err) {
        throw configError(
          config,
          ["metrics", k],
          `is invalid: ${(err as Error).message.replace(/^--metrics:\s*/, "")}`,
        );
      }
      metrics = v;
    }
    const { metrics: _, ...rest } = doc;
    doc = rest;
  }
  const table: string[] = [];
  if (isTomlTable(doc.tftp)) {
    doc = doc.tftp;
    table.push("tftp");
  }
  const out: TftpRawSettings = {};
  for (const [k, v] of Object.entries(doc)) {
    const spec = KEYS[k];
    const path = [...table, k];
    if (!spec) throw configError(config, path, `is not a known key (known: ${TFTP_CONFIG_KEYS.join(", ")})`);
    const bad = (want: string) => configError(config, path, `must be ${want}, not ${tomlTypeName(v)}`);
    switch (spec.type) {
      case "string":
        if (typeof v !== "string") throw bad("a string");
        out[spec.key as "root"] = v;
        break;
      case "int":
        if (typeof v !== "number" && typeof v !== "string") throw bad("an integer");
        (out as Record<string, string>)[spec.key] = String(v);
        break;
      case "size":
        if (typeof v !== "number" && typeof v !== "string") throw bad('a size like "1GiB" or a number of bytes');
        (out as Record<string, string>)[spec.key] = String(v);
        break;
      case "bool":
        if (typeof v !== "boolean") throw bad("true or false");
        out.allowWrite = String(v);
        break;
      case "list":
        if (typeof v === "string") out.address = [v];
        else if (Array.isArray(v) && v.every((x) => typeof x === "string")) out.address = v as string[];
        else throw bad("a string or an array of strings");
        break;
    }
    try {
      resolveTftpConfig({ [spec.key]: out[spec.key] } as TftpRawSettings, {});
    } catch (err) {
      const reason = (err as Error).message.replace(/^--[a-z-]+:\s*/, "").replace(/^--[a-z-]+ /, "");
      throw configError(config, path, `is invalid: ${reason}`);
    }
  }
  if (metrics !== undefined) out.metrics = metrics;
  return out;
}

/** Merge defaults, file and flags (later wins) into a validated config. */
export function resolveTftpConfig(file: TftpRawSettings, flags: TftpRawSettings): TftpServeConfig {
  const c: TftpServeConfig = {
    root: DEFAULT_TFTP_ROOT,
    port: 69,
    allowWrite: false,
    maxBlksize: 65464,
    maxWindowsize: 64,
    maxTransfers: 128,
    maxUploadSize: 1 << 30,
  };
  for (const raw of [file, flags]) {
    if (raw.root !== undefined) {
      if (!raw.root.trim()) throw usageError("--root: give a directory");
      c.root = raw.root;
    }
    if (raw.port !== undefined) c.port = parsePort(raw.port, "--port");
    if (raw.address !== undefined) {
      if (raw.address.length === 0 || raw.address.some((a) => !a.trim())) {
        throw usageError("--address: give an address, e.g. :: or 192.168.7.1");
      }
      c.hostnames = raw.address;
    }
    if (raw.allowWrite !== undefined) {
      if (raw.allowWrite !== "true" && raw.allowWrite !== "false") {
        throw usageError(`--allow-write: '${raw.allowWrite}' is not true or false`);
      }
      c.allowWrite = raw.allowWrite === "true";
    }
    if (raw.maxBlksize !== undefined) {
      c.maxBlksize = parseIntIn(raw.maxBlksize, "--max-blksize", { min: 8, max: 65464 });
    }
    if (raw.maxWindowsize !== undefined) {
      c.maxWindowsize = parseIntIn(raw.maxWindowsize, "--max-windowsize", { min: 1, max: 65535 });
    }
    if (raw.maxTransfers !== undefined) {
      c.maxTransfers = parseIntIn(raw.maxTransfers, "--max-transfers", { min: 1, max: 100_000 });
    }
    if (raw.maxUploadSize !== undefined) c.maxUploadSize = parseSize(raw.maxUploadSize, "--max-upload-size");
    if (raw.metrics !== undefined) c.metrics = parseMetricsAddress(raw.metrics);
  }
  return c;
}
