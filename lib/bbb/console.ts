/**
 * Driving u-boot from its serial console, sans I/O: {@linkcode UbootDriver} takes the bytes the board prints (and
 * the clock) and answers with the bytes to send and what happened. It stops autoboot at "Hit any key", waits for
 * the `=> ` prompt, types one command at a time and waits for the next prompt, times each step, checks each `tftp`
 * download against the local file (size, then `crc32` on the board against the file's CRC-32), and fails on u-boot's
 * own error lines (`Retry count exceeded`, `Unknown command`, bad CRCs, TFTP errors). The adapter in
 * `console_port.ts` owns the port.
 *
 * @module
 */

import { hex32 } from "./crc32.ts";

/** A local file the board is expected to fetch: its size and CRC-32. */
export interface ExpectedFile {
  /** Size in bytes. */
  size: number;
  /** CRC-32 as a number. */
  crc32: number;
}

/** Options of {@linkcode UbootDriver}. */
export interface UbootDriverOptions {
  /** How long to wait for the first prompt, in ms (default 30 s). */
  promptTimeoutMs?: number;
  /** How long one command may run before its prompt shows, in ms (default 120 s). */
  stepTimeoutMs?: number;
  /** Files by TFTP name: a `tftp ADDR NAME` step is followed by a CRC check on the board. */
  expect?: ReadonlyMap<string, ExpectedFile>;
}

/** What the driver reports. */
export type ConsoleEvent =
  | { kind: "autoboot-stopped"; atMs: number }
  | { kind: "prompt"; atMs: number }
  | { kind: "step-start"; index: number; total: number; command: string; atMs: number }
  | { kind: "step-done"; index: number; total: number; command: string; ms: number; output: string; note?: string }
  | { kind: "kernel-started"; command: string; atMs: number }
  | { kind: "done"; ok: true; atMs: number }
  | { kind: "failed"; ok: false; reason: string; command?: string; atMs: number };

/** What to do after feeding bytes or the clock: bytes to send to the board, and events. */
export interface DriverOutput {
  /** Bytes to write to the port, in order. */
  send: Uint8Array[];
  /** What happened. */
  events: ConsoleEvent[];
}

/** u-boot's error lines that fail a step, with the reason reported. */
const FAILURES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/Retry count exceeded/, () => "u-boot: Retry count exceeded (no answer from the TFTP server)"],
  [/Unknown command '([^']*)'/, (m) => `u-boot: Unknown command '${m[1]}'`],
  [/TFTP error: '([^']*)'/, (m) => `u-boot: TFTP error '${m[1]}'`],
  [/Bad (Data|Header) (CRC|Checksum)/, (m) => `u-boot: bad ${m[1].toLowerCase()} CRC`],
  [/crc32 for [^\n]*!=[^\n]*ERROR/, () => "u-boot: CRC mismatch (crc32 -v)"],
  [/## Error: ([^\r\n]*)/, (m) => `u-boot: ${m[1]}`],
];

/** The commands that hand the board to a kernel: no prompt comes back. */
const KERNEL = /^(go|bootm|bootz|booti)\b/;
const PROMPT = "\n=> ";
const HIT_KEY = /Hit any key to stop autoboot/;
/** The first prompt, perhaps followed by the echo of a key that came after the countdown stopped. */
const FIRST_PROMPT = /(?:^|\n)=> *$/;
const MAX_BUFFER = 256 * 1024;

/**
 * Split a u-boot command line into steps at top-level `;` (not inside quotes, nor inside `if ... fi`,
 * `for ... done`, `while ... done`), trimmed, empty ones dropped.
 */
export function splitCommands(line: string): string[] {
  const pieces: string[] = [];
  let cur = "", quote = "";
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = "";
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === ";") {
      pieces.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  pieces.push(cur.trim());
  const out: string[] = [];
  let block: string[] = [], depth = 0;
  for (const p of pieces.filter((x) => x)) {
    const first = p.split(/\s+/)[0];
    if (["if", "for", "while", "until"].includes(first)) depth++;
    if (first === "fi" || first === "done") depth = Math.max(0, depth - 1);
    block.push(p);
    if (depth === 0) {
      out.push(block.join("; "));
      block = [];
    }
  }
  if (block.length) out.push(block.join("; "));
  return out;
}

