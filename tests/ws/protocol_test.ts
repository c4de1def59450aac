/**
 * Unit tests of the sans-I/O core (no sockets): framing, masking, UTF-8, close rules, deflate negotiation,
 * handshake parsing, and a client Protocol talking to a server Protocol through plain byte arrays.
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "../_util/assert.ts";
import {
  acceptKey,
  checkClientResponse,
  clientRequest,
  CloseCode,
  compressMessage,
  decompressMessage,
  findHeadEnd,
  isValidCloseCode,
  isValidUtf8,
  maskInPlace,
  negotiateDeflateServer,
  parseExtensions,
  parseRequestHead,
  parseResponseHead,
  Protocol,
  type ProtocolEvent,
  serverHandshake,
  StreamDeflater,
  Utf8Validator,
} from "../../lib/ws/mod.ts";
import { encodeFrame } from "./_raw_client.ts";
import { concat } from "../_util/mod.ts";
import { unmaskAscii } from "../../lib/ws/frame.ts";
import { SimdKernel } from "../../lib/ws/simd.ts";
import { safeSegments } from "../../lib/ws/static.ts";
import { parseProxySpec } from "../../lib/ws/proxy.ts";
import { PbxError } from "../../lib/common/mod.ts";
import { Inflate } from "fflate";
import zlib from "node:zlib";

const enc = new TextEncoder();

/** Pipe everything `from` has to send into `to`; returns `to`'s events. */
function pipe(from: Protocol, to: Protocol): ProtocolEvent[] {
  to.receive(concat(from.dataToSend()));
  return [...to.events()];
}

Deno.test("maskInPlace: word-wise equals byte-wise for every alignment, length and phase", () => {
  const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
  const backing = new Uint8Array(300);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 31) & 255;
  const words = new Uint32Array(backing.buffer);
  for (const start of [0, 1, 2, 3, 5]) {
    for (const len of [0, 1, 3, 4, 15, 16, 17, 64, 250]) {
      for (const phase of [0, 1, 2, 3]) {
        const a = backing.slice(), b = backing.slice();
        const pa = maskInPlace(a, start, start + len, key, phase, new Uint32Array(a.buffer));
        const pb = maskInPlace(b, start, start + len, key, phase);
        assertEquals(pa, pb);
        assertEquals(Array.from(a), Array.from(b));
        assertEquals(pa, (phase + len) & 3);
      }
    }
  }
  assert(words.length > 0);
  // The fused unmask + ASCII check gives the same bytes and tells non-ASCII apart, wherever the high byte is.
  for (const start of [0, 1, 3]) {
    for (const len of [0, 5, 16, 33, 200]) {
      for (const phase of [0, 2, 3]) {
        const plain = new Uint8Array(300).fill(0x41);
        const masked = plain.slice();
        maskInPlace(masked, start, start + len, key, phase);
        const a = masked.slice();
        assert(unmaskAscii(a, start, start + len, key, phase, new Uint32Array(a.buffer)));
        assertEquals(Array.from(a), Array.from(plain));
        for (const hiAt of len > 0 ? [0, len >> 1, len - 1] : []) {
          const p2 = plain.slice();
          p2[start + hiAt] = 0xc3;
          const m2 = p2.slice();
          maskInPlace(m2, start, start + len, key, phase);
          assert(!unmaskAscii(m2, start, start + len, key, phase, new Uint32Array(m2.buffer)), `hi at ${hiAt}`);
          assertEquals(Array.from(m2), Array.from(p2));
        }
      }
    }
  }
});

Deno.test("Utf8Validator: incremental, fail-fast, word-wise ASCII path", () => {
  const s = enc.encode("ascii only ".repeat(10) + "κόσμε 😀 end");
  assert(isValidUtf8(s));
  // Every split point gives the same answer.
  for (let cut = 0; cut <= s.length; cut++) {
    const v = new Utf8Validator();
    assert(v.push(s, 0, cut) && v.push(s, cut, s.length) && v.complete, `cut ${cut}`);
  }
  const v = new Utf8Validator();
  assert(v.push(new Uint8Array([0xf0, 0x9f])));
  assert(!v.complete, "a partial code point is not complete");
  assert(!new Utf8Validator().push(new Uint8Array([0xed, 0xa0, 0x80])), "surrogates are invalid");
  assert(!new Utf8Validator().push(new Uint8Array([0xc0, 0xaf])), "overlong is invalid");
  const big = new Uint8Array(1000).fill(0x41);
  big[999] = 0xff;
  assert(!new Utf8Validator().push(big, 0, 1000, new Uint32Array(big.buffer)));
  big[999] = 0x41;
  assert(new Utf8Validator().push(big, 0, 1000, new Uint32Array(big.buffer)));
});

