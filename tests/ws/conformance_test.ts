/**
 * pbxkit's own Autobahn|Testsuite equivalent: every server-side case family of categories 1 (framing),
 * 2 (ping/pong), 3 (reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8), 7 (close), 9 (limits and
 * performance, at Autobahn's sizes up to 16 MiB), 10 (misc), 12 and 13 (permessage-deflate), run with a raw-socket
 * client against the echo server, expecting what Autobahn expects of a strict server. Prints how many passed.
 */

import zlib from "node:zlib";
import { assert, assertEquals } from "../_util/assert.ts";
import { cliArgv, concat, Proc, waitFor } from "../_util/mod.ts";
import { encodeFrame, RawClient, type SendFrame } from "./_raw_client.ts";

const enc = new TextEncoder();
const TEXT = 1, BIN = 2, CONT = 0, CLOSE = 8, PING = 9, PONG = 10;
const MAX = 16 * 1024 * 1024; // main server's --max-message (the CLI default)
const SMALL_MAX = 64 * 1024; // second server, for the 1009 cases

type Ctx = { port: number; smallPort: number };
type Case = { id: string; desc: string; fn: (ctx: Ctx) => Promise<void> };
const cases: Case[] = [];
function add(id: string, desc: string, fn: (ctx: Ctx) => Promise<void>): void {
  cases.push({ id, desc, fn });
}

function bytes(n: number, fill = 0x2a): Uint8Array {
  return new Uint8Array(n).fill(fill);
}
function hex(h: string): Uint8Array {
  return Uint8Array.from(h.replace(/\s+/g, "").match(/../g) ?? [], (x) => parseInt(x, 16));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concatFrames(frames: SendFrame[]): Uint8Array {
  return concat(frames.map((f) => encodeFrame(f)));
}

/** `size` bytes of `corpus` from `at` (wrapping); for text, cut back to whole UTF-8 characters. */
function slice(corpus: Uint8Array, o: { at: number; size: number; text: boolean }): Uint8Array {
  const out = new Uint8Array(o.size);
  for (let i = 0; i < o.size;) { // block copies (the corpus wraps around)
    const from = (o.at + i) % corpus.length;
    const n = Math.min(o.size - i, corpus.length - from);
    out.set(corpus.subarray(from, from + n), i);
    i += n;
  }
  if (!o.text) return out;
  let start = 0, end = out.length;
  while (start < end && (out[start] & 0xc0) === 0x80) start++; // drop a torn character at the start
  let k = end - 1; // and at the end
  while (k >= start && (out[k] & 0xc0) === 0x80) k--;
  if (k >= start && out[k] >= 0xc0) {
    const need = out[k] >= 0xf0 ? 4 : out[k] >= 0xe0 ? 3 : 2;
    if (end - k < need) end = k;
  }
  return out.subarray(start, end);
}

/** Deterministic pseudo-random numbers for the corpora. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function fromText(make: (r: () => number) => string, n: number, seed: number): Uint8Array {
  const r = lcg(seed);
  const parts: string[] = [];
  for (let bytes = 0; bytes < n;) {
    const piece = make(r);
    parts.push(piece);
    bytes += enc.encode(piece).length;
  }
  return enc.encode(parts.join(""));
}

function corpusJson(n: number): Uint8Array {
  const names = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy"];
  return fromText(
    (r) =>
      JSON.stringify({
        id: Math.floor(r() * 1e6),
        user: names[Math.floor(r() * names.length)],
        registered: r() > 0.3,
        contact: `sip:${Math.floor(r() * 9000 + 1000)}@pbx.example.com`,
        score: Math.round(r() * 1e4) / 100,
        tags: names.slice(0, 1 + Math.floor(r() * 4)),
      }) + ",\n",
    n,
    1,
  );
}

function corpusProse(n: number): Uint8Array {
  const words = [
    "Habe",
    "nun,",
    "ach!",
    "Philosophie,",
    "Juristerei",
    "und",
    "Medizin,",
    "Und",
    "leider",
    "auch",
    "Theologie",
    "Durchaus",
    "studiert,",
    "mit",
    "heißem",
    "Bemühn.",
    "Da",
    "steh",
    "ich",
    "nun,",
    "ich",
    "armer",
    "Tor!",
    "Und",
    "bin",
    "so",
    "klug",
    "als",
    "wie",
    "zuvor;",
    "Größe",
    "Übermut",
    "Äther",
    "„Zitat“",
    "—",
    "€",
  ];
  return fromText((r) => words[Math.floor(r() * words.length)] + (r() < 0.08 ? "\n" : " "), n, 2);
}

function corpusHtml(n: number): Uint8Array {
  return fromText(
    (r) => {
      const k = Math.floor(r() * 1000);
      return `<tr class="row${k % 7}"><td><a href="/calls/${k}">Call ${k}</a></td><td>${
        (r() * 300).toFixed(1)
      } s</td>` +
        `<td><span class="status-${k % 3 ? "answered" : "missed"}">${k % 3 ? "answered" : "missed"}</span></td></tr>\n`;
    },
    n,
    3,
  );
}

function corpusBitmap(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const r = lcg(4);
  out.set(enc.encode("BM"), 0);
  for (let i = 54; i < n; i++) {
    const x = (i - 54) % 512, y = Math.floor((i - 54) / 512);
    out[i] = (((x >> 3) ^ (y >> 3)) & 1 ? 0xff : 0x00) ^ (r() < 0.02 ? 0x55 : 0);
  }
  return out;
}

function corpusPdf(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const r = lcg(5);
  let i = 0;
  while (i < n) {
    const head = enc.encode(`${i} 0 obj\n<< /Length 4096 /Filter /FlateDecode >>\nstream\n`);
    out.set(head.subarray(0, n - i), i);
    i += head.length;
    for (let k = 0; k < 4096 && i < n; k++, i++) out[i] = Math.floor(r() * 256); // incompressible stream
    const tail = enc.encode("\nendstream\nendobj\n");
    if (i < n) out.set(tail.subarray(0, n - i), i);
    i += tail.length;
  }
  return out;
}
function ctrlClose(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const r = typeof reason === "string" ? enc.encode(reason) : reason;
  const p = new Uint8Array(2 + r.length);
  p[0] = code >> 8;
  p[1] = code & 255;
  p.set(r, 2);
  return p;
}

async function open(port: number, headers: string[] = []): Promise<RawClient> {
  const c = await RawClient.open(port, { headers });
  assertEquals(c.status, 101, c.response);
  return c;
}

async function expectEcho(c: RawClient, opcode: number, payload: Uint8Array): Promise<void> {
  const m = await c.readMessage();
  assert(m !== undefined, `expected an echo, got close ${c.lastClose ? closeCodeOf(c.lastClose.payload) : "EOF"}`);
  assertEquals(m.opcode, opcode);
  assertEquals(m.payload.length, payload.length);
  assert(m.payload.every((x, i) => x === payload[i]), "echo payload differs");
}

async function expectPong(c: RawClient, payload: Uint8Array): Promise<void> {
  const f = await c.readFrame();
  assert(f !== undefined, "expected a pong, got EOF");
  assertEquals(f.opcode, PONG);
  assert(!f.masked, "server frames must not be masked");
  assertEquals(Array.from(f.payload), Array.from(payload));
}

function closeCodeOf(p: Uint8Array): number {
  return p.length >= 2 ? (p[0] << 8) | p[1] : 1005;
}

/** Expect the server to fail the connection with `code` and then close TCP. */
async function expectFail(c: RawClient, code: number | number[]): Promise<void> {
  const r = await c.readClose();
  const codes = Array.isArray(code) ? code : [code];
  assert(codes.includes(r.code), `expected close ${codes.join("/")}, got ${r.code} ${r.reason}`);
  assert(r.raw !== undefined && r.raw.payload.length <= 125, "close frame must be a valid control frame");
  assert(r.tcpClosed, "server must close TCP after the close");
  c.close();
}

/** Close cleanly from the client side and check the server echoes the code and closes TCP. */
async function cleanClose(c: RawClient, code = 1000): Promise<void> {
  await c.send({ opcode: CLOSE, payload: ctrlClose(code) });
  const r = await c.readClose();
  assertEquals(r.code, code);
  assert(r.tcpClosed, "server must close TCP after the close handshake");
  c.close();
}

/** Send frames, expect echoes of the given messages, then a clean close. */
async function sendExpect(
  port: number,
  frames: (SendFrame & { chunk?: number; delay?: number })[],
  expected: [number, Uint8Array][],
): Promise<void> {
  const c = await open(port);
  for (const f of frames) await c.send(f, f.chunk ?? 0, f.delay ?? 0);
  for (const [op, p] of expected) {
    if (op === PONG) await expectPong(c, p);
    else await expectEcho(c, op, p);
  }
  await cleanClose(c);
}

// ---------------------------------------------------------------- 1 framing
{
  const sizes = [0, 125, 126, 127, 128, 65535, 65536];
  for (const [k, op] of [[1, TEXT], [2, BIN]] as const) {
    sizes.forEach((n, i) =>
      add(`1.${k}.${i + 1}`, `${op === TEXT ? "text" : "binary"} message, payload ${n}`, ({ port }) => {
        const p = bytes(n, op === TEXT ? 0x2a : 0xfe);
        return sendExpect(port, [{ opcode: op, payload: p }], [[op, p]]);
      })
    );
    add(`1.${k}.8`, `${op === TEXT ? "text" : "binary"} payload 65535 written in 997-byte chops`, ({ port }) => {
      const p = bytes(65535, op === TEXT ? 0x2a : 0xfe);
      return sendExpect(port, [{ opcode: op, payload: p, chunk: 997 }], [[op, p]]);
    });
  }
  add("1.3.1", "16-bit length form for a 5-byte payload (accepted, non-minimal)", ({ port }) => {
    const p = enc.encode("hello");
    return sendExpect(port, [{ opcode: TEXT, payload: p, lengthForm: 16 }], [[TEXT, p]]);
  });
  add("1.3.2", "64-bit length form with the high bit set: 1002", async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: BIN, payload: bytes(4), lengthForm: 64, highBits: 0x80000000 });
    await expectFail(c, 1002);
  });
  add("1.3.3", "unmasked client frame: 1002", async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: TEXT, payload: "hi", mask: false });
    await expectFail(c, 1002);
  });
}

