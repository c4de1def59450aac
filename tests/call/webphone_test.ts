/**
 * The webphone (`pbxkit ws-serve --webphone --proxy`) in headless Chromium against a real PBX (kamailio + rtpengine
 * in test namespaces): it calls a `pbxkit call --listen`, and it answers a `pbxkit call`, with its Answer button and by
 * its auto-answer setting (`?autoanswer=1`). Audio is checked both ways by frequency: the page's microphone is an
 * OscillatorNode, and what the page hears is read from it with the Web Audio API (the browser's FFT peak, and the raw
 * samples analysed here with lib/call/dsp.ts).
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { denoRunArgv, type Proc, ROOT, testWith, waitFor } from "../_util/mod.ts";
import { callArgv, DOMAIN, listenArgv, Pbx, PBX_TOOLS, toneArgv, USERS } from "./_pbx.ts";
import { exitOf, lastJson, near, show } from "./_heard.ts";
import { type AudioSummary, summarize } from "../../lib/call/dsp.ts";

/** What the driver read from the page's remote audio. */
interface PageHeard {
  sampleRate: number;
  fftPeakHz: number;
  rms: number;
  samples: number[];
}

/** The page heard `hz`: by the browser's own FFT and by the project's detector on the raw samples. */
function assertPageHeard(heard: PageHeard | undefined, hz: number): void {
  assert(heard, "the driver read no audio from the page");
  const s = summarize(Float32Array.from(heard.samples), heard.sampleRate);
  console.error(
    `the page heard (sent ${hz} Hz): FFT peak ${heard.fftPeakHz.toFixed(1)} Hz, detector ${s.toneHz} Hz, ` +
      `purity ${s.purity.toFixed(2)}, RMS ${
        heard.rms.toFixed(3)
      }, ${heard.samples.length} samples at ${heard.sampleRate} Hz`,
  );
  assert(heard.rms > 0.01, `the page heard silence (RMS ${heard.rms})`);
  near(heard.fftPeakHz, hz, "the browser (AnalyserNode FFT peak)");
  near(s.toneHz, hz, "the browser (raw samples, lib/call/dsp.ts)");
  assert(s.purity > 0.3, `what the browser heard is not a clean tone: ${JSON.stringify(s)}`);
}

/** pbxkit (its `--json` summary's `heard`) heard `hz` for more than `minSeconds`. */
function assertPbxkitHeard(heard: AudioSummary, hz: number, who: string, minSeconds: number): void {
  console.error(
    `${who} heard (sent ${hz} Hz): ${heard.toneHz} Hz for ${heard.activeSeconds} s at ${heard.levelDbfs} dBFS`,
  );
  near(heard.toneHz, hz, who);
  assert(heard.activeSeconds > minSeconds, `${who} heard the page for only ${heard.activeSeconds} s`);
}

