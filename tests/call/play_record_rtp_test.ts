/**
 * `--play FILE` and `--record FILE` over plain RTP, through kamailio + rtpengine to an auto-answering baresip:
 * pbxkit over SIP/UDP plays a WAV the test writes (16 kHz: 1 s of 700 Hz, then 1 s of 1400 Hz) and baresip's
 * decoded-audio dump must hold the two tones in that order; pbxkit over SIP/TCP records baresip's tone, and the WAV
 * it writes is read twice: by the project's DSP (frequency, level) and by python3's `wave` module as an
 * independent reader (header fields, length, and its own zero-crossing frequency and RMS level).
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { sh, testWith } from "../_util/mod.ts";
import { creds, DOMAIN, Pbx, PBX_TOOLS } from "./_pbx.ts";
import { baresipDump, exitOf, lastJson, near, show, toneOf } from "./_heard.ts";
import { readWav, writeWav } from "../../lib/call/wav.ts";
import { dominantFrequency, rmsDbfs, sineInto } from "../../lib/call/dsp.ts";

/** Seconds from the start of `samples` to the first 20 ms block above -40 dBFS (undefined: none). */
function onsetSeconds(samples: Float32Array, rate: number): number | undefined {
  const block = rate / 50;
  for (let i = 0; i + block <= samples.length; i += block) {
    if (rmsDbfs(samples, { start: i, end: i + block }) > -40) return i / rate;
  }
  return undefined;
}

/** python3 reading a WAV with the standard `wave` module: header, frames, zero-crossing Hz and RMS dBFS of 16-bit. */
const PY_WAVE = `
import sys, wave, struct, math, json
w = wave.open(sys.argv[1], "rb")
ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
raw = w.readframes(n)
xs = struct.unpack("<%dh" % (len(raw) // 2), raw)[::ch] if width == 2 else []
act = [x / 32768 for x in xs if abs(x) > 100]
zc = sum(1 for a, b in zip(xs, xs[1:]) if (a < 0) != (b < 0) and abs(a - b) > 200)
active_s = len(act) / rate if rate else 0
print(json.dumps({"channels": ch, "width": width, "rate": rate, "frames": n,
  "hz": zc / 2 / active_s if active_s else 0,
  "dbfs": 10 * math.log10(sum(a * a for a in act) / len(act)) if act else None}))
`;

testWith("--play and --record over plain RTP: kamailio (UDP, TCP) + rtpengine + baresip", {
  tools: [...PBX_TOOLS, "baresip", "python3"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ netTransports: true });
  const proxy = `${pbx.ip}:${pbx.sipPort}`;
  // alice calls the auto-answering baresip through kamailio over `transport`, with `more` flags and --json
  const callPhone = (transport: "udp" | "tcp", more: string[]) => [
    "call",
    `sip:phone@${DOMAIN}`,
    ...["--transport", transport, "--proxy", proxy, ...creds("alice"), "--domain", DOMAIN],
    ...["--rtp-ports", "20000-20099", "--json", ...more],
  ];
  try {
    await t.step("pbxkit --transport udp --play: baresip hears 700 Hz, then 1400 Hz", async () => {
      const rate = 16000;
      const samples = new Float32Array(rate * 2);
      sineInto(samples.subarray(0, rate), { hz: 700, sampleRate: rate, amplitude: 0.3 });
      sineInto(samples.subarray(rate), { hz: 1400, sampleRate: rate, amplitude: 0.3 });
      const play = `${pbx.dir}/two-tones.wav`;
      await writeWav(play, { sampleRate: rate, samples });
      const { proc: phone, recDir } = await pbx.baresipRegistered({ user: "phone", autoAnswer: true, toneHz: 440 });
      const p = pbx.pbxkit(callPhone("udp", ["--play", play, "--hangup-after-play", "--duration", "10s"]));
      assertEquals(await exitOf(p), 0, show(p));
      assertStringIncludes(p.stdout, `"connected","detail":"udp://${proxy}"`);
      const sum = lastJson(p);
      assertEquals(sum.outcome, "answered");
      // hung up when the 2 s file ended, not at --duration
      assert(sum.durationSeconds > 1.5 && sum.durationSeconds < 8, `call lasted ${sum.durationSeconds} s${show(p)}`);
      const dec = await baresipDump(recDir);
      const heard = await readWav(dec);
      const r = heard.sampleRate;
      const on = onsetSeconds(heard.samples, r);
      assert(on !== undefined, "baresip heard nothing");
      const at = (from: number, to: number) =>
        dominantFrequency(heard.samples, {
          sampleRate: r,
          start: Math.round((on + from) * r),
          end: Math.round((on + to) * r),
        });
      const first = at(0.15, 0.85), second = at(1.15, 1.85);
      near(first.hz, 700, "baresip, first second of --play");
      near(second.hz, 1400, "baresip, second second of --play");
      assert(first.purity > 0.8 && second.purity > 0.8, `impure: ${first.purity}, ${second.purity}`);
      await phone.stop();
    });

    await t.step(
      "pbxkit --transport tcp --record: baresip's 440 Hz, read by pbxkit's DSP and python3 wave",
      async () => {
        const { proc: phone } = await pbx.baresipRegistered({ user: "phone", autoAnswer: true, toneHz: 440 });
        const rec = `${pbx.dir}/tcp-record.wav`;
        const p = pbx.pbxkit(callPhone("tcp", ["--tone", "1000", "--duration", "4s", "--record", rec]));
        assertEquals(await exitOf(p), 0, show(p));
        assertStringIncludes(p.stdout, `"connected","detail":"tcp://${proxy}"`);
        near(lastJson(p).heard.toneHz, 440, "pbxkit --json heard");
        const mine = await toneOf(rec);
        near(mine.toneHz, 440, "pbxkit --record (project DSP)");
        assert(mine.activeSeconds > 2.5, `recorded only ${mine.activeSeconds} s active`);
        // baresip's ausine level after G.711 round trip: well above silence, below clipping
        assert(mine.levelDbfs > -30 && mine.levelDbfs < -3, `recorded at ${mine.levelDbfs} dBFS`);
        const py = JSON.parse((await sh(["python3", "-c", PY_WAVE, rec])).stdout);
        assertEquals(py.channels, 1, JSON.stringify(py));
        assertEquals(py.width, 2, JSON.stringify(py));
        assert(py.rate >= 8000, JSON.stringify(py));
        const seconds = py.frames / py.rate;
        assert(seconds > 3 && seconds < 6, `python3 reads ${seconds} s`);
        assert(Math.abs(py.hz - 440) < 15, `python3 counts ${py.hz} Hz`);
        assert(Math.abs(py.dbfs - mine.levelDbfs) < 1.5, `python3 ${py.dbfs} dBFS vs DSP ${mine.levelDbfs} dBFS`);
        await phone.stop();
      },
    );
  } finally {
    await pbx.close();
  }
});