/** The dev commands of a `uEnv.txt`: a `setenv NAME 'VALUE'` step per helper variable, then `uenvcmd`'s commands. */
export function uenvSteps(text: string): string[] {
  const vars: [string, string][] = [];
  let cmd: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const name = line.slice(0, eq).trim(), value = line.slice(eq + 1);
    if (name === "uenvcmd") cmd = value;
    else if (!value.includes("'")) vars.push([name, value]);
  }
  if (cmd === undefined) return [];
  return [...vars.map(([k, v]) => `setenv ${k} '${v}'`), ...splitCommands(cmd)];
}

type State = "connecting" | "ready" | "running" | "crc" | "kernel" | "finished";

/** The console state machine: feed it the board's bytes and the time, send what it returns. */
export class UbootDriver {
  readonly #steps: string[];
  readonly #opts: Required<Omit<UbootDriverOptions, "expect">> & { expect?: ReadonlyMap<string, ExpectedFile> };
  #state: State = "connecting";
  #buf = "";
  #index = -1;
  #stepStart = 0;
  #deadline: number;
  #pendingCrc?: { addr: string; file: ExpectedFile; name: string; command: string; started: number };
  #hitKeySeen = false;
  #dec = new TextDecoder();
  #enc = new TextEncoder();

  /** `steps` are the command lines to run one by one; `now` the clock in ms at start. */
  constructor(steps: readonly string[], now: number, options: UbootDriverOptions = {}) {
    this.#steps = [...steps];
    this.#opts = {
      promptTimeoutMs: options.promptTimeoutMs ?? 30_000,
      stepTimeoutMs: options.stepTimeoutMs ?? 120_000,
      expect: options.expect,
    };
    this.#deadline = now + this.#opts.promptTimeoutMs;
  }

  /** Whether the run is over (done, failed, or the kernel was started). */
  get finished(): boolean {
    return this.#state === "finished" || this.#state === "kernel";
  }

  /** The first bytes to send: Ctrl-C, which stops a countdown and gives a fresh prompt at u-boot's prompt. */
  start(): DriverOutput {
    return { send: [this.#enc.encode("\x03")], events: [] };
  }

  /** Bytes from the board at time `now`. */
  feed(bytes: Uint8Array, now: number): DriverOutput {
    const out: DriverOutput = { send: [], events: [] };
    if (this.finished) return out;
    this.#buf += this.#dec.decode(bytes, { stream: true });
    if (this.#buf.length > MAX_BUFFER) this.#buf = this.#buf.slice(-MAX_BUFFER / 2);
    this.#advance(now, out);
    return out;
  }

  /** The clock moved to `now` (call it a few times a second): fails the run when a deadline passed. */
  tick(now: number): DriverOutput {
    const out: DriverOutput = { send: [], events: [] };
    if (this.finished || now < this.#deadline) return out;
    const what = this.#state === "connecting"
      ? `no u-boot prompt within ${this.#opts.promptTimeoutMs / 1000} s (no "Hit any key" nor "=> "): is the board ` +
        "powered, on this port, at this baud rate?"
      : `no prompt after '${this.#currentCommand()}' within ${this.#opts.stepTimeoutMs / 1000} s`;
    this.#fail(out, what, now);
    return out;
  }

  #currentCommand(): string {
    return this.#state === "crc" && this.#pendingCrc ? this.#crcCommand() : this.#steps[this.#index] ?? "";
  }

  #crcCommand(): string {
    const p = this.#pendingCrc!;
    return `crc32 ${p.addr} ${p.file.size.toString(16)}`;
  }

  #fail(out: DriverOutput, reason: string, now: number, command?: string): void {
    this.#state = "finished";
    out.events.push({ kind: "failed", ok: false, reason, command, atMs: now });
  }

  #send(out: DriverOutput, line: string, now: number): void {
    this.#buf = "";
    this.#stepStart = now;
    this.#deadline = now + this.#opts.stepTimeoutMs;
    out.send.push(this.#enc.encode(line + "\n"));
  }

  #next(out: DriverOutput, now: number): void {
    this.#index++;
    if (this.#index >= this.#steps.length) {
      this.#state = "finished";
      out.events.push({ kind: "done", ok: true, atMs: now });
      return;
    }
    const command = this.#steps[this.#index];
    this.#state = KERNEL.test(command) ? "kernel" : "running";
    out.events.push({ kind: "step-start", index: this.#index, total: this.#steps.length, command, atMs: now });
    this.#send(out, command, now);
    if (this.#state === "kernel") {
      // No prompt comes back: the step is over once the line is sent.
      out.events.push({ kind: "kernel-started", command, atMs: now });
    }
  }

  #advance(now: number, out: DriverOutput): void {
    if (this.#state === "connecting") {
      if (!this.#hitKeySeen && HIT_KEY.test(this.#buf)) {
        this.#hitKeySeen = true;
        out.send.push(this.#enc.encode(" "));
        out.events.push({ kind: "autoboot-stopped", atMs: now });
      }
      // A key that reached u-boot after the one that stopped the countdown is echoed after the prompt ("=>  ").
      if (FIRST_PROMPT.test(this.#buf)) {
        out.events.push({ kind: "prompt", atMs: now });
        this.#next(out, now);
      }
      return;
    }
    if (!this.#buf.endsWith(PROMPT)) return;
    // The command finished: its echo line, its output, the new prompt. A prompt before the echo is a stale one
    // (from the Ctrl-C or the key that stopped autoboot).
    const command = this.#currentCommand();
    const echo = this.#buf.indexOf(command);
    if (echo < 0) return;
    const text = this.#buf.slice(echo, -PROMPT.length + 1);
    const nl = text.indexOf("\n");
    const output = nl < 0 ? "" : text.slice(nl + 1).replace(/\r/g, "");
    const ms = now - this.#stepStart;
    for (const [re, why] of FAILURES) {
      const m = re.exec(output);
      if (m) {
        this.#stepDone(out, command, ms, output, "failed");
        this.#fail(out, why(m), now, command);
        return;
      }
    }
    if (this.#state === "crc") {
      const p = this.#pendingCrc!;
      const m = /==> ([0-9a-f]{8})/.exec(output);
      const want = hex32(p.file.crc32).slice(2);
      this.#pendingCrc = undefined;
      if (!m || m[1] !== want) {
        this.#stepDone(out, command, ms, output, "CRC mismatch");
        this.#fail(
          out,
          `CRC mismatch: ${p.name} at ${p.addr} has crc32 ${m?.[1] ?? "(none)"} on the board, ${want} here`,
          now,
          command,
        );
        return;
      }
      this.#stepDone(out, command, ms, output, `crc32 ${want} ok`);
      this.#state = "running";
      this.#next(out, now);
      return;
    }
    const tftp = /^tftp(?:boot)?\s+(\S+)\s+(\S+)\s*$/.exec(command);
    const file = tftp ? this.#opts.expect?.get(tftp[2].replace(/^.*:/, "")) : undefined;
    if (tftp && file) {
      const got = /Bytes transferred = (\d+)/.exec(output);
      if (!got || Number(got[1]) !== file.size) {
        this.#stepDone(out, command, ms, output, "size mismatch");
        this.#fail(
          out,
          `${tftp[2]}: ${got ? got[1] : "no"} bytes transferred, the file has ${file.size}`,
          now,
          command,
        );
        return;
      }
      this.#stepDone(out, command, ms, output, `${file.size} bytes`);
      this.#pendingCrc = { addr: tftp[1], file, name: tftp[2], command, started: now };
      this.#state = "crc";
      this.#send(out, this.#crcCommand(), now);
      return;
    }
    this.#stepDone(out, command, ms, output);
    this.#next(out, now);
  }

  #stepDone(out: DriverOutput, command: string, ms: number, output: string, note?: string): void {
    out.events.push({
      kind: "step-done",
      index: this.#index,
      total: this.#steps.length,
      command,
      ms,
      output,
      ...(note ? { note } : {}),
    });
  }
}
