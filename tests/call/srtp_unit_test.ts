/**
 * Unit tests for SDES-SRTP on plain RTP media (`lib/call/srtp.ts`): the RFC 3711 Appendix B.2 keystream and B.3 key
 * derivation vectors checked through werift's session (the library pbxkit uses), libsrtp's known-answer packet, and
 * pbxkit's SRTP/SRTCP packets
 * checked by a reference written here on Web Crypto (AES-CTR, HMAC-SHA1), an implementation independent of werift:
 * both directions, across a sequence-number rollover, tampered and truncated packets dropped and counted, SDP crypto
 * negotiation, and two RtpMedia endpoints on loopback hearing each other's tone over SRTP.
 */

import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "../_util/assert.ts";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from "werift";
import {
  acceptAnswer,
  acceptOffer,
  decodeSdesKey,
  loadSrtp,
  newSdesKey,
  pickCrypto,
  ReplayWindow,
  SDES_SUITE,
  srtpIndex,
  type SrtpMasterKey,
  SrtpTransform,
} from "../../lib/call/srtp.ts";
import { buildSdp, parseRemoteSdp } from "../../lib/call/rtp_sdp.ts";
import { FRAME, parseRtcp, rtcpReport, RtpSender } from "../../lib/call/rtp_stream.ts";
import { RtpMedia } from "../../lib/call/media_rtp.ts";
import { RtpPeerConnection } from "../../lib/call/rtp_pc.ts";
import { mulawToLinear, summarize, toneShare } from "../../lib/call/dsp.ts";
import { runCli } from "../_util/mod.ts";

await loadSrtp();

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!, (h) => parseInt(h, 16));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();

// ---- a reference SRTP (RFC 3711) on Web Crypto, independent of werift ----

/** AES-CM keystream: AES-CTR over zeros from the 128-bit counter `iv`. */
async function aesCm(key: Uint8Array, iv: Uint8Array, n: number): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", new Uint8Array(key), "AES-CTR", false, ["encrypt"]);
  const params = { name: "AES-CTR", counter: new Uint8Array(iv), length: 128 };
  return new Uint8Array(await crypto.subtle.encrypt(params, k, new Uint8Array(n)));
}

/** RFC 3711 §4.3.1 key derivation with kdr = 0: AES-CM(master key, (label << 48 XOR salt) << 16). */
function derive(m: SrtpMasterKey, label: number, n: number): Promise<Uint8Array> {
  const iv = new Uint8Array(16);
  iv.set(m.salt);
  iv[7] ^= label;
  return aesCm(m.key, iv, n);
}

async function hmac1(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", new Uint8Array(key), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, new Uint8Array(data))).subarray(0, 10);
}

/** The counter block of packet `index` (48 bits) of `ssrc`. */
function packetIv(salt: Uint8Array, ssrc: number, index: number): Uint8Array {
  const iv = new Uint8Array(16);
  iv.set(salt);
  const v = new DataView(iv.buffer);
  v.setUint32(4, v.getUint32(4) ^ ssrc);
  v.setUint32(8, v.getUint32(8) ^ Math.floor(index / 0x10000));
  v.setUint16(12, v.getUint16(12) ^ (index & 0xffff));
  return iv;
}

const xor = (a: Uint8Array, b: Uint8Array) => a.map((x, i) => x ^ b[i]);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
};
const be32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
};