testWith("call: the webphone in headless Chromium calls and answers through ws-serve --proxy", {
  tools: [...PBX_TOOLS, "/usr/bin/chromium", "openssl"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start();
  try {
    const ws = pbx.wsUrl;
    const { proc: proxy, wss, page, cert } = await pbx.wsServeWebphone();
    const driver = (spec: Record<string, unknown>): Proc =>
      pbx.spawn(
        "pbx",
        denoRunArgv(`${ROOT}/tests/call/_webphone_driver.ts`, [
          JSON.stringify({ uri: `sip:carol@${DOMAIN}`, password: USERS.carol, ...spec }),
        ]),
      );

    await t.step("the page calls a --listen pbxkit; each hears the other's tone", async () => {
      const l = pbx.pbxkit([
        ...listenArgv("bob", { ws: wss, autoAnswer: true }),
        "--ca",
        cert,
        "--tone",
        "800",
        "--max-calls",
        "1",
        "--json",
      ]);
      await waitFor(() => l.stdout.includes('"registered"'), { timeoutMs: 20_000, what: `listener${show(l)}` });
      const drv = driver({ url: page, mode: "call", target: "bob", toneHz: 600, seconds: 2 });
      assertEquals(await exitOf(drv, 90_000), 0, show(drv));
      const r = lastJson(drv);
      assertEquals(r.error, undefined, show(drv));
      assertEquals(r.defaultServer, wss);
      assertPageHeard(r.heard, 800);
      assertEquals(r.muteLabel, "Unmute");
      assertStringIncludes(r.log, "sip:bob@pbx.test");
      assertEquals(await exitOf(l, 30_000), 0, show(l));
      const lsum = lastJson(l);
      assertEquals(lsum.peer, `sip:carol@${DOMAIN}`);
      assertEquals(lsum.displayName, "Browser Test");
      assertEquals(lsum.endedBy, "remote");
      assertPbxkitHeard(lsum.heard, 600, "pbxkit --listen", 1);
    });

    /** The page (driven by `spec`) registers; `pbxkit call` calls it with `toneHz`; both exit; their results. */
    const pbxkitCallsThePage = async (spec: Record<string, unknown>, toneHz: number) => {
      const drv = driver({ mode: "answer", ...spec });
      await waitFor(() => drv.stdout.includes('"registered"') || drv.stdout.includes('"error"'), {
        timeoutMs: 60_000,
        what: `the page registered${show(drv)}`,
      });
      assert(drv.stdout.includes('"registered"'), `the page did not register${show(drv)}`);
      const c = pbx.pbxkit([
        ...callArgv(`sip:carol@${DOMAIN}`, { ws, user: "alice" }),
        ...toneArgv(toneHz, "4s"),
        "--json",
      ]);
      assertEquals(await exitOf(c), 0, show(c));
      assertEquals(await exitOf(drv, 60_000), 0, show(drv));
      const r = lastJson(drv);
      assertEquals(r.error, undefined, show(drv));
      const sum = lastJson(c);
      assertEquals(sum.outcome, "answered", show(c));
      assertEquals(sum.endedBy, "local");
      return { page: r, call: sum };
    };

    await t.step("pbxkit calls the page; its Answer button answers; each hears the other's tone", async () => {
      const { page: r, call } = await pbxkitCallsThePage({ url: page, answerBy: "button", toneHz: 700 }, 1300);
      assertEquals(r.autoAnswerChecked, false);
      assertStringIncludes(r.caller, "Incoming call from");
      assertEquals(r.incomingShown, false, "the incoming-call box stays up after answering");
      assertPageHeard(r.heard, 1300);
      assertPbxkitHeard(call.heard, 700, "pbxkit call", 2);
      assertStringIncludes(r.status, "call ended");
      assertStringIncludes(r.log, `sip:alice@${DOMAIN}`);
    });

    await t.step("?autoanswer=1: the page answers by itself; each hears the other's tone", async () => {
      const { page: r, call } = await pbxkitCallsThePage(
        { url: `${page}?autoanswer=1`, answerBy: "auto", toneHz: 500 },
        1100,
      );
      assertEquals(r.autoAnswerChecked, true, "?autoanswer=1 ticks the page's auto-answer box");
      assertEquals(r.caller, undefined);
      assertEquals(r.incomingShown, false);
      assertPageHeard(r.heard, 1100);
      assertPbxkitHeard(call.heard, 500, "pbxkit call", 2);
    });

    await t.step("the auto-answer box, ticked and kept over a reload, answers too", async () => {
      const { page: r, call } = await pbxkitCallsThePage(
        { url: page, answerBy: "auto", tickAutoAnswer: true, toneHz: 900 },
        400,
      );
      assertEquals(r.autoAnswerChecked, true, "the ticked box is kept in localStorage");
      assertEquals(r.caller, undefined);
      assertPageHeard(r.heard, 400);
      assertPbxkitHeard(call.heard, 900, "pbxkit call", 2);
    });
    await proxy.stop();
  } finally {
    await pbx.close();
  }
});