Deno.test("close codes: valid and invalid", () => {
  for (const c of [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999]) assert(isValidCloseCode(c), String(c));
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) assert(!isValidCloseCode(c), String(c));
});

Deno.test("Protocol: client and server exchange messages of every length form, masked one way only", () => {
  const server = new Protocol({ role: "server" });
  const client = new Protocol({ role: "client" });
  for (const n of [0, 1, 125, 126, 65535, 65536, 200_000]) {
    const data = new Uint8Array(n).map((_, i) => i & 255);
    client.send(data);
    const wire = concat(client.dataToSend());
    assertEquals(wire[1] & 0x80, 0x80, "client frames are masked");
    server.receive(wire);
    const ev = server.events();
    assertEquals(ev.length, 1);
    assert(ev[0].type === "message" && !ev[0].text && ev[0].data.length === n);
    assert(ev[0].type === "message" && ev[0].data.every((x, i) => x === (i & 255)));
    server.send(ev[0].data);
    const back = concat(server.dataToSend());
    assertEquals(back[1] & 0x80, 0, "server frames are not masked");
    client.receive(back);
    const ce = client.events();
    assert(ce[0].type === "message" && ce[0].data.length === n);
  }
});

Deno.test("Protocol: bytes fed one at a time give the same events", () => {
  const server = new Protocol();
  const wire = concat([
    encodeFrame({ opcode: 1, payload: "frag", fin: false }),
    encodeFrame({ opcode: 9, payload: "ping!" }),
    encodeFrame({ opcode: 0, payload: "ment κόσμε" }),
    encodeFrame({ opcode: 2, payload: new Uint8Array(300).fill(7) }),
  ]);
  const events: ProtocolEvent[] = [];
  for (let i = 0; i < wire.length; i++) {
    server.receive(wire.slice(i, i + 1));
    events.push(...server.events());
  }
  assertEquals(events.map((e) => e.type), ["ping", "message", "message"]);
  assert(events[1].type === "message" && new TextDecoder().decode(events[1].data) === "fragment κόσμε");
  // The ping was answered automatically with the same payload.
  const out = concat(server.dataToSend());
  assertEquals(out[0], 0x8a);
  assertEquals(new TextDecoder().decode(out.subarray(2)), "ping!");
});

Deno.test("Protocol: failures queue the right close code after earlier answers, then ignore input", () => {
  const cases: [Uint8Array, number][] = [
    [encodeFrame({ opcode: 1, payload: "x", mask: false }), CloseCode.ProtocolError],
    [encodeFrame({ opcode: 3 }), CloseCode.ProtocolError],
    [encodeFrame({ opcode: 9, payload: new Uint8Array(126) }), CloseCode.ProtocolError],
    [encodeFrame({ opcode: 1, payload: new Uint8Array([0xff]) }), CloseCode.InvalidPayload],
    [encodeFrame({ opcode: 8, payload: new Uint8Array([3]) }), CloseCode.ProtocolError],
    [encodeFrame({ opcode: 2, payload: new Uint8Array(2000) }), CloseCode.TooBig],
  ];
  for (const [frame, code] of cases) {
    const p = new Protocol({ maxMessage: 1000 });
    p.receive(
      concat([encodeFrame({ opcode: 1, payload: "first" }), frame, encodeFrame({ opcode: 1, payload: "ignored" })]),
    );
    const ev = [...p.events()];
    assertEquals(ev.map((e) => e.type), ["message", "error"]);
    assert(ev[1].type === "error" && ev[1].code === code, `${ev[1].type === "error" ? ev[1].code : ""} != ${code}`);
    assert(p.canSend, "an answer to the first message may still go before the close");
    p.send("first");
    const out = concat(p.dataToSend());
    assertEquals(out[0], 0x81); // the echo first
    assertEquals(out[7], 0x88); // then the close
    assertEquals((out[9] << 8) | out[10], code);
    assertEquals(p.state, "closed");
    assert(p.shouldCloseTransport);
    assertThrows(() => p.send("late"));
  }
});

