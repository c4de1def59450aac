/**
 * `pbxkit call --srtp sdes` over SIP/UDP against a real SRTP peer: baresip with its `srtp` module and
 * `mediaenc=srtp-mand`, through kamailio + rtpengine (which keeps RTP/SAVP on both legs), in test namespaces.
 * Tones are checked both ways by frequency; on the wire (tcpdump in the PBX host, read back with tshark) every
 * audio packet is SRTP-sized, its payload shows no tone when read as PCMU, and RTCP goes out as SRTCP. Refusals:
 * an SRTP-mandatory caller gets 488 from a plain pbxkit, and `--srtp sdes` to a plain phone ends 488 (exit 5), not in
 * cleartext. rtpengine terminates SRTP on each leg with its own keys, so pbxkit's packets are authenticated and
 * decrypted by rtpengine's SRTP and baresip's by libre's: two implementations independent of werift. Over UDP the
 * offered key is in the capture; over `--transport tls` (kamailio on 5061) it is not.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { type Proc, sh, testWith, waitFor } from "../_util/mod.ts";
import {
  answeredCall,
  assertHeard,
  assertListenHeard,
  baresipHeard,
  exitOf,
  listenerRegistered,
  near,
  show,
  toneOf,
} from "./_heard.ts";
import {
  baresipConfig,
  DOMAIN,
  type Pbx,
  Pbx as PbxFixture,
  PBX_TOOLS,
  proxyCallArgv,
  proxyListenArgv,
  toneArgv,
  USERS,
} from "./_pbx.ts";
import { mulawToLinear, toneShare } from "../../lib/call/dsp.ts";

/** The call summary: the last JSON line of stdout (`--sip-trace` prints there too). */
// deno-lint-ignore no-explicit-any
function summaryOf(p: Proc): any {
  return JSON.parse(p.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!);
}

/** Processes of the current step, stopped when it ends (pass or fail) so the next one finds SIP port 5060 free. */
const live: Proc[] = [];

/** baresip on the phone host with the `srtp` module and `mediaenc=MODE` (none: plain RTP only). */
async function baresip(
  pbx: Pbx,
  o: { user: string; toneHz: number; mediaenc?: "srtp-mand"; autoAnswer?: boolean; dial?: string },
): Promise<{ proc: Proc; recDir: string }> {
  const conf = await Deno.makeTempDir({ dir: pbx.dir, prefix: "baresip-srtp-" });
  const config = baresipConfig({ ip: pbx.phoneIp, toneHz: o.toneHz, recDir: conf });
  await Deno.writeTextFile(`${conf}/config`, config + (o.mediaenc ? "module srtp.so\n" : ""));
  const params = [
    `auth_pass=${USERS[o.user]}`,
    `outbound="sip:${pbx.ip}:${pbx.sipPort};transport=udp"`,
    "regint=300",
    "audio_codecs=PCMU,PCMA",
    ...(o.mediaenc ? [`mediaenc=${o.mediaenc}`] : []),
    ...(o.autoAnswer ? ["answermode=auto"] : []),
  ];
  await Deno.writeTextFile(`${conf}/accounts`, `<sip:${o.user}@${DOMAIN}>;${params.join(";")}\n`);
  await Deno.writeTextFile(`${conf}/contacts`, "");
  const argv = ["baresip", "-f", conf, ...(o.dial ? ["-e", `/dial ${o.dial}`] : [])];
  const proc = pbx.spawn("phone", argv);
  live.push(proc);
  await waitFor(() => proc.stdout.includes("200 OK"), { timeoutMs: 15_000, what: `baresip ${o.user} registration` });
  return { proc, recDir: conf };
}

/** baresip `phone2` with `mediaenc=srtp-mand` calling bob, playing 500 Hz. */
function srtpCallsBob(pbx: Pbx): Promise<{ proc: Proc; recDir: string }> {
  return baresip(pbx, { user: "phone2", toneHz: 500, mediaenc: "srtp-mand", dial: `sip:bob@${DOMAIN}` });
}

