/**
 * The fleet's sans-I/O parts without sockets: the record codec's validation (hostile and malformed records) and the
 * core state machine (apply, replay idempotence, exempt, expiry, own echo, unban, outbox order across disconnects
 * and restarts), and the `--fleet*` settings.
 */

import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import {
  coalesceCommands,
  decodeRecord,
  encodeRecord,
  FleetBatcher,
  type FleetCommand,
  FleetCore,
  type FleetRecord,
  MAX_RECORD_BYTES,
  type ReceivedEntry,
  recordKey,
  recordTarget,
} from "../../lib/ban/fleet/mod.ts";
import { parseCidr } from "../../lib/ban/net/addr.ts";
import { parseConfigText, resolveConfig } from "../../lib/ban/config.ts";

const NOW = Date.parse("2026-12-04T06:30:00.000Z");
const LIMITS = { maxPrefix4: 32, maxPrefix6: 128, maxAgeMs: 30 * 86_400_000, now: NOW };
const enc = new TextEncoder();

function rec(over: Partial<FleetRecord> = {}): FleetRecord {
  return {
    v: 1,
    op: "ban",
    addr: "203.0.113.7",
    family: 4,
    len: 32,
    at: NOW - 1000,
    until: NOW + 3_600_000,
    origin: "edge-1.example",
    reason: "10 failed REGISTER/INVITE within 10m (last: 404 REGISTER over udp)",
    ...over,
  };
}

function entry(seq: number, r: FleetRecord | Uint8Array, key?: string): ReceivedEntry {
  const value = r instanceof Uint8Array ? r : encodeRecord(r);
  const k = key ?? (r instanceof Uint8Array ? "v4.203.0.113.7" : recordKey(r.addr, r.family, r.len));
  return { seq, key: k, value, operation: "PUT", serverTime: NOW - 500 };
}

Deno.test("fleet records: keys of IPv4, IPv6 and prefixes", () => {
  assertEquals(recordKey("203.0.113.7", 4, 32), "v4.203.0.113.7");
  assertEquals(recordKey("2001:db8::7", 6, 128), "v6.2001_db8__7");
  assertEquals(recordKey("198.51.100.0", 4, 24), "v4.198.51.100.0=24");
  // only characters NATS KV keys allow
  for (const k of ["v6.2001_db8__7", "v4.198.51.100.0=24"]) assert(/^[-/=.\w]+$/.test(k), k);
});

Deno.test("fleet records: a valid ban and unban round-trip", () => {
  const r = rec();
  const d = decodeRecord(recordKey(r.addr, 4, 32), encodeRecord(r), LIMITS);
  assert(d.ok);
  assertEquals(d.record, r);
  const u = rec({ op: "unban", until: 0, addr: "2001:db8::7", family: 6, len: 128, reason: "manual unban on edge-2" });
  const du = decodeRecord("v6.2001_db8__7", encodeRecord(u), LIMITS);
  assert(du.ok, du.ok ? "" : du.error);
});

