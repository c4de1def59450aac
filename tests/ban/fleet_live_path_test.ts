/**
 * The fleet's live path without sockets: the live message codec (chunking, hostile and malformed messages) and the
 * core's handling of live bans beside the KV watch (applied once whichever path comes first, the KV copy a
 * duplicate, exempt said once, an unban overtaken by a newer live ban, a late live copy of a lifted ban).
 */

import { assert, assertEquals } from "../_util/assert.ts";
import {
  encodeLive,
  encodeRecord,
  type FleetCommand,
  FleetCore,
  type FleetRecord,
  LIVE_MAX_RECORDS,
  type LiveMessage,
  parseLive,
  type ReceivedEntry,
  recordKey,
  recordText,
} from "../../lib/ban/fleet/mod.ts";
import { parseCidr } from "../../lib/ban/net/addr.ts";

const NOW = Date.parse("2026-12-04T21:10:00.000Z");
const enc = new TextEncoder();

function rec(addr: string, over: Partial<FleetRecord> = {}): FleetRecord {
  const family = addr.includes(":") ? 6 : 4;
  return {
    v: 1,
    op: "ban",
    addr,
    family,
    len: family === 4 ? 32 : 128,
    at: NOW - 1000,
    until: NOW + 3_600_000,
    origin: "pbx-fra1.example.net",
    reason: "12 failed REGISTER within 10m (last: 403 REGISTER over udp)",
    ...over,
  };
}

const keyed = (r: FleetRecord) => ({ key: recordKey(r.addr, r.family, r.len), record: r });

function kv(seq: number, r: FleetRecord): ReceivedEntry {
  return {
    seq,
    key: recordKey(r.addr, r.family, r.len),
    value: encodeRecord(r),
    operation: "PUT",
    serverTime: NOW - 400,
  };
}

function live(node: string, records: FleetRecord[], sentMs = NOW - 5): LiveMessage {
  const chunks = encodeLive(node, sentMs, records.map(keyed));
  assertEquals(chunks.length, 1);
  const p = parseLive(chunks[0]);
  assert(p.ok, "own message parses");
  return p.message;
}

const bans = (cmds: FleetCommand[]) => cmds.filter((c) => c.kind === "ban");

function core(): FleetCore {
  return new FleetCore({ node: "pbx-ams2", exempt: [parseCidr("192.0.2.0/24")] });
}

Deno.test("fleet live messages: chunks of at most LIVE_MAX_RECORDS bans, unbans left out, the KV record text as is", () => {
  const records: FleetRecord[] = [];
  for (let i = 0; i < 1200; i++) records.push(rec(`198.51.${i >> 8}.${i & 255}`));
  records.push(rec("2001:db8:4::17"));
  records.push(rec("203.0.113.9", { op: "unban", until: 0, reason: "manual unban on pbx-fra1" }));
  const chunks = encodeLive("pbx-fra1", NOW, records.map(keyed));
  assertEquals(chunks.length, 3);
  const parsed = chunks.map((c) => parseLive(c));
  const lens = parsed.map((p) => p.ok ? p.message.entries.length : -1);
  assertEquals(lens, [LIVE_MAX_RECORDS, LIVE_MAX_RECORDS, 201]);
  const all = parsed.flatMap((p) => p.ok ? p.message.entries : []);
  // every ban, in order, each line exactly what the KV stores under that key
  assertEquals(all.length, 1201);
  for (let i = 0; i < 1201; i++) {
    assertEquals(all[i].key, recordKey(records[i].addr, records[i].family, records[i].len));
    assertEquals(all[i].text, recordText(records[i]));
  }
  assertEquals(parsed[0].ok && [parsed[0].message.node, parsed[0].message.sentMs], ["pbx-fra1", NOW]);
  assertEquals(encodeLive("pbx-fra1", NOW, [keyed(records[1201])]), []);
});

Deno.test("fleet live messages: hostile and malformed messages are rejected with a reason, never thrown", () => {
  const head = `pbxkit-fleet-live 1 pbx-fra1 ${NOW}\n`;
  const line = `${recordKey("198.51.100.7", 4, 32)}\t${recordText(rec("198.51.100.7"))}\n`;
  const cases: [string, Uint8Array, string][] = [
    ["empty", new Uint8Array(0), "not a live message"],
    ["other magic", enc.encode(`hello 1 pbx ${NOW}\n${line}`), "not a live message"],
    ["version 2", enc.encode(`pbxkit-fleet-live 2 pbx ${NOW}\n${line}`), "not a live message"],
    ["bad node", enc.encode(`pbxkit-fleet-live 1 ../etc ${NOW}\n${line}`), "node"],
    ["bad time", enc.encode(`pbxkit-fleet-live 1 pbx 1e99\n${line}`), "time"],
    ["not UTF-8", new Uint8Array([...enc.encode(head), 0xff, 0xfe, 0x0a]), "UTF-8"],
    ["no tab", enc.encode(`${head}v4.198.51.100.7 {}\n`), "KEY<TAB>RECORD"],
    ["too many", enc.encode(head + line.repeat(LIVE_MAX_RECORDS + 1)), "records"],
    ["too large", new Uint8Array(2 << 20), "bytes"],
  ];
  for (const [what, bytes, want] of cases) {
    const p = parseLive(bytes);
    assert(!p.ok, `${what}: rejected`);
    assert(!p.ok && p.error.includes(want), `${what}: '${!p.ok && p.error}' names '${want}'`);
  }
});

