/**
 * The load run's adapter: opens the UAs, turns the scheduler's commands into real JsSIP calls (ICE + DTLS-SRTP,
 * audio), samples each call's media with `getStats()`, watches its own timers and CPU, and builds the result.
 *
 * @module
 */

import process from "node:process";
import { log, PbxError } from "../../common/mod.ts";
import { audioPlan, type CallReport, type CallSettings, mediaFactory, ownUri } from "../mod.ts";
import type { MediaBridge } from "../media.ts";
import { installWebrtc } from "../webrtc_shim.ts";
import { wsSocketFor } from "../ws_socket.ts";
import { mediaColumns, type MediaSnapshot, readMediaStats } from "./media_stats.ts";
import { LoadScheduler } from "./scheduler.ts";
import { buildResult, isStarved } from "./result.ts";
import { percentile, round } from "./stats.ts";
import type { Account, CallResult, LoadOptions, LoadResult, TimelinePoint } from "./types.ts";

const TICK_MS = 20;
const encoder = new TextEncoder();
function writeStderr(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text));
}
const SAMPLE_MS = 1000;

interface Live {
  id: number;
  startedAt: number;
  pc?: unknown;
  snap?: MediaSnapshot;
  ac: AbortController;
  upAt?: number;
  media: MediaBridge;
}

/** Run a load test; resolves with the result (never rejects for call failures, only for setup errors). */
export async function runLoadTest(s: CallSettings, o: LoadOptions): Promise<LoadResult> {
  if (!s.target) throw new PbxError("E_USAGE", "--load needs a target to call");
  const target = s.target;
  const plan = await audioPlan(s.audio);
  const engine = await installWebrtc(s.webrtc);
  // nothing reads what a load call hears: no audio sink, no decoding, no recording (its numbers come from getStats())
  const makeMedia = await mediaFactory(engine, plan, undefined, { hear: false });
  const { Phone } = await import("../ua.ts");
  const accounts: Account[] = o.accounts?.length
    ? o.accounts
    : [{ user: s.user, password: s.password, authUser: s.authUser }];
  const register = o.accounts?.length ? o.registerEach : s.register;
  type PhoneT = Awaited<ReturnType<typeof Phone.open>>;
  const phones: PhoneT[] = [];
  const callsOnPhone: number[] = [];
  const byPhoneCall = new Map<string, Live>();
  const live = new Map<number, Live>();
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const sched = new LoadScheduler({ target: o.load, rate: o.rate, holdMs: o.holdMs, durationMs: o.durationMs });
  const onEvent = (phoneIdx: number) => (e: { event: string; call?: number }) => {
    if (e.event !== "answered" || e.call === undefined) return;
    const c = byPhoneCall.get(`${phoneIdx}:${e.call}`);
    if (c && c.upAt === undefined) {
      c.upAt = now();
      sched.callUp(c.id, c.upAt);
    }
  };
  try {
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i];
      const socket = await wsSocketFor(s.ws, s.tls);
      phones.push(
        await Phone.open({
          ws: s.ws,
          socket,
          uri: ownUri({ ...s, user: a.user }),
          password: a.password,
          authUser: a.authUser,
          displayName: s.displayName,
          register,
          timeoutMs: s.connectTimeoutMs,
          onEvent: onEvent(i),
        }),
      );
      callsOnPhone.push(0);
    }
  } catch (err) {
    for (const p of phones) await p.close();
    throw err;
  }

  const results: CallResult[] = [];
  const timeline: TimelinePoint[] = [];
  const tickLate: number[] = [];
  let startsThisSecond = 0, failedSoFar = 0, nextPhone = 0, peakRss = 0, peakCalls = 0, peakUp = 0;
  const cpu0 = process.cpuUsage();
  const rss0 = Deno.memoryUsage().rss;
  const pending = new Set<Promise<void>>();
  const progress = o.progress ?? Deno.stderr.isTerminal();
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);

  const startCall = (id: number) => {
    startsThisSecond++;
    const pi = nextPhone++ % phones.length;
    const phone = phones[pi];
    const n = ++callsOnPhone[pi];
    const media = makeMedia();
    const c: Live = { id, startedAt: now(), ac: new AbortController(), media };
    const attach = media.attach.bind(media);
    (media as { attach(pc: unknown): void }).attach = (pc: unknown) => {
      c.pc = pc;
      attach(pc);
    };
    byPhoneCall.set(`${pi}:${n}`, c);
    live.set(id, c);
    const p = phone.call(target, {
      media,
      ringTimeoutMs: s.ringTimeoutMs,
      extraHeaders: s.headers,
      codecs: s.codecs,
      signal: c.ac.signal,
    }).then((r) => {
      media.close();
      live.delete(id);
      byPhoneCall.delete(`${pi}:${n}`);
      const res = callResult(r, c, { holdMs: o.holdMs });
      results.push(res);
      if (res.status !== "answered") failedSoFar++;
      sched.callEnded(id, { answered: r.answered, ok: res.status === "answered" });
    });
    pending.add(p);
    p.finally(() => pending.delete(p));
  };
  const stopCall = async (id: number) => {
    const c = live.get(id);
    if (!c) return;
    const snap = await readMediaStats(c.pc);
    if (snap) c.snap = snap;
    c.ac.abort();
  };

  let lastTick = now(), lastSample = 0;
  let statsIter: IterableIterator<Live> | undefined;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      tickLate.push(Math.max(0, t - lastTick - TICK_MS));
      lastTick = t;
      if (ac.signal.aborted) {
        for (const c of live.values()) c.ac.abort();
      }
      for (const cmd of sched.tick(t)) {
        if (cmd.kind === "start" && !ac.signal.aborted) startCall(cmd.id);
        else if (cmd.kind === "stop") void stopCall(cmd.id);
      }
      // each call's stats once a second, a share of the calls per tick (round robin): getStats is main-thread work,
      // and all calls' in one tick once a second made the scheduler's ticks late (p99 105 ms at 100 wrtc calls)
      let share = Math.ceil((live.size * TICK_MS) / SAMPLE_MS);
      for (let wrapped = false; share > 0;) {
        statsIter ??= live.values();
        const n = statsIter.next();
        if (n.done) {
          statsIter = undefined;
          if (wrapped) break; // every live call read this tick
          wrapped = true;
          continue;
        }
        share--;
        const c = n.value;
        if (c.upAt !== undefined) void readMediaStats(c.pc).then((sn) => sn && (c.snap = sn));
      }
      peakCalls = Math.max(peakCalls, live.size);
      peakUp = Math.max(peakUp, sched.up);
      if (t - lastSample >= SAMPLE_MS) {
        lastSample = t;
        const rss = Deno.memoryUsage().rss;
        peakRss = Math.max(peakRss, rss);
        timeline.push({ t: round(t / 1000, 2)!, up: sched.up, active: live.size, cps: startsThisSecond });
        startsThisSecond = 0;
        if (progress) writeStderr(progressLine({ sched, results, live, failedSoFar, t }));
      }
      if (sched.done(t) || (ac.signal.aborted && live.size === 0)) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  await Promise.allSettled([...pending]);
  for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  if (progress) writeStderr("\n");
  const cpu = process.cpuUsage(cpu0);
  const wallS = now() / 1000;
  for (const p of phones) await p.close();
  results.sort((a, b) => a.id - b.id);
  const result = buildResult(results, {
    timeline,
    tickLate,
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    rssDelta: Math.max(0, peakRss - rss0),
    peakCalls,
    peakUp,
    schedLateMaxMs: sched.lateness.maxMs,
    webrtc: engine.name,
    options: o,
  });
  for (const w of result.generator.warnings) log.warn(w);
  return result;
}

