/**
 * What the call tests check about a finished call: its exit status within a bound, its output for failure messages,
 * its last JSON line, and the tone heard in a WAV file (pbxkit's `--record`, baresip's decoded-audio dump).
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { type Proc, settle, waitFor } from "../_util/mod.ts";
import { readWav } from "../../lib/call/wav.ts";
import { type AudioSummary, summarize } from "../../lib/call/dsp.ts";

/** How long a test call may take, from start to exit (ms). */
export const CALL_TIMEOUT = 45_000;

/** The exit status of `p`, stopping it and throwing when it runs longer than `timeoutMs`. */
export async function exitOf(p: Proc, timeoutMs = CALL_TIMEOUT): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const st = await Promise.race([p.done, new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs))]);
  clearTimeout(timer);
  if (!st) {
    await p.stop();
    throw new Error(`${p.name} did not finish in ${timeoutMs} ms:\n${p.stdout}\n${p.stderr}`);
  }
  return st.code;
}

/** stdout and the tail of stderr, for assertion messages. */
export function show(p: Proc): string {
  return `\n--- stdout\n${p.stdout}\n--- stderr\n${p.stderr.slice(-2000)}`;
}

/** The last line of stdout as JSON (`--json`'s call summary). */
// deno-lint-ignore no-explicit-any
export function lastJson(p: Proc): any {
  return JSON.parse(p.stdout.trim().split("\n").at(-1)!);
}

/** Frequency, level and active seconds of the audio in a WAV file. */
export async function toneOf(path: string): Promise<AudioSummary> {
  const a = await readWav(path);
  return summarize(a.samples, a.sampleRate);
}

/** The path of baresip's decoded-audio WAV in `dir`, once written completely (its RIFF size final; bounded). */
export async function baresipDump(dir: string): Promise<string> {
  const path = await waitFor(async () => {
    for await (const f of Deno.readDir(dir)) if (f.name.endsWith("-dec.wav")) return `${dir}/${f.name}`;
    return undefined;
  }, { timeoutMs: 10_000, what: "baresip recording" });
  await settle(async () => {
    const st = await Deno.stat(path);
    const f = await Deno.open(path);
    try {
      const head = new Uint8Array(8);
      return (await f.read(head)) === 8 && new DataView(head.buffer).getUint32(4, true) === st.size - 8;
    } finally {
      f.close();
    }
  }, { timeoutMs: 15_000 });
  return path;
}

/** baresip's decoded-audio WAV in `dir`, once written completely (bounded), summarized. */
export async function baresipHeard(dir: string): Promise<AudioSummary> {
  return await toneOf(await baresipDump(dir));
}

/** Assert a heard frequency is within 5 Hz of the one sent. */
export function near(hz: number, want: number, who: string): void {
  assert(Math.abs(hz - want) <= 5, `${who} heard ${hz} Hz, not ${want} Hz`);
}

/** Assert a heard tone is within 5 Hz of `want` and lasted more than `minSeconds`; the summary, for more checks. */
export function assertHeard(heard: AudioSummary, want: number, who: string, minSeconds = 2.5): AudioSummary {
  near(heard.toneHz, want, who);
  assert(heard.activeSeconds > minSeconds, `${who} heard only ${heard.activeSeconds} s`);
  return heard;
}

/** Assert `p` exits 0 and its call summary (default {@linkcode lastJson}) says answered; that summary. */
// deno-lint-ignore no-explicit-any
export async function answeredCall(p: Proc, summary: (p: Proc) => any = lastJson): Promise<any> {
  assertEquals(await exitOf(p), 0, show(p));
  const sum = summary(p);
  assertEquals(sum.outcome, "answered", show(p));
  return sum;
}

/** Wait (bounded) until a `pbxkit call --listen` has registered. */
export async function listenerRegistered(l: Proc): Promise<void> {
  await waitFor(() => l.stdout.includes("registered"), { timeoutMs: 20_000, what: `listener${show(l)}` });
}

/**
 * Both ends of a call baresip placed to a `pbxkit call --listen`: pbxkit's `--record` WAV `rec` holds `heardHz` (for
 * more than 2.5 s), and baresip's recording in `recDir` holds `sentHz`, the tone pbxkit played.
 */
export async function assertListenHeard(
  rec: string,
  recDir: string,
  o: { heardHz: number; sentHz: number; who?: string },
): Promise<void> {
  assertHeard(await toneOf(rec), o.heardHz, o.who ?? "pbxkit --listen");
  near((await baresipHeard(recDir)).toneHz, o.sentHz, "baresip caller");
}
