/**
 * The fleet's pipelined publish bookkeeping without sockets: JetStream acknowledgements as nats-server 2.9 sends
 * them (and its error replies), the window's send order and limit, errors and stalls failing the rest, late and
 * repeated acknowledgements ignored.
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { parsePubAck, PublishWindow } from "../../lib/ban/fleet/mod.ts";

const enc = new TextEncoder();
const OK = { ok: true as const, seq: 1 };

Deno.test("parsePubAck: acknowledgements and errors as nats-server sends them", () => {
  // the bytes nats-server 2.9.10 answers a plain publish to a KV subject with (captured from a loopback server)
  assertEquals(parsePubAck(enc.encode('{"stream":"KV_b", "seq":1}')), { ok: true, seq: 1 });
  assertEquals(parsePubAck(enc.encode('{"stream":"KV_b","domain":"hub","seq":7,"duplicate":true}')), {
    ok: true,
    seq: 7,
  });
  // a value over the bucket's max_msg_size: the error comes with "seq":0
  const err = parsePubAck(
    enc.encode(
      '{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"},"stream":"KV_b","seq":0}',
    ),
  );
  assertEquals(err, { ok: false, error: "400 message size exceeds maximum allowed" });
  // a subject no stream listens on: an empty payload with a 503 (no responders) status header
  assertEquals(parsePubAck(new Uint8Array(0), 503), { ok: false, error: "status 503" });
  assert(!parsePubAck(enc.encode("+OK")).ok);
  assert(!parsePubAck(enc.encode("null")).ok);
  assert(!parsePubAck(enc.encode('{"stream":"KV_b"}')).ok);
  assert(!parsePubAck(enc.encode('{"stream":"KV_b","seq":0}')).ok);
  assert(!parsePubAck(enc.encode('{"stream":"KV_b","seq":"3"}')).ok);
});

Deno.test("PublishWindow: sends in order, at most `window` in flight, refills as acknowledgements come", () => {
  const w = new PublishWindow(5, { window: 2, stallMs: 1000 }, 0);
  assertEquals([w.next(0), w.next(0), w.next(0)], [0, 1, undefined]);
  w.ack(1, OK, 1); // out of order is fine
  assertEquals([w.next(1), w.next(1)], [2, undefined]);
  w.ack(0, OK, 2);
  w.ack(2, OK, 2);
  assertEquals([w.next(2), w.next(2), w.next(2)], [3, 4, undefined]);
  assert(!w.done);
  w.ack(4, OK, 3);
  w.ack(3, OK, 3);
  assert(w.done);
  assertEquals(w.result(), { ok: [0, 1, 2, 3, 4], failed: [] });
  assertEquals(w.error, undefined);
});

Deno.test("PublishWindow: an error reply fails the rest, what was in flight included; late acks are ignored", () => {
  const w = new PublishWindow(6, { window: 3, stallMs: 1000 }, 0);
  for (let i = 0; i < 3; i++) w.next(0);
  w.ack(0, OK, 1);
  w.ack(1, { ok: false, error: "503 no stream" }, 1);
  assertEquals(w.next(1), undefined);
  assert(w.done);
  // record 2 may still be stored: its late acknowledgement changes nothing (it is sent again from the outbox)
  w.ack(2, OK, 2);
  w.ack(0, OK, 2);
  assertEquals(w.result(), { ok: [0], failed: [1, 2, 3, 4, 5] });
  assertEquals(w.error, "503 no stream");
});

Deno.test("PublishWindow: no acknowledgement for stallMs fails the rest; the clock restarts on progress", () => {
  const w = new PublishWindow(4, { window: 2, stallMs: 100 }, 0);
  assertEquals(w.deadline(), undefined);
  w.next(10);
  w.next(10);
  assertEquals(w.deadline(), 110);
  w.tick(109);
  assert(!w.done);
  w.ack(0, OK, 90); // progress moves the deadline
  assertEquals(w.deadline(), 190);
  w.next(90);
  w.tick(150);
  assert(!w.done);
  w.tick(190);
  assert(w.done);
  assertEquals(w.result(), { ok: [0], failed: [1, 2, 3] });
  assertEquals(w.error, "no acknowledgement");
});

Deno.test("PublishWindow: a send that throws fails it and the rest; an empty batch is done at once", () => {
  const w = new PublishWindow(3, { window: 8, stallMs: 100 }, 0);
  assertEquals(w.next(0), 0);
  w.sendFailed(0, "connection closed");
  assertEquals(w.next(0), undefined);
  assertEquals(w.result(), { ok: [], failed: [0, 1, 2] });
  assert(new PublishWindow(0, { window: 8, stallMs: 100 }, 0).done);
});
