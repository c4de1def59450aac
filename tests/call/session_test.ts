/**
 * Unit tests for the sans-I/O call-session core (lib/call/session.ts) on a fake clock, and for the SIP response tap
 * (lib/call/sip_tap.ts). No PBX, no sockets: inputs are the JsSIP events a real call produces, with times in ms.
 */

import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import {
  CallSession,
  type CallSessionOptions,
  type SessionCommand,
  type SessionInput,
} from "../../lib/call/session.ts";
import { type JsSipSocket, peekResponse, TapSocket } from "../../lib/call/sip_tap.ts";

/** A session with a fake clock: `at(ms, input)` steps at that time after firing the deadlines due by then. */
class Clock {
  now = 0;
  log: SessionCommand[] = [];
  readonly cs: CallSession;
  constructor(o: Partial<CallSessionOptions> & Pick<CallSessionOptions, "direction">) {
    this.cs = new CallSession({ call: 1, peer: "sip:100@pbx.example.net", ...o });
    this.log.push(...this.cs.start(0));
  }
  /** Advance to `t`, firing each deadline at its own time. */
  advance(t: number): void {
    for (;;) {
      const d = this.cs.nextDeadline();
      if (d === undefined || d > t) break;
      this.now = d;
      this.log.push(...this.cs.tick(d));
    }
    this.now = t;
  }
  at(t: number, input: SessionInput): SessionCommand[] {
    this.advance(t);
    const out = this.cs.step(input, t);
    this.log.push(...out);
    return out;
  }
  kinds(): string[] {
    return this.log.map((c) => c.kind === "emit" ? `emit:${c.event.event}` : c.kind);
  }
  /** Time of each command kind, from a log kept with times. */
}

/** Commands with the time they were issued. */
function timed(c: Clock, steps: [number, SessionInput | "tick"][], until: number): [number, string][] {
  const out: [number, string][] = [];
  const push = (t: number, cmds: SessionCommand[]) => {
    for (const x of cmds) out.push([t, x.kind === "emit" ? `emit:${x.event.event}` : x.kind]);
  };
  const fire = (t: number) => {
    for (;;) {
      const d = c.cs.nextDeadline();
      if (d === undefined || d > t) return;
      push(d, c.cs.tick(d));
    }
  };
  for (const [t, input] of steps) {
    fire(t);
    if (input !== "tick") push(t, c.cs.step(input, t));
  }
  fire(until);
  return out;
}

Deno.test("session outgoing: trying once, ringing, answer, media, DTMF 300 ms later, duration hang-up", () => {
  const c = new Clock({
    direction: "outgoing",
    ringTimeoutMs: 60_000,
    durationMs: 5000,
    dtmf: "12#",
    dtmfMode: "auto",
  });
  const out = timed(c, [
    [10, { type: "sending" }],
    [15, { type: "provisional", status: 100, reason: "Trying" }],
    [16, { type: "provisional", status: 100, reason: "Trying" }],
    [400, { type: "provisional", status: 180, reason: "Ringing" }],
    [1200, { type: "remoteSdp", sdp: "v=0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n" }],
    [1200, { type: "accepted", status: 200, reason: "OK" }],
    [1350, { type: "media" }],
    [6200, { type: "ended", cause: "Terminated", originator: "local" }],
  ], 7000);
  assertEquals(out, [
    [10, "emit:calling"],
    [15, "emit:trying"],
    [400, "emit:ringing"],
    [1200, "emit:answered"],
    [1350, "startMedia"],
    [1350, "emit:media"],
    [1650, "sendDtmf"],
    [6200, "terminate"],
    [6200, "emit:ended"],
    [6200, "done"],
  ]);
  const r = c.cs.report!;
  assertEquals(r.outcome, "answered");
  assertEquals(r.exitStatus, 0);
  assertEquals(r.setupMs, 1340); // INVITE at 10 -> media at 1350
  assertEquals(r.answerMs, 1190);
  assertEquals(r.durationSeconds, 5);
  assertEquals(r.codec, "PCMA/8000");
  assertEquals(c.cs.nextDeadline(), undefined, "no deadline left after the end");
});

Deno.test("session: media up before the answer is reported after it, DTMF counted from the answer", () => {
  const c = new Clock({ direction: "outgoing", dtmf: "5" });
  const out = timed(c, [
    [0, { type: "sending" }],
    [500, { type: "media" }],
    [700, { type: "accepted", status: 200 }],
  ], 2000);
  assertEquals(out.map((x) => x.join(" ")), [
    "0 emit:calling",
    "500 startMedia",
    "700 emit:answered",
    "700 emit:media",
    "1000 sendDtmf",
  ]);
});

Deno.test("session: ring timeout cancels and the failure is no-answer (4), whatever JsSIP's cause", () => {
  const c = new Clock({ direction: "outgoing", ringTimeoutMs: 3000 });
  const out = timed(c, [[0, { type: "sending" }], [
    3100,
    { type: "failed", cause: "Canceled", originator: "local" },
  ]], 4000);
  assertEquals(out.map((x) => x.join(" ")), [
    "0 emit:calling",
    "3000 emit:warning",
    "3000 terminate",
    "3100 emit:failed",
    "3100 done",
  ]);
  assertEquals(c.cs.report!.outcome, "no-answer");
  assertEquals(c.cs.report!.exitStatus, 4);
  assertEquals(c.cs.report!.answered, false);
});

