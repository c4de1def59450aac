/**
 * `pbxkit call` against a real PBX: kamailio + rtpengine + baresip (+ sipp) in test namespaces. One PBX serves all
 * steps to keep the run short.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { missing, type Proc, ROOT, runCli, sh, testWith, waitFor } from "../_util/mod.ts";
import { DOMAIN, Pbx, PBX_TOOLS, USERS } from "./_pbx.ts";
import { readWav } from "../../lib/call/wav.ts";
import { summarize } from "../../lib/call/dsp.ts";
import { EXIT_STATUS } from "../../lib/call/status.ts";

const CALL_TIMEOUT = 45_000;

/** Wait for a process to exit (bounded), then return its status code. */
async function exitOf(p: Proc, timeoutMs = CALL_TIMEOUT): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const st = await Promise.race([
    p.done,
    new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs)),
  ]);
  clearTimeout(timer);
  if (!st) {
    await p.stop();
    throw new Error(`${p.name} did not finish in ${timeoutMs} ms:\n${p.stdout}\n${p.stderr}`);
  }
  return st.code;
}

/** Whether `pbxkit ws-serve` (issue 3) is there to put wss:// in front of kamailio: true, or why not. */
async function wsServeReady(): Promise<true | string> {
  try {
    await Deno.stat(`${ROOT}/lib/ws/mod.ts`);
  } catch {
    return "pbxkit ws-serve is not built yet (lib/ws/mod.ts missing, issue 3)";
  }
  const r = await runCli(["ws-serve", "--help"], { timeoutMs: 30_000 });
  if (r.code !== 0 || !r.stdout.includes("--proxy") || !r.stdout.includes("--webphone")) {
    return `pbxkit ws-serve --help failed or lacks --proxy/--webphone: ${r.stderr.trim().slice(0, 200)}`;
  }
  return true;
}

function creds(user: string): string[] {
  return ["--user", user, "--password", USERS[user]];
}

/** The WAV baresip wrote of what it heard (sndfile's `-dec.wav`). */
async function baresipHeard(dir: string): Promise<string> {
  return await waitFor(async () => {
    for await (const f of Deno.readDir(dir)) if (f.name.endsWith("-dec.wav")) return `${dir}/${f.name}`;
    return undefined;
  }, { timeoutMs: 10_000, what: "baresip recording" });
}

async function toneOf(path: string) {
  const a = await readWav(path);
  return summarize(a.samples, a.sampleRate);
}

function show(p: Proc): string {
  return `\n--- stdout\n${p.stdout}\n--- stderr\n${p.stderr.slice(-2000)}`;
}

