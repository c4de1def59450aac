/**
 * The Chromium-tab baseline of `deno task bench call --load` (the anchors' method: one headless browser, one tab per
 * call): opens K tabs of the webphone page in one Chromium, each registering and calling TARGET, keeps them all in
 * their calls for PLATEAU seconds (tabs not yet opened when RAMP_S seconds have passed are not opened and count as
 * failed, so that a browser which cannot keep up still reports what it held), then reads every tab's `getStats()` audio entries (and the page's own counters)
 * and hangs up. Measures the CPU time (utime+stime) and proportional memory (PSS) of the browser's process tree over
 * the plateau. Prints one JSON object. Run by bench/call_load.ts inside the PBX's network namespace.
 *
 * Usage: deno run -A _chromium_tabs.ts URL SIP_URI PASSWORD TARGET K PLATEAU_S RAMP_S [CONCURRENCY]
 *
 * @module
 */

import {
  launchChromium,
  newWebphoneTab,
  pageStats,
  registerAndCall,
  rtpStatsEntries,
  statusStartsWith,
} from "../tests/call/_webphone_page.ts";
import { parseProcStat } from "./_util.ts";

/** CPU seconds (utime+stime) and PSS (MiB) of every process below `root`. */
async function treeUsage(root: number): Promise<{ cpuS: number; pssMiB: number; procs: number }> {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const st = parseProcStat(await Deno.readTextFile(`/proc/${e.name}/stat`));
      parent.set(Number(e.name), st.ppid);
      ticks.set(Number(e.name), st.ticks);
    } catch { /* gone */ }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 64; p = parent.get(p), hops++) {
      if (p === root) return true;
    }
    return false;
  };
  let t = 0, pssKb = 0, procs = 0;
  for (const [pid, tk] of ticks) {
    if (!below(pid)) continue;
    procs++;
    t += tk;
    try {
      const m = /^Pss:\s+(\d+)/m.exec(await Deno.readTextFile(`/proc/${pid}/smaps_rollup`));
      if (m) pssKb += Number(m[1]);
    } catch { /* gone */ }
  }
  return { cpuS: t / 100, pssMiB: pssKb / 1024, procs };
}

/** One tab's outcome. */
interface Tab {
  in_call: boolean;
  setup_ms?: number;
  error?: string;
  held_s?: number;
  page?: Record<string, number> | null;
  entries?: Record<string, unknown>[];
  status?: string;
}

const [url, uri, password, target, kText, plateauText, rampText, concText] = Deno.args;
const k = Number(kText),
  plateauS = Number(plateauText),
  rampS = Number(rampText),
  concurrency = Number(concText ?? "4");
const t0 = performance.now();
const browser = await launchChromium();
const out: Record<string, unknown> = { k };
try {
  // deno-lint-ignore no-explicit-any
  const pages: any[] = [];
  const tabs: Tab[] = [];
  const inCallAt: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < k) {
      const i = next++;
      const start = performance.now();
      if (start - t0 > rampS * 1000) {
        tabs[i] = { in_call: false, error: `not opened: the ramp took over ${rampS} s` };
        continue;
      }
      try {
        const page = pages[i] = await newWebphoneTab(browser);
        await registerAndCall(page, { url, uri, password, name: `Tab ${i + 1}`, target, timeoutMs: 30_000 });
        inCallAt[i] = performance.now();
        tabs[i] = { in_call: true, setup_ms: Math.round(inCallAt[i] - start) };
      } catch (err) {
        tabs[i] = { in_call: false, error: (err as Error).message.split("\n")[0] };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, k) }, worker));
  out.ramp_s = (performance.now() - t0) / 1000;
  const u0 = await treeUsage(Deno.pid);
  const p0 = performance.now();
  await new Promise((r) => setTimeout(r, plateauS * 1000));
  const u1 = await treeUsage(Deno.pid);
  const plateauWall = (performance.now() - p0) / 1000;
  out.plateau = {
    wall_s: plateauWall,
    cpu_s: u1.cpuS - u0.cpuS,
    pss_mib: u1.pssMiB,
    processes: u1.procs,
  };
  await Promise.all(tabs.map(async (tab, i) => {
    if (!tab.in_call) return;
    try {
      tab.entries = await rtpStatsEntries(pages[i]);
      tab.page = await pageStats(pages[i]);
      tab.held_s = (performance.now() - inCallAt[i]) / 1000;
      tab.status = await pages[i].textContent("#status");
    } catch (err) {
      tab.error = (err as Error).message.split("\n")[0];
    }
  }));
  await Promise.all(tabs.map(async (tab, i) => {
    if (!tab.in_call) return;
    try {
      await pages[i].click("#hangup", { timeout: 10_000 });
      await statusStartsWith(pages[i], "call ended", 10_000);
    } catch { /* the bench counts what was measured; sipp's own timeout ends a stray call */ }
  }));
  out.tabs = tabs;
} catch (err) {
  out.error = (err as Error).message;
} finally {
  await browser.close().catch(() => {});
}
out.wall_s = (performance.now() - t0) / 1000;
console.log(JSON.stringify(out));