Deno.test("Protocol: close handshake both ways", () => {
  const server = new Protocol();
  const client = new Protocol({ role: "client" });
  client.close(4000, "bye");
  assertEquals(client.state, "closing");
  const ev = pipe(client, server);
  assert(ev[0].type === "close" && ev[0].code === 4000 && ev[0].reason === "bye");
  assertEquals(server.state, "closed");
  const back = pipe(server, client);
  assert(back[0].type === "close" && back[0].code === 4000);
  assertEquals(client.state, "closed");
  // A long reason is cut to fit a 125-byte control frame at a character boundary.
  const c2 = new Protocol({ role: "client" });
  c2.close(1000, "é".repeat(100));
  const f = concat(c2.dataToSend());
  assert((f[1] & 0x7f) <= 125);
  assertThrows(() => new Protocol().close(1005));
});

Deno.test("Protocol: EOF without a close frame is abnormal (1006)", () => {
  const p = new Protocol();
  p.receiveEof();
  assertEquals(p.closeCode, 1006);
  assertEquals(p.state, "closed");
});

Deno.test("permessage-deflate: negotiation, round trip and the inflate bound", () => {
  assertEquals(parseExtensions('permessage-deflate; client_max_window_bits, foo; a="b"')[1].params, [["a", "b"]]);
  const n = negotiateDeflateServer("permessage-deflate; server_max_window_bits=10");
  assert(n && /server_max_window_bits=10/.test(n.response) && n.params.windowBits === 10);
  assertEquals(negotiateDeflateServer("permessage-deflate; bogus"), undefined);
  assertEquals(negotiateDeflateServer("permessage-deflate; server_max_window_bits=16"), undefined);
  const fallback = negotiateDeflateServer("permessage-deflate; client_max_window_bits=20, permessage-deflate");
  assert(fallback !== undefined, "the second, valid offer is taken");
  const params = n.params;
  const server = new Protocol({ deflate: params });
  const text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid\r\n".repeat(20);
  server.send(text);
  const wire = concat(server.dataToSend());
  assertEquals(wire[0] & 0x40, 0x40, "RSV1 marks the compressed message");
  assert(wire.length < text.length / 3);
  const z = compressMessage(new Uint8Array(1 << 20), params);
  assertEquals(decompressMessage([z], 1000), "too-big");
  assertEquals((decompressMessage([z], 1 << 20) as Uint8Array).length, 1 << 20);
  assertEquals(decompressMessage([new Uint8Array([0xff, 0xff, 0x13])], 1000), "corrupt");
});

/** Split a server's (unmasked, unfragmented) output into [rsv1, payload] per frame. */
function serverFrames(wire: Uint8Array): [boolean, Uint8Array][] {
  const out: [boolean, Uint8Array][] = [];
  let o = 0;
  while (o < wire.length) {
    const rsv1 = (wire[o] & 0x40) !== 0;
    let len = wire[o + 1] & 0x7f;
    o += 2;
    if (len === 126) {
      len = (wire[o] << 8) | wire[o + 1];
      o += 2;
    } else if (len === 127) {
      len = Number(new DataView(wire.buffer, wire.byteOffset + o, 8).getBigUint64(0));
      o += 8;
    }
    out.push([rsv1, wire.subarray(o, o + len)]);
    o += len;
  }
  return out;
}

/** An inflater keeping its window across messages (fflate, independent of the zlib compressor under test). */
function streamingInflateBytes(): (p: Uint8Array) => Uint8Array {
  let out: Uint8Array[] = [];
  const z = new Inflate((c: Uint8Array) => out.push(c));
  return (p) => {
    out = [];
    z.push(concat([p, new Uint8Array([0, 0, 0xff, 0xff])]), false);
    return concat(out);
  };
}

/** {@linkcode streamingInflateBytes}, decoded as UTF-8. */
function streamingInflate(): (p: Uint8Array) => string {
  const inflate = streamingInflateBytes();
  return (p) => new TextDecoder().decode(inflate(p));
}

