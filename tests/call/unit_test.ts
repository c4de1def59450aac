/**
 * Unit tests for lib/call: WAV, DSP, G.711, outcomes, SDP repair, the webphone. The WebSocket client is lib/ws's,
 * tested in tests/ws/protocol_test.ts.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "../_util/assert.ts";
import { runCli } from "../_util/mod.ts";
import { encodeWav, parseWav, resample } from "../../lib/call/wav.ts";
import {
  alawToLinear,
  dominantFrequency,
  goertzel,
  linearToAlaw,
  linearToMulaw,
  mulawToLinear,
  rmsDbfs,
  sineInto,
  summarize,
} from "../../lib/call/dsp.ts";
import { AudioFeed, Recorder } from "../../lib/call/audio.ts";
import { EXIT_STATUS, outcomeFromFailure, outcomeFromStatus } from "../../lib/call/status.ts";
import { fixSdpForWerift } from "../../lib/call/werift_adapter.ts";
import { codecOf, filterCodecs } from "../../lib/call/ua.ts";
import { chooseWebrtc, formatEvent, ownUri, recordPath } from "../../lib/call/mod.ts";
import { webphoneAssets } from "../../lib/call/webphone.ts";
import { PbxError } from "../../lib/common/mod.ts";

function tone(hz: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const f = new Float32Array(Math.round(rate * seconds));
  sineInto(f, { hz, sampleRate: rate, amplitude: amp });
  return f;
}

Deno.test("wav: 16-bit round trip keeps samples within one LSB", () => {
  const samples = tone(440, 8000, 0.1);
  const back = parseWav(encodeWav({ sampleRate: 8000, samples }));
  assertEquals(back.sampleRate, 8000);
  assertEquals(back.samples.length, samples.length);
  for (let i = 0; i < samples.length; i++) assert(Math.abs(back.samples[i] - samples[i]) <= 1 / 32768 + 1e-6);
});

Deno.test("wav: stereo 8-bit, 24-bit and float are mixed to mono; bad files are E_PARSE", () => {
  const mk = (format: number, bits: number, channels: number, data: Uint8Array) => {
    const out = new Uint8Array(44 + data.length);
    const dv = new DataView(out.buffer);
    out.set(new TextEncoder().encode("RIFF"), 0);
    dv.setUint32(4, 36 + data.length, true);
    out.set(new TextEncoder().encode("WAVEfmt "), 8);
    dv.setUint32(16, 16, true);
    dv.setUint16(20, format, true);
    dv.setUint16(22, channels, true);
    dv.setUint32(24, 16000, true);
    dv.setUint16(34, bits, true);
    out.set(new TextEncoder().encode("data"), 36);
    dv.setUint32(40, data.length, true);
    out.set(data, 44);
    return out;
  };
  // 8-bit stereo: L=255 (~+1), R=128 (0) -> ~0.5
  assert(Math.abs(parseWav(mk(1, 8, 2, new Uint8Array([255, 128]))).samples[0] - 0.496) < 0.01);
  // 24-bit: 0x400000 = +0.5
  assert(Math.abs(parseWav(mk(1, 24, 1, new Uint8Array([0, 0, 0x40]))).samples[0] - 0.5) < 1e-6);
  const f = new Uint8Array(4);
  new DataView(f.buffer).setFloat32(0, -0.25, true);
  assertEquals(parseWav(mk(3, 32, 1, f)).samples[0], -0.25);
  assertThrows(() => parseWav(new TextEncoder().encode("not a wav file at all")), PbxError, "RIFF");
  assertThrows(() => parseWav(mk(2, 4, 1, new Uint8Array(4))), PbxError, "format 2");
  assertThrows(() => parseWav(mk(1, 16, 0, new Uint8Array(4))), PbxError, "0 channels");
});

Deno.test("wav: resampling 48 kHz -> 8 kHz keeps the tone and removes what 8 kHz cannot carry", () => {
  const low = resample({ sampleRate: 48000, samples: tone(1000, 48000, 0.5) }, 8000);
  assertEquals(low.samples.length, 4000);
  assertEquals(dominantFrequency(low.samples, { sampleRate: 8000, start: 400, end: 3600 }).hz, 1000);
  assert(Math.abs(rmsDbfs(low.samples, { start: 400, end: 3600 }) - rmsDbfs(tone(1000, 8000, 0.5))) < 0.5);
  // 6 kHz is above the new Nyquist: it must not alias into the band
  const alias = resample({ sampleRate: 48000, samples: tone(6000, 48000, 0.5) }, 8000);
  assert(
    rmsDbfs(alias.samples, { start: 400, end: 3600 }) < -30,
    `aliasing at ${rmsDbfs(alias.samples, { start: 400, end: 3600 })} dBFS`,
  );
  const up = resample({ sampleRate: 8000, samples: tone(440, 8000, 0.25) }, 16000);
  assertEquals(dominantFrequency(up.samples, { sampleRate: 16000, start: 400, end: 3600 }).hz, 440);
});

Deno.test("dsp: goertzel, dominant frequency, level and summary", () => {
  const t = tone(697, 8000, 0.2, 0.5);
  assert(goertzel(t, { hz: 697, sampleRate: 8000 }) > 100 * goertzel(t, { hz: 1209, sampleRate: 8000 }));
  assertEquals(dominantFrequency(t, { sampleRate: 8000 }).hz, 697);
  assert(Math.abs(rmsDbfs(t) - (20 * Math.log10(0.5 / Math.SQRT2))) < 0.1);
  const withSilence = new Float32Array(16000);
  withSilence.set(tone(440, 8000, 1), 4000);
  const s = summarize(withSilence, 8000);
  assertEquals(s.toneHz, 440);
  assert(Math.abs(s.activeSeconds - 1) < 0.05);
  assertEquals(summarize(new Float32Array(800), 8000).levelDbfs, -Infinity);
});

Deno.test("dsp: G.711 mu-law and A-law round trips stay within quantisation error", () => {
  for (let v = -32768; v < 32768; v += 97) {
    const mu = mulawToLinear(linearToMulaw(v));
    const a = alawToLinear(linearToAlaw(v));
    const tol = Math.max(8, Math.abs(v) / 16);
    assert(Math.abs(mu - v) <= tol * 1.2 + 4, `mu-law ${v} -> ${mu}`);
    assert(Math.abs(a - v) <= tol * 1.2 + 8, `A-law ${v} -> ${a}`);
  }
  assertEquals(linearToMulaw(0), 0xff);
  assertEquals(linearToAlaw(0), 0xd5);
});

Deno.test("audio: feed makes tones at the asked level, loops files, mixes in-band DTMF", () => {
  const feed = new AudioFeed({ kind: "tone", hz: 1000, dbfs: -12 }, 8000);
  const f = new Float32Array(8000);
  feed.next(f);
  assertEquals(rmsDbfs(f), -Infinity, "silent until start(): nothing is played before media connects");
  feed.start();
  feed.next(f);
  assert(Math.abs(rmsDbfs(f) - -12) < 0.1);
  const file = new AudioFeed({
    kind: "file",
    audio: { sampleRate: 8000, samples: new Float32Array(100).fill(0.5) },
    loop: false,
  }, 8000);
  const g = new Float32Array(160);
  file.next(g);
  assert(!file.finished);
  file.start();
  file.next(g);
  assertEquals(g[99], 0.5);
  assertEquals(g[100], 0);
  assert(file.finished);
  const d = new AudioFeed({ kind: "silence" }, 8000);
  d.start();
  d.queueDtmf("5", { durationMs: 100, gapMs: 50 });
  const h = new Float32Array(800);
  d.next(h);
  assert(
    goertzel(h, { hz: 770, sampleRate: 8000, start: 0, end: 800 }) > 0.005 &&
      goertzel(h, { hz: 1336, sampleRate: 8000, start: 0, end: 800 }) > 0.005,
  );
  assert(rmsDbfs(h, { start: 0, end: 800 }) > -20);
  const rec = new Recorder();
  rec.pushInt16(new Int16Array([1000, -1000, 1000, -1000]), 8000, { channels: 2 });
  assertEquals(rec.seconds, 2 / 8000);
});

Deno.test("status: SIP codes and JsSIP causes map to distinct documented exit statuses", () => {
  assertEquals(new Set(Object.values(EXIT_STATUS)).size, Object.keys(EXIT_STATUS).length);
  assert(!Object.values(EXIT_STATUS).some((v) => v === 1 || v === 2), "1 and 2 are reserved for errors/usage");
  assertEquals(outcomeFromStatus(486), "busy");
  assertEquals(outcomeFromStatus(600), "busy");
  assertEquals(outcomeFromStatus(603), "rejected");
  assertEquals(outcomeFromStatus(488), "rejected");
  assertEquals(outcomeFromStatus(480), "unavailable");
  assertEquals(outcomeFromStatus(404), "unavailable");
  assertEquals(outcomeFromStatus(407), "auth-failed");
  assertEquals(outcomeFromFailure({ cause: "Canceled" }, true), "no-answer");
  assertEquals(outcomeFromFailure({ cause: "Connection Error" }), "network-error");
  assertEquals(outcomeFromFailure({ cause: "Bad Media Description", statusCode: 200 }), "media-failed");
  assertEquals(outcomeFromFailure({ cause: "Busy", statusCode: 486 }), "busy");
});

Deno.test("werift SDP repair: a=rtcp without address gets the c= address", () => {
  const sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
    "m=audio 30000 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 10.0.0.2\r\na=rtcp:30001\r\na=rtcp-mux\r\n";
  const fixed = fixSdpForWerift(sdp);
  assertStringIncludes(fixed, "a=rtcp:30001 IN IP4 10.0.0.2\r\n");
  assertStringIncludes(
    fixSdpForWerift("c=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:2"),
    "a=rtcp:2 IN IP4 1.2.3.4",
  );
  assertEquals(fixSdpForWerift("a=rtcp:9 IN IP4 0.0.0.0"), "a=rtcp:9 IN IP4 0.0.0.0");
});

Deno.test("call helpers: own URI, record paths, codec, progress lines", () => {
  assertEquals(ownUri({ user: "200", target: "sip:100@pbx.example", ws: "wss://x/ws" }), "sip:200@pbx.example");
  assertEquals(ownUri({ user: "200@a.b", ws: "wss://x/ws" }), "sip:200@a.b");
  assertEquals(ownUri({ user: "200", domain: "d.e", target: "100", ws: "wss://x/ws" }), "sip:200@d.e");
  assertEquals(ownUri({ user: "200", target: "100", ws: "wss://pbx.lan:8089/ws" }), "sip:200@pbx.lan");
  assertEquals(recordPath("msg.wav", { n: 1, peer: "sip:bob@x" }), "msg.wav");
  assertEquals(recordPath("msg.wav", { n: 3, peer: "sip:bob@x" }), "msg-3.wav");
  assertEquals(recordPath("m-{n}-{from}.wav", { n: 2, peer: "sip:bob@x" }), "m-2-bob.wav");
  assert(!recordPath("{from}.wav", { n: 1, peer: "sip:a/b@x" }).includes("/"), "caller names never become directories");
  assertEquals(codecOf("m=audio 1 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n"), "PCMA/8000");
  assertEquals(codecOf("m=audio 1 RTP/AVP 0\r\n"), "PCMU/8000");
  assertEquals(codecOf("m=audio 1 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"), "opus/48000/2");
  assertEquals(
    formatEvent({ event: "ringing", t: 1.5, call: 1, status: 180, reason: "Ringing" }),
    "[   1.500s] #1 ringing 180 Ringing",
  );
});

Deno.test("webphone: page, app and a browser build of JsSIP that loads", async () => {
  const assets = await webphoneAssets({ wsPath: "/pbxws" });
  for (const p of ["/", "/index.html", "/jssip.js", "/webphone.js"]) assert(assets.has(p), p);
  const html = new TextDecoder().decode(assets.get("/")!.body);
  assertStringIncludes(html, 'window.PBXKIT_WS_PATH = "/pbxws"');
  for (const id of ["register", "call", "answer", "hangup", "mute", "pad", "log"]) {
    assertStringIncludes(html, `id="${id}"`);
  }
  assertMatch(assets.get("/jssip.js")!.contentType, /^text\/javascript/);
  // a hostile wsPath never reaches the page
  const evil = new TextDecoder().decode(
    (await webphoneAssets({ wsPath: '"</script><script>alert(1)' })).get("/")!.body,
  );
  assert(!evil.includes("alert(1)"));
  // the bundle defines window.JsSIP in a browser-like scope
  const win: Record<string, unknown> = {};
  new Function("window", "navigator", "localStorage", new TextDecoder().decode(assets.get("/jssip.js")!.body))(
    win,
    { userAgent: "test" },
    undefined,
  );
  const JsSIP = win.JsSIP as { version: string; UA: unknown; WebSocketInterface: unknown };
  assertMatch(JsSIP.version, /^3\./);
  assertEquals(typeof JsSIP.UA, "function");
  assertEquals(typeof JsSIP.WebSocketInterface, "function");
  // the page's script parses
  new Function(new TextDecoder().decode(assets.get("/webphone.js")!.body));
});

Deno.test("cli: call usage errors exit 2 with one line; missing --play file exits 1", async () => {
  const cases: [string[], string][] = [
    [["call", "sip:1@x", "--transport", "ws"], "--ws"],
    [["call", "sip:1@x", "--transport", "sctp"], "--transport"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--transport", "udp"], "--ws goes with"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--proxy", "pbx.lan"], "--proxy"],
    [["call", "sip:1@x", "--proxy", "pbx.lan:99999"], "--proxy"],
    [["call", "sip:1@x", "--rtp-ports", "20000-10000"], "--rtp-ports"],
    [["call", "sip:1@x", "--webrtc", "werift"], "--webrtc goes with"],
    [["call", "sip:1@x", "--codecs", "g722"], "plain RTP media has opus, pcmu and pcma, not g722"],
    [["call", "--ws", "ws://127.0.0.1:9/"], "missing target"],
    [["call", "sip:1@x", "--listen", "--ws", "ws://127.0.0.1:9/"], "not both"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--dtmf", "12x"], "--dtmf"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--webrtc", "chrome"], "--webrtc"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--auto-answer"], "--listen"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--duration", "soon"], "--duration"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--header", "Bad\nHeader: x"], "--header"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--play", ""], "--play"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--loop"], "--play"],
  ];
  for (const [args, text] of cases) {
    const r = await runCli(args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, text);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  const r = await runCli(["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--play", "/nonexistent.wav"]);
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /no such file: \/nonexistent\.wav \[E_NOT_FOUND\]/);
  for (
    const [args, re] of [
      [["--play", "/dev/zero"], /not a regular file \[E_INVALID_INPUT\]$/], // used to read forever
      [["--play", "/tmp"], /not a regular file \[E_INVALID_INPUT\]$/],
      [["--record", "/nonexistent-dir/heard.wav"], /directory '\/nonexistent-dir' does not exist \[E_NOT_FOUND\]$/],
    ] as const
  ) {
    const bad = await runCli(["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", ...args]);
    assertEquals(bad.code, 1, `${args.join(" ")}: ${bad.stderr}`);
    assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assertMatch(bad.stderr.trim(), re);
  }
  // a refused WebSocket: exit 7 and ONE error line (the socket used to print its own line first)
  const refused = await runCli(["call", "sip:1@x", "--ws", "ws://127.0.0.1:1/", "--no-register"]);
  assertEquals(refused.code, 7, refused.stderr);
  assertEquals(refused.stderr.trim().split("\n"), [
    "pbxkit: error: WebSocket to ws://127.0.0.1:1/ failed: " +
    refused.stderr.trim().replace(/^.*failed: /, "").replace(/ \[E_NETWORK\]$/, "") + " [E_NETWORK]",
  ]);
  assertMatch(refused.stderr, /refused/i);
  const h = await runCli(["call", "--help"]);
  assertEquals(h.code, 0);
  assertStringIncludes(h.stdout, "Examples:");
  assertStringIncludes(h.stdout, "3=busy");
});

Deno.test("codec filter: keeps the asked codecs in order, always telephone-event, drops their attributes", () => {
  const sdp = [
    "v=0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10",
    "a=rtcp-fb:111 transport-cc",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:126 telephone-event/8000",
    "a=sendrecv",
  ].join("\r\n");
  const f = filterCodecs(sdp, ["pcma", "pcmu"]);
  assertStringIncludes(f, "m=audio 9 UDP/TLS/RTP/SAVPF 8 0 126\r\n");
  assert(!f.includes("opus") && !f.includes("a=fmtp:111") && !f.includes("rtcp-fb:111"));
  assertStringIncludes(f, "a=sendrecv");
  assertThrows(() => filterCodecs(sdp, ["g729"]), PbxError, "offered: opus, pcmu, pcma");
});

Deno.test("the default WebRTC stack is wrtc, and werift when RFC 4733 DTMF is asked for (wrtc has no RTCDTMFSender)", () => {
  assertEquals(chooseWebrtc(undefined, "auto"), "wrtc");
  assertEquals(chooseWebrtc(undefined, "info"), "wrtc");
  assertEquals(chooseWebrtc(undefined, "rfc4733"), "werift");
  assertEquals(chooseWebrtc("wrtc", "rfc4733"), "wrtc");
  assertEquals(chooseWebrtc("werift", "auto"), "werift");
});

Deno.test("SIP WebSocket transport: pbxkit's own client for ws:// (not Deno's WebSocket, which leaves Nagle on)", async () => {
  const { startWsServe } = await import("../../lib/ws/mod.ts");
  const { SipWsSocket, wsSocketFor } = await import("../../lib/call/ws_socket.ts");
  const server = startWsServe({ port: 0, echo: true, subprotocols: ["sip"], idleTimeout: 0 });
  try {
    const sock = await wsSocketFor(`ws://127.0.0.1:${server.addr.port}/`, { insecure: false });
    assert(sock instanceof SipWsSocket);
    assertEquals(sock.via_transport, "WS");
    assertEquals((await wsSocketFor("wss://pbx.example:443/ws", { insecure: true })).via_transport, "WSS");
    const got: unknown[] = [];
    const connected = new Promise<void>((r) => sock.onconnect = () => r());
    const echoed = new Promise<void>((r) =>
      sock.ondata = (d: unknown) => {
        got.push(d);
        r();
      }
    );
    sock.connect();
    await connected;
    assert(sock.isConnected());
    const msg = "OPTIONS sip:pbx.example SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".repeat(40);
    assert(sock.send(msg));
    await echoed;
    assertEquals(got, [msg]);
    sock.disconnect();
    assert(!sock.isConnected());
  } finally {
    await server.shutdown({ timeout: 500 });
  }
});
