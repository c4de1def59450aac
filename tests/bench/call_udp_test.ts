/**
 * The UDP call benchmark's RTP level reader (`g711PacketDbfs`), on packets whose payload sox encoded (an independent
 * G.711 encoder): a 1000 Hz sine at amplitude 0.5 must read about -9 dBFS in PCMU and PCMA, after a header with
 * CSRCs and an extension too; silence reads very low; other payload types (RFC 4733 events) and runts read nothing.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { sh, testWith } from "../_util/mod.ts";
import { g711PacketDbfs } from "../../bench/call_udp.ts";

/** 160 bytes (20 ms at 8 kHz) of sox's G.711 encoding (`u-law` or `a-law`) of a sine, or of silence (hz 0). */
async function soxG711(encoding: "u-law" | "a-law", hz: number, dir: string): Promise<Uint8Array> {
  const out = `${dir}/tone-${encoding}-${hz}.raw`;
  const synth = ["synth", "0.02", "sine", String(hz || 1000), "vol", hz ? "0.5" : "0"];
  await sh(["sox", "-n", "-r", "8000", "-c", "1", "-t", "raw", "-e", encoding, "-b", "8", out, ...synth]);
  return (await Deno.readFile(out)).subarray(0, 160);
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** An RTP packet (hex) with payload type `pt`, `csrcs` CSRC entries and, optionally, a 2-word header extension. */
function rtp(pt: number, payload: Uint8Array, o: { csrcs?: number; extension?: boolean } = {}): string {
  const csrcs = o.csrcs ?? 0;
  const head = [0x80 | (o.extension ? 0x10 : 0) | csrcs, pt, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
  for (let i = 0; i < csrcs; i++) head.push(9, 9, 9, i);
  if (o.extension) head.push(0xbe, 0xde, 0, 2, 1, 1, 1, 1, 2, 2, 2, 2);
  return hex(new Uint8Array(head)) + hex(payload);
}

testWith("bench call_udp: G.711 RTP packet levels against sox's encoder", { tools: ["sox"] }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-bench-udp-" });
  try {
    // a sine of amplitude 0.5: RMS 0.5/sqrt(2), i.e. -9.03 dBFS
    for (const [encoding, pt] of [["u-law", 0], ["a-law", 8]] as const) {
      const tone = await soxG711(encoding, 1000, dir);
      assertEquals(tone.length, 160);
      for (const shape of [{}, { csrcs: 2 }, { extension: true }, { csrcs: 1, extension: true }]) {
        const db = g711PacketDbfs(rtp(pt, tone, shape))!;
        assert(Math.abs(db - -9.03) < 0.5, `${encoding} ${JSON.stringify(shape)}: ${db} dBFS`);
      }
      const quiet = g711PacketDbfs(rtp(pt, await soxG711(encoding, 0, dir)))!;
      assert(quiet < -60, `${encoding} silence: ${quiet} dBFS`);
    }
    assertEquals(g711PacketDbfs(rtp(101, new Uint8Array([1, 0x8a, 0, 160]))), undefined);
    assertEquals(g711PacketDbfs("80000001"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