Deno.test("fleet records: hostile and malformed records are rejected with a reason, never thrown", () => {
  const key = "v4.203.0.113.7";
  const cases: [string, Uint8Array, string, string?][] = [
    ["empty", new Uint8Array(0), "empty"],
    ["not JSON", enc.encode("{ban 1.2.3.4"), "not UTF-8 JSON"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "not UTF-8 JSON"],
    ["array", enc.encode("[1,2]"), "not a JSON object"],
    ["oversize", enc.encode(JSON.stringify({ ...rec(), reason: "x".repeat(MAX_RECORD_BYTES) })), "bytes (limit"],
    ["extra field", enc.encode(JSON.stringify({ ...rec(), cmd: "rm -rf /" })), "fields"],
    ["missing field", enc.encode(JSON.stringify({ ...rec(), reason: undefined })), "fields"],
    ["version 2", encodeRecord({ ...rec(), v: 2 as 1 }), "version"],
    ["op", encodeRecord({ ...rec(), op: "drop" as "ban" }), "op is not"],
    ["non-canonical v6", encodeRecord(rec({ addr: "2001:0db8:0:0::7", family: 6, len: 128 })), "canonical"],
    ["bracketed", encodeRecord(rec({ addr: "[2001:db8::7]", family: 6, len: 128 })), "canonical"],
    ["padded", encodeRecord(rec({ addr: " 203.0.113.7" })), "canonical"],
    ["name", encodeRecord(rec({ addr: "evil.example.org" })), "canonical"],
    ["family", encodeRecord(rec({ family: 6, len: 128 })), "is not IPv6"],
    ["len 33", encodeRecord(rec({ len: 33 })), "not a prefix length"],
    ["len 1.5", encodeRecord(rec({ len: 1.5 })), "not a prefix length"],
    [
      "the whole internet",
      encodeRecord(rec({ addr: "0.0.0.0", len: 0 })),
      "wider than the allowed /32",
      "v4.0.0.0.0=0",
    ],
    ["a /64", encodeRecord(rec({ addr: "2001:db8::", family: 6, len: 64 })), "wider than", "v6.2001_db8__=64"],
    [
      "a /24 under a /32 key",
      encodeRecord(rec({ addr: "198.51.100.0", len: 24 })),
      "does not match",
      "v4.198.51.100.0",
    ],
    [
      "the address with /len",
      encodeRecord(rec({ addr: "198.51.100.0/24", len: 32 })),
      "canonical",
      "v4.198.51.100.0/24",
    ],
    ["origin with spaces", encodeRecord(rec({ origin: "edge 1" })), "origin"],
    ["origin too long", encodeRecord(rec({ origin: "a".repeat(65) })), "origin"],
    ["reason with newline", encodeRecord(rec({ reason: "x\nlevel=info forged" })), "printable"],
    ["at as string", enc.encode(JSON.stringify({ ...rec(), at: "now" })), "at is not"],
    ["negative until", encodeRecord(rec({ until: -5 })), "until is not"],
    ["huge until", encodeRecord(rec({ until: 2 ** 60 })), "until is not"],
    ["from the future", encodeRecord(rec({ at: NOW + 3_600_000, until: NOW + 7_200_000 })), "in the future"],
    ["ancient", encodeRecord(rec({ at: NOW - 40 * 86_400_000, until: NOW + 1000 })), "older than"],
    ["until before at", encodeRecord(rec({ until: NOW - 2000 })), "until is not after at"],
    ["a year", encodeRecord(rec({ until: NOW + 365 * 86_400_000 })), "longer than the limit"],
    ["unban with until", encodeRecord(rec({ op: "unban" })), "until must be 0"],
    ["key of another address", encodeRecord(rec({ addr: "198.51.100.9" })), "does not match"],
  ];
  for (const [what, bytes, want, k] of cases) {
    const d = decodeRecord(k ?? key, bytes, LIMITS);
    assert(!d.ok, `${what} was accepted`);
    assert(d.error.includes(want), `${what}: '${d.error}' should mention '${want}'`);
    // only a well-formed ban that is too wide for this host is a policy skip; the rest are malformed
    assertEquals(d.tooWide === true, want.startsWith("wider"), what);
  }
  // a wider prefix is fine when configured, but host bits must be clear
  const wide = { ...LIMITS, maxPrefix4: 24 };
  assert(decodeRecord("v4.198.51.100.0=24", encodeRecord(rec({ addr: "198.51.100.0", len: 24 })), wide).ok);
  const hb = decodeRecord("v4.198.51.100.1=24", encodeRecord(rec({ addr: "198.51.100.1", len: 24 })), wide);
  assert(!hb.ok && hb.error.includes("host bits"));
});

function core(extra: Partial<ConstructorParameters<typeof FleetCore>[0]> = {}): FleetCore {
  return new FleetCore({ node: "edge-2", exempt: [parseCidr("192.0.2.0/24"), parseCidr("2001:db8:1::/48")], ...extra });
}

Deno.test("fleet core: applies a remote ban once; replayed sequences and the same ban again are no-ops", () => {
  const c = core();
  const r = rec();
  const out = c.receive(entry(5, r), NOW);
  assertEquals(out.length, 1);
  assert(out[0].kind === "ban");
  assertEquals(out[0].record.until, r.until);
  assertEquals(out[0].record.origin, "edge-1.example");
  assertEquals(c.lastSeq, 5);
  // the watch resumed from an older sequence: nothing happens twice
  assertEquals(c.receive(entry(5, r), NOW), []);
  assertEquals(c.receive(entry(3, r), NOW), []);
  // the same ban under a new sequence (republished) is not applied twice either
  assertEquals(c.receive(entry(6, r), NOW), []);
  // a longer ban for the same address is
  const longer = c.receive(entry(7, rec({ until: r.until + 60_000 })), NOW);
  assertEquals(longer.map((x) => x.kind), ["ban"]);
  const s = c.stats();
  assertEquals([s.applied, s.duplicates, s.lastSeq, s.lastLatencyMs], [2, 3, 7, 500]);
  assertEquals(s.originSkewMs["edge-1.example"], 500);
});