// ---------------------------------------------------------------- 2 ping/pong
add("2.1", "ping without payload", ({ port }) => sendExpect(port, [{ opcode: PING }], [[PONG, new Uint8Array(0)]]));
add("2.2", "ping with small text payload", ({ port }) => {
  const p = enc.encode("Hello, world!");
  return sendExpect(port, [{ opcode: PING, payload: p }], [[PONG, p]]);
});
add("2.3", "ping with small binary payload", ({ port }) => {
  const p = hex("00 ff fe fd fc fb 00 ff");
  return sendExpect(port, [{ opcode: PING, payload: p }], [[PONG, p]]);
});
add("2.4", "ping with 125-byte payload", ({ port }) => {
  const p = bytes(125, 0xfe);
  return sendExpect(port, [{ opcode: PING, payload: p }], [[PONG, p]]);
});
add("2.5", "ping with 126-byte payload: 1002", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: PING, payload: bytes(126, 0xfe) });
  await expectFail(c, 1002);
});
add("2.6", "ping 125 bytes written byte by byte", ({ port }) => {
  const p = bytes(125, 0xfe);
  return sendExpect(port, [{ opcode: PING, payload: p, chunk: 1 }], [[PONG, p]]);
});
add("2.7", "unsolicited pong without payload is ignored", ({ port }) => {
  const p = enc.encode("after");
  return sendExpect(port, [{ opcode: PONG }, { opcode: TEXT, payload: p }], [[TEXT, p]]);
});
add("2.8", "unsolicited pong with payload is ignored", ({ port }) => {
  const p = enc.encode("after");
  return sendExpect(port, [{ opcode: PONG, payload: "unsolicited" }, { opcode: TEXT, payload: p }], [[TEXT, p]]);
});
add("2.9", "unsolicited pong, then ping: only the ping is answered", ({ port }) => {
  const p = enc.encode("ping payload");
  return sendExpect(port, [{ opcode: PONG, payload: "x" }, { opcode: PING, payload: p }], [[PONG, p]]);
});
add("2.10", "10 pings: 10 pongs in order", ({ port }) => {
  const ps = Array.from({ length: 10 }, (_, i) => enc.encode(`payload-${i}`));
  return sendExpect(port, ps.map((p) => ({ opcode: PING, payload: p })), ps.map((p) => [PONG, p]));
});
add("2.11", "10 pings written byte by byte: 10 pongs in order", ({ port }) => {
  const ps = Array.from({ length: 10 }, (_, i) => enc.encode(`payload-${i}`));
  return sendExpect(port, ps.map((p) => ({ opcode: PING, payload: p, chunk: 1 })), ps.map((p) => [PONG, p]));
});

// ---------------------------------------------------------------- 3 reserved bits
{
  const rsvCases: [string, string, number, SendFrame[]][] = [
    ["3.1", "RSV1 on text without an extension", 4, [{ opcode: TEXT, payload: "hello", rsv: 4 }]],
    ["3.2", "RSV2 on text after a valid echo", 2, [{ opcode: TEXT, payload: "hello" }, {
      opcode: TEXT,
      payload: "x",
      rsv: 2,
    }]],
    ["3.3", "RSV1+RSV2 on text after a valid echo", 6, [{ opcode: TEXT, payload: "hello" }, {
      opcode: TEXT,
      payload: "x",
      rsv: 6,
    }]],
    ["3.4", "RSV3 on text, written byte by byte", 1, [{ opcode: TEXT, payload: "hello" }, {
      opcode: TEXT,
      payload: "x",
      rsv: 1,
    }]],
    ["3.5", "RSV1+RSV3 on binary", 5, [{ opcode: BIN, payload: bytes(8), rsv: 5 }]],
    ["3.6", "RSV2+RSV3 on ping", 3, [{ opcode: PING, payload: "p", rsv: 3 }]],
    ["3.7", "all RSV bits on close", 7, [{ opcode: CLOSE, payload: ctrlClose(1000), rsv: 7 }]],
  ];
  for (const [id, desc, , frames] of rsvCases) {
    add(id, `${desc}: 1002`, async ({ port }) => {
      const c = await open(port);
      for (const f of frames) await c.send(f, id === "3.4" ? 1 : 0);
      if (frames.length > 1) await expectEcho(c, TEXT, enc.encode("hello"));
      await expectFail(c, 1002);
    });
  }
}

// ---------------------------------------------------------------- 4 opcodes
const RESERVED_OPCODES = [["4.1", "data", [3, 4, 5, 6, 7]], ["4.2", "control", [11, 12, 13, 14, 15]]] as const;
for (const [group, kind, ops] of RESERVED_OPCODES) {
  for (const [i, op] of ops.entries()) {
    add(`${group}.${i + 1}`, `reserved ${kind} opcode ${op} after a valid echo: 1002`, async ({ port }) => {
      const c = await open(port);
      await c.send({ opcode: TEXT, payload: "hello" });
      await c.send({ opcode: op, payload: i % 2 ? "reserved" : "" });
      await c.send({ opcode: PING });
      await expectEcho(c, TEXT, enc.encode("hello"));
      await expectFail(c, 1002);
    });
  }
}