Deno.test("permessage-deflate: server context takeover negotiated unless refused; one window across messages", () => {
  const on = negotiateDeflateServer("permessage-deflate; client_max_window_bits");
  assert(on && on.response === "permessage-deflate" && on.params.contextTakeover === true);
  const refused = negotiateDeflateServer("permessage-deflate; server_no_context_takeover");
  assert(refused && /server_no_context_takeover/.test(refused.response) && !refused.params.contextTakeover);
  const forced = negotiateDeflateServer("permessage-deflate", { serverNoContextTakeover: true, memLevel: 4 });
  assert(forced && forced.response === "permessage-deflate; server_no_context_takeover");
  assertEquals(forced.params.contextTakeover, false);
  const small = negotiateDeflateServer("permessage-deflate; server_max_window_bits=10");
  assert(small && small.response === "permessage-deflate; server_max_window_bits=10" && small.params.contextTakeover);

  const sip = (i: number) =>
    `OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK${i}\r\n` +
    `From: <sip:alice@pbx.example.com>;tag=8e2f\r\nTo: <sip:bob@pbx.example.com>\r\nCSeq: ${i} OPTIONS\r\n\r\n`;
  for (const [label, params] of [["context takeover", on.params], ["no context takeover", refused.params]] as const) {
    const server = new Protocol({ deflate: params });
    const texts = [sip(1), sip(1), sip(2), "tiny", sip(3), "x".repeat(70_000), sip(4), sip(4)];
    for (const t of texts) server.send(t);
    const frames = serverFrames(concat(server.dataToSend()));
    assertEquals(frames.length, texts.length);
    assertEquals(frames[3][0], false, "a message under the threshold goes uncompressed (and leaves the window)");
    const inflate = streamingInflate();
    const back = frames.map(([rsv1, p]) => rsv1 ? inflate(p) : new TextDecoder().decode(p));
    assertEquals(back, texts, label);
    const [a, b] = [frames[0][1].length, frames[1][1].length];
    if (params.contextTakeover) {
      assert(b * 5 < a, `${label}: the second identical message is much smaller (${a} then ${b} bytes)`);
      assert(frames[7][1].length < 12, `${label}: a repeat after other messages is still tiny`);
    } else {
      assertEquals(a, b, `${label}: every message compressed on its own`);
      // and each inflates alone
      for (const [i, [, p]] of frames.entries()) if (i !== 3) assertEquals(streamingInflate()(p), texts[i]);
    }
    server.release();
    server.release();
  }
  // the compressor on its own: released, it refuses further work
  const d = new StreamDeflater({ windowBits: 9, level: 1, threshold: 0, memLevel: 1 });
  const big = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
  const z1 = d.compress(big);
  const z2 = d.compress(new Uint8Array(0));
  // (native zlib here: fflate's Inflate mis-handles hundreds of stored blocks pushed at once)
  const back = zlib.inflateRawSync(concat([z1, z2, new Uint8Array([0, 0, 0xff, 0xff])]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    windowBits: 9,
  });
  assertEquals(back.length, big.length);
  assert(back.every((b, i) => b === big[i]), "a 300 kB message through a 512-byte window inflates intact");
  d.close();
  assertThrows(() => d.compress(big), PbxError);
});

