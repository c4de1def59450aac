/**
 * A small leveled logger writing to stderr, shared by every subcommand. `--verbose` shows debug lines,
 * `--quiet` hides everything below warnings. Daemons log one line per event. `--log-format json` turns every line
 * into one JSON object, `{"ts":"2026-12-04T06:40:00.123Z","level":"info","msg":"...","scope":"ban",...fields}`,
 * for journald or Loki; text stays the default.
 *
 * @module
 */

/** Line formats: `text` (default, `key=value` fields) or `json` (one object a line). */
export type LogFormat = "text" | "json";

/** The accepted `--log-format` values. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lowest level printed (default `info`). */
  level?: LogLevel;
  /** Prefix each line with an ISO timestamp (default false; daemons turn it on). */
  timestamps?: boolean;
  /** Line format (default `text`). */
  format?: LogFormat;
  /** Where lines go (default stderr). */
  sink?: (line: string) => void;
  /** Component name shown in brackets. */
  scope?: string;
}

const encoder = new TextEncoder();
function stderrSink(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** A leveled logger. Fields are printed as `key=value` after the message. Children share level and sink. */
export class Logger {
  #state: { level: LogLevel; timestamps: boolean; format: LogFormat; sink: (line: string) => void };
  #scope: string | undefined;

  /** Make a logger. */
  constructor(options: LoggerOptions = {}) {
    this.#state = {
      level: options.level ?? "info",
      timestamps: options.timestamps ?? false,
      format: options.format ?? "text",
      sink: options.sink ?? stderrSink,
    };
    this.#scope = options.scope;
  }

  /** Lowest level printed. */
  get level(): LogLevel {
    return this.#state.level;
  }
  set level(level: LogLevel) {
    this.#state.level = level;
  }

  /** Whether lines start with an ISO timestamp. */
  get timestamps(): boolean {
    return this.#state.timestamps;
  }
  set timestamps(on: boolean) {
    this.#state.timestamps = on;
  }

  /** Line format: `text` or `json` (shared with children). */
  get format(): LogFormat {
    return this.#state.format;
  }
  set format(format: LogFormat) {
    this.#state.format = format;
  }

  /** A logger sharing this one's level, timestamps and sink, with a component name. */
  child(scope: string): Logger {
    const child = new Logger({ scope });
    child.#state = this.#state;
    return child;
  }

  /** True when lines of this level are printed (use to skip building expensive messages). */
  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.#state.level] && level !== "silent";
  }

  /** Debug detail, shown with `--verbose`. */
  debug(message: string, fields?: Record<string, unknown>): void {
    this.#write("debug", message, fields);
  }
  /** Normal progress and events. */
  info(message: string, fields?: Record<string, unknown>): void {
    this.#write("info", message, fields);
  }
  /** Something unexpected but handled. */
  warn(message: string, fields?: Record<string, unknown>): void {
    this.#write("warn", message, fields);
  }
  /** A failure. */
  error(message: string, fields?: Record<string, unknown>): void {
    this.#write("error", message, fields);
  }

  #write(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    if (this.#state.format === "json") {
      this.#state.sink(jsonLogLine(level as Exclude<LogLevel, "silent">, message, { scope: this.#scope, ...fields }));
      return;
    }
    let line = "";
    if (this.timestamps) line += new Date().toISOString() + " ";
    line += level === "info" ? "" : `${level}: `;
    if (this.#scope) line += `[${this.#scope}] `;
    line += message;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        const s = typeof v === "string" ? v : JSON.stringify(v);
        line += ` ${k}=${/[\s"]/.test(s) ? JSON.stringify(s) : s}`;
      }
    }
    this.#state.sink(line);
  }
}

/** Log fields that would collide with a JSON line's own keys are renamed with a `field_` prefix. */
const RESERVED = new Set(["ts", "level", "msg"]);

function jsonValue(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return v.toISOString();
  return v;
}

/**
 * One JSON log line (no newline): `{ts, level, msg, ...fields}`. Undefined fields are left out, errors become their
 * message, bigints strings; a field named `ts`, `level` or `msg` is written as `field_ts` and so on.
 */
export function jsonLogLine(
  level: Exclude<LogLevel, "silent">,
  message: string,
  fields?: Record<string, unknown>,
  now: Date = new Date(),
): string {
  const obj: Record<string, unknown> = { ts: now.toISOString(), level, msg: message };
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    obj[RESERVED.has(k) ? `field_${k}` : k] = jsonValue(v);
  }
  try {
    return JSON.stringify(obj);
  } catch {
    // a cycle or something else JSON cannot hold: keep the line, lose the fields
    return JSON.stringify({ ts: obj.ts, level, msg: message, fields_error: "fields not serializable" });
  }
}

/** The process-wide logger; the CLI sets its level from `--verbose`/`--quiet`. */
export const log: Logger = new Logger();

/** Set the global logger's level (and format) from the common flags. */
export function configureLogging(
  options: { verbose?: boolean; quiet?: boolean; timestamps?: boolean; format?: LogFormat },
): void {
  log.level = options.verbose ? "debug" : options.quiet ? "warn" : "info";
  if (options.timestamps !== undefined) log.timestamps = options.timestamps;
  if (options.format !== undefined) log.format = options.format;
}

/**
 * A daemon's line for stdout (`listening on ...`, a call event): the text as given with the `text` log format, a
 * JSON log line `{ts, level: "info", msg, ...fields}` with `--log-format json`, so every line a daemon prints parses.
 */
export function announce(text: string, fields?: Record<string, unknown>): void {
  const line = log.format === "json" ? jsonLogLine("info", text, fields) : text;
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}
