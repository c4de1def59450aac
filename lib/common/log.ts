/**
 * A small leveled logger writing to stderr, shared by every subcommand. `--verbose` shows debug lines,
 * `--quiet` hides everything below warnings. Daemons log one line per event.
 *
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lowest level printed (default `info`). */
  level?: LogLevel;
  /** Prefix each line with an ISO timestamp (default false; daemons turn it on). */
  timestamps?: boolean;
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
  #state: { level: LogLevel; timestamps: boolean; sink: (line: string) => void };
  #scope: string | undefined;

  /** Make a logger. */
  constructor(options: LoggerOptions = {}) {
    this.#state = {
      level: options.level ?? "info",
      timestamps: options.timestamps ?? false,
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

/** The process-wide logger; the CLI sets its level from `--verbose`/`--quiet`. */
export const log: Logger = new Logger();

/** Set the global logger's level from the common flags. */
export function configureLogging(options: { verbose?: boolean; quiet?: boolean; timestamps?: boolean }): void {
  log.level = options.verbose ? "debug" : options.quiet ? "warn" : "info";
  if (options.timestamps !== undefined) log.timestamps = options.timestamps;
}