Deno.test("fleet core: exempt here, expired, wider-than-host and malformed records are not applied", () => {
  const c = core();
  const ex = c.receive(entry(1, rec({ addr: "192.0.2.44" })), NOW);
  assertEquals(ex.length, 1);
  assert(ex[0].kind === "log" && ex[0].msg.includes("exempt here"));
  assertEquals(c.receive(entry(2, rec({ addr: "2001:db8:1::9", family: 6, len: 128 })), NOW)[0].kind, "log");
  assertEquals(c.receive(entry(3, rec({ at: NOW - 7_200_000, until: NOW - 1 })), NOW), []);
  const bad = c.receive(entry(4, enc.encode('{"v":1}')), NOW);
  assert(bad[0].kind === "log" && bad[0].level === "warn");
  const del = c.receive({ ...entry(5, rec()), operation: "DEL" }, NOW);
  assert(del[0].kind === "log" && del[0].level === "warn");
  const s = c.stats();
  assertEquals([s.exempt, s.expired, s.rejected, s.applied, s.lastSeq], [2, 1, 2, 0, 5]);
});

Deno.test("fleet core: networks round-trip as network + prefix; --fleet-max-prefix, exempt overlap and unban", () => {
  // the origin: an imported network is the target text `addr/len`, as the daemon and the firewall write it
  const origin = core({ node: "edge-1" });
  const r = origin.localBan({ address: "198.51.100.0/24", family: 4, until: NOW + 60_000, reason: "DROP", now: NOW });
  assertEquals([r.addr, r.len, r.family], ["198.51.100.0", 24, 4]);
  const [out] = origin.takeOutbox();
  assertEquals(out.key, "v4.198.51.100.0=24");
  assertEquals(recordKey(r.addr, r.family, r.len), out.key);
  const r6 = origin.localBan({ address: "2001:db8:77::/48", family: 6, until: NOW + 60_000, reason: "x", now: NOW });
  assertEquals([r6.addr, r6.len], ["2001:db8:77::", 48]);
  assertEquals(recordTarget(r6), "2001:db8:77::/48");
  assertEquals(recordTarget(rec()), "203.0.113.7");
  // a receiver whose --fleet-max-prefix allows /24 (and /48) applies them as networks
  const wide = core({ maxPrefix4: 24, maxPrefix6: 48 });
  const got = wide.receive(entry(1, r, out.key), NOW);
  assertEquals(got.map((c) => c.kind), ["ban"]);
  assert(got[0].kind === "ban");
  assertEquals(recordTarget(got[0].record), "198.51.100.0/24");
  assertEquals(wide.receive(entry(2, r6), NOW).map((c) => c.kind), ["ban"]);
  assertEquals(wide.receive(entry(3, r), NOW), [], "the same network twice is one element");
  // the default receiver (/32, /128) does not apply them: a policy skip, logged, not a rejected record
  const narrow = core();
  const skip = narrow.receive(entry(1, r, out.key), NOW);
  assert(skip[0].kind === "log" && skip[0].level === "info" && skip[0].msg.includes("wider than --fleet-max-prefix"));
  assertEquals([narrow.stats().tooWide, narrow.stats().rejected, narrow.stats().applied], [1, 0, 0]);
  // nor does a /16 on the /24 receiver
  const r16 = rec({ addr: "198.51.0.0", len: 16 });
  assertEquals(wide.receive(entry(4, r16), NOW)[0].kind, "log");
  // a network overlapping this host's exempt list (192.0.2.0/24) is not applied, wider or narrower than it
  for (const [addr, len] of [["192.0.0.0", 22], ["192.0.2.128", 25]] as const) {
    const c = core({ maxPrefix4: 16 });
    const ex = c.receive(entry(1, rec({ addr, len })), NOW);
    assert(ex[0].kind === "log" && ex[0].msg.includes("exempt here"), `${addr}/${len}`);
    assertEquals(ex[0].fields.exempt, "192.0.2.0/24");
  }
  // an unban of the network (`ban unban 198.51.100.0/24` on the origin) lifts it
  const u = origin.localUnban({
    address: "198.51.100.0/24",
    family: 4,
    reason: "manual unban on edge-1",
    now: NOW + 1,
  });
  assertEquals([u.op, u.addr, u.len], ["unban", "198.51.100.0", 24]);
  const un = wide.receive(entry(5, u), NOW + 2);
  assertEquals(un.map((c) => c.kind), ["unban"]);
  assert(un[0].kind === "unban");
  assertEquals(recordTarget(un[0].record), "198.51.100.0/24");
  // an unban is not limited by the prefix (it can only lift what this host has): a no-op on the narrow host
  assertEquals(narrow.receive(entry(2, u), NOW + 2), []);
  assertEquals(narrow.stats().rejected, 0);
  // a network ban here ended on expiry is forgotten (the same ban again applies again)
  wide.receive(entry(6, rec({ addr: "198.51.100.0", len: 24, until: NOW + 90_000 })), NOW + 3);
  wide.ended("198.51.100.0/24", 4);
  assertEquals(wide.receive(entry(7, rec({ addr: "198.51.100.0", len: 24, until: NOW + 90_000 })), NOW + 4).length, 1);
  // a network restored from state is known: its fleet copy is not applied twice
  const re = core({ maxPrefix4: 24 });
  re.known({ address: "198.51.100.0/24", family: 4, expiresAt: NOW + 60_000, origin: "edge-1", reason: "DROP" });
  assertEquals(re.receive(entry(9, r, out.key), NOW), []);
});