/** Reference SRTP receiver/sender for a 12-byte-header RTP packet with a known rollover counter. */
const ref = {
  async unprotectRtp(m: SrtpMasterKey, pkt: Uint8Array, roc: number): Promise<Uint8Array | undefined> {
    const [key, salt, auth] = await Promise.all([derive(m, 0, 16), derive(m, 2, 14), derive(m, 1, 20)]);
    const body = pkt.subarray(0, pkt.length - 10), tag = pkt.subarray(pkt.length - 10);
    if (toHex(await hmac1(auth, cat(body, be32(roc)))) !== toHex(tag)) return undefined;
    const v = new DataView(pkt.buffer, pkt.byteOffset);
    const ks = await aesCm(key, packetIv(salt, v.getUint32(8), roc * 0x10000 + v.getUint16(2)), body.length - 12);
    return cat(body.subarray(0, 12), xor(body.subarray(12), ks));
  },
  async protectRtp(m: SrtpMasterKey, pkt: Uint8Array, roc: number): Promise<Uint8Array> {
    const [key, salt, auth] = await Promise.all([derive(m, 0, 16), derive(m, 2, 14), derive(m, 1, 20)]);
    const v = new DataView(pkt.buffer, pkt.byteOffset);
    const ks = await aesCm(key, packetIv(salt, v.getUint32(8), roc * 0x10000 + v.getUint16(2)), pkt.length - 12);
    const body = cat(pkt.subarray(0, 12), xor(pkt.subarray(12), ks));
    return cat(body, await hmac1(auth, cat(body, be32(roc))));
  },
  async unprotectRtcp(m: SrtpMasterKey, pkt: Uint8Array): Promise<{ rtcp: Uint8Array; index: number } | undefined> {
    const [key, salt, auth] = await Promise.all([derive(m, 3, 16), derive(m, 5, 14), derive(m, 4, 20)]);
    const signed = pkt.subarray(0, pkt.length - 10), tag = pkt.subarray(pkt.length - 10);
    if (toHex(await hmac1(auth, signed)) !== toHex(tag)) return undefined;
    const word = new DataView(pkt.buffer, pkt.byteOffset).getUint32(signed.length - 4);
    assert(word & 0x80000000, "SRTCP E flag (encrypted) set");
    const index = word & 0x7fffffff;
    const enc = signed.subarray(8, signed.length - 4);
    const ssrc = new DataView(pkt.buffer, pkt.byteOffset).getUint32(4);
    const ks = await aesCm(key, packetIv(salt, ssrc, index), enc.length);
    return { rtcp: cat(signed.subarray(0, 8), xor(enc, ks)), index };
  },
};

// ---- RFC 3711 Appendix B ----

const B3 = { key: hex("E1F97A0D3E018BE0D64FA32C06DE4139"), salt: hex("0EC675AD498AFEEBB6960B3AABE6") };

/** werift's SrtpSession keyed (both ways) with the B.3 master key and salt. */
function b3Session(): SrtpSession {
  return new SrtpSession({
    keys: {
      localMasterKey: Buffer.from(B3.key),
      localMasterSalt: Buffer.from(B3.salt),
      remoteMasterKey: Buffer.from(B3.key),
      remoteMasterSalt: Buffer.from(B3.salt),
    },
    profile: ProtectionProfileAes128CmHmacSha1_80,
  });
}

