/**
 * Drives the webphone page in headless Chromium (playwright-core, /usr/bin/chromium, fake audio device): register,
 * call a target, stay in the call, read the page's RTP counters, hang up, read the call log. Prints one JSON line.
 * Run by webphone steps in pbx_test.ts inside the test's network namespace.
 *
 * Usage: deno run -A _webphone_driver.ts URL SIP_URI PASSWORD TARGET SECONDS
 */

import { chromium } from "playwright-core";

const [url, uri, password, target, seconds] = Deno.args;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--headless",
  ],
  timeout: 30_000,
});
const result: Record<string, unknown> = {};
// deno-lint-ignore no-explicit-any
let page: any;
/** Wait until the page's status line starts with `prefix` (evaluated in the page). */
function statusStartsWith(prefix: string, timeout: number) {
  return page.waitForFunction(
    `document.getElementById("status").textContent.startsWith(${JSON.stringify(prefix)})`,
    null,
    {
      timeout,
    },
  );
}
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  await context.grantPermissions(["microphone"]);
  page = await context.newPage();
  page.on("console", (m: { text(): string }) => console.error(`page: ${m.text()}`));
  await page.goto(url, { timeout: 20_000 });
  result.defaultServer = await page.inputValue("#server");
  await page.fill("#uri", uri);
  await page.fill("#password", password);
  await page.fill("#name", "Browser Test");
  await page.click("#register");
  await statusStartsWith("registered", 20_000);
  await page.fill("#target", target);
  await page.click("#call");
  await statusStartsWith("in call", 20_000);
  await page.waitForTimeout(Number(seconds) * 1000);
  result.stats = await page.evaluate(() => (globalThis as unknown as { pbxkitStats(): unknown }).pbxkitStats());
  await page.click("#mute");
  result.muteLabel = await page.textContent("#mute");
  await page.click("#hangup");
  await statusStartsWith("call ended", 10_000);
  result.status = await page.textContent("#status");
  result.log = await page.textContent("#log");
} catch (err) {
  result.error = (err as Error).message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
