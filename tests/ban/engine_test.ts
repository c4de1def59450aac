import { assert, assertEquals } from "../_util/assert.ts";
import { BanEngine } from "../../lib/ban/engine.ts";
import { parseCidr } from "../../lib/ban/net/addr.ts";
import { craftFragments, type CraftOptions, craftPacket, linkTypeOf, sipResponse } from "../../lib/ban/net/craft.ts";
import { findContentLength, newSipInfo, parseSipStart, SipKind } from "../../lib/ban/sip_parse.ts";

const PBX = "10.1.0.1", PBX6 = "fd00:1::1";
const enc = new TextEncoder();

function engine(extra: ConstructorParameters<typeof BanEngine>[0] = {}): BanEngine {
  return new BanEngine({
    maxFailures: 10,
    findTimeMs: 600_000,
    banTimeMs: 3_600_000,
    pbxAddrs: [parseCidr(PBX), parseCidr(PBX6)],
    pbxPorts: [5060],
    ...extra,
  });
}

function feed(e: BanEngine, o: Partial<CraftOptions> & { dst: string }, payload: string, ts: number): void {
  const opts: CraftOptions = { src: o.dst.includes(":") ? PBX6 : PBX, sport: 5060, dport: 5070, ...o };
  const f = craftPacket(opts, payload);
  e.packet(linkTypeOf(opts.link), f, f.length, ts);
}

Deno.test("sip_parse: status, CSeq method, compact and folded forms, Content-Length", () => {
  const info = newSipInfo();
  const r = enc.encode(sipResponse(403, "REGISTER"));
  assertEquals(parseSipStart(r, 0, r.length, info), SipKind.Response);
  assertEquals([info.status, info.method], [403, "REGISTER"]);
  const folded = enc.encode("SIP/2.0 404 Not Found\r\ni: x\r\ncseq  :\r\n   7\r\n\tinvite\r\nl: 0\r\n\r\n");
  assertEquals(parseSipStart(folded, 0, folded.length, info), SipKind.Response);
  assertEquals([info.status, info.method], [404, "INVITE"]);
  const req = enc.encode("REGISTER sip:pbx SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n");
  assertEquals(parseSipStart(req, 0, req.length, info), SipKind.Request);
  const junk = enc.encode("SIP/2.0 9x9 What\r\n\r\n");
  assertEquals(parseSipStart(junk, 0, junk.length, info), SipKind.Malformed);
  const cl = enc.encode("SIP/2.0 200 OK\r\nCall-ID: a\r\nl: 42\r\n\r\n");
  assertEquals(findContentLength(cl, 0, cl.length), 42);
  const cl2 = enc.encode("SIP/2.0 200 OK\r\nCONTENT-LENGTH : 7\r\n\r\n");
  assertEquals(findContentLength(cl2, 0, cl2.length), 7);
  const nocl = enc.encode("SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n");
  assertEquals(findContentLength(nocl, 0, nocl.length), -1);
});

Deno.test("engine: bans at exactly the threshold, resets on 2xx, ignores OPTIONS", () => {
  const e = engine();
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 9; i++) feed(e, { dst: "10.1.0.66" }, sipResponse(401, "REGISTER"), t0 + i);
  assertEquals(e.takeVerdicts().length, 0);
  assertEquals(e.failuresOf("10.1.0.66"), 9);
  for (let i = 0; i < 20; i++) feed(e, { dst: "10.1.0.66" }, sipResponse(404, "OPTIONS"), t0 + 10 + i);
  assertEquals(e.takeVerdicts().length, 0);
  feed(e, { dst: "10.1.0.66" }, sipResponse(403, "INVITE"), t0 + 50);
  const v = e.takeVerdicts();
  assertEquals(v.length, 1);
  assertEquals(v[0].address, "10.1.0.66");
  assertEquals(v[0].failures, 10);
  assertEquals(v[0].first, t0);
  assertEquals(v[0].last, t0 + 50);
  assertEquals(v[0].expiresAt, t0 + 50 + 3_600_000);
  assert(v[0].reason.includes("403 INVITE"), v[0].reason);
  // no duplicate verdict while banned
  feed(e, { dst: "10.1.0.66" }, sipResponse(403, "REGISTER"), t0 + 60);
  assertEquals(e.takeVerdicts().length, 0);
  assertEquals(e.stats.failuresWhileBanned, 1);

  // friend: mistypes, then registers fine -> count reset
  for (let i = 0; i < 9; i++) feed(e, { dst: "10.1.0.7" }, sipResponse(401, "REGISTER"), t0 + i);
  feed(e, { dst: "10.1.0.7" }, sipResponse(200, "REGISTER"), t0 + 100);
  assertEquals(e.failuresOf("10.1.0.7"), 0);
  for (let i = 0; i < 9; i++) feed(e, { dst: "10.1.0.7" }, sipResponse(401, "REGISTER"), t0 + 200 + i);
  assertEquals(e.takeVerdicts().length, 0);
});