Deno.test("srtp: RFC 3711 B.3 key derivation, through werift's SrtpSession and through the Web Crypto reference", async () => {
  const s = b3Session();
  const c = s.localContext;
  assertEquals(toHex(c.srtpSessionKey), "C61E7A93744F39EE10734AFE3FF7A087");
  assertEquals(toHex(c.srtpSessionSalt), "30CBBC08863D8C85D49DB34A9AE1");
  assertEquals(toHex(c.srtpSessionAuthTag), "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
  assertEquals(toHex(await derive(B3, 0, 16)), "C61E7A93744F39EE10734AFE3FF7A087");
  assertEquals(toHex(await derive(B3, 2, 14)), "30CBBC08863D8C85D49DB34A9AE1");
  assertEquals(toHex(await derive(B3, 1, 20)), "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
});

Deno.test("srtp: RFC 3711 B.2 AES-CM keystream, through werift's cipher and the Web Crypto reference", async () => {
  const key = hex("2B7E151628AED2A6ABF7158809CF4F3C"), salt = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
  const want = "E03EAD0935C95E80E166B16DD92B4EB4" + "D23513162B02D0F72A43A2FE4A5F97AB" +
    "41E95B3BB0A2E8DD477901E4FCA894C0";
  const s = b3Session();
  // B.2 gives the keystream for session key/salt directly (SSRC 0, index 0): encrypting zeros yields it
  s.localContext.cipher.srtpSessionKey = Buffer.from(key);
  s.localContext.cipher.srtpSessionSalt = Buffer.from(salt);
  const header = new RtpHeader({ ssrc: 0, sequenceNumber: 0, payloadType: 0, timestamp: 0 });
  const out = s.localContext.cipher.encryptRtp(header, Buffer.alloc(48), 0);
  assertEquals(toHex(out.subarray(12, 60)), want);
  assertEquals(toHex(await aesCm(key, packetIv(salt, 0, 0), 48)), want);
  // the last blocks listed in B.2 (counter FEFF..FF01)
  const tail = await aesCm(
    key,
    (() => {
      const iv = packetIv(salt, 0, 0);
      iv[14] = 0xfe, iv[15] = 0xff;
      return iv;
    })(),
    48,
  );
  assertEquals(
    toHex(tail),
    "EC8CDF7398607CB0F2D21675EA9EA1E4" + "362B7C3C6773516318A077D7FC5073AE" + "6A2CC3787889374FBEB4C81B17BA6C44",
  );
});

Deno.test("srtp: libsrtp's AES_CM_128_HMAC_SHA1_80 known-answer packet (test/srtp_driver.c) from pbxkit's transform", () => {
  const m = decodeSdesKey(
    btoa(String.fromCharCode(...hex("E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6"))),
  );
  const t = new SrtpTransform(m, m);
  const plain = hex("800F1234DECAFBADCAFEBABE" + "AB".repeat(16));
  const wire = t.protectRtp(plain);
  assertEquals(
    toHex(wire),
    "800F1234DECAFBADCAFEBABE" + "4E55DC4CE79978D88CA4D215949D2402" + "B78D6ACC99EA179B8DBB",
  );
  assertEquals(toHex(t.unprotectRtp(wire)!), toHex(plain));
});

// ---- pbxkit's transform against the reference ----

function keys(): { a: SrtpMasterKey; b: SrtpMasterKey } {
  return { a: decodeSdesKey(newSdesKey()), b: decodeSdesKey(newSdesKey()) };
}

function rtpPacket(seq: number, fill = 0x55): Uint8Array {
  const p = new Uint8Array(12 + FRAME).fill(fill);
  p.set([0x80, 0x00]);
  const v = new DataView(p.buffer);
  v.setUint16(2, seq);
  v.setUint32(4, seq * FRAME);
  v.setUint32(8, 0xcafebabe);
  return p;
}

Deno.test("srtp: pbxkit's SRTP verifies and decrypts with the reference, and the reference's with pbxkit, over a rollover", async () => {
  const { a, b } = keys();
  const alice = new SrtpTransform(a, b), bob = new SrtpTransform(b, a);
  const seqs = [65533, 65534, 65535, 0, 1, 2];
  for (const [i, seq] of seqs.entries()) {
    const roc = seq < 100 ? 1 : 0;
    const plain = rtpPacket(seq, i + 1);
    const wire = alice.protectRtp(plain);
    assertEquals(wire.length, plain.length + 10, "10-byte HMAC-SHA1-80 tag");
    assertEquals(toHex(wire.subarray(0, 12)), toHex(plain.subarray(0, 12)), "header stays in clear");
    assertNotEquals(toHex(wire.subarray(12, 172)), toHex(plain.subarray(12)), "payload encrypted");
    assertEquals(toHex((await ref.unprotectRtp(a, wire, roc))!), toHex(plain), `reference decrypts seq ${seq}`);
    assertEquals(toHex(bob.unprotectRtp(wire)!), toHex(plain), `pbxkit decrypts seq ${seq}`);
    const back = await ref.protectRtp(b, plain, roc);
    assertEquals(toHex(alice.unprotectRtp(back)!), toHex(plain), `pbxkit decrypts the reference's seq ${seq}`);
  }
  assertEquals(alice.stats.protectedRtp, 6);
  assertEquals(alice.stats.unprotectedRtp, 6);
  assertEquals(alice.stats.rtpAuthFailures, 0);
});

Deno.test("srtp: pbxkit's SRTCP (E flag, index, tag) verifies and decrypts with the reference", async () => {
  const { a, b } = keys();
  const alice = new SrtpTransform(a, b), bob = new SrtpTransform(b, a);
  const rtcp = rtcpReport({
    ssrc: 0x01020304,
    cname: "pbxkit@test",
    sender: { ntpMs: Date.now(), rtpTs: 1234, packets: 10, octets: 1600 },
  });
  const indexes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const wire = alice.protectRtcp(rtcp);
    assertEquals(wire.length, rtcp.length + 4 + 10);
    assertEquals(toHex(wire.subarray(0, 8)), toHex(rtcp.subarray(0, 8)), "first 8 bytes in clear");
    const r = await ref.unprotectRtcp(a, wire);
    assert(r, "reference authenticates SRTCP");
    assertEquals(toHex(r.rtcp), toHex(rtcp));
    indexes.push(r.index);
    assertEquals(toHex(bob.unprotectRtcp(wire)!), toHex(rtcp));
  }
  assertEquals(indexes[1] - indexes[0], 1, `index increments: ${indexes}`);
  assertEquals(indexes[2] - indexes[1], 1);
  assertEquals(parseRtcp(bob.unprotectRtcp(alice.protectRtcp(rtcp))!)?.sr[0].packets, 10);
});

Deno.test("srtp: tampered, truncated, wrong-key and plain packets are dropped and counted, never thrown", () => {
  const { a, b } = keys();
  const alice = new SrtpTransform(a, b), bob = new SrtpTransform(b, a);
  const good = alice.protectRtp(rtpPacket(10));
  const flips = [12, 100, good.length - 1, 3 /* header (seq) is authenticated too */];
  for (const at of flips) {
    const bad = good.slice();
    bad[at] ^= 0x01;
    assertEquals(bob.unprotectRtp(bad), undefined, `bit flipped at ${at}`);
  }
  for (const junk of [new Uint8Array(0), new Uint8Array(5), good.subarray(0, 15), rtpPacket(11)]) {
    assertEquals(bob.unprotectRtp(junk), undefined, `junk of ${junk.length} bytes`);
  }
  const eve = new SrtpTransform(decodeSdesKey(newSdesKey()), b);
  assertEquals(bob.unprotectRtp(eve.protectRtp(rtpPacket(12))), undefined, "another key");
  assertEquals(bob.stats.rtpAuthFailures, flips.length + 5);
  // the failures did not disturb the context: the genuine packets still decrypt
  assertEquals(toHex(bob.unprotectRtp(good)!), toHex(rtpPacket(10)));
  assertEquals(toHex(bob.unprotectRtp(alice.protectRtp(rtpPacket(13)))!), toHex(rtpPacket(13)));
  const rtcp = alice.protectRtcp(rtcpReport({ ssrc: 7, cname: "x" }));
  const bad = rtcp.slice();
  bad[10] ^= 0x80;
  assertEquals(bob.unprotectRtcp(bad), undefined);
  assertEquals(bob.unprotectRtcp(rtcp.subarray(0, 12)), undefined);
  assertEquals(bob.unprotectRtcp(rtcpReport({ ssrc: 7, cname: "plain" })), undefined);
  assertEquals(bob.stats.rtcpAuthFailures, 3);
  assert(bob.unprotectRtcp(rtcp));
});

Deno.test("srtp: replayed SRTP and SRTCP packets authenticate but are dropped and counted (64-packet window)", () => {
  const { a, b } = keys();
  const alice = new SrtpTransform(a, b), bob = new SrtpTransform(b, a);
  const wire = [65500, 65501, 65535, 0, 1, 50].map((seq) => alice.protectRtp(rtpPacket(seq)));
  // out of order within the window is fine, each once
  for (const i of [0, 2, 1, 3, 5, 4]) assert(bob.unprotectRtp(wire[i]), `packet ${i}`);
  for (const w of wire) assertEquals(bob.unprotectRtp(w), undefined, "replay accepted");
  assertEquals([bob.stats.unprotectedRtp, bob.stats.rtpReplays, bob.stats.rtpAuthFailures], [6, 6, 0]);
  const r1 = alice.protectRtcp(rtcpReport({ ssrc: 9, cname: "a" })),
    r2 = alice.protectRtcp(rtcpReport({ ssrc: 9, cname: "a" }));
  assert(bob.unprotectRtcp(r2) && bob.unprotectRtcp(r1), "SRTCP in any order");
  assertEquals([bob.unprotectRtcp(r1), bob.unprotectRtcp(r2)], [undefined, undefined]);
  assertEquals([bob.stats.rtcpReplays, bob.stats.rtcpAuthFailures], [2, 0]);
});

Deno.test("srtp: a replayed or late packet just before the sequence wrap does not break decryption after it", () => {
  const { a, b } = keys();
  const alice = new SrtpTransform(a, b), bob = new SrtpTransform(b, a);
  const sent = new Map<number, Uint8Array>();
  for (const seq of [65000, ...Array.from({ length: 100 }, (_, i) => 65436 + i)]) {
    sent.set(seq, alice.protectRtp(rtpPacket(seq)));
  }
  assert(bob.unprotectRtp(sent.get(65000)!));
  for (let seq = 65436; seq <= 65500; seq++) assert(bob.unprotectRtp(sent.get(seq)!), `seq ${seq}`);
  assertEquals(bob.unprotectRtp(sent.get(65000)!), undefined, "old replay");
  assert(bob.unprotectRtp(sent.get(65501)!) && bob.unprotectRtp(sent.get(65535)!));
  assert(bob.unprotectRtp(sent.get(65502)!), "late but inside the window");
  for (let seq = 0; seq < 3; seq++) {
    assertEquals(
      toHex(bob.unprotectRtp(alice.protectRtp(rtpPacket(seq)))!),
      toHex(rtpPacket(seq)),
      `after wrap ${seq}`,
    );
  }
  assertEquals([bob.stats.rtpReplays, bob.stats.rtpAuthFailures], [1, 0]);
});

Deno.test("srtp: ReplayWindow: new indexes pass once; 64 or more behind the newest are refused", () => {
  const w = new ReplayWindow();
  const take = (i: number) => {
    const ok = w.fresh(i);
    if (ok) w.mark(i);
    return ok;
  };
  assert(take(1000));
  assert(!take(1000));
  assert(take(999) && take(937) && !take(936), "937 is 63 behind, 936 is 64 behind");
  assert(take(1100) && !take(1036) && take(1037) && !take(1037));
  assert(take(0x1_0000_0001), "a large jump (ROC) clears the window");
  assert(!take(1100) && !take(-1));
});

Deno.test("srtp: packet index estimation (RFC 3711 Appendix A) across rollovers and late packets", () => {
  assertEquals(srtpIndex(5, -1), 5, "first packet: ROC 0");
  assertEquals(srtpIndex(2, 65530), 65536 + 2, "wrapped");
  assertEquals(srtpIndex(65530, 65536 + 2), 65530, "late from before the wrap");
  assertEquals(srtpIndex(100, 3 * 65536 + 50), 3 * 65536 + 100);
  assertEquals(srtpIndex(65535, 3 * 65536 + 10), 2 * 65536 + 65535);
  assertEquals(srtpIndex(40000, 7 * 65536 + 40100), 7 * 65536 + 40000);
  assertEquals(srtpIndex(65000, 5), -536, "before the first packet's rollover: negative");
});

// ---- keys and SDP ----

Deno.test("srtp: SDES keys are 30 random bytes in base64; bad inline keys are refused", () => {
  const k1 = newSdesKey(), k2 = newSdesKey();
  assertMatch(k1, /^[A-Za-z0-9+/]{40}$/);
  assertNotEquals(k1, k2);
  const m = decodeSdesKey(k1);
  assertEquals([m.key.length, m.salt.length], [16, 14]);
  assertThrows(() => decodeSdesKey(btoa("short")), Error, "not 30");
  assertThrows(() => decodeSdesKey("!!!"), Error, "not base64");
});

const savpOffer = (cryptoLines: string[], proto = "RTP/SAVP") =>
  [
    "v=0",
    "o=- 1 1 IN IP4 10.0.0.2",
    "s=-",
    "c=IN IP4 10.0.0.2",
    "t=0 0",
    `m=audio 40000 ${proto} 0 8 101`,
    "a=rtpmap:101 telephone-event/8000",
    ...cryptoLines,
    "a=sendrecv",
  ].join("\r\n") + "\r\n";

Deno.test("srtp: the first usable a=crypto is chosen; MKI, other suites and session parameters are skipped", () => {
  const k = newSdesKey();
  const remote = parseRemoteSdp(savpOffer([
    `a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${newSdesKey()}`,
    `a=crypto:2 ${SDES_SUITE} inline:${newSdesKey()}|2^31|1:4`,
    `a=crypto:3 ${SDES_SUITE} inline:${newSdesKey()} UNENCRYPTED_SRTP`,
    `a=crypto:4 ${SDES_SUITE} inline:${btoa("too short")}`,
    `a=crypto:5 ${SDES_SUITE} inline:${k}|2^31`,
    `a=crypto:6 ${SDES_SUITE} inline:${newSdesKey()}`,
  ]));
  assertEquals(remote.crypto.length, 6);
  assertEquals(remote.crypto[1].mki, "1:4");
  assertEquals(remote.crypto[2].sessionParams, "UNENCRYPTED_SRTP");
  assertEquals(pickCrypto(remote.crypto)?.tag, 5);
  assertEquals(acceptOffer(remote, "sdes")?.keyB64, k);
  assertThrows(() => acceptOffer(remote, "off"), Error, "use --srtp sdes");
  assertThrows(() => acceptAnswer(remote, "sdes", 1), Error, "no usable a=crypto for tag 1");
  assertEquals(acceptAnswer(remote, "sdes", 6)?.tag, 6);
});

Deno.test("srtp: --srtp sdes refuses plain RTP/AVP offers and answers; without it RTP/AVP passes", () => {
  const plain = parseRemoteSdp(savpOffer([], "RTP/AVP"));
  assertThrows(() => acceptOffer(plain, "sdes"), Error, "offers RTP/AVP media; --srtp sdes requires RTP/SAVP");
  assertThrows(() => acceptAnswer(plain, "sdes"), Error, "answers RTP/AVP media");
  assertEquals(acceptOffer(plain, "off"), undefined);
  const none = parseRemoteSdp(savpOffer([]));
  assertThrows(() => acceptOffer(none, "sdes"), Error, "seen: none");
  const ours = buildSdp({
    ip: "10.0.0.1",
    port: 20000,
    codecs: ["pcmu"],
    sessionId: "1",
    version: 1,
    crypto: { tag: 1, suite: SDES_SUITE, keyB64: newSdesKey() },
  });
  assertMatch(ours, /^m=audio 20000 RTP\/SAVP 0 101\r$/m);
  assertMatch(ours, /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}\r$/m);
});

