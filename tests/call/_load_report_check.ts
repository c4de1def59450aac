/**
 * Opens a `call --load --report` page in headless Chromium (playwright-core, /usr/bin/chromium) and prints one JSON
 * line: console errors and page errors seen, how many chart SVGs it has, and the narrowest one's drawn width.
 *
 * Usage: deno run -A _load_report_check.ts REPORT.html
 */

import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--headless"],
  timeout: 30_000,
});
try {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`file://${Deno.args[0]}`, { waitUntil: "load" });
  const widths: number[] = await page.$$eval("figure svg", (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
  console.log(JSON.stringify({ errors, charts: widths.length, minChartWidth: Math.min(...widths) }));
} finally {
  await browser.close();
}