function callResult(r: CallReport, c: Live, o: { holdMs: number }): CallResult {
  const snap = c.snap;
  const answered = r.outcome === "answered";
  const heldS = r.durationSeconds;
  return {
    id: c.id,
    status: r.outcome,
    setup_ms: r.answerMs ?? null,
    media_ms: r.setupMs ?? null,
    ...mediaColumns(snap, r.codec, answered),
    held_s: heldS,
    codec: r.codec ?? null,
    cause: r.cause,
    started_s: round(c.startedAt / 1000, 3)!,
    // the last sample is taken at the stop
    starved: isStarved({ answered, packetsSent: snap?.packetsSent, heldS, holdMs: o.holdMs }),
  };
}

function progressLine(o: {
  sched: LoadScheduler;
  results: CallResult[];
  live: Map<number, Live>;
  failedSoFar: number;
  t: number;
}): string {
  const c = o.sched.counts;
  const loss = percentile(o.results.map((r) => r.loss_pct ?? NaN), 50);
  const mos = Math.min(...o.results.map((r) => r.mos ?? Infinity));
  const cps = c.started / Math.max(1, o.t / 1000);
  return `\r\x1b[K${(o.t / 1000).toFixed(0)}s up ${o.sched.up}/${o.sched.options.target} started ${c.started} ` +
    `(${cps.toFixed(1)}/s) answered ${c.answered} failed ${o.failedSoFar}` +
    (Number.isFinite(loss) ? ` loss p50 ${loss.toFixed(1)}%` : "") +
    (Number.isFinite(mos) ? ` MOS min ${mos.toFixed(2)}` : "");
}
