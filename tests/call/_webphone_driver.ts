/**
 * Drives the webphone page in headless Chromium (playwright-core, /usr/bin/chromium, fake audio device): register,
 * call a target, stay in the call, read the page's RTP counters, hang up, read the call log. Prints one JSON line.
 * Run by webphone steps in pbx_test.ts inside the test's network namespace.
 *
 * Usage: deno run -A _webphone_driver.ts URL SIP_URI PASSWORD TARGET SECONDS
 */

import { launchChromium, newWebphoneTab, pageStats, registerAndCall, statusStartsWith } from "./_webphone_page.ts";

const [url, uri, password, target, seconds] = Deno.args;
const browser = await launchChromium();
const result: Record<string, unknown> = {};
try {
  const page = await newWebphoneTab(browser, { console: true });
  result.defaultServer = await registerAndCall(page, { url, uri, password, name: "Browser Test", target });
  await page.waitForTimeout(Number(seconds) * 1000);
  result.stats = await pageStats(page);
  await page.click("#mute");
  result.muteLabel = await page.textContent("#mute");
  await page.click("#hangup");
  await statusStartsWith(page, "call ended", 10_000);
  result.status = await page.textContent("#status");
  result.log = await page.textContent("#log");
} catch (err) {
  result.error = (err as Error).message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
