/**
 * TOML config files, shared by the subcommands that take `--config FILE` (`ban`, `ws-serve`): reading the file,
 * parsing it with smol-toml, and one-line errors that name the file, the line and the key:
 *
 * ```text
 * /etc/pbxkit/ws.toml:7: 'listen[1].tls_crt' is not a known key (known: address, tls_cert, tls_key, redirect)
 * ```
 *
 * Every error here is a `PbxError` with exit status 2 (a config is part of the command line).
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { type ErrorCode, EXIT_USAGE, osErrorReason, PbxError } from "./errors.ts";
import { openRead } from "./fs.ts";

/** A parsed TOML config: its data, and the text and name kept for error messages. */
export interface TomlConfig {
  /** The parsed document. */
  data: Record<string, unknown>;
  /** The source text (to find the line of a key). */
  text: string;
  /** How messages name the file (its path). */
  source: string;
}

/** A path to a value: table names, array indexes and the key, e.g. `["listen", 1, "address"]`. */
export type TomlPath = readonly (string | number)[];

/** `listen[1].address` for `["listen", 1, "address"]`. */
export function tomlPathText(path: TomlPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Read a config file's text (exit status 2 when it is missing, unreadable or not a regular file). */
export async function readConfigText(path: string, what = "--config"): Promise<string> {
  let opened;
  try {
    opened = await openRead(path, { what });
  } catch (err) {
    throw asUsage(err as PbxError);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(await new Response(opened.file.readable).arrayBuffer());
  } catch (err) {
    const reason = err instanceof TypeError ? "not UTF-8 text" : osErrorReason(err);
    throw new PbxError("E_INVALID_INPUT", `cannot read ${what} '${path}': ${reason}`, { exitCode: EXIT_USAGE });
  }
}

function asUsage(err: PbxError): PbxError {
  if (!(err instanceof PbxError)) return err;
  return new PbxError(err.code, err.message, { exitCode: EXIT_USAGE, cause: err.cause });
}

/** Parse TOML text; a syntax error is `E_PARSE` "SOURCE:LINE: message" (exit status 2). */
export function parseTomlConfig(text: string, source: string): TomlConfig {
  try {
    return { data: parseToml(text) as Record<string, unknown>, text, source };
  } catch (err) {
    const e = err as Error & { line?: number };
    const first = e.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
    const where = typeof e.line === "number" ? `${source}:${e.line}` : source;
    throw new PbxError("E_PARSE", `${where}: ${first}`, { exitCode: EXIT_USAGE });
  }
}

/** Read and parse a TOML config file ({@linkcode readConfigText} + {@linkcode parseTomlConfig}). */
export async function readTomlConfig(path: string, what = "--config"): Promise<TomlConfig> {
  return parseTomlConfig(await readConfigText(path, what), path);
}

function headerOf(line: string): { name: string; array: boolean } | undefined {
  const m = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(line);
  if (!m) return undefined;
  return { name: m[2].replace(/\s*\.\s*/g, ".").replace(/"/g, ""), array: m[1] === "[[" };
}

/**
 * The 1-based line where `path` is set in `text` (its key, or the table header when the path names a table), or
 * undefined when it cannot be found (a key set through an inline table or a dotted key).
 */
export function tomlLineOf(text: string, path: TomlPath): number | undefined {
  if (path.length === 0) return undefined;
  const lines = text.split("\n");
  // the table part: leading names with their array indexes; the last string is the key
  const last = path[path.length - 1];
  const key = typeof last === "string" ? last : undefined;
  const tablePath = key === undefined ? path : path.slice(0, -1);
  const tableName = tablePath.filter((p) => typeof p === "string").join(".");
  const index = tablePath.findLast((p) => typeof p === "number") as number | undefined;
  let current = "";
  const count = new Map<string, number>();
  let headerLine: number | undefined;
  const keyRe = key === undefined ? undefined : new RegExp(`^\\s*(?:${escapeRe(key)}|"${escapeRe(key)}")\\s*=`);
  for (let i = 0; i < lines.length; i++) {
    const h = headerOf(lines[i]);
    if (h) {
      const n = h.array ? (count.get(h.name) ?? -1) + 1 : 0;
      if (h.array) count.set(h.name, n);
      current = h.array ? `${h.name}#${n}` : h.name;
      if (h.name === tableName && (index === undefined || n === index)) headerLine ??= i + 1;
      continue;
    }
    const want = index === undefined ? tableName : `${tableName}#${index}`;
    if (keyRe && current === want && keyRe.test(lines[i])) return i + 1;
  }
  if (headerLine !== undefined) return headerLine;
  // set through an inline table or array (`listen = [{ address = ":80" }]`): the line of its top-level key
  const top = new RegExp(`^\\s*(?:${escapeRe(String(path[0]))}|"${escapeRe(String(path[0]))}")\\s*=`);
  // or a table given where a value belongs (`[echo]`): its header
  const fullName = path.filter((p) => typeof p === "string").join(".");
  current = "";
  for (let i = 0; i < lines.length; i++) {
    const h = headerOf(lines[i]);
    if (h) current = h.name;
    if (h?.name === fullName || (!h && current === "" && top.test(lines[i]))) return i + 1;
  }
  return undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A one-line config error naming the file, the line (when found) and the key: `SOURCE:LINE: 'KEY' message`.
 * Exit status 2; `code` defaults to `E_USAGE`.
 */
export function configError(
  config: TomlConfig,
  path: TomlPath,
  message: string,
  code: ErrorCode = "E_USAGE",
): PbxError {
  const line = tomlLineOf(config.text, path);
  const where = line === undefined ? config.source : `${config.source}:${line}`;
  return new PbxError(code, `${where}: '${tomlPathText(path)}' ${message}`, { exitCode: EXIT_USAGE });
}

/** How a TOML value's type reads in a message: "a string", "an array", "a table", "a date"... */
export function tomlTypeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (v === null) return "null";
  if (typeof v === "object") return "a table";
  return `a ${typeof v}`;
}

/** True for a plain TOML table (not an array, a date or null). */
export function isTomlTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
