/**
 * Unit tests for plain RTP media and SIP over UDP/TCP/TLS helpers, without sockets: RTP packets and RTCP reports
 * checked against werift's own parsers (an independent implementation), the jitter buffer, RFC 4733 events, SDP
 * offer/answer, Content-Length framing, Via rewriting, RFC 3263 ordering.
 */

import { assert, assertEquals, assertMatch, assertThrows } from "../_util/assert.ts";
import { Buffer } from "node:buffer";
import { RtcpPacketConverter, RtcpRrPacket, type RtcpSrPacket, RtpPacket } from "werift";
import { FRAME, parseRtcp, parseRtp, rtcpReport, RtpReceiver, RtpSender } from "../../lib/call/rtp_stream.ts";
import { buildSdp, negotiate, parseRemoteSdp } from "../../lib/call/rtp_sdp.ts";
import { fixRequestVia, SipStreamFramer, topVia } from "../../lib/call/sip_wire.ts";
import { orderSrv, resolveSipHost, type SipResolver, splitHostPort } from "../../lib/call/sip_dns.ts";
import { localAddressFor } from "../../lib/call/sip_net_socket.ts";
import { mulawToLinear } from "../../lib/call/dsp.ts";

function sine(hz: number, n: number, phase0 = 0): Float32Array {
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = 0.5 * Math.sin(2 * Math.PI * hz * (i + phase0) / 8000);
  return f;
}

Deno.test("rtp: sender packets parse with werift; seq/ts advance by one frame; marker on the first only", () => {
  const s = new RtpSender({ codec: "pcmu", pt: 0, ssrc: 0x11223344, seq: 65534, ts: 0xffffff00 });
  const pkts: RtpPacket[] = [];
  for (let i = 0; i < 3; i++) pkts.push(RtpPacket.deSerialize(Buffer.from(s.next(sine(1000, FRAME, i * FRAME)))));
  assertEquals(pkts.map((p) => p.header.sequenceNumber), [65534, 65535, 0]);
  assertEquals(pkts.map((p) => p.header.timestamp), [0xffffff00, (0xffffff00 + 160) >>> 0, (0xffffff00 + 320) >>> 0]);
  assertEquals(pkts.map((p) => p.header.marker), [true, false, false]);
  assertEquals(pkts[0].header.ssrc, 0x11223344);
  assertEquals(pkts[0].header.payloadType, 0);
  assertEquals(pkts[0].payload.length, 160);
  // decoded mu-law is the sine within G.711's error
  const ref = sine(1000, FRAME);
  for (let i = 0; i < FRAME; i++) {
    assert(Math.abs(mulawToLinear(pkts[0].payload[i]) / 32768 - ref[i]) < 0.02, `sample ${i}`);
  }
});

Deno.test("rtp: RFC 4733 digit: one timestamp, growing durations, end sent 3 times; clock keeps real time", () => {
  const s = new RtpSender({ codec: "pcma", pt: 8, tePt: 101, ssrc: 1, seq: 100, ts: 8000 });
  const silence = new Float32Array(FRAME);
  s.next(silence); // ts 8000
  assert(s.queueDtmf("5", { durationMs: 100, gapMs: 40 }));
  const ev: { ts: number; m: boolean; e: number; end: boolean; dur: number; pt: number }[] = [];
  for (let i = 0; i < 7; i++) {
    const p = RtpPacket.deSerialize(Buffer.from(s.next(silence)));
    ev.push({
      ts: p.header.timestamp,
      m: p.header.marker,
      e: p.payload[0],
      end: (p.payload[1] & 0x80) !== 0,
      dur: p.payload.readUInt16BE(2),
      pt: p.header.payloadType,
    });
  }
  assert(ev.every((x) => x.ts === 8160 && x.e === 5 && x.pt === 101), JSON.stringify(ev));
  assertEquals(ev.map((x) => x.dur), [160, 320, 480, 640, 800, 800, 800]);
  assertEquals(ev.map((x) => x.end), [false, false, false, false, true, true, true]);
  assertEquals(ev.map((x) => x.m), [true, false, false, false, false, false, false]);
  // the gap, then audio: its timestamp is 7 frames after the event's start (real time), not 5
  const gap = RtpPacket.deSerialize(Buffer.from(s.next(silence)));
  assertEquals([gap.header.payloadType, gap.header.timestamp], [8, 8160 + 7 * 160]);
  assertEquals(new RtpSender({ codec: "pcmu", pt: 0 }).queueDtmf("1", { durationMs: 100, gapMs: 70 }), false);
});