Deno.test("fleet core: own bans echoed back are not re-applied; an unban from anywhere lifts a ban", () => {
  const c = core();
  const mine = c.localBan({ address: "203.0.113.9", family: 4, until: NOW + 60_000, reason: "10 failed", now: NOW });
  assertEquals(mine.origin, "edge-2");
  const out = c.takeOutbox();
  assertEquals(out.map((o) => o.key), ["v4.203.0.113.9"]);
  c.published(out[0].key, out[0].record);
  assertEquals(c.receive(entry(10, mine), NOW + 5), []);
  const un = c.receive(entry(11, rec({ op: "unban", until: 0, addr: "203.0.113.9", origin: "edge-3" })), NOW + 9);
  assertEquals(un.map((x) => x.kind), ["unban"]);
  // an unban for something not banned here: nothing to do
  assertEquals(c.receive(entry(12, rec({ op: "unban", until: 0, addr: "203.0.113.10" })), NOW + 9), []);
  // after the unban a new ban of the same address applies again
  assertEquals(c.receive(entry(13, rec({ addr: "203.0.113.9" })), NOW + 10).map((x) => x.kind), ["ban"]);
});

Deno.test("fleet core: outbox keeps order and one record per key in flight; survives failures and a restart", () => {
  const c = core();
  for (let i = 1; i <= 5; i++) {
    c.localBan({ address: `198.51.100.${i}`, family: 4, until: NOW + 60_000, reason: "r", now: NOW + i });
  }
  const first = c.takeOutbox();
  assertEquals(first.map((o) => o.record.addr), [1, 2, 3, 4, 5].map((i) => `198.51.100.${i}`));
  assertEquals(c.takeOutbox(), [], "nothing twice in flight");
  // the server went away: two acknowledged, three failed
  c.published(first[0].key, first[0].record);
  c.published(first[1].key, first[1].record);
  for (const o of first.slice(2)) c.publishFailed(o.key, o.record);
  // meanwhile an unban of one of the failed ones: only the latest record per key is published
  c.localUnban({ address: "198.51.100.4", family: 4, reason: "manual unban on edge-2", now: NOW + 10 });
  assertEquals(c.stats().outbox, 3);
  // restart: the outbox comes from the state file
  const c2 = core({ lastSeq: 42, outbox: c.pendingRecords() });
  assertEquals(c2.lastSeq, 42);
  const again = c2.takeOutbox();
  assertEquals(again.map((o) => `${o.record.op} ${o.record.addr}`), [
    "ban 198.51.100.3",
    "unban 198.51.100.4",
    "ban 198.51.100.5",
  ]);
  // a record that was superseded while in flight stays out of the outbox only when its successor is published
  const c3 = core();
  const a = c3.localBan({ address: "198.51.100.7", family: 4, until: NOW + 1000, reason: "r", now: NOW });
  const t = c3.takeOutbox();
  c3.localBan({ address: "198.51.100.7", family: 4, until: NOW + 9000, reason: "r", now: NOW + 1 });
  assertEquals(c3.takeOutbox(), [], "key in flight");
  c3.published(t[0].key, a);
  const next = c3.takeOutbox();
  assertEquals(next.map((o) => o.record.until), [NOW + 9000]);
  // fractional times (capture timestamps) go out as whole ms
  const frac = core().localBan({
    address: "198.51.100.9",
    family: 4,
    until: NOW + 60_000.25,
    reason: "",
    now: NOW + 0.4,
  });
  assertEquals([frac.at, frac.until], [NOW, NOW + 60_001]);
  assert(decodeRecord("v4.198.51.100.9", encodeRecord(frac), LIMITS).ok);
  // a local ban is cut to the bucket's age limit (it would vanish from the bucket anyway)
  const perm = core({ maxAgeMs: 86_400_000 }).localBan({
    address: "198.51.100.8",
    family: 4,
    until: 0,
    reason: "",
    now: NOW,
  });
  assert(perm.until > NOW && perm.until <= NOW + 86_400_000);
});