Deno.test("handshake: accept key (RFC 6455 sample), refusals, subprotocol choice", () => {
  assertEquals(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const raw = (extra: string) =>
    enc.encode(
      "GET /pbxws HTTP/1.1\r\nHost: pbx\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
  const head = raw("Sec-WebSocket-Protocol: chat, sip\r\nOrigin: https://pbx.example.com\r\n");
  assertEquals(findHeadEnd(head), head.length);
  const req = parseRequestHead(head);
  const ok = serverHandshake(req, { subprotocols: ["sip", "chat"] });
  assert(ok.ok && ok.protocol === "sip");
  const denied = serverHandshake(req, { origins: ["https://other.example.com"] });
  assert(!denied.ok && denied.response.status === 403);
  const allowed = serverHandshake(req, { origins: ["https://pbx.example.com"] });
  assert(allowed.ok);
  const none = serverHandshake(parseRequestHead(raw("Sec-WebSocket-Protocol: xmpp\r\n")), { subprotocols: ["sip"] });
  assert(none.ok && none.protocol === undefined);
  assertThrows(() => parseRequestHead(enc.encode("GET / HTTP/1.1\r\n bad: fold\r\n\r\n")));
});

Deno.test("client side (as `pbxkit call` uses it): request, answer checks, odd chunks, masking, refusals", () => {
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const req = clientRequest({ host: "pbx.example:8443", path: "/ws?x=1", protocols: ["sip"], key });
  const text = new TextDecoder().decode(req.bytes);
  assertStringIncludes(text, "GET /ws?x=1 HTTP/1.1\r\nHost: pbx.example:8443\r\n");
  assertStringIncludes(text, "Sec-WebSocket-Protocol: sip\r\n");
  const check = (answer: string) => {
    const head = enc.encode(answer);
    return checkClientResponse(parseResponseHead(head.subarray(0, findHeadEnd(head))), { key, protocols: ["sip"] });
  };
  const answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
  assertEquals(check(answer).protocol, "sip");
  assertThrows(() => check("HTTP/1.1 403 Forbidden\r\n\r\n"), PbxError, "403");
  assertThrows(
    () => check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n"),
    PbxError,
    "Sec-WebSocket-Accept",
  );
  // the answer and two frames in odd chunks: "Hel" + "lo" fragmented, a ping in between
  const frames = concat([
    encodeFrame({ opcode: 1, payload: "Hel", fin: false, mask: false }),
    encodeFrame({ opcode: 9, payload: new Uint8Array([42]), mask: false }),
    encodeFrame({ opcode: 0, payload: "lo", mask: false }),
  ]);
  const all = concat([enc.encode(answer), frames]);
  assert(findHeadEnd(all.subarray(0, 20)) < 0, "no head end in a partial answer");
  const end = findHeadEnd(all);
  assertEquals(end, answer.length);
  const c = new Protocol({ role: "client" });
  c.receive(all.slice(end, all.length - 3));
  const ev = [...c.events()];
  c.receive(all.slice(all.length - 3));
  ev.push(...c.events());
  assertEquals(ev.map((e) => e.type), ["ping", "message"]);
  assert(ev[0].type === "ping" && ev[0].data.length === 1 && ev[0].data[0] === 42);
  assert(ev[1].type === "message" && ev[1].text && new TextDecoder().decode(ev[1].data) === "Hello");
  const pong = concat(c.dataToSend());
  assertEquals(pong[0], 0x8a, "the ping is answered");
  assertEquals(pong[1], 0x80 | 1, "with a masked pong");
  c.send("INVITE");
  const out = concat(c.dataToSend());
  assertEquals(out[0], 0x81);
  assertEquals(out[1], 0x80 | 6);
  const mask = out.subarray(2, 6);
  assertEquals(String.fromCharCode(...out.subarray(6).map((b, i) => b ^ mask[i & 3])), "INVITE");
  c.send("x".repeat(70000));
  assertEquals(concat(c.dataToSend())[1], 0x80 | 127);
  // a server's invalid UTF-8, a continuation without a start and an unknown opcode fail the connection
  const bad: [Uint8Array, number][] = [
    [new Uint8Array([0x81, 2, 0xc3, 0x28]), CloseCode.InvalidPayload],
    [new Uint8Array([0x80, 1, 65]), CloseCode.ProtocolError],
    [new Uint8Array([0x80 | 3, 0]), CloseCode.ProtocolError],
  ];
  for (const [frame, code] of bad) {
    const p = new Protocol({ role: "client" });
    p.receive(frame);
    const e = p.events();
    assert(e.length === 1 && e[0].type === "error" && e[0].code === code, `${JSON.stringify(e)} != ${code}`);
  }
});

Deno.test("static paths and proxy specs reject hostile input", () => {
  assertEquals(safeSegments("/a/b.html"), ["a", "b.html"]);
  assertEquals(safeSegments("/"), []);
  for (const bad of ["/../etc/passwd", "/a/%2e%2e/b", "/a/..%2fb", "/a%00b", "/a//b", "/%zz"]) {
    assertEquals(safeSegments(bad), undefined, bad);
  }
  assertEquals(parseProxySpec("/pbxws=ws://127.0.0.1:8088/ws").upstream.port, "8088");
  assertThrows(() => parseProxySpec("pbxws=ws://x"));
  assertThrows(() => parseProxySpec("/p=http://x"));
  assertThrows(() => parseProxySpec("/p"));
});

Deno.test("SIMD kernel: same bytes and ASCII verdict as the word loop; a Protocol on kernel memory decodes", () => {
  const k = SimdKernel.create();
  assert(k !== undefined, "WebAssembly SIMD is available in Deno");
  const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
  const buf = k.bytes.subarray(0, 65536);
  for (const [start, len, phase] of [[0, 100, 0], [3, 16384, 1], [5, 17, 2], [1, 15, 3], [7, 32, 1]]) {
    for (const hi of [-1, 0, len >> 1, len - 1]) {
      buf.fill(0x41, 0, 20000);
      if (hi >= 0) buf[start + hi] = 0xc3;
      const plain = buf.slice(0, 20000);
      maskInPlace(buf, start, start + len, key, phase);
      assertEquals(k.unmask(buf, start, start + len, key, phase), hi < 0);
      assert(buf.subarray(0, 20000).every((x, i) => x === plain[i]));
    }
  }
  const server = new Protocol({ simd: k });
  const frame = encodeFrame({ opcode: 1, payload: "κόσμε ".repeat(2000) + "ascii ".repeat(3000) });
  buf.set(frame);
  server.receive(buf, frame.length);
  const ev = server.events();
  assert(ev[0].type === "message" && new TextDecoder().decode(ev[0].data).startsWith("κόσμε"));
});
