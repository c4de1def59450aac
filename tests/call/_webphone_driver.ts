/**
 * Drives the webphone page in headless Chromium (playwright-core, /usr/bin/chromium): registers, then either calls a
 * target (`mode: "call"`) or waits for an incoming call and answers it (`mode: "answer"`, with the page's Answer button
 * or its auto-answer setting). The page's microphone is an OscillatorNode at `toneHz` (getUserMedia replaced before
 * the page loads), so the far end can check what it hears by frequency; what the page hears is read with the Web Audio
 * API from the stream the page plays in its `<audio id="remote">`: an AnalyserNode gives the browser's own FFT peak and
 * the raw samples, which the test analyses with the project's detector. Prints `{"event":"registered"}` once
 * registered, and the result as the last JSON line. Run by tests/call/webphone_test.ts inside the test's namespace.
 *
 * Usage: deno run -A _webphone_driver.ts SPEC_JSON  (see {@linkcode Spec})
 */

import { launchChromium, statusStartsWith } from "./_webphone_page.ts";

/** What the driver is asked to do. */
interface Spec {
  /** The webphone page (query string included, e.g. `?autoanswer=1`). */
  url: string;
  uri: string;
  password: string;
  mode: "call" | "answer";
  /** `call`: whom to call. */
  target?: string;
  /** `answer`: click Answer (`button`) or expect the page to answer by itself (`auto`). */
  answerBy?: "button" | "auto";
  /** Tick the page's auto-answer box and reload the page before registering. */
  tickAutoAnswer?: boolean;
  /** Frequency of the page's oscillator "microphone", Hz. */
  toneHz: number;
  /** `call`: seconds to stay in the call before hanging up (the far end hangs up in `answer` mode). */
  seconds?: number;
}

const spec: Spec = JSON.parse(Deno.args[0]);

/** Page script run before the page's own: the microphone is a sine at `hz` (gain 0.3) from an OscillatorNode. */
function oscillatorMicrophone(hz: number): string {
  return `navigator.mediaDevices.getUserMedia = function () {
    var ctx = new AudioContext(), osc = ctx.createOscillator(), gain = ctx.createGain();
    var dest = ctx.createMediaStreamDestination();
    osc.frequency.value = ${Number(hz)}; gain.gain.value = 0.3;
    osc.connect(gain).connect(dest); osc.start();
    return Promise.resolve(dest.stream);
  };`;
}

/**
 * Page expression: an AnalyserNode on the stream the page plays as the remote party; waits until it carries sound
 * (RMS above 0.01, at most 10 s), lets the analyser's buffer fill with it (and half a second more), then gives its raw
 * samples, the browser's FFT peak and the RMS level.
 */
const HEAR_REMOTE = `(async function () {
  var ctx = new AudioContext(); await ctx.resume();
  var analyser = ctx.createAnalyser(); analyser.fftSize = 32768; analyser.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(document.getElementById("remote").srcObject).connect(analyser);
  var buf = new Float32Array(analyser.fftSize);
  var rms = function () {
    analyser.getFloatTimeDomainData(buf);
    var s = 0; for (var i = 0; i < buf.length; i++) s += buf[i] * buf[i];
    return Math.sqrt(s / buf.length);
  };
  var sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };
  for (var n = 0; n < 50 && rms() < 0.01; n++) await sleep(200);
  await sleep(500 + 1200 * analyser.fftSize / ctx.sampleRate);
  var level = rms();
  var spectrum = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(spectrum);
  var peak = 1;
  for (var k = 1; k < spectrum.length; k++) if (spectrum[k] > spectrum[peak]) peak = k;
  var out = { sampleRate: ctx.sampleRate, fftPeakHz: peak * ctx.sampleRate / analyser.fftSize, rms: level,
    samples: Array.from(buf) };
  await ctx.close();
  return out;
})()`;

const browser = await launchChromium();
const result: Record<string, unknown> = {};
// deno-lint-ignore no-explicit-any
let page: any;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  await context.grantPermissions(["microphone"]);
  await context.addInitScript({ content: oscillatorMicrophone(spec.toneHz) });
  page = await context.newPage();
  page.on("console", (m: { text(): string }) => console.error(`page: ${m.text()}`));
  await page.goto(spec.url, { timeout: 20_000 });
  result.defaultServer = await page.inputValue("#server");
  result.autoAnswerChecked = await page.isChecked("#autoanswer");
  if (spec.tickAutoAnswer) {
    // the box is a kept setting: tick it, load the page again, and it is still ticked
    await page.check("#autoanswer");
    await page.reload({ timeout: 20_000 });
    result.autoAnswerChecked = await page.isChecked("#autoanswer");
  }
  await page.fill("#uri", spec.uri);
  await page.fill("#password", spec.password);
  await page.fill("#name", "Browser Test");
  await page.click("#register");
  await statusStartsWith(page, "registered", 20_000);
  console.log(JSON.stringify({ event: "registered" }));
  if (spec.mode === "call") {
    await page.fill("#target", spec.target!);
    await page.click("#call");
  } else if (spec.answerBy === "button") {
    await page.waitForSelector("#incoming", { state: "visible", timeout: 30_000 });
    result.caller = await page.textContent("#caller");
    await page.click("#answer");
  }
  // auto-answer: nothing is clicked, the page answers by itself
  await statusStartsWith(page, "in call", spec.mode === "answer" && spec.answerBy === "auto" ? 30_000 : 20_000);
  result.incomingShown = await page.isVisible("#incoming");
  result.heard = await page.evaluate(HEAR_REMOTE);
  if (spec.mode === "call") {
    await page.waitForTimeout((spec.seconds ?? 1) * 1000);
    await page.click("#mute");
    result.muteLabel = await page.textContent("#mute");
    await page.click("#hangup");
  }
  await statusStartsWith(page, "call ended", 30_000);
  result.status = await page.textContent("#status");
  result.log = await page.textContent("#log");
} catch (err) {
  result.error = (err as Error).message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
