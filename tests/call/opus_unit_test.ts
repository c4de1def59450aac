/**
 * Opus over plain RTP without a network: the libopus coder round trip (a 1 kHz tone comes back as 1 kHz), the packets
 * checked by an independent decoder (`opus-decoder`, another WebAssembly build of libopus) and by the TOC byte rules
 * of RFC 6716 §3.1 read by hand, the RTP sender/receiver on the 48 kHz clock of RFC 7587, and the SDP: opus/48000/2
 * with its fmtp offered first, chosen when the other side has it, G.711 when it has not; and `RtpMedia` answering
 * opus to a UDP socket on loopback.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { OpusDecoder as IndependentDecoder } from "opus-decoder";
import { OpusDecoder, OpusEncoder, opusToc } from "../../lib/call/codec_opus.ts";
import { FRAME, parseRtp, RtpReceiver, RtpSender } from "../../lib/call/rtp_stream.ts";
import { buildSdp, negotiate, parseRemoteSdp } from "../../lib/call/rtp_sdp.ts";
import { dominantFrequency, rmsDbfs, sineInto } from "../../lib/call/dsp.ts";
import { RtpMedia } from "../../lib/call/media_rtp.ts";
import { RtpPeerConnection } from "../../lib/call/rtp_pc.ts";
import dgram from "node:dgram";

/** `frames` 20 ms frames (8 kHz, 16-bit) of a `hz` tone at about -12 dBFS. */
function toneFrames(hz: number, frames: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    const pcm = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * (f * FRAME + i)) / 8000));
    out.push(pcm);
  }
  return out;
}

Deno.test("opus: a 1 kHz tone encoded and decoded is a 1 kHz tone; an independent libopus build agrees", async () => {
  const enc = new OpusEncoder(), dec = new OpusDecoder();
  const packets: Uint8Array[] = [];
  const heard = new Float32Array(50 * FRAME);
  const pcm = new Int16Array(FRAME);
  toneFrames(1000, 50).forEach((frame, f) => {
    const pkt = enc.encode(frame);
    packets.push(pkt.slice());
    assertEquals(dec.decode(pkt, pcm), FRAME);
    for (let i = 0; i < FRAME; i++) heard[f * FRAME + i] = pcm[i] / 32768;
  });
  enc.close();
  dec.close();
  // skip the codec's start-up (look-ahead and the first frames)
  const ours = dominantFrequency(heard, { sampleRate: 8000, start: 8 * FRAME });
  assert(Math.abs(ours.hz - 1000) <= 2, `decoded ${ours.hz} Hz`);
  assert(ours.purity > 0.9, `purity ${ours.purity}`);
  const level = rmsDbfs(heard, { start: 8 * FRAME });
  assert(Math.abs(level - -15.2) < 2, `level ${level} dBFS (sent -15.2)`);
  // 20 ms mono packets, each a single frame: TOC code 0, stereo bit clear, a 20 ms configuration
  const sizes = packets.map((p) => p.length);
  assert(sizes.every((n) => n > 3 && n < 200), `packet sizes ${sizes}`);
  for (const p of packets) {
    assertEquals(p[0] & 3, 0, "TOC frame count code 0 (one frame)");
    assertEquals(p[0] & 4, 0, "TOC stereo bit clear");
    const toc = opusToc(p)!;
    assertEquals([toc.frameMs, toc.stereo, toc.frames], [20, false, 1]);
  }
  // 8 kHz input: SILK narrowband, 20 ms is configuration 1 (RFC 6716 Table 2), so the TOC byte is 0x08
  assertEquals(packets[10][0], 0x08);
  assertEquals(opusToc(packets[10])!.mode, "silk");
  assertEquals(opusToc(packets[10])!.bandwidth, "nb");
  // a decoder that shares no code with ours (another libopus build, 48 kHz output) hears the same tone
  const other = new IndependentDecoder({ channels: 1, sampleRate: 48000 });
  await other.ready;
  const r = other.decodeFrames(packets);
  other.free();
  assertEquals(r.errors.length, 0);
  assertEquals(r.samplesDecoded, 50 * 960);
  const theirs = dominantFrequency(r.channelData[0], { sampleRate: 48000, start: 8 * 960 });
  assert(Math.abs(theirs.hz - 1000) <= 2, `independent decoder heard ${theirs.hz} Hz`);
  assert(theirs.purity > 0.9, `independent purity ${theirs.purity}`);
});