Deno.test("engine: find-time window, ban expiry, exempt, PBX address and port filter", () => {
  const e = engine({ findTimeMs: 1000, banTimeMs: 5000, exempt: [parseCidr("10.1.0.200/29")] });
  const t0 = 1_000_000;
  for (let i = 0; i < 20; i++) feed(e, { dst: "10.1.0.50" }, sipResponse(404, "REGISTER"), t0 + i * 200);
  assertEquals(e.takeVerdicts().length, 0, "never 10 within 1 s");
  for (let i = 0; i < 30; i++) feed(e, { dst: "10.1.0.201" }, sipResponse(403, "REGISTER"), t0 + i);
  assertEquals(e.takeVerdicts().length, 0, "exempt");
  assertEquals(e.stats.exempt, 30);
  // a "scanner" sending responses from port 5060 of its own address: not the PBX
  for (let i = 0; i < 30; i++) {
    feed(e, { src: "10.1.0.99", dst: PBX, sport: 5060 }, sipResponse(403, "REGISTER"), t0 + i);
  }
  // the PBX's other port
  for (let i = 0; i < 30; i++) feed(e, { dst: "10.1.0.51", sport: 5080 }, sipResponse(403, "REGISTER"), t0 + i);
  assertEquals(e.takeVerdicts().length, 0);
  for (let i = 0; i < 10; i++) feed(e, { dst: "10.1.0.52" }, sipResponse(403, "REGISTER"), t0 + i);
  const [v] = e.takeVerdicts();
  assertEquals(v.expiresAt, t0 + 9 + 5000);
  assertEquals(e.expire(t0 + 1000).length, 0);
  const ended = e.expire(t0 + 9 + 5000);
  assertEquals(ended.map((x) => x.address), ["10.1.0.52"]);
  assertEquals(e.banOf("10.1.0.52"), undefined);
});

