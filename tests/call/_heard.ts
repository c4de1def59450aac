/**
 * What the call tests check about a finished call: its exit status within a bound, its output for failure messages,
 * its last JSON line, and the tone heard in a WAV file (pbxkit's `--record`, baresip's decoded-audio dump).
 *
 * @module
 */

import { assert } from "../_util/assert.ts";
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