Deno.test("fleet batching: a burst becomes few batches, a single ban goes at once; order and sequences kept", () => {
  const c = core();
  const b = new FleetBatcher({ maxBatch: 4, maxWaitMs: 5 });
  const feed = (seq: number, r: FleetRecord | Uint8Array, pending: number | undefined, t: number) => {
    b.add(c.receive({ ...entry(seq, r), pending }, t), pending, c.lastSeq, t);
  };
  // a single ban with nothing pending behind it is due at once
  feed(1, rec({ addr: "203.0.113.1" }), 0, NOW);
  assert(b.due(NOW));
  assertEquals(b.take().seq, 1);
  assertEquals(b.size, 0);
  assertEquals(b.idleSeq(), 1);
  // a burst: the watch says more is pending, so the batch waits for it ...
  feed(2, rec({ addr: "203.0.113.2" }), 3, NOW);
  feed(3, rec({ addr: "203.0.113.3" }), 2, NOW + 1);
  assert(!b.due(NOW + 1));
  assertEquals(b.deadline(), NOW + 5);
  assertEquals(b.idleSeq(), undefined, "commands waiting: sequence 3 is not applied yet");
  // ... a rejected record and an exempt one in between produce no firewall command but move the sequence
  feed(4, enc.encode("{}"), 1, NOW + 1);
  feed(5, rec({ addr: "192.0.2.9" }), 0, NOW + 2);
  // ... until nothing is pending: one batch, in stream order, applying it reaches sequence 5
  assert(b.due(NOW + 2));
  const t = b.take();
  assertEquals(t.cmds.map((x) => x.kind === "ban" ? x.record.addr : x.kind), ["203.0.113.2", "203.0.113.3"]);
  assertEquals(t.seq, 5);
  // a full batch is due even with more pending; what stays is cut at its first sequence
  for (let i = 0; i < 6; i++) feed(10 + i, rec({ addr: `198.51.100.${i + 1}` }), 100, NOW + 3);
  assert(b.due(NOW + 3));
  const full = b.take();
  assertEquals([full.cmds.length, full.seq, b.size], [4, 13, 2]);
  // the rest waits at most maxWaitMs from its first command
  assert(!b.due(NOW + 4));
  assert(b.due(NOW + 8));
  assertEquals(b.take().seq, 15);
  // an unknown pending count is taken as nothing pending
  feed(16, rec({ addr: "203.0.113.16" }), undefined, NOW + 9);
  assert(b.due(NOW + 9));
});