// ---- two endpoints on loopback ----

function pair(srtpA: "sdes" | "off", srtpB: "sdes" | "off") {
  const a = new RtpMedia({ kind: "tone", hz: 1000, dbfs: -12 }, {
    localIp: "127.0.0.1",
    ports: { min: 42000, max: 42999 },
    srtp: srtpA,
  });
  const b = new RtpMedia({ kind: "tone", hz: 440, dbfs: -12 }, {
    localIp: "127.0.0.1",
    ports: { min: 43000, max: 43999 },
    srtp: srtpB,
  });
  const pa = new RtpPeerConnection(), pb = new RtpPeerConnection();
  a.attach(pa);
  b.attach(pb);
  return { a, b, pa, pb };
}

Deno.test("srtp: two RtpMedia endpoints with --srtp sdes hear each other's tone over SRTP on loopback", async () => {
  const { a, b, pa, pb } = pair("sdes", "sdes");
  try {
    const offer = await pa.createOffer();
    assertMatch(offer.sdp, /RTP\/SAVP/);
    await pb.setRemoteDescription(offer);
    const answer = await pb.createAnswer();
    assertMatch(answer.sdp, /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/m);
    await pa.setRemoteDescription(answer);
    a.feed.start();
    b.feed.start();
    await new Promise((r) => setTimeout(r, 1500));
    const ha = a.recorder.summary(), hb = b.recorder.summary();
    assert(Math.abs(ha.toneHz - 440) <= 5, `a heard ${ha.toneHz} Hz`);
    assert(Math.abs(hb.toneHz - 1000) <= 5, `b heard ${hb.toneHz} Hz`);
    assert(a.srtpStats!.unprotectedRtp > 20 && b.srtpStats!.unprotectedRtp > 20, JSON.stringify(a.srtpStats));
    assertEquals(a.srtpStats!.rtpAuthFailures + b.srtpStats!.rtpAuthFailures, 0);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("srtp: forged packets on the wire are dropped and counted, and do not take over symmetric RTP", async () => {
  const { a, b, pa, pb } = pair("sdes", "sdes");
  const eve = dgram.createSocket("udp4");
  await new Promise<void>((r) => eve.bind(0, "127.0.0.1", r));
  try {
    await pb.setRemoteDescription(await pa.createOffer());
    await pa.setRemoteDescription(await pb.createAnswer());
    a.feed.start();
    b.feed.start();
    await new Promise((r) => setTimeout(r, 300));
    // forged RTP (b's SSRC unknown to eve: random header, random "tag"), plain RTP, runts, and forged RTCP
    const forged: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) {
      const f = new Uint8Array(182);
      crypto.getRandomValues(f);
      f[0] = 0x80, f[1] = 0x00;
      forged.push(f);
    }
    forged.push(rtpPacket(1), new Uint8Array(3));
    for (const f of forged) eve.send(f, a.port, "127.0.0.1");
    const rtcp = rtcpReport({ ssrc: 1, cname: "eve" });
    eve.send(rtcp, a.port + 1, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 200));
    const sentBefore = b.srtpStats!.unprotectedRtp;
    await new Promise((r) => setTimeout(r, 400));
    const st = a.srtpStats!;
    assertEquals(st.rtpAuthFailures, forged.length, JSON.stringify(st)); // the 3-byte runt counts too
    assertEquals(st.rtcpAuthFailures, 1, JSON.stringify(st));
    // a still sends to b (not to eve): b keeps receiving a's packets after the forgeries
    assert(b.srtpStats!.unprotectedRtp - sentBefore >= 5, `b got ${b.srtpStats!.unprotectedRtp - sentBefore}`);
    const ha = a.recorder.summary();
    assert(Math.abs(ha.toneHz - 440) <= 5, `a heard ${ha.toneHz} Hz`);
  } finally {
    eve.close();
    a.close();
    b.close();
  }
});

Deno.test("srtp: --srtp sdes refuses a plain RTP/AVP answer to its RTP/SAVP offer (the call is media-failed)", async () => {
  const { a, b, pa } = pair("sdes", "off");
  try {
    const offer = await pa.createOffer();
    await pa.setLocalDescription(offer);
    const plainAnswer = offer.sdp.replace("RTP/SAVP", "RTP/AVP").replace(/^a=crypto:.*\r\n/m, "");
    let err: Error | undefined;
    await pa.setRemoteDescription({ type: "answer", sdp: plainAnswer }).catch((e) => err = e);
    assertMatch(err?.message ?? "accepted", /answers RTP\/AVP media; --srtp sdes requires RTP\/SAVP/);
    assertEquals(a.srtpStats, undefined, "no SRTP keyed");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("srtp: an RTP/SAVP offer to a plain endpoint, or an RTP/AVP offer to --srtp sdes, is refused (488)", async () => {
  for (const [x, y] of [["sdes", "off"], ["off", "sdes"]] as const) {
    const { a, b, pa, pb } = pair(x, y);
    try {
      const offer = await pa.createOffer();
      let err: Error | undefined;
      await pb.setRemoteDescription(offer).catch((e) => err = e);
      assert(err, `${x} offer to ${y} accepted`);
      assertMatch(err.message, x === "sdes" ? /use --srtp sdes/ : /requires RTP\/SAVP/);
    } finally {
      a.close();
      b.close();
    }
  }
});

Deno.test("srtp: a 1000 Hz tone is found in plain PCMU payloads, not in the SRTP ones", () => {
  const { a, b } = keys();
  const t = new SrtpTransform(a, b);
  const s = new RtpSender({ codec: "pcmu", pt: 0 });
  const frame = new Float32Array(FRAME);
  const plain: number[] = [], enc: number[] = [];
  for (let n = 0; n < 50; n++) {
    for (let i = 0; i < FRAME; i++) frame[i] = 0.25 * Math.sin(2 * Math.PI * 1000 * (n * FRAME + i) / 8000);
    const pkt = s.next(frame);
    plain.push(...pkt.subarray(12));
    enc.push(...t.protectRtp(pkt).subarray(12, 12 + FRAME));
  }
  const asPcmu = (bytes: number[]) => new Float32Array(bytes.map((u) => mulawToLinear(u) / 32768));
  assert(Math.abs(summarize(asPcmu(plain), 8000).toneHz - 1000) <= 5, "the plain payloads show the tone");
  // The share of the signal's power at 1000 Hz: about 1 for the tone; for white noise about 2/N (N = 8000 samples),
  // exponentially distributed, so 0.01 (40 times that mean) is never reached by chance. (The ciphertext's dominant
  // frequency is uniformly random and lands within 20 Hz of 1000 about once in a hundred runs: not a test.)
  const share = (x: Float32Array) => toneShare(x, { hz: 1000, sampleRate: 8000 });
  const plainShare = share(asPcmu(plain)), encShare = share(asPcmu(enc));
  assert(plainShare > 0.5, `the plain payloads carry the tone (share ${plainShare})`);
  assert(encShare < 0.01, `the ciphertext still carries the tone (share ${encShare})`);
});

Deno.test("cli: --srtp takes only sdes, and only with udp/tcp/tls: one-line usage errors, exit 2", async () => {
  const cases: [string[], string][] = [
    [["call", "sip:1@x", "--srtp", "dtls"], "--srtp: 'sdes' (RTP/SAVP with a=crypto), not 'dtls'"],
    [["call", "sip:1@x", "--ws", "ws://127.0.0.1:9/", "--srtp", "sdes"], "--srtp goes with udp, tcp or tls"],
  ];
  for (const [args, text] of cases) {
    const r = await runCli(args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, text);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
