/**
 * Driving the webphone page (lib/call/webphone.ts, served by `pbxkit ws-serve --webphone`) in headless Chromium
 * through playwright-core: launch the browser (fake audio device), register a tab, place a call, read the call's RTP
 * counters. Shared by the one-tab driver of pbx_test.ts (`_webphone_driver.ts`) and the Chromium-tab baseline of
 * `deno task bench call --load` (`bench/_chromium_tabs.ts`).
 *
 * The page keeps its JsSIP session private and its `pbxkitStats()` gives packet counts only, so {@linkcode PC_HOOK}
 * (an init script, run before the page's own scripts) records every `RTCPeerConnection` the page makes; the loss and
 * jitter Chromium computes for the call are then read with the standard `getStats()`.
 *
 * @module
 */

import { chromium } from "playwright-core";

/** The Chromium the tests and the bench use (Debian's package). */
export const CHROMIUM = "/usr/bin/chromium";

// deno-lint-ignore no-explicit-any
type Any = any;

/**
 * Launch headless Chromium with a fake microphone (Chromium's beeping test source) and the permission prompt
 * answered. Background throttling is off so that many tabs in one browser are all treated as foreground.
 */
export function launchChromium(): Promise<Any> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
      "--autoplay-policy=no-user-gesture-required",
      "--headless",
    ],
    timeout: 30_000,
  });
}

/** Init script: keep every RTCPeerConnection the page creates in `window.__pbxkitPcs` (JsSIP news them by name). */
export const PC_HOOK = `(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig) return;
  window.__pbxkitPcs = [];
  window.RTCPeerConnection = class extends Orig {
    constructor(...a) { super(...a); window.__pbxkitPcs.push(this); }
  };
})();`;

/** A new tab (own browser context, microphone granted, {@linkcode PC_HOOK} installed), page console to stderr. */
export async function newWebphoneTab(browser: Any, options: { console?: boolean } = {}): Promise<Any> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  await context.grantPermissions(["microphone"]);
  await context.addInitScript(PC_HOOK);
  const page = await context.newPage();
  if (options.console) page.on("console", (m: { text(): string }) => console.error(`page: ${m.text()}`));
  return page;
}

/** Wait until the page's status line starts with `prefix` (evaluated in the page). */
export function statusStartsWith(page: Any, prefix: string, timeout: number): Promise<unknown> {
  return page.waitForFunction(
    `document.getElementById("status").textContent.startsWith(${JSON.stringify(prefix)})`,
    null,
    { timeout },
  );
}

/** What {@linkcode registerAndCall} needs. */
export interface WebphoneCall {
  /** The page's URL (ws-serve --webphone). */
  url: string;
  /** SIP address to register. */
  uri: string;
  password: string;
  /** Display name. */
  name: string;
  /** Whom to call (as typed in the page). */
  target: string;
  /** Per-stage timeout (ms; default 20 s). */
  timeoutMs?: number;
}

/** Open the page, register, call, and wait for "in call"; returns the page's default WebSocket server. */
export async function registerAndCall(page: Any, c: WebphoneCall): Promise<string> {
  const timeout = c.timeoutMs ?? 20_000;
  await page.goto(c.url, { timeout });
  const server = await page.inputValue("#server");
  await page.fill("#uri", c.uri);
  await page.fill("#password", c.password);
  await page.fill("#name", c.name);
  await page.click("#register");
  await statusStartsWith(page, "registered", timeout);
  await page.fill("#target", c.target);
  await page.click("#call");
  await statusStartsWith(page, "in call", timeout);
  return server;
}

/** The page's own counters (`pbxkitStats()`: inPackets, outPackets, inEnergy), null outside a call. */
export function pageStats(page: Any): Promise<Record<string, number> | null> {
  return page.evaluate(() => (globalThis as unknown as { pbxkitStats(): unknown }).pbxkitStats());
}

/**
 * The audio RTP entries of the latest peer connection's `getStats()` (inbound-rtp, outbound-rtp, remote-inbound-rtp,
 * codec), as plain objects: what lib/call/load's `snapshotOf` reads.
 */
export function rtpStatsEntries(page: Any): Promise<Record<string, unknown>[]> {
  return page.evaluate(`(async () => {
    const pcs = window.__pbxkitPcs || [];
    const pc = pcs[pcs.length - 1];
    if (!pc) return [];
    const keep = ["inbound-rtp", "outbound-rtp", "remote-inbound-rtp", "codec"];
    const out = [];
    (await pc.getStats()).forEach((r) => { if (keep.includes(r.type)) out.push(Object.assign({}, r)); });
    return out;
  })()`);
}