Deno.test("fleet batching: one transaction with the end state of applying the commands one by one", () => {
  const ban = (addr: string, seq: number, over: Partial<FleetRecord> = {}): FleetCommand => ({
    kind: "ban",
    record: rec({ addr, ...over }),
    seq,
  });
  const unban = (addr: string, seq: number, over: Partial<FleetRecord> = {}): FleetCommand => ({
    kind: "unban",
    record: rec({ addr, op: "unban", until: 0, ...over }),
    seq,
  });
  const net = { addr: "198.51.100.0", len: 24 };
  const out = coalesceCommands([
    ban("203.0.113.1", 1),
    ban("203.0.113.2", 2),
    { kind: "log", level: "info", msg: "x", fields: {} },
    unban("203.0.113.1", 3), // banned then unbanned: only the unban
    ban("203.0.113.2", 4, { until: NOW + 7_200_000 }), // a longer ban of the same: the latest
    unban("203.0.113.3", 5),
    ban("203.0.113.3", 6), // unbanned then banned: lift the old element, add the new one
    ban(net.addr, 7, net),
    ban("198.51.100.0", 8), // the /32 inside the /24 is another key
  ]);
  const show = (x: { record: FleetRecord; seq: number }) => `${x.record.op} ${recordTarget(x.record)} @${x.seq}`;
  assertEquals(out.unbans.map(show), ["unban 203.0.113.1 @3", "unban 203.0.113.3 @6"]);
  assertEquals(out.bans.map(show), [
    "ban 203.0.113.2 @4",
    "ban 203.0.113.3 @6",
    "ban 198.51.100.0/24 @7",
    "ban 198.51.100.0 @8",
  ]);
  assertEquals(out.bans[0].record.until, NOW + 7_200_000);
  // replaying it in the order unbans-then-bans against a set gives what one-by-one gives
  const serial = new Map<string, number>(), batched = new Map<string, number>();
  const cmds = [ban("a", 1), unban("a", 2), ban("a", 3, { until: NOW + 5 }), ban("b", 4), unban("b", 5)];
  for (const x of cmds) {
    if (x.kind === "ban") serial.set(x.record.addr, x.record.until);
    else if (x.kind === "unban") serial.delete(x.record.addr);
  }
  const cb = coalesceCommands(cmds);
  for (const u of cb.unbans) batched.delete(u.record.addr);
  for (const x of cb.bans) batched.set(x.record.addr, x.record.until);
  assertEquals([...batched], [...serial]);
});

Deno.test("fleet settings: flags and TOML keys, validation, nothing without --fleet", () => {
  assertEquals(resolveConfig({}, {}).fleet, undefined);
  const f = resolveConfig({}, { fleet: ["nats://10.1.0.5:4222", "tls://[fd00::5]"], fleetNode: "edge-1" }).fleet!;
  assertEquals(f.servers, ["nats://10.1.0.5:4222", "tls://[fd00::5]:4222"]);
  assertEquals([f.node, f.bucket, f.maxPrefix4, f.maxPrefix6, f.replicas], ["edge-1", "pbxkit_bans", 32, 128, 1]);
  const toml = parseConfigText(
    'fleet = ["nats://n1:4222", "nats://n2:4222"]\nfleet_node = "pbx-b"\nfleet_user = "ban"\n' +
      'fleet_password = "pw"\nfleet_max_prefix = "/24,/64"\nfleet_replicas = 3\nfleet_bucket = "bans_eu"\n',
  );
  const t = resolveConfig(toml, { fleetNode: "pbx-c" }).fleet!;
  assertEquals([t.node, t.user, t.password, t.maxPrefix4, t.maxPrefix6, t.replicas, t.bucket], [
    "pbx-c",
    "ban",
    "pw",
    24,
    64,
    3,
    "bans_eu",
  ]);
  for (
    const [raw, msg] of [
      [{ fleet: ["nats://user:pw@n1:4222"] }, "not in the URL"],
      [{ fleet: ["http://n1:4222"] }, "is not nats://"],
      [{ fleet: ["nats://n1:4222"], fleetNode: "bad node" }, "--fleet-node"],
      [{ fleet: ["nats://n1:4222"], fleetUser: "u" }, "go together"],
      [{ fleet: ["nats://n1:4222"], fleetCreds: "/x", fleetUser: "u", fleetPassword: "p" }, "exclusive"],
      [{ fleet: ["nats://n1:4222"], fleetMaxPrefix: "0" }, "--fleet-max-prefix"],
      [{ fleet: ["nats://n1:4222"], fleetReplicas: "2" }, "1, 3 or 5"],
      [{ fleet: ["nats://n1:4222"], fleetBucket: "a.b" }, "--fleet-bucket"],
      [{ fleetNode: "x" }, "needs --fleet"],
    ] as const
  ) {
    assertThrows(() => resolveConfig({}, raw as never), Error, msg);
  }
});

Deno.test("fleet core: a ban command carries its store and receive times through coalescing (latency stages)", () => {
  const c = core();
  const cmds = c.receive(entry(1, rec({ addr: "203.0.113.50" })), NOW + 0.25);
  assertEquals(cmds.length, 1);
  const cmd = cmds[0];
  assert(cmd.kind === "ban");
  assertEquals([cmd.stored, cmd.received], [NOW - 500, NOW + 0.25]);
  const b = coalesceCommands(cmds).bans[0];
  assertEquals([b.seq, b.stored, b.received], [1, NOW - 500, NOW + 0.25]);
});
