/**
 * `deno task bench call`: call setup time (INVITE sent to media connected) and audio round trip, over N calls (20),
 * for pbxkit on wrtc and on werift, against baresip calling baresip through the same kamailio + rtpengine as the
 * baseline. Setup is measured calling an auto-answering baresip (the baseline's callee). The round trip is measured
 * calling an echo line, `pbxkit call --listen --auto-answer --echo` on wrtc (decodes and sends back what it hears,
 * like Asterisk's Echo()): a DTMF-digit burst goes out in-band, through rtpengine to the echo line and back, and is
 * timed by Goertzel detection of both of its tones. The same echo line serves both stacks.
 *
 * baresip's setup time is from the `dial` command (ctrl_tcp) to its CALL_ESTABLISHED event; plain RTP has no
 * ICE/DTLS, so for baresip "media connected" is the 200 OK. baresip offers no hook to time its own audio round trip,
 * so that cell is n/a.
 * The UDP cells (`call_udp.ts`): pbxkit-udp, baresip-udp (the baseline's calls) and linphonec calling the same
 * baresip, INVITE -> 200 OK and INVITE -> first RTP timed from one tshark capture on the PBX host, and each calling
 * an echo line over UDP with silence then a beep, its echo delay timed in the same capture (see `call_udp.ts`).
 * Options: `--calls N` (20), `--stacks wrtc,werift`, `--only udp` (just the UDP cells).
 *
 * The PBX fixture is the test suite's (tests/call/_pbx.ts). Needs root, kamailio, rtpengine, baresip.
 *
 * @module
 */

import { barChart, hasCommand } from "../lib/common/mod.ts";
import { median, peerAbsent, printTable, ratio, saveResults } from "./_util.ts";
import { listenArgv, Pbx, USERS } from "../tests/call/_pbx.ts";
import { denoRunArgv, ROOT, waitFor } from "../tests/_util/mod.ts";
import {
  CALLER_OF_USER,
  echoBurstMs,
  echoDelaysFromCapture,
  linphonecCalls,
  readCapture,
  setupsFromCapture,
  startCapture,
  udpRttAgent,
  type UdpSetup,
  writeBeep,
} from "./call_udp.ts";

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

interface Sample {
  setupMs: number;
  /** INVITE sent to 200 OK received (pbxkit only): setup minus this is ICE + DTLS. */
  answerMs?: number;
  rttMs?: number;
}

