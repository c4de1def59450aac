import { assert, assertEquals } from "../_util/assert.ts";
import { BanEngine } from "../../lib/ban/engine.ts";
import { parseCidr } from "../../lib/ban/net/addr.ts";
import { craftFragments, type CraftOptions, craftPacket, linkTypeOf, sipResponse } from "../../lib/ban/net/craft.ts";
import { CaptureParser } from "../../lib/ban/pcap_file.ts";
import { PbxError } from "../../lib/common/mod.ts";
import { rng } from "./_lab.ts";

const LINKS = [0, 1, 12, 101, 108, 113, 228, 229, 276, 999];

function seeds(r: () => number): { frame: Uint8Array; lt: number }[] {
  const out: { frame: Uint8Array; lt: number }[] = [];
  const methods = ["REGISTER", "INVITE", "OPTIONS"];
  for (let i = 0; i < 40; i++) {
    const v6 = r() < 0.3;
    const link = (["ether", "vlan", "sll", "sll2", "raw"] as const)[Math.floor(r() * 5)];
    const o: CraftOptions = {
      src: v6 ? "fd00::1" : "10.0.0.1",
      dst: v6 ? `fd00::${(i % 7) + 2}` : `10.0.0.${(i % 7) + 2}`,
      sport: 5060,
      dport: 5060,
      link,
      transport: r() < 0.3 ? "tcp" : "udp",
      seq: Math.floor(r() * 2 ** 32),
      flags: r() < 0.1 ? 0x02 : 0x18,
      ipId: i,
    };
    const msg = sipResponse([200, 401, 403, 404, 500][Math.floor(r() * 5)], methods[Math.floor(r() * 3)], {
      compact: r() < 0.5,
      body: r() < 0.3 ? "v=0\r\n".repeat(Math.floor(r() * 400)) : "",
    });
    if (r() < 0.2 && o.transport === "udp") {
      for (const f of craftFragments({ ...o, fragSize: 8 * (1 + Math.floor(r() * 100)) }, msg)) {
        out.push({ frame: f, lt: linkTypeOf(link) });
      }
    } else out.push({ frame: craftPacket(o, msg), lt: linkTypeOf(link) });
  }
  return out;
}

function mutate(r: () => number, src: Uint8Array): Uint8Array {
  let f = src.slice();
  const n = 1 + Math.floor(r() * 6);
  for (let k = 0; k < n; k++) {
    const op = Math.floor(r() * 5);
    if (op === 0 && f.length) f[Math.floor(r() * f.length)] = Math.floor(r() * 256); // flip a byte
    else if (op === 1) f = f.slice(0, Math.floor(r() * f.length)); // truncate
    else if (op === 2 && f.length > 40) { // set a length field area to extremes
      const p = Math.floor(r() * Math.min(60, f.length - 2));
      f[p] = r() < 0.5 ? 0xff : 0;
      f[p + 1] = r() < 0.5 ? 0xff : 0;
    } else if (op === 3) { // append garbage
      const g = new Uint8Array(Math.floor(r() * 64));
      for (let i = 0; i < g.length; i++) g[i] = Math.floor(r() * 256);
      const nf = new Uint8Array(f.length + g.length);
      nf.set(f);
      nf.set(g, f.length);
      f = nf;
    } else if (op === 4 && f.length > 8) { // duplicate a slice in place
      const a = Math.floor(r() * f.length), b = Math.floor(r() * f.length);
      f.copyWithin(a, b, Math.min(f.length, b + 16));
    }
  }
  return f;
}

function checkInvariants(e: BanEngine): void {
  const d = e.decodeStats;
  const sum = d.nonIp + d.malformed + d.otherProto + d.notPbx + d.fragmentsHeld + d.udpPayloads + d.tcpSegments;
  assertEquals(sum, d.packets, `every packet has exactly one outcome ${JSON.stringify(d)}`);
  const s = e.stats;
  assertEquals(s.responses + s.requests + s.notSip, d.udpPayloads + e.tcpStats.messages, "every payload classified");
  assert(s.errorResponses <= s.responses);
  assert(s.failures + s.failuresWhileBanned <= s.errorResponses);
  assert(s.bans * e.maxFailures <= s.failures, "a ban needs max-failures failures");
  assertEquals(e.bans().length, s.bans - s.unbans);
}

Deno.test("fuzz: random and mutated packets never throw, counters stay consistent", () => {
  for (const seed of [1, 2, 3, 42, 1337]) {
    const r = rng(seed);
    const e = new BanEngine({ maxFailures: 3, pbxAddrs: [parseCidr("10.0.0.1"), parseCidr("fd00::1")] });
    const base = seeds(r);
    let ts = 1_700_000_000_000;
    for (let i = 0; i < 6000; i++) {
      ts += r() * 50;
      let frame: Uint8Array, lt: number;
      const pick = r();
      if (pick < 0.15) {
        frame = new Uint8Array(Math.floor(r() * 200));
        for (let k = 0; k < frame.length; k++) frame[k] = Math.floor(r() * 256);
        lt = LINKS[Math.floor(r() * LINKS.length)];
      } else {
        const b = base[Math.floor(r() * base.length)];
        frame = pick < 0.6 ? mutate(r, b.frame) : b.frame;
        lt = r() < 0.05 ? LINKS[Math.floor(r() * LINKS.length)] : b.lt;
      }
      // caplen may claim more or less than the buffer
      const caplen = r() < 0.05 ? Math.floor(r() * 2 * frame.length) : frame.length;
      e.packet(lt, frame, caplen, ts);
      e.takeVerdicts();
      if (i % 1000 === 0) e.expire(ts);
    }
    checkInvariants(e);
    assert(e.stats.bans > 0, `seed ${seed}: the valid packets still produce bans`);
    assert(e.decodeStats.malformed > 0, `seed ${seed}: mutations were seen as malformed`);
  }
});

Deno.test("fuzz: capture parser rejects garbage with E_PARSE only", () => {
  const r = rng(7);
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(Math.floor(r() * 300));
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(r() * 256);
    // sometimes start with a valid magic so the record parser is exercised
    const magic = [[0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x0a, 0x0d, 0x0d, 0x0a]][i % 4];
    if (magic && b.length >= 4) b.set(magic);
    const p = new CaptureParser(() => {});
    try {
      let o = 0;
      while (o < b.length) {
        const n = 1 + Math.floor(r() * 64);
        p.push(b.subarray(o, o + n));
        o += n;
      }
      p.finish();
    } catch (err) {
      assert(err instanceof PbxError, `unexpected ${(err as Error).stack}`);
      assertEquals(err.code, "E_PARSE");
    }
  }
});