Deno.test("session: exit statuses of failures are the documented numbers", () => {
  const cases: [SessionInput, string, number][] = [
    [{ type: "failed", cause: "Busy", status: 486, originator: "remote" }, "busy", 3],
    [{ type: "failed", cause: "Rejected", status: 603, originator: "remote" }, "rejected", 5],
    [{ type: "failed", cause: "Authentication Error", status: 407, originator: "remote" }, "auth-failed", 6],
    [{ type: "failed", cause: "Connection Error", originator: "system" }, "network-error", 7],
    [{ type: "failed", cause: "Not Found", status: 404, originator: "remote" }, "unavailable", 8],
    [{ type: "failed", cause: "Unavailable", status: 480, originator: "remote" }, "unavailable", 8],
    [{ type: "failed", cause: "Bad Media Description", originator: "system" }, "media-failed", 9],
  ];
  for (const [input, outcome, exit] of cases) {
    const c = new Clock({ direction: "outgoing" });
    c.at(0, { type: "sending" });
    c.at(100, input);
    assertEquals([c.cs.report?.outcome, c.cs.report?.exitStatus], [outcome, exit], JSON.stringify(input));
  }
});

Deno.test("session: media timeout -> warning, hang-up, media-failed (9), both directions", () => {
  for (const direction of ["outgoing", "incoming"] as const) {
    const c = new Clock({ direction, mediaTimeoutMs: 2000, autoAnswer: true, answerDelayMs: 100 });
    const out = timed(c, [
      [0, direction === "outgoing" ? { type: "sending" } : "tick"],
      [300, { type: "accepted", status: 200 }],
      [2400, { type: "ended", cause: "Terminated", originator: "local" }],
    ], 3000);
    const names = out.map((x) => x.join(" "));
    assert(names.includes("2300 emit:warning"), `${direction}: ${names}`);
    assert(names.includes("2300 terminate"), `${direction}: ${names}`);
    assertEquals(c.cs.report!.outcome, "media-failed", direction);
    assertEquals(c.cs.report!.exitStatus, 9);
    assertEquals(c.cs.report!.answered, true);
    assertEquals(c.cs.report!.setupMs, undefined);
  }
});

Deno.test("session: media in time cancels the media timeout", () => {
  const c = new Clock({ direction: "incoming", mediaTimeoutMs: 2000, autoAnswer: true });
  const out = timed(c, [[0, "tick"], [50, { type: "accepted" }], [1900, { type: "media" }], [
    9000,
    { type: "ended", cause: "Terminated", originator: "remote" },
  ]], 10_000);
  assert(!out.some(([, k]) => k === "terminate"), JSON.stringify(out));
  assertEquals(c.cs.report!.outcome, "answered");
  assertEquals(c.cs.report!.setupMs, 1900); // answer sent at 0 -> media at 1900
  assertEquals(c.cs.report!.endedBy, "remote");
});

Deno.test("session: hang-up-after-play waits 300 ms after the file ended, both directions", () => {
  for (const direction of ["outgoing", "incoming"] as const) {
    const c = new Clock({ direction, hangupAfterPlay: true, autoAnswer: true });
    const out = timed(c, [
      [0, direction === "outgoing" ? { type: "sending" } : "tick"],
      [100, { type: "accepted" }],
      [200, { type: "media" }],
      [3200, { type: "playEnded" }],
      [3250, { type: "playEnded" }],
    ], 5000);
    const term = out.filter(([, k]) => k === "terminate");
    assertEquals(term, [[3500, "terminate"]], direction);
  }
});

Deno.test("session incoming: auto-answer after the delay, codec filter on our answer, codec reported", () => {
  const c = new Clock({ direction: "incoming", autoAnswer: true, answerDelayMs: 2000, codecs: ["pcma"] });
  assertEquals(c.kinds(), ["emit:incoming"]);
  c.advance(1999);
  assertEquals(c.kinds(), ["emit:incoming"]);
  c.advance(2000);
  assertEquals(c.kinds(), ["emit:incoming", "answer"]);
  const offer = "v=0\r\nm=audio 5000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16";
  const local = c.cs.localSdp(offer);
  assertEquals(local.error, undefined);
  assertMatch(local.sdp, /^m=audio 5000 RTP\/AVP 8 101$/m);
  assert(!local.sdp.includes("PCMU"), local.sdp);
  c.at(2010, { type: "accepted" });
  c.at(2100, { type: "media" });
  c.at(4000, { type: "ended", cause: "Terminated", originator: "remote" });
  assertEquals(c.cs.report!.codec, "PCMA/8000");
  assertEquals(c.cs.report!.answerMs, 2010);
  assertEquals(c.cs.report!.setupMs, 100);
  assertEquals(c.cs.report!.durationSeconds, 2);
});