/** One UDP datagram of the capture. */
interface Datagram {
  src: number;
  dst: number;
  payload: Uint8Array;
}

/** The UDP datagrams of a capture, as tshark reads them. */
async function datagrams(pcap: string): Promise<Datagram[]> {
  const r = await sh([
    "tshark",
    "-r",
    pcap,
    "-Y",
    "udp",
    "-T",
    "fields",
    "-e",
    "udp.srcport",
    "-e",
    "udp.dstport",
    "-e",
    "udp.payload",
  ]);
  const out: Datagram[] = [];
  for (const line of r.stdout.split("\n")) {
    const [src, dst, hex] = line.trim().split("\t");
    if (!hex) continue;
    const h = hex.replaceAll(":", "");
    out.push({ src: Number(src), dst: Number(dst), payload: Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16)) });
  }
  return out;
}

/** tcpdump on every interface of the pbx host (loopback and the veth), writing `pcap`; once it listens. */
async function capture(pbx: Pbx, pcap: string, filter: string[]): Promise<Proc> {
  const dump = pbx.spawn("pbx", ["tcpdump", "-i", "any", "-U", "-s", "0", "-w", pcap, ...filter]);
  await waitFor(() => dump.stderr.includes("listening on"), { timeoutMs: 10_000, what: "tcpdump" });
  return dump;
}

/** Whether the raw capture file contains `text` anywhere (e.g. an SDES key sent in the clear). */
async function captureHas(pcap: string, text: string): Promise<boolean> {
  const hay = await Deno.readFile(pcap), needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

/** The SDES key pbxkit offered, from its `--sip-trace`. */
function offeredKey(p: Proc): string {
  const m = /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/]{40})/.exec(p.stdout + p.stderr);
  assert(m, `no a=crypto in pbxkit's trace${show(p)}`);
  return m[1];
}

const inRange = (p: number, lo: number, hi: number) => p >= lo && p <= hi;

/** Read G.711 payload bytes as PCMU samples. */
function asPcmu(packets: Uint8Array[]): Float32Array {
  const bytes = packets.flatMap((p) => [...p.subarray(12, 12 + 160)]);
  return new Float32Array(bytes.map((u) => mulawToLinear(u) / 32768));
}

