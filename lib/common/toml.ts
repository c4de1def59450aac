/**
 * TOML config files (parsed by smol-toml) with the error rules every daemon's `--config` keeps: an unreadable file,
 * a syntax error, a key that does not exist or a value of the wrong type is one line naming the file, the line and
 * the key (`/etc/pbxkit/ban.toml:3: 'max_failures' must be a string or a number, not an array`), exit status 2.
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { EXIT_USAGE, oneLine, osErrorReason, PbxError } from "./errors.ts";
import { openRead } from "./fs.ts";

/** A config file as read: where it came from, its text and the parsed document. */
export interface TomlFile {
  /** The path (or a name) used in error messages. */
  source: string;
  /** The file's text. */
  text: string;
  /** The parsed document. */
  data: Record<string, unknown>;
}

/** A config error: `E_USAGE`, exit 2, `SOURCE[:LINE]: message`. */
export function configError(source: string, line: number | undefined, message: string): PbxError {
  return new PbxError("E_USAGE", `${source}${line ? `:${line}` : ""}: ${oneLine(message)}`, { exitCode: EXIT_USAGE });
}

/** Read and parse a TOML file. Missing, unreadable, not a regular file, not UTF-8 or bad TOML: exit-2 errors. */
export async function readTomlFile(path: string, options: { what?: string } = {}): Promise<TomlFile> {
  const what = options.what ?? "--config";
  let text: string;
  try {
    const { file } = await openRead(path, { what });
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await new Response(file.readable).arrayBuffer());
    } catch (err) {
      throw new PbxError("E_INVALID_INPUT", `cannot read ${what} '${path}': ${osErrorReason(err)}`, { cause: err });
    }
  } catch (err) {
    if (err instanceof PbxError) throw new PbxError(err.code, err.message, { exitCode: EXIT_USAGE, cause: err });
    throw err;
  }
  return { source: path, text, data: parseTomlText(text, path) };
}

/** Parse TOML text; a syntax error is `E_PARSE` (exit 2) naming `source` and the line. */
export function parseTomlText(text: string, source = "config"): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number };
    const msg = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new PbxError("E_PARSE", `${source}${e.line ? `:${e.line}` : ""}: ${msg}`, { exitCode: EXIT_USAGE });
  }
}

/**
 * The 1-based line where `key` is assigned, at the top level (no `table`) or inside `[table]`; undefined when not
 * found (a key given inline, e.g. `ban = { x = 1 }`). Understands bare and quoted keys and dotted `table.key = `.
 */
export function tomlKeyLine(text: string, key: string, table?: string): number | undefined {
  const lines = text.split("\n");
  let current: string | undefined;
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const assign = new RegExp(`^\\s*(?:${esc}|"${esc}"|'${esc}')\\s*=`);
  const dotted = table
    ? new RegExp(`^\\s*${table.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*\\.\\s*${esc}\\s*=`)
    : null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(l);
    if (header) {
      current = header[1].replace(/["']/g, "");
      continue;
    }
    if (current === table && assign.test(l)) return i + 1;
    if (current === undefined && dotted?.test(l)) return i + 1;
  }
  return undefined;
}

/** What a TOML value is, for "must be X, not Y" messages: `a string`, `an array`, `a table`, `a date`... */
export function tomlTypeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (v === null) return "null";
  if (typeof v === "object") return "a table";
  return `a ${typeof v}`;
}