Deno.test("session: a codec list none of which is offered is an error with a warning", () => {
  const c = new Clock({ direction: "outgoing", codecs: ["g722"] });
  const r = c.cs.localSdp("v=0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000");
  assert(r.error);
  assertEquals(r.commands.length, 1);
  assertMatch(JSON.stringify(r.commands[0]), /none of g722 is available \(offered: pcmu\)/);
});

Deno.test("session incoming: --reject and busy refuse at once with the right outcome; no answer scheduled", () => {
  const rej = new Clock({ direction: "incoming", rejectStatus: 603, autoAnswer: true });
  assertEquals(rej.kinds(), ["emit:incoming", "reject", "emit:failed", "done"]);
  assertEquals(rej.cs.report!.outcome, "rejected");
  assertEquals(rej.cs.report!.exitStatus, 5);
  assertEquals(rej.cs.nextDeadline(), undefined);
  // JsSIP then reports its own 'failed': ignored, the report stands
  assertEquals(rej.at(10, { type: "failed", cause: "Rejected", status: 603, originator: "local" }), []);
  const busy = new Clock({
    direction: "incoming",
    rejectStatus: 486,
    rejectCause: "Busy",
    rejectDetail: "already in a call",
  });
  assertEquals(busy.cs.report!.outcome, "busy");
  assertEquals(busy.cs.report!.exitStatus, 3);
  assertEquals(busy.cs.report!.cause, "Busy");
});

Deno.test("session incoming: caller cancels while ringing -> no-answer", () => {
  const c = new Clock({ direction: "incoming" });
  c.at(5000, { type: "failed", cause: "Canceled", originator: "remote" });
  assertEquals(c.cs.report!.outcome, "no-answer");
  assertEquals(c.cs.report!.endedBy, "remote");
});

Deno.test("session: abort before the answer is a cancel (no-answer); after it, a normal hang-up", () => {
  const a = new Clock({ direction: "outgoing" });
  a.at(0, { type: "sending" });
  assertEquals(a.at(500, { type: "abort" }).map((x) => x.kind), ["terminate"]);
  a.at(520, { type: "failed", cause: "Canceled", originator: "local" });
  assertEquals(a.cs.report!.outcome, "no-answer");
  const b = new Clock({ direction: "outgoing" });
  b.at(0, { type: "sending" });
  b.at(100, { type: "accepted" });
  b.at(200, { type: "media" });
  b.at(900, { type: "abort" });
  b.at(950, { type: "ended", cause: "Terminated", originator: "local" });
  assertEquals(b.cs.report!.outcome, "answered");
  assertEquals(b.cs.report!.durationSeconds, 0.9);
});

Deno.test("sip tap: peekResponse reads status, Call-ID (long and compact form) and CSeq method", () => {
  const r = peekResponse(
    "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060\r\n" +
      "Call-ID: a84b4c76e66710@pc33.example.net\r\nCSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n",
  );
  assertEquals(r, { status: 100, reason: "Trying", callId: "a84b4c76e66710@pc33.example.net", method: "INVITE" });
  const compact = peekResponse(
    "SIP/2.0 180 Ringing\r\ni: 3848276298220188511@atlanta.example.com\r\nCSeq:2 invite\r\n\r\n",
  );
  assertEquals(compact?.callId, "3848276298220188511@atlanta.example.com");
  assertEquals(compact?.method, "INVITE");
  assertEquals(
    peekResponse("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"),
    undefined,
  );
  assertEquals(peekResponse("SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n"), undefined, "no Call-ID");
  // a Call-ID in the body is not the header
  assertEquals(peekResponse("SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\nCall-ID: body"), undefined);
});

Deno.test("sip tap: TapSocket shows each message to the tap, then to JsSIP; forwards the rest", () => {
  const seen: string[] = [];
  const sent: string[] = [];
  const inner: JsSipSocket = {
    via_transport: "UDP",
    url: "udp://192.0.2.1:5060",
    sip_uri: "sip:192.0.2.1:5060;transport=udp",
    onconnect: () => {},
    ondisconnect: () => {},
    ondata: () => {},
    connect() {
      this.onconnect();
    },
    disconnect() {},
    send: (m) => (sent.push(m), true),
    isConnected: () => true,
    isConnecting: () => false,
  };
  const tap = new TapSocket(inner, (m) => seen.push(`tap:${m}`));
  let connected = 0;
  tap.onconnect = () => connected++;
  tap.ondata = (m: unknown) => seen.push(`jssip:${m}`);
  tap.connect();
  assertEquals(connected, 1);
  inner.ondata("SIP/2.0 100 Trying");
  inner.ondata(new TextEncoder().encode("bytes"));
  assertEquals(seen, ["tap:SIP/2.0 100 Trying", "jssip:SIP/2.0 100 Trying", "tap:bytes", "jssip:98,121,116,101,115"]);
  assertEquals(tap.send("OPTIONS"), true);
  assertEquals(sent, ["OPTIONS"]);
  assertEquals([tap.via_transport, tap.url, tap.sip_uri], [inner.via_transport, inner.url, inner.sip_uri]);
});