testWith("call --srtp sdes over SIP/UDP: kamailio + rtpengine (RTP/SAVP) + baresip srtp-mand", {
  tools: [...PBX_TOOLS, "baresip", "tcpdump", "tshark", "kamcmd", "openssl"],
  files: ["/usr/lib/baresip/modules/srtp.so"],
  root: true,
}, async (t) => {
  const pbx = await PbxFixture.start({ netTransports: true });
  const proxy = `${pbx.ip}:${pbx.sipPort}`;
  const step = (name: string, fn: () => Promise<void>) =>
    t.step(name, async () => {
      try {
        await fn();
      } finally {
        for (const p of live.splice(0)) await p.stop().catch(() => {});
      }
    });
  try {
    await step("pbxkit --srtp sdes calls baresip: tones both ways, SRTP and SRTCP on the wire", async () => {
      const pcap = `${pbx.dir}/srtp.pcap`;
      const dump = await capture(pbx, pcap, ["udp"]);
      const phone = await baresip(pbx, { user: "phone", toneHz: 440, mediaenc: "srtp-mand", autoAnswer: true });
      const rec = `${pbx.dir}/srtp-heard.wav`;
      const p = pbx.pbxkit([
        ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy, user: "alice" }),
        "--srtp",
        "sdes",
        ...toneArgv(1000, "6s", rec),
        "--rtp-ports",
        "20000-20099",
        "--sip-trace",
        "--json",
      ]);
      const sum = await answeredCall(p, summaryOf);
      assertMatch(sum.codec, /^PCM[UA]\/8000$/);
      // every packet pbxkit heard authenticated (rtpengine's SRTP), and it protected all it sent
      assert(sum.srtp.unprotectedRtp > 200 && sum.srtp.protectedRtp > 200, JSON.stringify(sum.srtp));
      assertEquals([sum.srtp.rtpAuthFailures, sum.srtp.rtcpAuthFailures], [0, 0], JSON.stringify(sum.srtp));
      // the offer pbxkit sent and the answer it got (after rtpengine) are SDES-SRTP
      const trace = p.stdout + p.stderr;
      assertMatch(trace, /m=audio \d+ RTP\/SAVP /);
      assertMatch(trace, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}/);
      assert(!/SRTP: .*failed authentication/.test(p.stderr), `auth failures${show(p)}`);
      const key = offeredKey(p);
      assertHeard(await toneOf(rec), 440, "pbxkit", 4);
      assertHeard(await baresipHeard(phone.recDir), 1000, "baresip", 4);
      await phone.proc.stop();
      await dump.stop("SIGINT");

      const wire = await datagrams(pcap);
      // SIP over UDP carries the SDES key in the clear (docs/call.md: use --transport tls)
      assert(await captureHas(pcap, key), "the offered key is not in the UDP capture");
      // pbxkit -> rtpengine: RTP port even in 20000-20099 (RTCP on the odd one)
      const outRtp = wire.filter((d) => inRange(d.src, 20000, 20099) && d.src % 2 === 0);
      const outRtcp = wire.filter((d) => inRange(d.src, 20000, 20099) && d.src % 2 === 1);
      const phoneRtp = wire.filter((d) => inRange(d.src, 40000, 40999) && d.src % 2 === 0);
      assert(outRtp.length > 200, `only ${outRtp.length} RTP packets from pbxkit on the wire`);
      assert(phoneRtp.length > 200, `only ${phoneRtp.length} RTP packets from baresip on the wire`);
      // 12-byte header + 160 G.711 bytes + the 10-byte HMAC-SHA1-80 tag; plain RTP would be 172 bytes
      const sizes = new Set(outRtp.map((d) => d.payload.length));
      assertEquals([...sizes], [182], `pbxkit's RTP sizes on the wire: ${[...sizes]}`);
      const phoneSizes = new Set(phoneRtp.map((d) => d.payload.length));
      assert(![...phoneSizes].includes(172), `baresip sent plain-sized RTP: ${[...phoneSizes]}`);
      // read as PCMU, the payloads are noise: the tones are not on the wire. The share of the power at the tone's
      // frequency (about 1 for the tone, about 2/N for noise), not the dominant frequency: the ciphertext's is
      // uniformly random and lands within 20 Hz of the tone about once in a hundred runs
      const outShare = toneShare(asPcmu(outRtp.map((d) => d.payload)), { hz: 1000, sampleRate: 8000 });
      assert(outShare < 0.01, `pbxkit's 1000 Hz tone readable on the wire (share ${outShare})`);
      const phoneShare = toneShare(asPcmu(phoneRtp.map((d) => d.payload)), { hz: 440, sampleRate: 8000 });
      assert(phoneShare < 0.01, `baresip's 440 Hz tone readable on the wire (share ${phoneShare})`);
      // SRTCP: E flag and index before the 10-byte tag
      assert(outRtcp.length >= 1, "no RTCP from pbxkit on the wire");
      for (const d of outRtcp) {
        const p = d.payload;
        assert(p.length >= 8 + 4 + 10 && (p[0] >> 6) === 2, `not RTCP: ${p.length} bytes`);
        assert(p[p.length - 14] & 0x80, "SRTCP E flag not set");
      }
    });

    await step(
      "pbxkit --transport tls --srtp sdes calls baresip: tones both ways, the key never on the wire",
      async () => {
        const pcap = `${pbx.dir}/srtp-tls.pcap`;
        const dump = await capture(pbx, pcap, ["tcp", "port", String(pbx.tlsPort)]);
        const phone = await baresip(pbx, { user: "phone", toneHz: 600, mediaenc: "srtp-mand", autoAnswer: true });
        const rec = `${pbx.dir}/srtp-tls-heard.wav`;
        const p = pbx.pbxkit([
          ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy: `${pbx.ip}:${pbx.tlsPort}`, user: "alice" }),
          "--transport",
          "tls",
          "--ca",
          pbx.tlsCert!,
          "--srtp",
          "sdes",
          ...toneArgv(1200, "4s", rec),
          "--sip-trace",
          "--json",
        ]);
        await answeredCall(p, summaryOf);
        const key = offeredKey(p);
        near((await toneOf(rec)).toneHz, 600, "pbxkit over TLS");
        near((await baresipHeard(phone.recDir)).toneHz, 1200, "baresip");
        await dump.stop("SIGINT");
        assert((await Deno.stat(pcap)).size > 2000, "no TLS traffic captured");
        assert(!(await captureHas(pcap, key)), "the SDES key is readable in the TLS capture");
      },
    );

    await step("baresip srtp-mand calls pbxkit --listen --srtp sdes: 500 Hz heard, 800 Hz sent back", async () => {
      const rec = `${pbx.dir}/srtp-listen.wav`;
      const l = pbx.pbxkit([
        ...proxyListenArgv("bob", { proxy }),
        "--srtp",
        "sdes",
        ...toneArgv(800, "4s", rec),
      ]);
      await listenerRegistered(l);
      const caller = await srtpCallsBob(pbx);
      assertEquals(await exitOf(l), 0, show(l));
      assertMatch(l.stdout, /answered, 4\.\d s, .*PCM[UA]\/8000, SRTP, cause/);
      assert(!/SRTP: .*failed authentication/.test(l.stderr), `auth failures${show(l)}`);
      await assertListenHeard(rec, caller.recDir, { heardHz: 500, sentHz: 800 });
      await caller.proc.stop();
    });

    await step("pbxkit --listen without --srtp declines baresip's RTP/SAVP offer with 488", async () => {
      const l = pbx.pbxkit([
        ...proxyListenArgv("bob", { proxy }),
        "--json",
      ]);
      await listenerRegistered(l);
      const caller = await srtpCallsBob(pbx);
      assertEquals(await exitOf(l), 0, show(l)); // the listener itself ran fine; the one call failed
      assertStringIncludes(l.stderr, "offers RTP/SAVP media (SDES-SRTP: use --srtp sdes)", show(l));
      assertEquals(l.stderr.split("\n").filter((x) => x.includes("use --srtp sdes")).length, 1, show(l));
      const sum = summaryOf(l);
      assertEquals([sum.answered, sum.outcome, sum.exitStatus], [false, "media-failed", 9], show(l));
      await waitFor(() => /488 Not Acceptable/.test(caller.proc.stdout), { timeoutMs: 10_000, what: "488 at baresip" });
      await caller.proc.stop();
    });

    await step("pbxkit --srtp sdes does not call a plain-RTP phone in the clear", async () => {
      const phone = await baresip(pbx, { user: "phone", toneHz: 440, autoAnswer: true });
      const p = pbx.pbxkit([
        ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy, user: "alice" }),
        "--srtp",
        "sdes",
        ...toneArgv(1000, "3s"),
        "--json",
      ]);
      // baresip without SRTP finds no usable audio in an RTP/SAVP offer and answers 488: exit 5, no media sent
      assertEquals(await exitOf(p), 5, show(p));
      const sum = summaryOf(p);
      assertEquals([sum.outcome, sum.status, sum.answered], ["rejected", 488, false], show(p));
      assertMatch(phone.proc.stdout, /no common audio codecs - rejected/);
      await phone.proc.stop();
    });
  } finally {
    await pbx.close();
  }
});