// ---------------------------------------------------------------- 5 fragmentation
for (const [id, kind, op] of [["5.1", "ping", PING], ["5.2", "pong", PONG]] as const) {
  add(id, `${kind} in 2 fragments: 1002`, async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: op, payload: "frag1", fin: false });
    await c.send({ opcode: CONT, payload: "frag2" });
    await expectFail(c, 1002);
  });
}
for (const [id, chunk] of [["5.3", 0], ["5.4", 3], ["5.5", 1]] as const) {
  add(id, `text in 2 fragments${chunk ? ` written in ${chunk}-byte chops` : ""}`, ({ port }) =>
    sendExpect(port, [
      { opcode: TEXT, payload: "fragment1", fin: false, chunk },
      { opcode: CONT, payload: "fragment2", chunk },
    ], [[TEXT, enc.encode("fragment1fragment2")]]));
}
for (const [id, chunk] of [["5.6", 0], ["5.7", 3], ["5.8", 1]] as const) {
  add(
    id,
    `text in 2 fragments with a ping between${chunk ? ` (${chunk}-byte chops)` : ""}`,
    ({ port }) =>
      sendExpect(port, [
        { opcode: TEXT, payload: "fragment1", fin: false, chunk },
        { opcode: PING, payload: "pongme!", chunk },
        { opcode: CONT, payload: "fragment2", chunk },
      ], [[PONG, enc.encode("pongme!")], [TEXT, enc.encode("fragment1fragment2")]]),
  );
}
for (
  const [id, fin, chunk] of [["5.9", true, 0], ["5.10", true, 1], ["5.11", true, 3], ["5.12", false, 0], [
    "5.13",
    false,
    1,
  ], ["5.14", false, 3]] as const
) {
  add(
    id,
    `continuation (fin=${fin}) without a message${chunk ? `, ${chunk}-byte chops` : ""}: 1002`,
    async ({ port }) => {
      const c = await open(port);
      await c.send({ opcode: CONT, payload: "non-continuation payload", fin }, chunk);
      await c.send({ opcode: TEXT, payload: "Hello, world!" });
      await expectFail(c, 1002);
    },
  );
}
add("5.15", "text in 2 fragments, then a stray continuation: echo, then 1002", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: TEXT, payload: "fragment1", fin: false });
  await c.send({ opcode: CONT, payload: "fragment2" });
  await c.send({ opcode: CONT, payload: "fragment3", fin: false });
  await c.send({ opcode: CONT, payload: "fragment4" });
  await expectEcho(c, TEXT, enc.encode("fragment1fragment2"));
  await expectFail(c, 1002);
});
for (const [id, chunk] of [["5.16", 0], ["5.17", 1]] as const) {
  add(id, `repeated continuation-first sequences: 1002`, async ({ port }) => {
    const c = await open(port);
    for (let k = 0; k < 2; k++) {
      await c.send({ opcode: CONT, payload: "fragment1", fin: false }, chunk);
      await c.send({ opcode: TEXT, payload: "fragment2", fin: false }, chunk);
      await c.send({ opcode: CONT, payload: "fragment3" }, chunk);
    }
    await expectFail(c, 1002);
  });
}
add("5.18", "text in 2 fragments both with the text opcode: 1002", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: TEXT, payload: "fragment1", fin: false });
  await c.send({ opcode: TEXT, payload: "fragment2" });
  await expectFail(c, 1002);
});
for (const [id, chunk] of [["5.19", 0], ["5.20", 1]] as const) {
  add(id, `text in 5 fragments with pings between and delays${chunk ? " (byte-wise)" : ""}`, ({ port }) => {
    const frames: (SendFrame & { chunk?: number; delay?: number })[] = [];
    for (let i = 1; i <= 5; i++) {
      frames.push({ opcode: i === 1 ? TEXT : CONT, payload: `fragment${i}`, fin: i === 5, chunk, delay: 20 });
      if (i === 2 || i === 4) frames.push({ opcode: PING, payload: `pongme ${i}!`, chunk });
    }
    return sendExpect(port, frames, [
      [PONG, enc.encode("pongme 2!")],
      [PONG, enc.encode("pongme 4!")],
      [TEXT, enc.encode("fragment1fragment2fragment3fragment4fragment5")],
    ]);
  });
}
add("5.21", "binary in 3 fragments with an empty middle fragment", ({ port }) =>
  sendExpect(port, [
    { opcode: BIN, payload: hex("01 02"), fin: false },
    { opcode: CONT, payload: new Uint8Array(0), fin: false },
    { opcode: CONT, payload: hex("03") },
  ], [[BIN, hex("01 02 03")]]));

// ---------------------------------------------------------------- 6 UTF-8
{
  const valid: [string, string][] = [
    ["6.2.1", "48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121"], // Hello-µ@ßöäüàá-UTF-8!!
    ["6.5.1", "cebae1bdb9cf83cebcceb5"], // κόσμε
    ["6.6.x", "cebae1bdb9cf83cebcceb5"],
    ["6.7.1", "00"],
    ["6.7.2", "c280"],
    ["6.7.3", "e0a080"],
    ["6.7.4", "f0908080"],
    ["6.8.1", "7f"],
    ["6.8.2", "dfbf"],
    ["6.8.3", "efbfbf"],
    ["6.8.4", "f48fbfbf"],
    ["6.9.1", "ed9fbf"],
    ["6.9.2", "ee8080"],
    ["6.9.3", "efbfbd"],
    ["6.9.4", "f48fbfbf"],
    ["6.22.1", "efbfbe"], // U+FFFE: a noncharacter, but valid UTF-8
    ["6.22.2", "f09fbfbe"],
    ["6.22.3", "f3bfbfbf"],
    ["6.23.1", "efbfbd"],
  ];
  const invalid: [string, string][] = [
    ["6.3.1", "cebae1bdb9cf83cebcceb5eda080656469746564"], // surrogate inside
    ["6.10.1", "f8888080"],
    ["6.10.2", "fc8480808080"],
    ["6.10.3", "f7bfbfbf"],
    ["6.11.1", "f4908080"], // > U+10FFFF
    ["6.11.2", "f5"],
    ["6.12.1", "80"],
    ["6.12.2", "bf"],
    ["6.12.3", "80bf"],
    ["6.12.4", "80bf80"],
    ["6.12.5", "80bf80bf"],
    ["6.12.6", "80bf80bf80"],
    ["6.12.7", "80bf80bf80bf"],
    ["6.13.1", "c020c120c220"],
    ["6.13.2", "e020e120ef20"],
    ["6.13.3", "f020f720"],
    ["6.13.4", "f820fb20"],
    ["6.13.5", "fc20fd20"],
    ["6.14.1", "c0"],
    ["6.14.2", "e080"],
    ["6.14.3", "f08080"],
    ["6.14.4", "dfff"], // 2-byte with 2nd byte not continuation? (ff)
    ["6.14.5", "ef bf"],
    ["6.14.6", "f7bfbf"],
    ["6.15.1", "c0e080f08080dfefbff7bfbf"],
    ["6.16.1", "fe"],
    ["6.16.2", "ff"],
    ["6.16.3", "fefeffff"],
    ["6.17.1", "c0af"],
    ["6.17.2", "e080af"],
    ["6.17.3", "f08080af"],
    ["6.17.4", "f8808080af"],
    ["6.17.5", "fc80808080af"],
    ["6.18.1", "c1bf"],
    ["6.18.2", "e09fbf"],
    ["6.18.3", "f08fbfbf"],
    ["6.19.1", "c080"],
    ["6.19.2", "e08080"],
    ["6.19.3", "f0808080"],
    ["6.20.1", "eda080"],
    ["6.20.2", "edadbf"],
    ["6.20.3", "edae80"],
    ["6.20.4", "edafbf"],
    ["6.20.5", "edb080"],
    ["6.20.6", "edbe80"],
    ["6.20.7", "edbfbf"],
    ["6.21.1", "eda080edb080"],
    ["6.21.2", "eda080edbfbf"],
    ["6.21.3", "edafbfedb080"],
    ["6.21.4", "edafbfedbfbf"],
  ];
  add("6.1.1", "empty text message", ({ port }) => sendExpect(port, [{ opcode: TEXT }], [[TEXT, new Uint8Array(0)]]));
  add(
    "6.1.2",
    "empty text in 3 empty fragments",
    ({ port }) =>
      sendExpect(port, [{ opcode: TEXT, fin: false }, { opcode: CONT, fin: false }, { opcode: CONT }], [[
        TEXT,
        new Uint8Array(0),
      ]]),
  );
  add(
    "6.1.3",
    "empty fragments around a non-empty one",
    ({ port }) =>
      sendExpect(port, [{ opcode: TEXT, fin: false }, { opcode: CONT, payload: "middle", fin: false }, {
        opcode: CONT,
      }], [[
        TEXT,
        enc.encode("middle"),
      ]]),
  );
  for (const [id, h] of valid) {
    const p = hex(h);
    add(
      `${id}`,
      `valid UTF-8 ${h} in one frame`,
      ({ port }) => sendExpect(port, [{ opcode: TEXT, payload: p }], [[TEXT, p]]),
    );
    add(`${id}b`, `valid UTF-8 ${h} in 1-byte fragments`, ({ port }) =>
      sendExpect(
        port,
        Array.from(
          p,
          (b, i) => ({ opcode: i === 0 ? TEXT : CONT, payload: new Uint8Array([b]), fin: i === p.length - 1 }),
        ),
        [[TEXT, p]],
      ));
  }
  for (const [id, h] of invalid) {
    const p = hex(h);
    add(`${id}`, `invalid UTF-8 ${h} in one frame: 1007`, async ({ port }) => {
      const c = await open(port);
      await c.send({ opcode: TEXT, payload: p });
      await expectFail(c, 1007);
    });
    add(`${id}b`, `invalid UTF-8 ${h} in 1-byte fragments: 1007`, async ({ port }) => {
      const c = await open(port);
      for (let i = 0; i < p.length; i++) {
        await c.send({ opcode: i === 0 ? TEXT : CONT, payload: p.subarray(i, i + 1), fin: i === p.length - 1 });
      }
      await expectFail(c, 1007);
    });
  }
  add(
    "6.4.1",
    "fail fast: invalid UTF-8 in the first part of a frame closes before the rest arrives",
    async ({ port }) => {
      const c = await open(port);
      const payload = new Uint8Array([...hex("cebae1bdb9cf83cebcceb5"), ...hex("f4908080"), ...enc.encode("edited")]);
      const frame = encodeFrame({ opcode: TEXT, payload });
      // Header plus the valid part and the bad sequence; the rest is withheld.
      const cut = frame.length - 6;
      await c.write(frame.subarray(0, cut));
      await expectFail(c, 1007);
    },
  );
  add("6.4.2", "fail fast across fragments: the bad fragment closes before the last one", async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: TEXT, payload: hex("cebae1bdb9cf83cebcceb5"), fin: false });
    await c.send({ opcode: CONT, payload: hex("f4908080"), fin: false });
    await expectFail(c, 1007);
  });
  add("6.4.3", "fail fast: bad 4th byte written alone, frame incomplete", async ({ port }) => {
    const c = await open(port);
    const frame = encodeFrame({
      opcode: TEXT,
      payload: hex("cebae1bdb9cf83cebcceb5f4908080656469746564"),
    });
    const hl = 6;
    await c.write(frame.subarray(0, hl + 11));
    await new Promise((r) => setTimeout(r, 50));
    await c.write(frame.subarray(hl + 11, hl + 15));
    await expectFail(c, 1007);
  });
  add("6.3.2", "invalid UTF-8 (surrogate) inside a text written byte by byte: 1007", async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: TEXT, payload: hex("cebae1bdb9cf83cebcceb5eda080656469746564") }, 1);
    await expectFail(c, 1007);
  });
  add("6.x.long", "valid multi-byte text of 100 KiB (word-wise fast path interrupted)", ({ port }) => {
    const p = enc.encode("abcdefgh".repeat(6000) + "κόσμε😀".repeat(3000));
    return sendExpect(port, [{ opcode: TEXT, payload: p }], [[TEXT, p]]);
  });
  add("6.x.longbad", "invalid byte deep inside a 100 KiB ASCII text: 1007", async ({ port }) => {
    const p = bytes(100_000, 0x61);
    p[77_777] = 0xff;
    const c = await open(port);
    await c.send({ opcode: TEXT, payload: p });
    await expectFail(c, 1007);
  });
}