Deno.test("opus TOC: configurations, stereo and frame counts read per RFC 6716 §3.1", () => {
  // config 31 (CELT FB 20 ms), stereo, code 0
  assertEquals(opusToc(new Uint8Array([(31 << 3) | 4])), {
    mode: "celt",
    bandwidth: "fb",
    frameMs: 20,
    stereo: true,
    frames: 1,
  });
  // config 13 (hybrid SWB 20 ms), code 1: two frames
  assertEquals(opusToc(new Uint8Array([(13 << 3) | 1]))!.frames, 2);
  assertEquals(opusToc(new Uint8Array([(13 << 3) | 1]))!.mode, "hybrid");
  // config 9 (SILK WB 20 ms), code 3 with a frame count byte of 3
  const c3 = opusToc(new Uint8Array([(9 << 3) | 3, 3]))!;
  assertEquals([c3.mode, c3.bandwidth, c3.frameMs, c3.frames], ["silk", "wb", 20, 3]);
  assertEquals(opusToc(new Uint8Array()), undefined);
});

Deno.test("opus RTP: timestamps step 960 (48 kHz clock), the receiver plays the tone back at 8 kHz", () => {
  const tx = new RtpSender({ codec: "opus", pt: 111, tePt: 110, ssrc: 9, seq: 1, ts: 1000 });
  const rx = new RtpReceiver({ codecs: new Map([[111, "opus"]]), tePt: 110, depth: 3 });
  const frame = new Float32Array(FRAME);
  const heard = new Float32Array(60 * FRAME);
  const ts: number[] = [];
  let got = 0, phase = 0;
  for (let f = 0; f < 60; f++) {
    phase = sineInto(frame, { hz: 700, sampleRate: 8000, amplitude: 0.25, phase });
    const p = parseRtp(tx.next(frame).slice())!;
    assertEquals(p.pt, 111);
    ts.push(p.ts);
    rx.push(p, f * FRAME);
    const out = rx.playout();
    if (out) heard.set(Array.from(out, (s) => s / 32768), got++ * FRAME);
  }
  tx.close();
  rx.close();
  assertEquals(ts.slice(0, 3), [1000, 1960, 2920]);
  assertEquals(rx.stats.lost, 0);
  assertEquals(rx.stats.concealed, 2); // only the pre-roll of the 3-frame buffer: no frame mistaken for a gap
  const d = dominantFrequency(heard.subarray(0, got * FRAME), { sampleRate: 8000, start: 10 * FRAME });
  assert(Math.abs(d.hz - 700) <= 2, `played out ${d.hz} Hz`);
  // RFC 4733 on the same clock: 100 ms is 4800 units
  const dt = new RtpSender({ codec: "opus", pt: 111, tePt: 110, ssrc: 1, seq: 1, ts: 0 });
  dt.queueDtmf("5", { durationMs: 100, gapMs: 0 });
  let last = 0;
  for (let i = 0; i < 10 && dt.sendingDtmf; i++) {
    const p = parseRtp(dt.next(frame).slice())!;
    if (p.pt === 110) last = (p.payload[2] << 8) | p.payload[3];
  }
  assertEquals(last, 4800);
  dt.close();
});