Deno.test("decoder: VLAN, SLL, SLL2, raw, IPv6, fragments and TCP reassembly all count", () => {
  const e = engine({ maxFailures: 3 });
  const t = 5_000_000;
  for (const [k, link] of (["vlan", "sll", "sll2", "raw"] as const).entries()) {
    const dst = `10.1.0.${110 + k}`;
    for (let i = 0; i < 3; i++) feed(e, { dst, link }, sipResponse(404, "REGISTER"), t + i);
  }
  for (let i = 0; i < 3; i++) feed(e, { dst: "fd00:1::bad" }, sipResponse(403, "INVITE"), t + i);
  // IPv4 fragments (big body), delivered out of order
  const big = sipResponse(403, "REGISTER", { body: "x".repeat(3000) });
  for (let i = 0; i < 3; i++) {
    const frags = craftFragments(
      { src: PBX, dst: "10.1.0.77", sport: 5060, dport: 5060, ipId: 100 + i, fragSize: 1480 },
      big,
    );
    for (const f of frags.reverse()) e.packet(1, f, f.length, t + i);
  }
  // IPv6 fragments
  for (let i = 0; i < 3; i++) {
    const frags = craftFragments(
      { src: PBX6, dst: "fd00:1::77", sport: 5060, dport: 5060, ipId: 200 + i, fragSize: 1232 },
      big,
    );
    for (const f of frags) e.packet(1, f, f.length, t + i);
  }
  // TCP: three messages, split weirdly across segments, with a retransmission
  const stream = enc.encode(
    sipResponse(401, "REGISTER", { body: "hello" }) + sipResponse(403, "REGISTER", { compact: true }) +
      "\r\n\r\n" + sipResponse(404, "INVITE"),
  );
  const cuts = [0, 10, 150, 151, stream.length - 5, stream.length];
  const seq0 = 0xfffffff0; // wraps
  const tcp = (from: number, to: number, flags = 0x18) =>
    craftPacket({
      src: PBX,
      dst: "10.1.0.88",
      sport: 5060,
      dport: 40000,
      transport: "tcp",
      seq: (seq0 + 1 + from) >>> 0,
      flags,
    }, stream.subarray(from, to));
  const syn = craftPacket(
    { src: PBX, dst: "10.1.0.88", sport: 5060, dport: 40000, transport: "tcp", seq: seq0, flags: 0x12 },
    "",
  );
  e.packet(1, syn, syn.length, t);
  const segs = [];
  for (let i = 0; i + 1 < cuts.length; i++) segs.push(tcp(cuts[i], cuts[i + 1]));
  // deliver 0,2,1 (out of order), retransmit 1, then the rest
  for (const k of [0, 2, 1, 1, 3, 4]) e.packet(1, segs[k], segs[k].length, t + 1);
  const banned = e.takeVerdicts().map((v) => v.address).sort();
  assertEquals(
    banned,
    ["10.1.0.110", "10.1.0.111", "10.1.0.112", "10.1.0.113", "10.1.0.77", "10.1.0.88", "fd00:1::77", "fd00:1::bad"]
      .sort(),
  );
  assertEquals(e.tcpStats.messages, 3);
  assert(e.fragStats.reassembled >= 6);
  assertEquals(e.decodeStats.malformed, 0);
});

Deno.test("decoder: a TCP segment cut by the snap length yields the messages before the cut, then resyncs", () => {
  const e = engine({ maxFailures: 1 });
  const two = sipResponse(403, "REGISTER") + sipResponse(404, "REGISTER", { body: "y".repeat(2000) });
  const base = { src: PBX, dst: "10.1.0.90", sport: 5060, dport: 41000, transport: "tcp" as const };
  const f = craftPacket({ ...base, seq: 100, flags: 0x02 }, "");
  e.packet(1, f, f.length, 1);
  const big = craftPacket({ ...base, seq: 101 }, two);
  e.packet(1, big, 14 + 20 + 20 + 400, 2); // cut inside the second message
  assertEquals(e.takeVerdicts().map((v) => v.address), ["10.1.0.90"]);
  assertEquals(e.decodeStats.tcpTruncated, 1);
  // the next segment starts a fresh message and is framed again
  const next = craftPacket(
    { ...base, dst: "10.1.0.90", seq: 101 + enc.encode(two).length },
    sipResponse(403, "INVITE"),
  );
  e.packet(1, next, next.length, 3);
  assertEquals(e.tcpStats.messages, 2);
});

Deno.test("engine: the host table is bounded (spoofed sources), bans are never evicted", () => {
  const e = engine({ maxHosts: 100, maxFailures: 2 });
  for (let i = 0; i < 2; i++) e.response("10.9.9.9", { family: 4, status: 403, method: "REGISTER", ts: 1000 + i });
  assertEquals(e.takeVerdicts().length, 1);
  for (let i = 0; i < 1000; i++) {
    e.response(`10.8.${i >> 8}.${i & 255}`, { family: 4, status: 404, method: "REGISTER", ts: 2000 + i });
  }
  assert(e.hostCount <= 100, `${e.hostCount}`);
  assert(e.stats.evictedHosts >= 900);
  assert(e.banOf("10.9.9.9") !== undefined, "the ban survived eviction");
});