Deno.test("rtp: receiver jitter buffer reorders, drops duplicates, conceals a lost packet, reports the digit", () => {
  const tx = new RtpSender({ codec: "pcmu", pt: 0, tePt: 101, ssrc: 7, seq: 10, ts: 1000 });
  const frames = [0, 1, 2, 3, 4, 5].map((i) => parseRtp(tx.next(sine(400, FRAME, i * FRAME)).slice())!);
  const rx = new RtpReceiver({ codecs: new Map([[0, "pcmu"]]), tePt: 101, depth: 3 });
  // arrival order 0, 2, 1, 1 (dup), 4 (3 lost), 5
  for (const i of [0, 2, 1, 1, 4, 5]) rx.push(frames[i], i * FRAME);
  const out: number[] = [];
  for (let k = 0; k < 8; k++) {
    const pcm = rx.playout()!;
    out.push(pcm.reduce((a, b) => a + Math.abs(b), 0) > 0 ? 1 : 0);
  }
  // two frames of buffering silence, then 0 1 2, silence for 3, then 4 5
  assertEquals(out, [0, 0, 1, 1, 1, 0, 1, 1]);
  assertEquals(rx.stats.late, 1);
  assertEquals(rx.stats.lost, 0, "RFC 3550 A.3: expected 6 - received 6 (the duplicate counts)");
  assertEquals(rx.stats.packets, 6);
  assert(rx.stats.concealed >= 3);
  tx.queueDtmf("#", { durationMs: 60, gapMs: 0 });
  for (let i = 0; i < 6; i++) rx.push(parseRtp(tx.next(new Float32Array(FRAME)).slice())!, (6 + i) * FRAME);
  assertEquals(rx.takeDigits(), [{ digit: "#", durationMs: 60 }]);
  assertEquals(parseRtp(new Uint8Array([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), undefined, "RTP version 1");
});

Deno.test("rtcp: our SR and RR + SDES parse with werift; our parser reads werift's", () => {
  const sr = rtcpReport({
    ssrc: 0xaabbccdd,
    cname: "pbxkit@192.0.2.10",
    sender: { ntpMs: Date.UTC(2026, 11, 4, 6, 0, 0, 500), rtpTs: 123456, packets: 250, octets: 40000 },
    block: { ssrc: 0x01020304, fractionLost: 12, cumulativeLost: 3, extMax: 70000, jitter: 17.4, lsr: 0, dlsr: 0 },
  });
  const parsed = RtcpPacketConverter.deSerialize(Buffer.from(sr));
  assertEquals(parsed.length, 2);
  const p = parsed[0] as RtcpSrPacket;
  assertEquals(p.type, 200);
  assertEquals(p.ssrc, 0xaabbccdd);
  assertEquals(p.senderInfo.packetCount, 250);
  assertEquals(p.senderInfo.octetCount, 40000);
  assertEquals(p.senderInfo.rtpTimestamp, 123456);
  assertEquals(Number(p.senderInfo.ntpTimestamp >> 32n), Math.floor(Date.UTC(2026, 11, 4, 6) / 1000) + 2208988800);
  assertEquals(p.reports[0].ssrc, 0x01020304);
  assertEquals(p.reports[0].fractionLost, 12);
  assertEquals(p.reports[0].packetsLost, 3);
  assertEquals(p.reports[0].highestSequence, 70000);
  assertEquals(p.reports[0].jitter, 17);
  assertEquals(parsed[1].type, 202);
  const rr = RtcpPacketConverter.deSerialize(Buffer.from(rtcpReport({ ssrc: 5, cname: "x" })));
  assertEquals(rr[0].type, 201);
  const theirs = new RtcpRrPacket({ ssrc: 9, reports: [] }).serialize();
  assertEquals(parseRtcp(new Uint8Array(theirs))?.blocks, []);
  const info = parseRtcp(sr)!;
  assertEquals(info.sr[0].packets, 250);
  assertEquals(info.blocks[0].cumulativeLost, 3);
});

const BARESIP_OFFER = [
  "v=0",
  "o=- 1817348384 2785112931 IN IP4 10.77.0.3",
  "s=-",
  "c=IN IP4 10.77.0.3",
  "t=0 0",
  "m=audio 40002 RTP/AVP 8 0 101",
  "c=IN IP4 10.77.0.9",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:101 telephone-event/8000",
  "a=fmtp:101 0-15",
  "a=rtcp:40003",
  "a=sendrecv",
  "",
].join("\r\n");

Deno.test("sdp: media-level c= wins; offerer's order, or ours; answer has the one codec + telephone-event", () => {
  const r = parseRemoteSdp(BARESIP_OFFER);
  assertEquals([r.ip, r.port, r.rtcpPort, r.proto, r.tePt, r.direction], [
    "10.77.0.9",
    40002,
    40003,
    "RTP/AVP",
    101,
    "sendrecv",
  ]);
  assertEquals(negotiate(r, ["pcmu", "pcma"]).codec, "pcma");
  assertEquals(negotiate(r, ["pcmu", "pcma"], true), { codec: "pcmu", pt: 0, tePt: 101 });
  const ans = buildSdp({ ip: "10.77.0.2", port: 12000, codecs: ["pcmu"], sessionId: "42", version: 1 }, {
    ...negotiate(r, ["pcmu"], true),
    direction: "sendonly",
  });
  assertMatch(ans, /^m=audio 12000 RTP\/AVP 0 101\r$/m);
  assertMatch(ans, /^c=IN IP4 10\.77\.0\.2\r$/m);
  assertMatch(ans, /^a=recvonly\r$/m);
  assertMatch(ans, /^a=rtcp:12001\r$/m);
  assertThrows(() => negotiate(parseRemoteSdp(BARESIP_OFFER.replace("8 0 101", "9 101")), ["pcmu"]), Error, "codec");
  assertThrows(() => parseRemoteSdp("v=0\r\nm=video 1 RTP/AVP 96\r\n"), Error, "no audio");
});

Deno.test("sip framing: messages split by Content-Length across chunks; CRLFCRLF pings counted", () => {
  const body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
  const a = `INVITE sip:bob@pbx.example.net SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKa\r\n` +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
  const b = "SIP/2.0 200 OK\r\nl: 0\r\n\r\n";
  const bytes = new TextEncoder().encode(`\r\n\r\n${a}${b}\r\n\r\n`);
  const f = new SipStreamFramer();
  const got: string[] = [];
  let pings = 0;
  for (let i = 0; i < bytes.length; i += 7) {
    const r = f.push(bytes.subarray(i, i + 7));
    got.push(...r.messages);
    pings += r.pings;
  }
  assertEquals(got, [a, b]);
  assertEquals(pings, 2);
  assertThrows(
    () => new SipStreamFramer().push(new TextEncoder().encode("OPTIONS x SIP/2.0\r\n\r\n")),
    Error,
    "Content",
  );
  assertThrows(
    () => new SipStreamFramer().push(new TextEncoder().encode("SIP/2.0 200 OK\r\nContent-Length: 999999\r\n\r\n")),
    Error,
    "64 KiB",
  );
});

Deno.test("sip via: requests get sent-by ip:port and rport; responses untouched; topVia reads compact form", () => {
  const req =
    "REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.0.2;branch=z9hG4bK123\r\nCSeq: 1 REGISTER\r\n\r\n";
  const fixed = fixRequestVia(req, "10.77.0.2:40123", "UDP");
  assertMatch(fixed, /^Via: SIP\/2\.0\/UDP 10\.77\.0\.2:40123;rport;branch=z9hG4bK123\r$/m);
  assertEquals(
    fixRequestVia("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=x\r\n\r\n", "b:1", "UDP").includes("b:1"),
    false,
  );
  assertEquals(topVia("SIP/2.0 100 Trying\r\nv: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKx;rport=1\r\n\r\n"), {
    transport: "TCP",
    sentBy: "[2001:db8::1]:5060",
    branch: "z9hG4bKx",
  });
});

Deno.test("sip dns: literal, A with port, SRV by priority then weight, fallback to A on 5060/5061", async () => {
  const calls: string[] = [];
  const zone: SipResolver = {
    srv: (n) => {
      calls.push(`SRV ${n}`);
      return Promise.resolve(
        n === "_sip._udp.pbx.example.net"
          ? [
            { name: "b.pbx.example.net", port: 5080, priority: 20, weight: 0 },
            { name: "a.pbx.example.net", port: 5070, priority: 10, weight: 5 },
          ]
          : [],
      );
    },
    a: (n) =>
      Promise.resolve(
        ({
          "a.pbx.example.net": ["192.0.2.1"],
          "b.pbx.example.net": ["192.0.2.2"],
          "plain.example.net": ["198.51.100.7"],
        } as Record<string, string[]>)[n] ?? [],
      ),
    aaaa: (n) => Promise.resolve(n === "plain.example.net" ? ["2001:db8::7"] : []),
  };
  assertEquals(await resolveSipHost({ host: "192.0.2.9", transport: "udp" }, zone), [
    { ip: "192.0.2.9", port: 5060, via: "literal" },
  ]);
  assertEquals(
    (await resolveSipHost({ host: "pbx.example.net", transport: "udp" }, zone)).map((h) => `${h.ip}:${h.port}`),
    [
      "192.0.2.1:5070",
      "192.0.2.2:5080",
    ],
  );
  calls.length = 0;
  const tls = await resolveSipHost({ host: "plain.example.net", transport: "tls" }, zone);
  assertEquals(calls, ["SRV _sips._tcp.plain.example.net"]);
  assertEquals(tls.map((h) => `${h.ip}:${h.port}`), ["198.51.100.7:5061", "2001:db8::7:5061"]);
  calls.length = 0;
  await resolveSipHost({ host: "plain.example.net", port: 5090, transport: "udp" }, zone);
  assertEquals(calls, [], "an explicit port skips SRV (RFC 3263 4.2)");
  await assertRejects(() => resolveSipHost({ host: "nx.example.net", transport: "udp" }, zone));
  // weighted order within a priority: weight 0 first only when drawn; with random 0.99 the heavy one is second
  const o = orderSrv([
    { name: "x", port: 1, priority: 1, weight: 10 },
    { name: "y", port: 2, priority: 1, weight: 90 },
  ], () => 0.05);
  assertEquals(o.map((r) => r.name), ["x", "y"]);
  assertEquals(splitHostPort("[2001:db8::1]:5062"), { host: "2001:db8::1", port: 5062 });
  assertEquals(splitHostPort("pbx.lan"), { host: "pbx.lan" });
  assertThrows(() => splitHostPort("pbx.lan:0"), Error, "port");
  assertEquals(
    localAddressFor("10.77.0.1", {
      lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", internal: true }],
      eth0: [{ address: "10.77.0.2", netmask: "255.255.255.0", family: "IPv4", internal: false }],
    }),
    "10.77.0.2",
  );
});

async function assertRejects(f: () => Promise<unknown>): Promise<void> {
  let threw = false;
  try {
    await f();
  } catch {
    threw = true;
  }
  assert(threw, "expected a rejection");
}