// ---------------------------------------------------------------- 7 close
add("7.1.1", "echo, then a clean close", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: TEXT, payload: "Hello World!" });
  await expectEcho(c, TEXT, enc.encode("Hello World!"));
  await cleanClose(c);
});
add("7.1.2", "close twice: one close answered, then TCP closed", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) });
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) }).catch(() => {});
  const r = await c.readClose();
  assertEquals(r.code, 1000);
  assert(r.tcpClosed);
  c.close();
});
add("7.1.3", "ping after close is not answered", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) });
  await c.send({ opcode: PING, payload: "after close" }).catch(() => {});
  const r = await c.readClose();
  assertEquals(r.frames.length, 0);
  assertEquals(r.code, 1000);
  c.close();
});
add("7.1.4", "text after close is not echoed", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) });
  await c.send({ opcode: TEXT, payload: "after close" }).catch(() => {});
  const r = await c.readClose();
  assertEquals(r.frames.length, 0);
  c.close();
});
add("7.1.5", "close in the middle of a fragmented message", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: TEXT, payload: "fragment1", fin: false });
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) });
  await c.send({ opcode: CONT, payload: "fragment2" }).catch(() => {});
  const r = await c.readClose();
  assertEquals(r.code, 1000);
  assertEquals(r.frames.length, 0);
  c.close();
});
add("7.1.6", "large message, then close: echo arrives before the close", async ({ port }) => {
  const c = await open(port);
  const big = bytes(256 * 1024, 0x61);
  await c.send({ opcode: TEXT, payload: big });
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000) });
  const r = await c.readClose(10_000);
  assertEquals(r.code, 1000);
  assertEquals(r.frames.reduce((a, f) => a + f.payload.length, 0), big.length);
  c.close();
});
add("7.3.1", "close with empty payload: answered with an empty close", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE });
  const r = await c.readClose();
  assertEquals(r.code, 1005);
  assertEquals(r.raw?.payload.length, 0);
  assert(r.tcpClosed);
  c.close();
});
add("7.3.2", "close with a 1-byte payload: 1002", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: hex("03") });
  await expectFail(c, 1002);
});
add("7.3.3", "close with code only", ({ port }) => open(port).then((c) => cleanClose(c, 1000)));
add("7.3.4", "close with code and reason", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000, "Hello World!") });
  const r = await c.readClose();
  assertEquals(r.code, 1000);
  assert(r.tcpClosed);
  c.close();
});
add("7.3.5", "close with code and a 123-byte reason (the maximum)", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000, "*".repeat(123)) });
  const r = await c.readClose();
  assertEquals(r.code, 1000);
  assert(r.raw!.payload.length <= 125);
  c.close();
});
add("7.3.6", "close with a 124-byte reason (126-byte control frame): 1002", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000, "*".repeat(124)) });
  await expectFail(c, 1002);
});
add("7.5.1", "close reason with invalid UTF-8: 1007", async ({ port }) => {
  const c = await open(port);
  await c.send({ opcode: CLOSE, payload: ctrlClose(1000, hex("cebae1bdb9cf83cebcceb5eda080656469746564")) });
  await expectFail(c, 1007);
});
for (
  const [i, code] of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
    .entries()
) {
  add(`7.7.${i + 1}`, `valid close code ${code} is echoed`, ({ port }) => open(port).then((c) => cleanClose(c, code)));
}
for (const [i, code] of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].entries()) {
  add(`7.9.${i + 1}`, `invalid close code ${code}: 1002`, async ({ port }) => {
    const c = await open(port);
    await c.send({ opcode: CLOSE, payload: ctrlClose(code) });
    await expectFail(c, 1002);
  });
}