/** Run the benchmark. */
export async function run(args: string[]): Promise<void> {
  if (args.includes("--load")) return (await import("./call_load.ts")).run(args);
  const calls = Number(arg(args, "--calls") ?? 20);
  const udpOnly = arg(args, "--only") === "udp";
  const stacks = udpOnly ? [] : (arg(args, "--stacks") ?? "wrtc,werift").split(",");
  for (const tool of ["kamailio", "rtpengine", "baresip"]) {
    if (!hasCommand(tool)) {
      peerAbsent(tool, "apt-get install kamailio kamailio-websocket-modules rtpengine-daemon baresip-core");
      return;
    }
  }
  if (Deno.uid() !== 0) {
    console.error("bench call: needs root (network namespaces)");
    return;
  }
  const pbx = await Pbx.start();
  const results: Record<string, Sample[]> = {};
  let udp: Record<string, UdpSetup[]> = {};
  let udpRtt: number[] = [];
  let udpEcho: Record<string, number[]> = {};
  const udpCounts: Record<string, number> = {};
  let echoLine: ReturnType<Pbx["pbxkit"]> | undefined;
  try {
    await pbx.baresipRegistered({ user: "phone", autoAnswer: true });
    if (stacks.length) {
      // the echo line for round trips: a pbxkit (wrtc) answering every call and sending back what it hears
      echoLine = pbx.pbxkit([...listenArgv("bob", { ws: pbx.wsUrl, autoAnswer: true }), "--echo", "--quiet"]);
      await waitFor(() => echoLine!.stdout.includes("registered"), { timeoutMs: 20_000, what: "echo line" });
    }
    for (const stack of stacks) {
      console.error(`bench call: ${calls} calls with pbxkit on ${stack}...`);
      results[stack] = await runAgent(pbx, {
        args: ["agent", stack, pbx.wsUrl, String(calls)],
        timeoutMs: calls * 20_000 + 30_000,
        what: `agent ${stack}`,
      });
    }
    // the UDP cells: every caller timed on the wire, from one capture on the PBX host; one echo line (bob) over UDP
    await echoLine?.stop();
    const cap = hasCommand("tshark") ? await startCapture(pbx) : undefined;
    const echo = cap && pbx.pbxkit([
      "call",
      "--listen",
      "--auto-answer",
      "--echo",
      "--quiet",
      "--transport",
      "udp",
      "--proxy",
      `${pbx.ip}:${pbx.sipPort}`,
      "--user",
      "bob",
      "--password",
      USERS.bob,
      "--domain",
      "pbx.test",
      "--rtp-ports",
      "22000-22999",
    ]);
    if (echo) await waitFor(() => echo.stdout.includes("registered"), { timeoutMs: 20_000, what: "udp echo line" });
    console.error(
      `bench call: ${calls} calls baresip -> baresip (baseline)${cap ? ", as many to the echo line" : ""}...`,
    );
    results.baresip = await baresipBaseline(pbx, calls, !!cap);
    if (cap) {
      console.error(`bench call: ${calls} calls pbxkit-udp -> baresip, and as many audio round trips (echo line)...`);
      udpRtt = await runAgent(pbx, {
        args: ["udp-rtt-agent", `${pbx.ip}:${pbx.sipPort}`, String(calls)],
        timeoutMs: calls * 15_000 + 20_000,
        what: "udp agent",
      }) as unknown as number[];
      if (hasCommand("linphonec")) {
        console.error(`bench call: ${calls} calls linphonec -> baresip, and as many to the echo line...`);
        udpCounts.linphonec = await linphonecCalls(pbx, calls);
      } else console.error("bench call: no linphonec (apt-get install linphone-cli): its cells are n/a");
      await echo!.stop();
      await cap.stop();
      const captured = await readCapture(cap.file, pbx.ip);
      udp = setupsFromCapture(captured);
      udpEcho = echoDelaysFromCapture(captured);
    } else console.error("bench call: no tshark: the UDP cells are n/a");
  } finally {
    await pbx.close();
  }
  printUdpCells(udp, calls, udpRtt, udpEcho);
  const base = median(results.baresip.map((s) => s.setupMs));
  const rows = Object.entries(results).map(([name, samples]) => {
    const setup = samples.length ? median(samples.map((s) => s.setupMs)) : NaN;
    const rtts = samples.map((s) => s.rttMs).filter((x): x is number => x !== undefined);
    const rtt = rtts.length ? median(rtts) : NaN;
    const answers = samples.map((s) => s.answerMs).filter((x): x is number => x !== undefined);
    const answer = answers.length ? median(answers) : NaN;
    return [
      name === "baresip" ? "baresip -> baresip" : `pbxkit (${name}) -> baresip`,
      samples.length,
      Number.isFinite(setup) ? setup.toFixed(0) : "n/a",
      Number.isFinite(answer) ? answer.toFixed(0) : "n/a",
      name === "baresip" ? "1.00x" : ratio(setup, base),
      Number.isFinite(rtt) ? rtt.toFixed(0) : "n/a",
    ];
  });
  printTable(`call setup and audio round trip, median of ${calls} calls`, [
    "caller",
    "calls",
    "setup ms",
    "of which answer ms",
    "setup vs baresip",
    "audio RTT ms",
  ], rows);
  const med = (name: string, key: keyof Sample) => {
    const xs = (results[name] ?? []).map((x) => x[key]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : NaN;
  };
  if (results.wrtc && results.werift) {
    console.log(
      `werift / wrtc: setup ${ratio(med("werift", "setupMs"), med("wrtc", "setupMs"))}, ` +
        `audio RTT ${ratio(med("werift", "rttMs"), med("wrtc", "rttMs"))}`,
    );
  }
  const svg = barChart(
    rows.map((r) => ({ label: String(r[0]), values: [Number(r[2]) || 0, Number(r[5]) || 0] })),
    {
      title: `call setup and audio round trip (median of ${calls})`,
      yLabel: "ms",
      seriesNames: ["setup", "audio RTT"],
    },
  );
  await saveResults("call", { calls, results, udp, udpCounts, udpRtt, udpEcho }, svg);
}

/** The UDP table: median INVITE -> 200 OK and INVITE -> first RTP per caller, and their ratios to baresip's. */
function printUdpCells(
  udp: Record<string, UdpSetup[]>,
  calls: number,
  rtt: number[],
  echo: Record<string, number[]>,
): void {
  const med = (xs: (number | undefined)[]) => {
    const v = xs.filter((x): x is number => x !== undefined);
    return v.length ? median(v) : NaN;
  };
  const base = udp["baresip-udp"] ?? [];
  const baseAnswer = med(base.map((s) => s.answerMs)), baseRtp = med(base.map((s) => s.rtpMs));
  const baseEcho = med(echo["baresip-udp"] ?? []);
  const fmt = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "n/a";
  const rows = Object.values(CALLER_OF_USER).map((who) => {
    const xs = udp[who] ?? [];
    const answer = med(xs.map((s) => s.answerMs)), rtp = med(xs.map((s) => s.rtpMs));
    const echoes = echo[who] ?? [], delay = med(echoes);
    return [
      `${who} -> baresip`,
      xs.length,
      fmt(answer),
      ratio(answer, baseAnswer),
      fmt(rtp),
      ratio(rtp, baseRtp),
      echoes.length ? `${fmt(delay)} (${echoes.length})` : "n/a",
      ratio(delay, baseEcho),
      who === "pbxkit-udp" && rtt.length ? `${median(rtt).toFixed(0)} (${rtt.length})` : "n/a",
    ];
  });
  printTable(`SIP/UDP + plain RTP call setup on the wire (tshark at the PBX), median of up to ${calls} calls`, [
    "caller",
    "calls",
    "INVITE -> 200 OK ms",
    "vs baresip",
    "INVITE -> first RTP ms",
    "vs baresip",
    "echo delay on the wire ms (n)",
    "vs baresip",
    "in-app audio RTT ms (n)",
  ], rows);
}

/**
 * baresip (pbx host, ctrl_tcp) dials the auto-answering baresip N times; setup = dial -> CALL_ESTABLISHED. With
 * `echo`, then N calls to the echo line, its audio source a beep (timed from the capture).
 */
async function baresipBaseline(pbx: Pbx, calls: number, echo: boolean): Promise<Sample[]> {
  const port = 4444;
  // baresip's sources run at ausrc_srate/ausrc_channels (48 kHz stereo)
  const beep = await writeBeep(`${pbx.dir}/bench-beep-48k.wav`, 48000, 2);
  await pbx.baresipRegistered({
    user: "phone2",
    host: "pbx",
    ctrlPort: port,
    source: `aufile,${beep}`,
    what: "baresip caller registration",
  });
  return await runAgent(pbx, {
    args: ["baresip-agent", `${pbx.ip}:${port}`, String(calls), echo ? "echo" : "setup"],
    timeoutMs: calls * (echo ? 14_000 : 10_000) + 20_000,
    what: "baresip agent",
  });
}

/** Run `bench/call.ts ARGS` (an agent) on the pbx host for at most `timeoutMs`; its samples (last stdout line). */
async function runAgent(pbx: Pbx, o: { args: string[]; timeoutMs: number; what: string }): Promise<Sample[]> {
  const agent = pbx.spawn("pbx", denoRunArgv(`${ROOT}/bench/call.ts`, o.args));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([agent.done, new Promise((r) => timer = setTimeout(r, o.timeoutMs))]);
  clearTimeout(timer);
  await agent.stop();
  try {
    return JSON.parse(agent.stdout.trim().split("\n").at(-1) ?? "[]");
  } catch {
    console.error(`${o.what} failed:\n${agent.stdout}\n${agent.stderr.slice(-2000)}`);
    return [];
  }
}

function netstring(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return new TextEncoder().encode(`${b.length}:${s},`);
}

/** Inside the namespace: drive baresip over ctrl_tcp. */
async function baresipAgent(hostPort: string, calls: number, echo: boolean): Promise<void> {
  const [hostname, port] = hostPort.split(":");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const events: { type: string; t: number }[] = [];
  let buf = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of conn.readable) {
      buf += dec.decode(chunk);
      for (;;) {
        const m = /^(\d+):/.exec(buf);
        if (!m) break;
        const len = Number(m[1]);
        const start = m[0].length;
        if (buf.length < start + len + 1) break;
        const msg = JSON.parse(buf.slice(start, start + len));
        buf = buf.slice(start + len + 1);
        if (msg.event) events.push({ type: msg.type, t: performance.now() });
      }
    }
  })().catch(() => {});
  const w = conn.writable.getWriter();
  const out: Sample[] = [];
  for (let i = 0; i < (echo ? 2 : 1) * calls; i++) {
    const toEcho = i >= calls;
    events.length = 0;
    const t0 = performance.now();
    const params = `sip:${toEcho ? "bob" : "phone"}@pbx.test`;
    await w.write(netstring(JSON.stringify({ command: "dial", params, token: `c${i}` })));
    const est = await waitFor(() => events.find((e) => e.type === "CALL_ESTABLISHED"), {
      timeoutMs: 10_000,
      what: "CALL_ESTABLISHED",
    }).catch(() => undefined);
    if (est && !toEcho) out.push({ setupMs: Math.round(est.t - t0) });
    // an echo call lasts past the beep (1 s of silence, then 0.3 s) and its way back
    await new Promise((r) => setTimeout(r, toEcho ? 2500 : 500));
    await w.write(netstring(JSON.stringify({ command: "hangup", token: `h${i}` })));
    await waitFor(() => events.find((e) => e.type === "CALL_CLOSED"), { timeoutMs: 5000 }).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

/** Inside the namespace: N calls from pbxkit's library on one stack, timing setup and the echoed burst. */
async function jssipAgent(stack: "wrtc" | "werift", ws: string, calls: number): Promise<void> {
  const { installWebrtc } = await import("../lib/call/webrtc_shim.ts");
  const { mediaFactory } = await import("../lib/call/mod.ts");
  const { Phone } = await import("../lib/call/ua.ts");
  const engine = await installWebrtc(stack);
  const makeMedia = await mediaFactory(engine, { kind: "silence" });
  const hooks: { onMedia?: () => void } = {};
  const phone = await Phone.open({
    ws,
    uri: "sip:alice@pbx.test",
    password: USERS.alice,
    onEvent: (e) => {
      if (e.event === "media") hooks.onMedia?.();
    },
  });
  const out: Sample[] = [];
  for (let i = 0; i < calls; i++) {
    // setup: a call to baresip (the same callee as the baseline), hung up once media is connected
    const media = makeMedia();
    const ac = new AbortController();
    hooks.onMedia = () => setTimeout(() => ac.abort(), 200);
    const timer = setTimeout(() => ac.abort(), 8000);
    const r = await phone.call("sip:phone@pbx.test", { media, ringTimeoutMs: 10_000, signal: ac.signal });
    clearTimeout(timer);
    media.close();
    await new Promise((res) => setTimeout(res, 300));
    // round trip: a call to the echo line; a DTMF-digit burst goes out in-band and is timed coming back
    const rttMs = await echoBurstMs(phone, makeMedia(), "sip:bob@pbx.test", hooks);
    if (r.setupMs !== undefined) {
      out.push({
        setupMs: r.setupMs,
        answerMs: r.answerMs,
        rttMs,
      });
    }
    await new Promise((res) => setTimeout(res, 300));
  }
  await phone.close();
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "agent") await jssipAgent(rest[0] as "wrtc" | "werift", rest[1], Number(rest[2]));
  else if (mode === "baresip-agent") await baresipAgent(rest[0], Number(rest[1]), rest[2] === "echo");
  else if (mode === "udp-rtt-agent") await udpRttAgent(rest[0], Number(rest[1]));
  else await run(Deno.args);
}
