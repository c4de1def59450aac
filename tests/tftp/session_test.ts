// Sans-I/O tests of the TFTP sessions and packet codecs: no sockets, a simulated client and clock.
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { concat } from "../_util/mod.ts";
import {
  blockOf,
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
  ERR,
  fromNetascii,
  negotiate,
  OP,
  opcode,
  PacketError,
  parseError,
  parseOack,
  parseRequest,
  ReadSession,
  toNetascii,
  WriteSession,
} from "../../lib/tftp/mod.ts";

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A client that ACKs like RFC 7440 receivers: the last block of each window, or the last in-order block on a gap. */
function download(
  s: ReadSession,
  opts: {
    windowsize?: number;
    drop?: (absBlock: number, attempt: number) => boolean;
    dropAck?: (n: number) => boolean;
  } = {},
): { data: Uint8Array; timeouts: number } {
  const chunks: Uint8Array[] = [];
  let now = 0, timeouts = 0, expected = 1, inWindow = 0;
  const win = opts.windowsize ?? 1;
  const seen = new Map<number, number>();
  let queue = s.start(now).map((p) => p.slice());
  if (queue.length === 1 && opcode(queue[0]) === OP.OACK) queue = s.receive(encodeAck(0), now).map((p) => p.slice());
  for (let guard = 0; s.active && guard < 1_000_000; guard++) {
    const replies: Uint8Array[] = [];
    for (const p of queue) {
      assertEquals(opcode(p), OP.DATA);
      const w = blockOf(p);
      const abs = expected + ((w - (expected & 0xffff)) & 0xffff);
      const attempt = (seen.get(abs) ?? 0) + 1;
      seen.set(abs, attempt);
      if (opts.drop?.(abs, attempt)) continue;
      if (w === (expected & 0xffff)) {
        chunks.push(p.slice(4));
        expected++;
        const last = p.length - 4 < s.params.blksize;
        if (++inWindow >= win || last) {
          inWindow = 0;
          replies.push(encodeAck(w));
        }
      } else {
        inWindow = 0;
        replies.push(encodeAck((expected - 1) & 0xffff));
        break;
      }
    }
    queue = [];
    for (const r of replies) {
      if (opts.dropAck?.(blockOf(r))) continue;
      queue.push(...s.receive(r, now).map((p) => p.slice()));
      if (!s.active) break;
    }
    if (queue.length === 0 && s.active) {
      now = s.deadline;
      timeouts++;
      queue = s.timeout(now).map((p) => p.slice());
    }
  }
  return { data: concat(chunks), timeouts };
}

Deno.test("packets: request parsing, options lowercased, malformed requests rejected", () => {
  const r = parseRequest(encodeRequest(OP.RRQ, "os.bin", {
    mode: "OCTET",
    options: { BlkSize: "1428", tsize: "0", foo: "bar" },
  }));
  assertEquals(r.filename, "os.bin");
  assertEquals(r.mode, "octet");
  assertEquals([...r.options], [["blksize", "1428"], ["tsize", "0"], ["foo", "bar"]]);
  assertThrows(() => parseRequest(new Uint8Array([0, 1, 65, 0])), PacketError); // no mode
  assertThrows(() => parseRequest(new Uint8Array([0, 1, 65, 0, 111, 99])), PacketError); // not NUL-terminated
  assertThrows(() => parseRequest(encodeRequest(OP.RRQ, "x", { mode: "binary" })), PacketError);
  assertThrows(() => parseRequest(new Uint8Array([0, 9, 0])), PacketError);
  assertThrows(() => parseRequest(new Uint8Array([])), PacketError);
  const e = parseError(encodeError(ERR.NOT_FOUND, "nope"));
  assertEquals(e, { code: 1, message: "nope" });
});

Deno.test("negotiation: blksize clamped, windowsize capped, timeout and tsize answered, unknown ignored", () => {
  const n = negotiate(
    new Map([["blksize", "70000"], ["windowsize", "1000"], ["timeout", "3"], ["tsize", "0"], ["foo", "1"]]),
    12345,
    { maxWindowsize: 16 },
  );
  assertEquals(n.blksize, 65464);
  assertEquals(n.windowsize, 16);
  assertEquals(n.timeoutMs, 3000);
  assertEquals([...n.oack], [["blksize", "65464"], ["windowsize", "16"], ["timeout", "3"], ["tsize", "12345"]]);
  // invalid values are left out (RFC 2347: the server just does not acknowledge them)
  const bad = negotiate(new Map([["blksize", "4"], ["timeout", "0"], ["windowsize", "x"]]), 1);
  assertEquals(bad.oack.size, 0);
  assertEquals(bad.blksize, 512);
});

Deno.test("read: lockstep 512-byte blocks, exact multiple sends a final empty block", () => {
  for (const size of [0, 1, 511, 512, 513, 1024, 5000]) {
    const data = bytes(size);
    const s = new ReadSession(data, new Map());
    const { data: got, timeouts } = download(s);
    assertEquals(s.state, "done", `size ${size}`);
    assertEquals(got, data);
    assertEquals(timeouts, 0);
  }
});