// ---------------------------------------------------------------- 9 limits and performance (Autobahn's sizes)
{
  // 9.1 / 9.2: one message of 64 KiB .. 16 MiB (16 MiB is the default --max-message, so it must pass).
  const sizes = [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024, 16 * 1024 * 1024];
  sizes.forEach((n, i) => {
    add(`9.1.${i + 1}`, `text message of ${n / 1024} KiB`, ({ port }) => {
      const p = bytes(n, 0x2a);
      return sendExpect(port, [{ opcode: TEXT, payload: p }], [[TEXT, p]]);
    });
    add(`9.2.${i + 1}`, `binary message of ${n / 1024} KiB`, ({ port }) => {
      const p = bytes(n, 0xfe);
      return sendExpect(port, [{ opcode: BIN, payload: p }], [[BIN, p]]);
    });
  });
  // 9.3 / 9.4: a 4 MiB message in fragments of 64 B .. 4 MiB.
  const frag = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];
  for (const [k, op] of [[3, TEXT], [4, BIN]] as const) {
    frag.forEach((fs, i) =>
      add(`9.${k}.${i + 1}`, `4 MiB ${op === TEXT ? "text" : "binary"} in ${fs}-byte fragments`, async ({ port }) => {
        const n = 4 * 1024 * 1024;
        const p = bytes(n, op === TEXT ? 0x2a : 0xfe);
        const c = await open(port);
        const frames: SendFrame[] = [];
        for (let o = 0; o < n; o += fs) {
          frames.push({ opcode: o === 0 ? op : CONT, payload: p.subarray(o, o + fs), fin: o + fs >= n });
        }
        const w = c.write(concatFrames(frames), 256 * 1024);
        await expectEcho(c, op, p);
        await w;
        await cleanClose(c);
      })
    );
  }
  // 9.5 / 9.6: a 1 MiB message written to the socket in chops of 64 B .. 2 KiB.
  const chops = [64, 128, 256, 512, 1024, 2048];
  for (const [k, op] of [[5, TEXT], [6, BIN]] as const) {
    chops.forEach((ch, i) =>
      add(`9.${k}.${i + 1}`, `1 MiB ${op === TEXT ? "text" : "binary"} written in ${ch}-byte chops`, ({ port }) => {
        const p = bytes(1024 * 1024, op === TEXT ? 0x2a : 0xfe);
        return sendExpect(port, [{ opcode: op, payload: p, chunk: ch }], [[op, p]]);
      })
    );
  }
  // 9.7 / 9.8: 1000 messages of 0 B .. 4 KiB, one round trip each.
  const rtt = [0, 16, 64, 256, 1024, 4096];
  for (const [k, op] of [[7, TEXT], [8, BIN]] as const) {
    rtt.forEach((size, i) =>
      add(
        `9.${k}.${i + 1}`,
        `1000 ${op === TEXT ? "text" : "binary"} messages of ${size} bytes, one round trip each`,
        async ({ port }) => {
          const c = await open(port);
          const p = bytes(size, op === TEXT ? 0x2a : 0xfe);
          for (let i = 0; i < 1000; i++) {
            await c.send({ opcode: op, payload: p });
            await expectEcho(c, op, p);
          }
          await cleanClose(c);
        },
      )
    );
  }
  // Beyond Autobahn: 1000 messages pipelined in one write must come back complete and in order.
  for (const [k, op] of [[1, TEXT], [2, BIN]] as const) {
    add(`9.11.${k}`, `1000 pipelined ${op === TEXT ? "text" : "binary"} messages of 1 KiB`, async ({ port }) => {
      const c = await open(port);
      const p = bytes(1024, op === TEXT ? 0x62 : 0x01);
      const one = encodeFrame({ opcode: op, payload: p });
      const all = new Uint8Array(one.length * 1000);
      for (let i = 0; i < 1000; i++) all.set(one, i * one.length);
      const w = c.write(all, 65536);
      for (let i = 0; i < 1000; i++) await expectEcho(c, op, p);
      await w;
      await cleanClose(c);
    });
  }
  add("9.9.1", "4 MiB message in 64-byte fragments (65536 fragments; Node's ws fails this)", async ({ port }) => {
    const n = 4 * 1024 * 1024, fs = 64;
    const p = bytes(n, 0x2a);
    const c = await open(port);
    const frameLen = encodeFrame({ opcode: TEXT, payload: p.subarray(0, fs) }).length;
    const all = new Uint8Array(frameLen * (n / fs));
    for (let o = 0, k = 0; o < n; o += fs, k++) {
      all.set(
        encodeFrame({ opcode: o === 0 ? TEXT : CONT, payload: p.subarray(o, o + fs), fin: o + fs >= n }),
        k * frameLen,
      );
    }
    const w = c.write(all, 256 * 1024);
    await expectEcho(c, TEXT, p);
    await w;
    await cleanClose(c);
  });
  add("9.10.1", "declared length over --max-message: 1009 at once, before the payload", async ({ smallPort }) => {
    const c = await open(smallPort);
    const f = encodeFrame({ opcode: BIN, payload: bytes(SMALL_MAX + 1) });
    await c.write(f.subarray(0, 14)); // header only
    await expectFail(c, 1009);
  });
  add("9.10.2", "fragmented message growing past --max-message: 1009", async ({ smallPort }) => {
    const c = await open(smallPort);
    await c.send({ opcode: BIN, payload: bytes(SMALL_MAX / 2), fin: false });
    await c.send({ opcode: CONT, payload: bytes(SMALL_MAX / 2), fin: false });
    await c.send({ opcode: CONT, payload: bytes(1) }).catch(() => {});
    await expectFail(c, 1009);
  });
  add("9.10.3", "a message of exactly --max-message is accepted", ({ smallPort }) => {
    const p = bytes(SMALL_MAX, 0x41);
    return sendExpect(smallPort, [{ opcode: TEXT, payload: p }], [[TEXT, p]]);
  });
  add("9.10.4", "endless empty fragments are bounded: 1009", async ({ smallPort }) => {
    const c = await open(smallPort);
    const frames: SendFrame[] = [{ opcode: TEXT, payload: "", fin: false }];
    for (let i = 0; i < 1100; i++) frames.push({ opcode: CONT, payload: "", fin: false });
    await c.write(concatFrames(frames)).catch(() => {});
    await expectFail(c, 1009);
  });
}

// ---------------------------------------------------------------- 10 misc
add("10.1.1", "64 KiB text in 1300-byte fragments", ({ port }) => {
  const p = bytes(65536, 0x2a);
  const frames: SendFrame[] = [];
  for (let o = 0; o < p.length; o += 1300) {
    frames.push({ opcode: o === 0 ? TEXT : CONT, payload: p.subarray(o, o + 1300), fin: o + 1300 >= p.length });
  }
  return sendExpect(port, frames, [[TEXT, p]]);
});
add("10.2.1", "bytes right after the handshake in the same segment are not lost", async ({ port }) => {
  const frame = encodeFrame({ opcode: TEXT, payload: "early" });
  const head = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const req = new Uint8Array([...enc.encode(head), ...frame]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(req);
  const buf = new Uint8Array(4096);
  let got = "";
  const deadline = Date.now() + 5000;
  const timer = setTimeout(() => conn.close(), 5000);
  while (!got.includes("early") && Date.now() < deadline) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    got += new TextDecoder("latin1").decode(buf.subarray(0, n));
  }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed by the timer */ }
  assert(got.startsWith("HTTP/1.1 101"), got);
  assert(got.includes("early"), "echo of the early frame missing");
});