Deno.test("fleet core, live path: applied once whichever path comes first; the KV copy is a duplicate and moves the sequence", () => {
  const c = core();
  const a = rec("198.51.100.7"), b = rec("2001:db8:4::17"), d = rec("203.0.113.50");
  // b came by the KV first (the live message was late): the live copy is then the duplicate
  assertEquals(bans(c.receive(kv(1, b), NOW)).length, 1);
  const cmds = c.receiveLive(live("pbx-fra1", [a, b, d]), NOW);
  assertEquals(bans(cmds).map((x) => x.kind === "ban" && [x.record.addr, x.live, x.seq, x.stored]), [
    ["198.51.100.7", true, 1, NOW - 5],
    ["203.0.113.50", true, 1, NOW - 5],
  ]);
  assertEquals(c.lastSeq, 1, "the live path never moves the KV sequence");
  assertEquals(c.receive(kv(2, a), NOW), []);
  assertEquals(c.receive(kv(3, d), NOW), []);
  assertEquals(c.lastSeq, 3);
  const s = c.stats();
  assertEquals([s.applied, s.live, s.liveApplied, s.duplicates, s.rejected], [3, 3, 2, 3, 0]);
  // a longer ban of the same address later (a re-ban) is applied again
  const again = rec("198.51.100.7", { at: NOW - 10, until: NOW + 7_200_000 });
  assertEquals(bans(c.receiveLive(live("pbx-fra1", [again]), NOW)).length, 1);
});

Deno.test("fleet core, live path: own messages, stale messages, hostile records and exempt addresses", () => {
  const c = core();
  assertEquals(c.receiveLive(live("pbx-ams2", [rec("198.51.100.7")]), NOW), [], "own message");
  assertEquals(c.receiveLive(live("pbx-fra1", [rec("198.51.100.7")], NOW - 61_000), NOW), [], "older than a minute");
  // one hostile record among good ones: the rest applied, one log line for the message
  const good = rec("198.51.100.8");
  const p = parseLive(enc.encode(
    `pbxkit-fleet-live 1 pbx-fra1 ${NOW}\n` +
      `${recordKey(good.addr, 4, 32)}\t${recordText(good)}\n` +
      `v4.10.0.0.0=8\t${recordText({ ...rec("10.0.0.0"), len: 8 })}\n` +
      `v4.198.51.100.9\t{"v":1,"op":"ban","addr":"198.51.100.9","evil":true}\n` +
      `v4.198.51.100.10\t${recordText(rec("198.51.100.11"))}\n`,
  ));
  assert(p.ok);
  const cmds = c.receiveLive(p.message, NOW);
  assertEquals(bans(cmds).map((x) => x.kind === "ban" && x.record.addr), ["198.51.100.8"]);
  const logs = cmds.filter((x) => x.kind === "log");
  assertEquals(logs.length, 1);
  assert(logs[0].kind === "log" && logs[0].fields.records === 2 && logs[0].fields.node === "pbx-fra1");
  // the network too wide here is counted (and said) when its KV copy comes, once
  assertEquals([c.stats().rejected, c.stats().tooWide], [2, 0]);
  // an exempt address: said once, by the path that brought it first
  const ex = rec("192.0.2.44");
  const first = c.receiveLive(live("pbx-fra1", [ex]), NOW);
  assertEquals(first.length, 1);
  assert(first[0].kind === "log" && first[0].msg === "fleet ban not applied: exempt here");
  assertEquals(c.receive(kv(1, ex), NOW), []);
  assertEquals(c.stats().exempt, 1);
});

Deno.test("fleet core, live path: an unban overtaken by a newer live ban does not lift it; a late live copy of a lifted ban is not applied", () => {
  const c = core();
  const t1 = rec("198.51.100.7", { at: NOW - 3000 });
  const lift = rec("198.51.100.7", { op: "unban", at: NOW - 2000, until: 0, origin: "pbx-lon3", reason: "manual" });
  const t3 = rec("198.51.100.7", { at: NOW - 1000, until: NOW + 7_200_000 });
  // the KV carries t1, lift, t3 in order; the live copy of t3 comes before the KV's lift
  assertEquals(bans(c.receive(kv(1, t1), NOW)).length, 1);
  assertEquals(bans(c.receiveLive(live("pbx-fra1", [t3]), NOW)).length, 1);
  assertEquals(c.receive(kv(2, lift), NOW), [], "the lift is older than the ban in force");
  assertEquals(c.receive(kv(3, t3), NOW), [], "t3's KV copy is a duplicate");
  // an unban that is newer than the live ban lifts it
  const lift2 = { ...lift, at: NOW - 500 };
  assertEquals(c.receive(kv(4, lift2), NOW).map((x) => x.kind), ["unban"]);
  // a live copy of a ban made before that lift, arriving late, is not applied again
  assertEquals(c.receiveLive(live("pbx-fra1", [t3]), NOW), []);
  // a ban made after the lift is
  const t5 = rec("198.51.100.7", { at: NOW - 100 });
  assertEquals(bans(c.receiveLive(live("pbx-fra1", [t5]), NOW)).length, 1);
});