Deno.test("read: OACK first, then blksize/windowsize transfer; tsize reports the size", () => {
  const data = bytes(100_000);
  const s = new ReadSession(data, new Map([["blksize", "1428"], ["windowsize", "8"], ["tsize", "0"]]));
  const first = s.start(0);
  assertEquals(first.length, 1);
  assertEquals(opcode(first[0]), OP.OACK);
  assertEquals(parseOack(first[0]).get("tsize"), "100000");
  // A DATA-ACK for anything but 0 while waiting for the OACK's ACK is ignored.
  assertEquals(s.receive(encodeAck(3), 0), []);
  const w = s.receive(encodeAck(0), 0);
  assertEquals(w.length, 8);
  assertEquals(w.map((p) => blockOf(p)), [1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals(w[0].length, 4 + 1428);
});

Deno.test("read: window with losses is retransmitted from the first missing block (RFC 7440)", () => {
  const data = bytes(300_000);
  const s = new ReadSession(data, new Map([["blksize", "1000"], ["windowsize", "8"]]));
  const lost = new Set([3, 17, 18, 64, 300]);
  const r = download(s, { windowsize: 8, drop: (b, attempt) => attempt === 1 && lost.has(b) });
  assertEquals(s.state, "done");
  assertEquals(r.data, data);
  assert(s.stats.retransmits >= lost.size, `retransmits ${s.stats.retransmits}`);
});

Deno.test("read: a lost ACK is recovered by the retransmission timer; duplicate ACKs are ignored", () => {
  const data = bytes(10_000);
  const s = new ReadSession(data, new Map());
  let dropped = 0;
  const r = download(s, { dropAck: (n) => n === 5 && dropped++ === 0 });
  assertEquals(r.data, data);
  assertEquals(r.timeouts, 1);
  // Sorcerer's Apprentice: a duplicate ACK does not trigger a resend.
  const s2 = new ReadSession(data, new Map());
  s2.start(0);
  assertEquals(s2.receive(encodeAck(1), 0).length, 1);
  assertEquals(s2.receive(encodeAck(1), 0), []);
  assertEquals(s2.receive(encodeAck(9), 0), [], "ACK for an unsent block ignored");
});

Deno.test("read: block numbers roll over past 65535", () => {
  const data = bytes(70_000 * 8 + 3);
  const s = new ReadSession(data, new Map([["blksize", "8"], ["windowsize", "4"]]));
  const r = download(s, { windowsize: 4 });
  assertEquals(s.state, "done");
  assertEquals(r.data.length, data.length);
  assertEquals(r.data, data);
});

Deno.test("read: gives up after the retries; an ERROR or a garbage packet ends the transfer", () => {
  const s = new ReadSession(bytes(5000), new Map(), { retries: 3, timeoutMs: 100 });
  s.start(0);
  for (let i = 0; i < 3; i++) assertEquals(s.timeout(s.deadline).length, 1);
  assertEquals(s.timeout(s.deadline), []);
  assertEquals(s.state, "failed");
  const e = new ReadSession(bytes(5000), new Map());
  e.start(0);
  e.receive(encodeError(ERR.UNDEFINED, "user abort"), 0);
  assertEquals(e.state, "failed");
  assert(e.error?.includes("user abort"));
  const g = new ReadSession(bytes(5000), new Map());
  g.start(0);
  const out = g.receive(new Uint8Array([0, 3, 0, 1, 9]), 0);
  assertEquals(g.state, "failed");
  assertEquals(parseError(out[0]).code, ERR.ILLEGAL_OP);
});

Deno.test("write: ACK per window, re-ACK on a gap, final short block, dallying re-ACK", () => {
  const data = bytes(10_000);
  const s = new WriteSession(new Map([["blksize", "1000"], ["windowsize", "4"]]));
  assertEquals(opcode(s.start(0)[0]), OP.OACK);
  const acks: number[] = [];
  const sendBlock = (n: number) => {
    const off = (n - 1) * 1000;
    for (const p of s.receive(encodeData(n, data.subarray(off, off + 1000)), 0)) acks.push(blockOf(p));
  };
  for (const n of [1, 2, 3, 4]) sendBlock(n);
  assertEquals(acks, [4]);
  sendBlock(6); // 5 lost
  assertEquals(acks, [4, 4], "gap: re-ACK the last in-order block");
  for (const n of [5, 6, 7, 8, 9, 10, 11]) sendBlock(n);
  assertEquals(s.state, "done");
  assertEquals(acks.at(-1), 11);
  const got = s.take();
  assertEquals(got.reduce((a, c) => a + c.length, 0), data.length);
  // the final ACK was lost: the client resends block 11, the session answers again
  assertEquals(blockOf(s.receive(encodeData(11, new Uint8Array()), 0)[0]), 11);
});

Deno.test("write: announced size over the limit and too much data get 'disk full'", () => {
  const big = new WriteSession(new Map([["tsize", "5000"]]), { maxSize: 1000 });
  assertEquals(parseError(big.start(0)[0]).code, ERR.DISK_FULL);
  assertEquals(big.state, "failed");
  const s = new WriteSession(new Map(), { maxSize: 1000 });
  s.start(0);
  s.receive(encodeData(1, bytes(512)), 0);
  const out = s.receive(encodeData(2, bytes(512)), 0);
  assertEquals(parseError(out[0]).code, ERR.DISK_FULL);
});

Deno.test("netascii: LF <-> CR LF, CR <-> CR NUL, across packet boundaries", () => {
  const text = new TextEncoder().encode("a\nb\rc\r\n");
  const na = toNetascii(text);
  assertEquals([...na], [97, 13, 10, 98, 13, 0, 99, 13, 0, 13, 10]);
  const st = { pendingCr: false };
  const parts = [na.subarray(0, 2), na.subarray(2, 5), na.subarray(5, 9), na.subarray(9)];
  const back = parts.map((p) => [...fromNetascii(p, st)]).flat();
  assertEquals(back, [...text]);
});