testWith("call: real calls through kamailio + rtpengine + baresip", {
  tools: [...PBX_TOOLS, "baresip", "sipp", "sox", "openssl"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 } });
  try {
    const ws = pbx.wsUrl;

    await t.step("pbxkit calls baresip: tones both ways, DTMF, recording", async () => {
      const { proc: phone, recDir } = await pbx.baresip({ user: "phone", autoAnswer: true, toneHz: 440 });
      await waitFor(() => phone.stdout.includes("200 OK"), { timeoutMs: 15_000, what: "baresip registration" });
      const rec = `${pbx.dir}/alice-heard.wav`;
      const p = pbx.pbxkit([
        "call",
        `sip:phone@${DOMAIN}`,
        "--ws",
        ws,
        ...creds("alice"),
        "--display-name",
        "Alice Test",
        "--tone",
        "1000",
        "--duration",
        "4s",
        "--record",
        rec,
        "--dtmf",
        "12#",
      ]);
      const code = await exitOf(p);
      assertEquals(code, 0, show(p));
      for (const step of ["registered", "calling", "trying", "ringing", "answered", "media", "ended"]) {
        assertMatch(p.stdout, new RegExp(`\\] (#1 )?${step}`), `missing '${step}'${show(p)}`);
      }
      assertMatch(p.stdout, /answered, 4\.\d s/);
      // what pbxkit heard: baresip's 440 Hz
      const heard = await toneOf(rec);
      assert(Math.abs(heard.toneHz - 440) <= 5, `pbxkit heard ${heard.toneHz} Hz`);
      assert(heard.activeSeconds > 2.5, `pbxkit heard only ${heard.activeSeconds} s`);
      assert(heard.levelDbfs > -30 && heard.levelDbfs < 0, `level ${heard.levelDbfs}`);
      // what baresip heard: pbxkit's 1000 Hz at about -12 dBFS (G.711 keeps it within a couple of dB)
      const bHeard = await toneOf(await baresipHeard(recDir));
      assert(Math.abs(bHeard.toneHz - 1000) <= 5, `baresip heard ${bHeard.toneHz} Hz`);
      assert(bHeard.activeSeconds > 2.5, `baresip heard only ${bHeard.activeSeconds} s`);
      assert(Math.abs(bHeard.levelDbfs - -12) < 3, `baresip heard level ${bHeard.levelDbfs} dBFS, sent -12`);
      await waitFor(() => phone.stdout.includes("received DTMF: '#'"), { timeoutMs: 5000, what: "DTMF at baresip" });
      assertStringIncludes(phone.stdout, "received DTMF: '1'");
      assertStringIncludes(phone.stdout, "received DTMF: '2'");
      await phone.stop();
    });

    await t.step("--webrtc werift calls baresip: tones both ways, RFC 4733 DTMF", async () => {
      const { proc: phone, recDir } = await pbx.baresip({ user: "phone", autoAnswer: true, toneHz: 660 });
      await waitFor(() => phone.stdout.includes("200 OK"), { timeoutMs: 15_000, what: "baresip registration" });
      const p = pbx.pbxkit([
        "call",
        `sip:phone@${DOMAIN}`,
        "--ws",
        ws,
        ...creds("alice"),
        "--webrtc",
        "werift",
        "--tone",
        "1200",
        "--duration",
        "5s",
        "--dtmf",
        "7*",
        "--dtmf-mode",
        "rfc4733",
        "--json",
      ]);
      assertEquals(await exitOf(p), 0, show(p));
      const summary = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
      assertEquals(summary.outcome, "answered");
      assertMatch(summary.codec, /^PCM[UA]\/8000$/);
      assert(Math.abs(summary.heard.toneHz - 660) <= 5, `werift heard ${summary.heard.toneHz} Hz`);
      assertStringIncludes(p.stdout, "RFC 4733");
      const bHeard = await toneOf(await baresipHeard(recDir));
      assert(Math.abs(bHeard.toneHz - 1200) <= 5, `baresip heard ${bHeard.toneHz} Hz`);
      assert(bHeard.activeSeconds > 1.5, `baresip heard only ${bHeard.activeSeconds} s`);
      await waitFor(() => phone.stdout.includes("received event: '*' (end=1)"), {
        timeoutMs: 5000,
        what: "RFC 4733 at baresip",
      });
      assertStringIncludes(phone.stdout, "received event: '7'");
      await phone.stop();
    });

    await t.step("--play a 44.1 kHz stereo 24-bit WAV: resampled for the call; --hangup-after-play", async () => {
      const { proc: phone, recDir } = await pbx.baresip({ user: "phone", autoAnswer: true, toneHz: 440 });
      await waitFor(() => phone.stdout.includes("200 OK"), { timeoutMs: 15_000, what: "baresip registration" });
      const wav = `${pbx.dir}/play.wav`;
      await sh(["sox", "-n", "-r", "44100", "-c", "2", "-b", "24", wav, "synth", "2.5", "sine", "750", "vol", "0.5"]);
      const p = pbx.pbxkit([
        "call",
        `sip:phone@${DOMAIN}`,
        "--ws",
        ws,
        ...creds("alice"),
        "--play",
        wav,
        "--hangup-after-play",
        "--codecs",
        "pcma",
        "--json",
      ]);
      assertEquals(await exitOf(p), 0, show(p));
      const sum = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
      assertEquals(sum.codec, "PCMA/8000");
      assert(sum.durationSeconds >= 2.4 && sum.durationSeconds < 3.5, `call lasted ${sum.durationSeconds} s`);
      const bHeard = await toneOf(await baresipHeard(recDir));
      assert(Math.abs(bHeard.toneHz - 750) <= 5, `baresip heard ${bHeard.toneHz} Hz`);
      assert(bHeard.activeSeconds > 1.5, `baresip heard only ${bHeard.activeSeconds} s`);
      await phone.stop();
    });

    await t.step("baresip calls pbxkit --listen --auto-answer", async () => {
      const rec = `${pbx.dir}/bob-{n}-{from}.wav`;
      const l = pbx.pbxkit([
        "call",
        "--listen",
        "--auto-answer",
        "--ws",
        ws,
        ...creds("bob"),
        "--tone",
        "700",
        "--record",
        rec,
        "--max-calls",
        "1",
        "--duration",
        "4s",
      ]);
      await waitFor(() => l.stdout.includes("registered"), {
        timeoutMs: 20_000,
        what: `listener registered${show(l)}`,
      });
      const { proc: phone, recDir } = await pbx.baresip({ user: "phone2", toneHz: 523, dial: `sip:bob@${DOMAIN}` });
      const code = await exitOf(l);
      assertEquals(code, 0, show(l));
      assertMatch(l.stdout, /#1 incoming sip:phone2@pbx\.test/);
      assertMatch(l.stdout, /call #1 incoming sip:phone2@pbx\.test: answered, 4\.\d s/);
      assertStringIncludes(l.stdout, "cause Terminated (by local)");
      const heard = await toneOf(`${pbx.dir}/bob-1-phone2.wav`);
      assert(Math.abs(heard.toneHz - 523) <= 5, `pbxkit heard ${heard.toneHz} Hz`);
      const bHeard = await toneOf(await baresipHeard(recDir));
      assert(Math.abs(bHeard.toneHz - 700) <= 5, `baresip heard ${bHeard.toneHz} Hz`);
      assert(bHeard.activeSeconds > 2, `baresip heard only ${bHeard.activeSeconds} s`);
      await phone.stop();
    });

    await t.step("two pbxkit instances call each other; far end hangs up", async () => {
      const l = pbx.pbxkit([
        "call",
        "--listen",
        "--auto-answer",
        "--ws",
        ws,
        ...creds("bob"),
        "--tone",
        "600",
        "--record",
        `${pbx.dir}/bob2.wav`,
        "--max-calls",
        "1",
        "--duration",
        "3s",
        "--json",
      ]);
      await waitFor(() => l.stdout.includes('"registered"'), { timeoutMs: 20_000, what: "listener" });
      const c = pbx.pbxkit([
        "call",
        "bob",
        "--domain",
        DOMAIN,
        "--ws",
        ws,
        ...creds("alice"),
        "--tone",
        "900",
        "--record",
        `${pbx.dir}/alice2.wav`,
        "--json",
      ]);
      assertEquals(await exitOf(c), 0, show(c));
      assertEquals(await exitOf(l), 0, show(l));
      const summary = JSON.parse(c.stdout.trim().split("\n").at(-1)!);
      assertEquals(summary.event, "summary");
      assertEquals(summary.outcome, "answered");
      assertEquals(summary.endedBy, "remote");
      assertEquals(summary.codec, "opus/48000/2"); // both ends offer opus: it wins over G.711
      assert(summary.setupMs > 0 && summary.setupMs < 10_000, `setup ${summary.setupMs}`);
      assert(Math.abs(summary.heard.toneHz - 600) <= 5, `caller heard ${summary.heard.toneHz}`);
      const lsum = JSON.parse(l.stdout.trim().split("\n").at(-1)!);
      assertEquals(lsum.peer, `sip:alice@${DOMAIN}`);
      assert(Math.abs(lsum.heard.toneHz - 900) <= 5, `callee heard ${lsum.heard.toneHz}`);
      assert(Math.abs((await toneOf(`${pbx.dir}/alice2.wav`)).toneHz - 600) <= 5);
    });

    await t.step("--listen --echo sends back what it hears", async () => {
      const l = pbx.pbxkit([
        "call",
        "--listen",
        "--auto-answer",
        "--echo",
        "--ws",
        ws,
        ...creds("bob"),
        "--max-calls",
        "1",
      ]);
      await waitFor(() => l.stdout.includes("registered"), { timeoutMs: 20_000, what: `echo line${show(l)}` });
      const c = pbx.pbxkit([
        "call",
        `sip:bob@${DOMAIN}`,
        "--ws",
        ws,
        ...creds("alice"),
        "--tone",
        "1100",
        "--duration",
        "3s",
        "--json",
      ]);
      assertEquals(await exitOf(c), 0, show(c));
      const sum = JSON.parse(c.stdout.trim().split("\n").at(-1)!);
      assert(Math.abs(sum.heard.toneHz - 1100) <= 5, `caller heard ${JSON.stringify(sum.heard)}`);
      assert(sum.heard.activeSeconds > 1.5, `caller heard its echo for ${sum.heard.activeSeconds} s`);
      assertEquals(await exitOf(l, 10_000), 0, show(l));
    });

    const outcomes: [string, string[], string[], keyof typeof EXIT_STATUS][] = [
      ["busy (486)", ["--reject", "486"], [], "busy"],
      ["rejected (603)", ["--reject", "603"], [], "rejected"],
      ["no answer (ring timeout)", [], ["--ring-timeout", "3s"], "no-answer"],
    ];
    for (const [name, listenArgs, callArgs, outcome] of outcomes) {
      await t.step(`exit status: ${name}`, async () => {
        const l = pbx.pbxkit(["call", "--listen", "--ws", ws, ...creds("bob"), "--max-calls", "1", ...listenArgs]);
        await waitFor(() => l.stdout.includes("registered"), { timeoutMs: 20_000, what: `listener${show(l)}` });
        const c = pbx.pbxkit(["call", `sip:bob@${DOMAIN}`, "--ws", ws, ...creds("alice"), ...callArgs]);
        const code = await exitOf(c);
        assertEquals(code, EXIT_STATUS[outcome], show(c));
        assertStringIncludes(c.stderr, outcome);
        if (outcome === "no-answer") assertStringIncludes(c.stdout, "ringing");
        await exitOf(l, 10_000);
        assertMatch(l.stdout, /#1 incoming sip:alice@pbx\.test/);
      });
    }

    await t.step("exit status: wrong password -> auth-failed", async () => {
      const c = pbx.pbxkit(["call", `sip:bob@${DOMAIN}`, "--ws", ws, "--user", "alice", "--password", "wrong"]);
      assertEquals(await exitOf(c), EXIT_STATUS["auth-failed"], show(c));
      assertMatch(c.stderr, /registration of sip:alice@pbx\.test refused.*\[E_PERMISSION\]/);
    });

    await t.step("exit status: user not registered -> unavailable; no PBX -> network-error", async () => {
      const c = pbx.pbxkit(["call", `sip:carol@${DOMAIN}`, "--ws", ws, ...creds("alice")]);
      assertEquals(await exitOf(c), EXIT_STATUS.unavailable, show(c));
      assertStringIncludes(c.stdout, "480");
      const n = pbx.pbxkit([
        "call",
        `sip:bob@${DOMAIN}`,
        "--ws",
        `ws://${pbx.ip}:9/`,
        ...creds("alice"),
        "--connect-timeout",
        "5s",
      ]);
      assertEquals(await exitOf(n), EXIT_STATUS["network-error"], show(n));
      assertStringIncludes(n.stderr, "[E_NETWORK]");
    });

    const wsServe = await wsServeReady();
    if (wsServe !== true) {
      console.error(`SKIP call: wss:// proxy and webphone steps: ${wsServe}`);
    } else {
      const cert = `${pbx.dir}/cert.pem`, key = `${pbx.dir}/key.pem`;
      await sh([
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        `/CN=${DOMAIN}`,
        "-addext",
        `subjectAltName=DNS:${DOMAIN},IP:${pbx.ip}`,
      ]);
      const proxy = pbx.pbxkit([
        "ws-serve",
        "--host",
        pbx.ip,
        "--port",
        "8443",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--proxy",
        `/pbxws=${ws}`,
        "--subprotocol",
        "sip",
        "--webphone",
      ]);
      await waitFor(() => pbx.tcpOpen(8443), { timeoutMs: 20_000, what: `ws-serve${show(proxy)}` });
      const wss = `wss://${pbx.ip}:8443/pbxws`;

      await t.step(
        "wss:// through pbxkit ws-serve --proxy: self-signed refused, --ca accepted, --insecure warns",
        async () => {
          const { proc: phone, recDir } = await pbx.baresip({ user: "phone", autoAnswer: true, toneHz: 440 });
          await waitFor(() => phone.stdout.includes("200 OK"), { timeoutMs: 15_000, what: "baresip registration" });
          const refused = pbx.pbxkit([
            "call",
            `sip:phone@${DOMAIN}`,
            "--ws",
            wss,
            ...creds("alice"),
            "--connect-timeout",
            "5s",
          ]);
          assertEquals(await exitOf(refused), EXIT_STATUS["network-error"], show(refused));
          assertStringIncludes(refused.stderr, "not trusted");
          assertStringIncludes(refused.stderr, "--ca FILE");
          const p = pbx.pbxkit([
            "call",
            `sip:phone@${DOMAIN}`,
            "--ws",
            wss,
            "--ca",
            cert,
            ...creds("alice"),
            "--tone",
            "1000",
            "--duration",
            "3s",
            "--record",
            `${pbx.dir}/wss.wav`,
          ]);
          assertEquals(await exitOf(p), 0, show(p));
          assertStringIncludes(p.stdout, `connected ${wss}`);
          assert(Math.abs((await toneOf(`${pbx.dir}/wss.wav`)).toneHz - 440) <= 5);
          const bHeard = await toneOf(await baresipHeard(recDir));
          assert(Math.abs(bHeard.toneHz - 1000) <= 5, `baresip heard ${bHeard.toneHz} Hz`);
          // --insecure works too, and says loudly that nothing is verified
          const k = pbx.pbxkit([
            "call",
            `sip:phone@${DOMAIN}`,
            "--ws",
            wss,
            "--insecure",
            ...creds("alice"),
            "--duration",
            "1s",
          ]);
          assertEquals(await exitOf(k), 0, show(k));
          assertStringIncludes(k.stderr, "NOT verified");
          await phone.stop();
        },
      );

      await t.step("webphone in headless Chromium calls a --listen pbxkit; audio flows both ways", async () => {
        const why = missing({ tools: ["/usr/bin/chromium"] });
        if (why) {
          console.error(`SKIP webphone step: ${why}`);
          return;
        }
        const l = pbx.pbxkit([
          "call",
          "--listen",
          "--auto-answer",
          "--ws",
          wss,
          "--ca",
          cert,
          ...creds("bob"),
          "--tone",
          "800",
          "--record",
          `${pbx.dir}/from-browser.wav`,
          "--max-calls",
          "1",
          "--json",
        ]);
        await waitFor(() => l.stdout.includes('"registered"'), { timeoutMs: 20_000, what: `listener${show(l)}` });
        const drv = pbx.spawn("pbx", [
          Deno.execPath(),
          "run",
          "-A",
          "--config",
          `${ROOT}/deno.json`,
          `${ROOT}/tests/call/_webphone_driver.ts`,
          `https://${pbx.ip}:8443/`,
          `sip:carol@${DOMAIN}`,
          USERS.carol,
          `bob`,
          "4",
        ]);
        assertEquals(await exitOf(drv, 90_000), 0, show(drv));
        const r = JSON.parse(drv.stdout.trim().split("\n").at(-1)!);
        assertEquals(r.error, undefined, show(drv));
        assertEquals(r.defaultServer, wss);
        assert(r.stats.inPackets > 100, `browser received ${r.stats.inPackets} RTP packets`);
        assert(r.stats.outPackets > 100, `browser sent ${r.stats.outPackets} RTP packets`);
        assert(r.stats.inEnergy > 0, "browser heard silence");
        assertEquals(r.muteLabel, "Unmute");
        assertStringIncludes(r.log, "sip:bob@pbx.test");
        assertEquals(await exitOf(l, 15_000), 0, show(l));
        const lsum = JSON.parse(l.stdout.trim().split("\n").at(-1)!);
        assertEquals(lsum.peer, `sip:carol@${DOMAIN}`);
        assertEquals(lsum.displayName, "Browser Test");
        assertEquals(lsum.endedBy, "remote");
        // Chromium's fake microphone beeps: pbxkit must have heard non-silent audio
        assert(lsum.heard.activeSeconds > 0.2, `pbxkit heard ${JSON.stringify(lsum.heard)}`);
      });
      await proxy.stop();
    }

    await t.step("sipp as scripted peer: 180 then 600 Busy Everywhere; 183 early media then 200 OK", async () => {
      const busyXml = `${pbx.dir}/busy.xml`;
      await Deno.writeTextFile(busyXml, SIPP_BUSY);
      const busy = pbx.spawn("pbx", [
        "sipp",
        "-sf",
        busyXml,
        "-i",
        pbx.ip,
        "-p",
        "5090",
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "30s",
      ]);
      const c = pbx.pbxkit(["call", `sip:sipp@${DOMAIN}`, "--ws", ws, ...creds("alice")]);
      assertEquals(await exitOf(c), EXIT_STATUS.busy, show(c));
      assertMatch(c.stdout, /ringing 180/);
      assertMatch(c.stdout, /failed 600/);
      assertEquals(await exitOf(busy, 10_000), 0, `sipp busy scenario${show(busy)}`);
      const earlyXml = `${pbx.dir}/early.xml`;
      await Deno.writeTextFile(earlyXml, SIPP_EARLY_MEDIA);
      const sipp = pbx.spawn("pbx", [
        "sipp",
        "-sf",
        earlyXml,
        "-i",
        pbx.ip,
        "-p",
        "5090",
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "30s",
        "-mi",
        pbx.ip,
        "-mp",
        "6100",
        "-trace_msg",
        "-message_file",
        `${pbx.dir}/sipp-msgs.log`,
      ]);
      const e = pbx.pbxkit(["call", `sip:sipp@${DOMAIN}`, "--ws", ws, ...creds("alice"), "--duration", "1s"]);
      assertEquals(await exitOf(e), 0, show(e));
      assertMatch(e.stdout, /progress 183 Session Progress/);
      assertMatch(e.stdout, /answered 200/);
      assertMatch(e.stdout, /ended Terminated, by local after 1\.\d s/);
      assertEquals(await exitOf(sipp, 10_000), 0, `sipp did not see the BYE${show(sipp)}`);
    });
  } finally {
    await pbx.close();
  }
});

/** A UAS that rings, then refuses with 600; echoes Record-Route as a proxy-facing UAS must. */
const SIPP_BUSY = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ring then busy everywhere">
  <recv request="INVITE" crlf="true" rrs="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <pause milliseconds="500"/>
  <send><![CDATA[
SIP/2.0 600 Busy Everywhere
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
`;

/** A UAS with early media: 183 with SDP, then 200 OK with the same SDP; waits for our BYE. */
const SIPP_EARLY_MEDIA = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="early media then answer">
  <recv request="INVITE" crlf="true" rrs="true"/>
  <send><![CDATA[
SIP/2.0 183 Session Progress
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <pause milliseconds="700"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
`;