Deno.test("opus SDP: offered first as opus/48000/2 with fmtp; chosen when both ends have it, G.711 otherwise", () => {
  const offer = buildSdp({
    ip: "192.0.2.1",
    port: 4000,
    codecs: ["opus", "pcmu", "pcma"],
    sessionId: "1",
    version: 1,
  });
  assertMatch(offer, /^m=audio 4000 RTP\/AVP 111 0 8 101 110\r$/m);
  assertMatch(offer, /^a=rtpmap:111 opus\/48000\/2\r$/m);
  assertMatch(
    offer,
    /^a=fmtp:111 minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0;maxplaybackrate=8000;sprop-maxcapturerate=8000\r$/m,
  );
  assertMatch(offer, /^a=rtpmap:101 telephone-event\/8000\r$/m);
  assertMatch(offer, /^a=rtpmap:110 telephone-event\/48000\r$/m);
  // baresip's style of offer: opus on a dynamic PT of its own, G.711, telephone-event at 8 kHz only
  const theirs = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n" +
    "m=audio 5000 RTP/AVP 96 0 8 101\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\n" +
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
  const remote = parseRemoteSdp(theirs);
  const n = negotiate(remote, ["opus", "pcmu", "pcma"], true);
  // their PT; no RFC 4733 at 48 kHz on offer, so none (telephone-event/8000 cannot share opus' timestamps)
  assertEquals(n, { codec: "opus", pt: 96, tePt: undefined });
  const answer = buildSdp({ ip: "192.0.2.1", port: 4000, codecs: ["opus"], sessionId: "1", version: 2 }, n);
  assertMatch(answer, /^m=audio 4000 RTP\/AVP 96\r$/m);
  assertMatch(answer, /^a=rtpmap:96 opus\/48000\/2\r$/m);
  assertMatch(answer, /^a=fmtp:96 minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0;maxplaybackrate=8000;/m);
  // without opus allowed, or without opus offered: G.711
  assertEquals(negotiate(remote, ["pcma", "pcmu"], true).codec, "pcma");
  const g711 = parseRemoteSdp(theirs.replace("96 0 8 101", "0 8 101"));
  assertEquals(negotiate(g711, ["opus", "pcmu", "pcma"], true).codec, "pcmu");
  // opus at a clock other than 48000 is not opus we can play
  const wrong = parseRemoteSdp(theirs.replace("opus/48000/2", "opus/16000"));
  assertEquals(negotiate(wrong, ["opus", "pcmu"], true).codec, "pcmu");
  // telephone-event/48000 offered: used with opus
  const te48 = parseRemoteSdp(theirs.replace("96 0 8 101", "96 0 8 101 97") + "a=rtpmap:97 telephone-event/48000\r\n");
  assertEquals(negotiate(te48, ["opus", "pcmu"], true), { codec: "opus", pt: 96, tePt: 97 });
  assertEquals(negotiate(te48, ["pcmu"], true), { codec: "pcmu", pt: 0, tePt: 101 });
});

Deno.test("opus RtpMedia on loopback: answers opus, packets decode elsewhere, a stall does not send one packet twice", async () => {
  const far = dgram.createSocket("udp4");
  const got: Uint8Array[] = [];
  far.on("message", (b: Uint8Array) => got.push(new Uint8Array(b)));
  await new Promise<void>((r) => far.bind(0, "127.0.0.1", () => r()));
  const farPort = (far.address() as { port: number }).port;
  const media = new RtpMedia({ kind: "tone", hz: 1000, dbfs: -12 }, {
    localIp: "127.0.0.1",
    ports: { min: 41000, max: 41999 },
  });
  const pc = new RtpPeerConnection();
  media.attach(pc);
  try {
    const offer = `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n` +
      `m=audio ${farPort} RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n`;
    const answer = await pc.endpoint!.answer(offer);
    assertMatch(answer, /^m=audio \d+ RTP\/AVP 96\r$/m);
    media.feed.start(); // what the call session does once media is connected
    await new Promise((r) => setTimeout(r, 300));
    const stallUntil = performance.now() + 80; // the event loop blocked for 4 ticks: they go out in a burst
    while (performance.now() < stallUntil) { /* stall */ }
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    media.close();
    far.close();
  }
  const rtp = got.map((b) => parseRtp(b)).filter((p) => p && p.pt === 96);
  assert(rtp.length >= 30, `${rtp.length} opus packets`);
  const seqs = rtp.map((p) => p!.seq);
  assertEquals(new Set(seqs).size, seqs.length, `a sequence number sent twice: ${seqs}`);
  for (let i = 1; i < rtp.length; i++) assertEquals((rtp[i]!.ts - rtp[i - 1]!.ts) >>> 0, 960);
  const other = new IndependentDecoder({ channels: 1, sampleRate: 48000 });
  await other.ready;
  const r = other.decodeFrames(rtp.map((p) => p!.payload.slice()));
  other.free();
  const d = dominantFrequency(r.channelData[0], { sampleRate: 48000, start: 5 * 960 });
  assert(Math.abs(d.hz - 1000) <= 2, `independent decoder heard ${d.hz} Hz from RtpMedia`);
});