// ---------------------------------------------------------------- handshake (RFC 6455 §4.2)
{
  const base = (extra: string, omit = "") =>
    [
      "Host: x",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
    ]
      .filter((h) => !omit || !h.startsWith(omit)).join("\r\n") + (extra ? "\r\n" + extra : "");
  const hs: [string, string, string, number][] = [
    ["hs.1", "valid handshake: 101 with the RFC's sample accept key", `GET / HTTP/1.1\r\n${base("")}\r\n\r\n`, 101],
    ["hs.2", "POST: 400", `POST / HTTP/1.1\r\n${base("Content-Length: 0")}\r\n\r\n`, 400],
    ["hs.3", "missing version: 426", `GET / HTTP/1.1\r\n${base("", "Sec-WebSocket-Version")}\r\n\r\n`, 426],
    [
      "hs.4",
      "version 8: 426",
      `GET / HTTP/1.1\r\n${base("", "Sec-WebSocket-Version")}\r\nSec-WebSocket-Version: 8\r\n\r\n`,
      426,
    ],
    ["hs.5", "missing key: 400", `GET / HTTP/1.1\r\n${base("", "Sec-WebSocket-Key")}\r\n\r\n`, 400],
    [
      "hs.6",
      "malformed key (not 16 bytes): 400",
      `GET / HTTP/1.1\r\n${base("", "Sec-WebSocket-Key")}\r\nSec-WebSocket-Key: abc\r\n\r\n`,
      400,
    ],
    ["hs.7", "missing Connection: Upgrade: 400", `GET / HTTP/1.1\r\n${base("", "Connection")}\r\n\r\n`, 400],
    ["hs.8", "missing Host: 400", `GET / HTTP/1.1\r\n${base("", "Host")}\r\n\r\n`, 400],
    ["hs.9", "HTTP/1.0: 400", `GET / HTTP/1.0\r\n${base("")}\r\n\r\n`, 400],
    ["hs.10", "garbage request line: 400", `HELLO\r\n${base("")}\r\n\r\n`, 400],
  ];
  for (const [id, desc, raw, status] of hs) {
    add(id, desc, async ({ port }) => {
      const c = await RawClient.open(port, { rawRequest: raw });
      assertEquals(c.status, status, c.response);
      if (status === 101) assertEquals(c.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      if (status === 426) assertEquals(c.header("Sec-WebSocket-Version"), "13");
      c.close();
    });
  }
}

// ---------------------------------------------------------------- 12/13 permessage-deflate
{
  const SYNC = zlib.constants.Z_SYNC_FLUSH;
  const deflate = (p: Uint8Array, windowBits = 15, level = zlib.constants.Z_DEFAULT_COMPRESSION): Uint8Array => {
    const out = zlib.deflateRawSync(p, { finishFlush: SYNC, windowBits, level });
    return out.subarray(0, out.length - 4);
  };
  /** `p` with the `00 00 ff ff` tail that RFC 7692 strips put back (one copy, no per-byte array). */
  const withTail = (p: Uint8Array): Uint8Array => {
    const out = new Uint8Array(p.length + 4);
    out.set(p);
    out.set(TAIL, p.length);
    return out;
  };
  const TAIL = new Uint8Array([0, 0, 255, 255]);
  const inflate = (p: Uint8Array): Uint8Array => zlib.inflateRawSync(withTail(p), { finishFlush: SYNC });
  /**
   * A client's inflater for the server's messages with context takeover: native zlib (`zlib.createInflateRaw`)
   * kept open from message to message, driven synchronously through its handle (node:zlib's streaming API is
   * asynchronous only); output grows until zlib stops short of a full buffer, which ends a sync flush.
   */
  const streamInflate = (): (p: Uint8Array) => Uint8Array => {
    const stream = zlib.createInflateRaw({ windowBits: 15 });
    let error: Error | undefined;
    stream.on("error", (e: Error) => error ??= e);
    const h = stream as unknown as {
      _handle: {
        writeSync(f: number, i: Uint8Array, io: number, il: number, o: Uint8Array, oo: number, ol: number): void;
      };
      _writeState: Uint32Array;
    };
    assert(h._handle && h._writeState, "node:zlib exposes its synchronous handle");
    return (p) => {
      const input = withTail(p);
      const parts: Uint8Array[] = [];
      let inOff = 0, inLen = input.length, size = 4096;
      for (;;) {
        const out = new Uint8Array(size);
        h._handle.writeSync(SYNC, input, inOff, inLen, out, 0, out.length);
        if (error) throw error;
        const availOut = h._writeState[0], availIn = h._writeState[1];
        parts.push(out.subarray(0, out.length - availOut));
        inOff += inLen - availIn;
        inLen = availIn;
        if (availOut !== 0) break;
        size = Math.min(size * 2, 1 << 20);
      }
      assertEquals(inLen, 0, "the client's zlib took the whole message");
      return parts.length === 1 ? parts[0] : concat(parts);
    };
  };
  /**
   * Inflate the server's compressed messages in order with Python's zlib (one stream, `windowBits` as negotiated).
   * Binary both ways: each message as a 4-byte big-endian length and its bytes.
   */
  const pyInflate = async (payloads: Uint8Array[], windowBits: number): Promise<Uint8Array[]> => {
    const py = `
import sys, zlib, struct
d = zlib.decompressobj(-${Math.max(9, windowBits)})
data = sys.stdin.buffer.read()
out = sys.stdout.buffer
i = 0
while i < len(data):
    (n,) = struct.unpack_from(">I", data, i)
    m = d.decompress(data[i + 4:i + 4 + n] + b"\\x00\\x00\\xff\\xff")
    out.write(struct.pack(">I", len(m)) + m)
    i += 4 + n
`;
    const child = new Deno.Command("/usr/bin/python3", { args: ["-c", py], stdin: "piped", stdout: "piped" }).spawn();
    const framed = new Uint8Array(payloads.reduce((a, p) => a + 4 + p.length, 0));
    const dv = new DataView(framed.buffer);
    let at = 0;
    for (const p of payloads) {
      dv.setUint32(at, p.length);
      framed.set(p, at + 4);
      at += 4 + p.length;
    }
    const w = child.stdin.getWriter();
    const [out] = await Promise.all([child.output(), w.write(framed).then(() => w.close())]);
    assert(out.success, "python zlib inflates the server's stream");
    const res: Uint8Array[] = [];
    const ov = new DataView(out.stdout.buffer, out.stdout.byteOffset, out.stdout.byteLength);
    for (let i = 0; i < out.stdout.length;) {
      const n = ov.getUint32(i);
      res.push(out.stdout.subarray(i + 4, i + 4 + n));
      i += 4 + n;
    }
    return res;
  };
  const offers: [string, string, RegExp | null][] = [
    ["13.0.1", "permessage-deflate", /^permessage-deflate$/],
    ["13.0.2", "permessage-deflate; client_no_context_takeover", /client_no_context_takeover/],
    ["13.0.3", "permessage-deflate; server_no_context_takeover", /server_no_context_takeover/],
    ["13.0.4", "permessage-deflate; client_max_window_bits", /^permessage-deflate/],
    ["13.0.5", "permessage-deflate; client_max_window_bits=9", /^permessage-deflate/],
    ["13.0.6", "permessage-deflate; server_max_window_bits=9", /server_max_window_bits=9/],
    ["13.0.7", "permessage-deflate; server_max_window_bits=8", /server_max_window_bits=8/],
    ["13.0.8", "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15", /server_max_window_bits=15/],
    [
      "13.9",
      "permessage-deflate; server_max_window_bits=7, permessage-deflate",
      /^permessage-deflate$/,
    ],
    ["13.0.10", "permessage-deflate; server_max_window_bits", null], // value required
    ["13.0.11", "permessage-deflate; foo=bar", null], // unknown parameter
    ["13.0.12", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", null], // duplicate
    ["13.0.13", "x-webkit-deflate-frame", null], // unknown extension
  ];
  for (const [id, offer, want] of offers) {
    add(`${id}`, `offer '${offer}' ${want ? "accepted" : "declined"}; messages round-trip`, async ({ port }) => {
      const c = await open(port, [`Sec-WebSocket-Extensions: ${offer}`]);
      const got = c.header("Sec-WebSocket-Extensions");
      if (!want) {
        assertEquals(got, undefined);
        const p = enc.encode("plain after a declined offer");
        await c.send({ opcode: TEXT, payload: p });
        await expectEcho(c, TEXT, p);
        await cleanClose(c);
        return;
      }
      assert(got && want.test(got), `response ${got}`);
      const bits = Number(/server_max_window_bits=(\d+)/.exec(got ?? "")?.[1] ?? 15);
      // without server_no_context_takeover the server's messages form one stream: inflate them keeping the window
      const takeover = !/server_no_context_takeover/.test(got);
      const inflater = takeover ? streamInflate() : inflate;
      const sent: Uint8Array[] = [];
      const packed: Uint8Array[] = [];
      for (const n of [16, 64, 1000, 16_000, 200_000, 1000, 16_000]) {
        const p = enc.encode("Hello pbxkit ".repeat(Math.ceil(n / 13)).slice(0, n));
        await c.send({ opcode: TEXT, payload: deflate(p), rsv: 4 });
        const m = await c.readMessage();
        assert(m, "no echo");
        const back = m.rsv & 4 ? inflater(m.payload) : m.payload;
        if (m.rsv & 4) {
          sent.push(p);
          packed.push(m.payload);
        }
        assertEquals(new TextDecoder().decode(back), new TextDecoder().decode(p));
      }
      // zlib itself, with the negotiated window (a stream made with a smaller window must inflate with it)
      const py = await pyInflate(packed, bits);
      assertEquals(py.map((b) => b.length), sent.map((b) => b.length));
      assertEquals(py.map((b) => new TextDecoder().decode(b)), sent.map((b) => new TextDecoder().decode(b)));
      await cleanClose(c);
    });
  }
  const pmd = ["Sec-WebSocket-Extensions: permessage-deflate"];
  add("12.0.1", "compressed and uncompressed messages mixed", async ({ port }) => {
    const c = await open(port, pmd);
    const inflate = streamInflate();
    for (let i = 0; i < 20; i++) {
      const p = enc.encode(`message ${i} `.repeat(i * 10 + 1));
      await c.send({ opcode: i % 3 ? TEXT : BIN, payload: i % 2 ? deflate(p) : p, rsv: i % 2 ? 4 : 0 });
      const m = await c.readMessage();
      assert(m);
      assertEquals(m.opcode, i % 3 ? TEXT : BIN);
      assertEquals(Array.from(m.rsv & 4 ? inflate(m.payload) : m.payload), Array.from(p));
    }
    await cleanClose(c);
  });
  for (const [i, fs] of [1, 17, 1000].entries()) {
    add(`12.0.2.${i + 1}`, `compressed message in ${fs}-byte fragments`, async ({ port }) => {
      const c = await open(port, pmd);
      const inflate = streamInflate();
      const p = enc.encode("fragmented and compressed ".repeat(400));
      const z = deflate(p);
      for (let o = 0; o < z.length; o += fs) {
        await c.send({
          opcode: o === 0 ? TEXT : CONT,
          payload: z.subarray(o, o + fs),
          fin: o + fs >= z.length,
          rsv: o === 0 ? 4 : 0,
        });
      }
      const m = await c.readMessage();
      assert(m);
      assertEquals(new TextDecoder().decode(m.rsv & 4 ? inflate(m.payload) : m.payload), new TextDecoder().decode(p));
      await cleanClose(c);
    });
  }
  add("12.0.3", "RSV1 on a continuation frame: 1002", async ({ port }) => {
    const c = await open(port, pmd);
    const z = deflate(enc.encode("abcabcabc"));
    await c.send({ opcode: TEXT, payload: z.subarray(0, 2), fin: false, rsv: 4 });
    await c.send({ opcode: CONT, payload: z.subarray(2), rsv: 4 });
    await expectFail(c, 1002);
  });
  add("12.0.4", "a small compressed frame inflating past --max-message: 1009", async ({ smallPort }) => {
    const c = await open(smallPort, pmd);
    const z = deflate(new Uint8Array(10 * 1024 * 1024)); // ~10 KiB on the wire
    assert(z.length < SMALL_MAX);
    await c.send({ opcode: BIN, payload: z, rsv: 4 });
    await expectFail(c, 1009);
  });
  add("12.0.5", "corrupt deflate data: 1007", async ({ port }) => {
    const c = await open(port, pmd);
    await c.send({ opcode: BIN, payload: hex("ff ff ff ff 00 13 37"), rsv: 4 });
    await expectFail(c, 1007);
  });
  add("12.0.6", "compressed text with invalid UTF-8: 1007", async ({ port }) => {
    const c = await open(port, pmd);
    await c.send({ opcode: TEXT, payload: deflate(hex("cebae1bdb9cf83cebcceb5eda080656469746564")), rsv: 4 });
    await expectFail(c, 1007);
  });
  add(
    "12.0.8",
    "client context takeover: each message refers back to earlier ones (Python zlib stream)",
    async ({ port }) => {
      const py = `
import zlib, sys
c = zlib.compressobj(6, zlib.DEFLATED, -15)
for i in range(40):
    m = ("REGISTER sip:pbx.example.com SIP/2.0\\r\\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK%d\\r\\nCSeq: %d REGISTER\\r\\n" % (i, i)).encode() * (1 + i % 3)
    if i == 7: m = bytes(range(256)) * 300
    z = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(b"\\x00\\x00\\xff\\xff")
    print(m.hex(), z[:-4].hex())
`;
      const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", py], stdout: "piped" }).output();
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => l.split(" ").map(hex));
      assertEquals(lines.length, 40);
      const c = await open(port, pmd);
      assertEquals(c.header("Sec-WebSocket-Extensions"), "permessage-deflate");
      const inflate = streamInflate();
      for (const [i, [plain, z]] of lines.entries()) {
        if (i % 5 === 4) {
          // fragmented compressed message, and an uncompressed one in between (it does not touch the window)
          await c.send({ opcode: BIN, payload: z.subarray(0, 3), fin: false, rsv: 4 });
          await c.send({ opcode: CONT, payload: z.subarray(3) });
          const m = await c.readMessage();
          assert(m);
          assertEquals(Array.from(m.rsv & 4 ? inflate(m.payload) : m.payload), Array.from(plain));
          await c.send({ opcode: TEXT, payload: "plain in between" });
          await expectEcho(c, TEXT, enc.encode("plain in between"));
          continue;
        }
        await c.send({ opcode: BIN, payload: z, rsv: 4 });
        const m = await c.readMessage();
        assert(m, `no echo for message ${i}`);
        assertEquals(Array.from(m.rsv & 4 ? inflate(m.payload) : m.payload), Array.from(plain), `message ${i}`);
      }
      await cleanClose(c);
    },
  );
  add("12.0.9", "context-takeover inflate bomb is bounded: 1009", async ({ smallPort }) => {
    const c = await open(smallPort, pmd);
    const z = deflate(new Uint8Array(8 * 1024 * 1024));
    await c.send({ opcode: BIN, payload: z, rsv: 4 });
    await expectFail(c, 1009);
  });
  add(
    "12.0.10",
    "server context takeover: repeated messages shrink to a few bytes; zlib inflates the stream",
    async ({ port }) => {
      const c = await open(port, pmd);
      assertEquals(c.header("Sec-WebSocket-Extensions"), "permessage-deflate");
      const inflate = streamInflate();
      const sent: Uint8Array[] = [];
      const packed: Uint8Array[] = [];
      for (let i = 0; i < 30; i++) {
        // the same SIP-like message, changing only a counter; sent uncompressed, echoed compressed
        const p = enc.encode(
          `OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK${i % 3}\r\n` +
            "Max-Forwards: 70\r\nFrom: <sip:alice@pbx.example.com>;tag=8e2f\r\nTo: <sip:bob@pbx.example.com>\r\n" +
            `Call-ID: 3c26700a19c4@pbx.example.com\r\nCSeq: ${i % 3} OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        );
        await c.send({ opcode: TEXT, payload: p });
        const m = await c.readMessage();
        assert(m, `no echo for message ${i}`);
        assertEquals(m.rsv & 4, 4, "compressed");
        assertEquals(new TextDecoder().decode(inflate(m.payload)), new TextDecoder().decode(p), `message ${i}`);
        sent.push(p);
        packed.push(m.payload);
      }
      const first = packed[0].length;
      const later = Math.max(...packed.slice(3).map((z) => z.length));
      assert(later * 4 < first, `repeated messages compress much smaller (${first} bytes, then at most ${later})`);
      const py = await pyInflate(packed, 15);
      assertEquals(py.map((b) => new TextDecoder().decode(b)), sent.map((b) => new TextDecoder().decode(b)));
      await cleanClose(c);
    },
  );
  add("12.0.7", "empty compressed message (single 0x00 block)", async ({ port }) => {
    const c = await open(port, pmd);
    const inflate = streamInflate();
    await c.send({ opcode: TEXT, payload: hex("00"), rsv: 4 });
    const m = await c.readMessage();
    assert(m);
    assertEquals((m.rsv & 4 ? inflate(m.payload) : m.payload).length, 0);
    await cleanClose(c);
  });

  // Autobahn's 12.x and 13.x matrix: per corpus (12.1-12.5) or per permessage-deflate offer (13.1-13.7), 18 cases of
  // payload size x client auto-fragmentation of the compressed frame, 1000 messages per case as Autobahn sends.
  const MATRIX: [number, number][] = [
    [16, 0],
    [64, 0],
    [256, 0],
    [1024, 0],
    [4096, 0],
    [8192, 0],
    [16384, 0],
    [32768, 0],
    [65536, 0],
    [131072, 0],
    [8192, 256],
    [16384, 256],
    [32768, 256],
    [65536, 256],
    [131072, 256],
    [131072, 1024],
    [131072, 4096],
    [131072, 32768],
  ];
  const MATRIX_COUNT = 1000;
  /** Messages a matrix case keeps in flight before it reads the oldest echo. */
  const MATRIX_WINDOW = 4;
  const corpora: [string, string, number, () => Uint8Array][] = [
    ["12.1", "JSON (text)", TEXT, () => corpusJson(194_056)],
    ["12.2", "bitmap (binary)", BIN, () => corpusBitmap(263_222)],
    ["12.3", "German prose (text, non-ASCII)", TEXT, () => corpusProse(222_218)],
    ["12.4", "HTML (text)", TEXT, () => corpusHtml(220_566)],
    ["12.5", "PDF-like (binary, partly incompressible)", BIN, () => corpusPdf(1_042_328)],
  ];
  const matrixOffers: [string, string][] = [
    ["13.1", "permessage-deflate; client_max_window_bits"],
    ["13.2", "permessage-deflate; server_no_context_takeover; client_max_window_bits"],
    ["13.3", "permessage-deflate; server_max_window_bits=8; client_max_window_bits"],
    ["13.4", "permessage-deflate; server_max_window_bits=15; client_max_window_bits"],
    ["13.5", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits"],
    ["13.6", "permessage-deflate; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits"],
    [
      "13.7",
      "permessage-deflate; server_max_window_bits=8; client_max_window_bits, " +
      "permessage-deflate; server_no_context_takeover; client_max_window_bits, permessage-deflate; client_max_window_bits",
    ],
  ];
  const cache = new Map<string, Uint8Array>();
  const matrixCase = async (
    port: number,
    o: { offer: string; opcode: number; corpus: Uint8Array; size: number; frag: number },
  ): Promise<void> => {
    const c = await open(port, [`Sec-WebSocket-Extensions: ${o.offer}`]);
    const got = c.header("Sec-WebSocket-Extensions") ?? "";
    assert(got.startsWith("permessage-deflate"), `negotiated: ${got}`);
    const serverTakeover = !/server_no_context_takeover/.test(got);
    const clientBits = Number(/client_max_window_bits=(\d+)/.exec(got)?.[1] ?? 15);
    const inflateServer = serverTakeover ? streamInflate() : inflate;
    const serverBits = /server_max_window_bits=(\d+)/.exec(got)?.[1];
    const sent: Uint8Array[] = [], packed: Uint8Array[] = [];
    // Up to MATRIX_WINDOW messages in flight, so the client's zlib and the server's overlap; echoes are checked in
    // order as they come back.
    const inFlight: Uint8Array[] = [];
    let checked = 0;
    const checkEcho = async (): Promise<void> => {
      const p = inFlight.shift()!;
      const i = checked++;
      const m = await c.readMessage();
      assert(m, `no echo for message ${i} (${o.size} bytes)`);
      assertEquals(m.opcode, o.opcode);
      const back = m.rsv & 4 ? inflateServer(m.payload) : m.payload;
      assert(equalBytes(back, p), `message ${i} (${o.size} bytes) came back changed`);
      if (m.rsv & 4) {
        sent.push(p);
        packed.push(m.payload);
      }
    };
    for (let i = 0; i < MATRIX_COUNT; i++) {
      const p = slice(o.corpus, { at: (i * 7919 * o.size) % o.corpus.length, size: o.size, text: o.opcode === TEXT });
      // zlib level 1 on the client side: any valid stream must inflate on the server, and it keeps the client cheap
      const z = deflate(p, Math.max(9, clientBits), 1);
      if (o.frag === 0 || z.length <= o.frag) await c.send({ opcode: o.opcode, payload: z, rsv: 4 });
      else {
        const frames: SendFrame[] = [];
        for (let at = 0; at < z.length; at += o.frag) {
          const last = at + o.frag >= z.length;
          frames.push({
            opcode: at === 0 ? o.opcode : CONT,
            payload: z.subarray(at, at + o.frag),
            fin: last,
            rsv: at === 0 ? 4 : 0,
          });
        }
        await c.write(concatFrames(frames));
      }
      inFlight.push(p);
      if (inFlight.length >= MATRIX_WINDOW) await checkEcho();
    }
    while (inFlight.length) await checkEcho();
    assertEquals(checked, MATRIX_COUNT, "every message came back");
    if (serverBits !== undefined && Number(serverBits) < 15 && packed.length > 0) {
      // a window smaller than 15 was agreed: zlib inflating with that window must read the server's stream
      const py = await pyInflate(packed, Number(serverBits));
      assert(py.every((b, i) => equalBytes(b, sent[i])), `zlib with a ${serverBits}-bit window reads the stream`);
    }
    await cleanClose(c);
  };
  for (const [group, what, opcode, make] of corpora) {
    MATRIX.forEach(([size, frag], i) =>
      add(`${group}.${i + 1}`, `${MATRIX_COUNT} x ${size} B of ${what}, fragments ${frag || "none"}`, ({ port }) => {
        const corpus = cache.get(group) ?? make();
        cache.set(group, corpus);
        return matrixCase(port, { offer: "permessage-deflate; client_max_window_bits", opcode, corpus, size, frag });
      })
    );
  }
  for (const [group, offer] of matrixOffers) {
    MATRIX.forEach(([size, frag], i) =>
      add(
        `${group}.${i + 1}`,
        `${MATRIX_COUNT} x ${size} B, fragments ${frag || "none"}, offer '${offer}'`,
        ({ port }) => {
          const corpus = cache.get("12.1") ?? corpusJson(194_056);
          cache.set("12.1", corpus);
          return matrixCase(port, { offer, opcode: TEXT, corpus, size, frag });
        },
      )
    );
  }
}

// ---------------------------------------------------------------- runner
/**
 * The number of cases the suite must hold (Autobahn's categories as listed in the module comment). Dropping or
 * skipping cases changes it and fails the run.
 */
const EXPECTED_CASES = 570;

/**
 * Start `pbxkit ws-serve --echo` as its own process (the real CLI, and a second core for the server while this
 * process runs the client side's zlib); resolves with it and its port.
 */
async function startServer(maxMessage: number): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(
    cliArgv([
      "ws-serve",
      "--port",
      "0",
      "--echo",
      "--json",
      "--max-message",
      String(maxMessage),
      "--idle-timeout",
      "0",
    ]),
  );
  const line = await waitFor(() => proc.stdout.split("\n").find((l) => l.startsWith("{")), {
    timeoutMs: 30_000,
    what: "ws-serve's listening line",
  }).catch((err) => {
    throw new Error(`${err.message}; stderr: ${proc.stderr.trim()}`);
  });
  return { proc, port: JSON.parse(line).port };
}

Deno.test({
  name: "ws conformance: Autobahn categories 1-7, 9, 10, 12, 13 plus handshake",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const servers: Proc[] = [];
    try {
      const main = await startServer(MAX);
      servers.push(main.proc);
      const small = await startServer(SMALL_MAX);
      servers.push(small.proc);
      const ctx: Ctx = { port: main.port, smallPort: small.port };
      let passed = 0;
      const failed: string[] = [];
      for (const c of cases) {
        const ok = await t.step(`${c.id} ${c.desc}`, () => c.fn(ctx));
        if (ok) passed++;
        else failed.push(c.id);
      }
      console.log(
        `ws conformance: ${passed}/${cases.length} cases passed${failed.length ? `; failed: ${failed.join(" ")}` : ""}`,
      );
      assertEquals(failed, []);
      assertEquals(cases.length, EXPECTED_CASES, "the suite's own case count");
      assertEquals(new Set(cases.map((c) => c.id)).size, cases.length, "case ids are unique");
      // The server survived every hostile case: it still echoes.
      const c = await open(ctx.port);
      await c.send({ opcode: TEXT, payload: "still alive" });
      await expectEcho(c, TEXT, enc.encode("still alive"));
      await cleanClose(c);
    } finally {
      for (const s of servers) {
        const st = await s.stop("SIGTERM", 5000);
        assertEquals(st.code, 0, `ws-serve exited cleanly on SIGTERM: ${s.stderr.trim()}`);
      }
    }
  },
});
