/**
 * The UDP cells of `deno task bench call`: call setup over SIP/UDP with plain RTP through the bench's kamailio +
 * rtpengine, for three callers calling the same auto-answering baresip: pbxkit over UDP (the library in one
 * long-running agent, as baresip and linphonec are long-running), baresip (the baseline's caller, driven over
 * ctrl_tcp) and linphonec (driven through its stdin). Every caller is timed the
 * same way, from one packet capture on the PBX host (tshark): the caller's first INVITE to the 200 OK kamailio sends
 * back to it, and to the first RTP packet sent to the caller's SDP address. Both include the 407 digest round trip.
 * The audio delay is timed from the same capture for all three: each caller calls the echo line (`sip:bob@...`, a
 * `pbxkit call --listen --auto-answer --echo --transport udp`) and sends silence, then a beep (pbxkit: an in-band
 * DTMF burst; baresip: `aufile` playing a WAV; linphonec: `play` with its file sound card); the echo delay is the
 * time from the first loud packet the caller sends to the first loud packet sent back to it (PCMU/PCMA payloads
 * decoded here). It is measured on the caller's leg at the PBX: rtpengine twice and the echo line's jitter buffer,
 * the same path for every caller; what differs is the caller's packetisation, not its own capture or playout.
 *
 * @module
 */

import { sh, waitFor } from "../tests/_util/mod.ts";
import { DOMAIN, linphonecSay, type Pbx } from "../tests/call/_pbx.ts";
import { alawToLinear, goertzel, mulawToLinear } from "../lib/call/dsp.ts";
import type { MediaBridge } from "../lib/call/media.ts";
import type { Phone } from "../lib/call/ua.ts";

/** Setup of one call as seen on the wire (ms after the caller's first INVITE). */
export interface UdpSetup {
  /** INVITE to 200 OK. */
  answerMs: number;
  /** INVITE to the first RTP packet towards the caller (undefined: none seen). */
  rtpMs?: number;
}

/** Which caller a From user is. */
export const CALLER_OF_USER: Readonly<Record<string, string>> = {
  alice: "pbxkit-udp",
  phone2: "baresip-udp",
  carol: "linphonec",
};

/** A packet capture of all UDP on the PBX host, running until `stop()`. */
export async function startCapture(pbx: Pbx): Promise<{ file: string; stop: () => Promise<void> }> {
  const file = `${pbx.dir}/bench-udp.pcap`;
  const cap = pbx.spawn("pbx", ["tshark", "-q", "-i", "any", "-f", "udp", "-w", file]);
  await waitFor(() => cap.stderr.includes("Capturing on"), { timeoutMs: 15_000, what: "tshark" });
  return {
    file,
    stop: async () => {
      await new Promise((r) => setTimeout(r, 500));
      await cap.stop("SIGINT", 5000);
    },
  };
}

/** Write a WAV of 1 s of silence, a 0.3 s 1000 Hz beep and 3 s of silence (sox), at `rate` Hz, `channels`. */
export async function writeBeep(path: string, rate: number, channels: number): Promise<string> {
  await sh([
    "sox",
    "-n",
    "-r",
    String(rate),
    "-c",
    String(channels),
    "-b",
    "16",
    path,
    "synth",
    "0.3",
    "sine",
    "1000",
    "vol",
    "0.3",
    "pad",
    "1",
    "3",
  ]);
  return path;
}

/**
 * `calls` linphonec calls (registered as carol, on the phone host's port 5070) to the baresip `phone`, then as many
 * to the echo line `bob` playing a beep (see {@linkcode writeBeep}).
 */
export async function linphonecCalls(pbx: Pbx, calls: number): Promise<number> {
  const play = `${pbx.dir}/bench-silence.wav`;
  await sh(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", play, "synth", "30", "sine", "440", "vol", "0.1"]);
  const beep = await writeBeep(`${pbx.dir}/bench-beep-8k.wav`, 8000, 1);
  const lp = await pbx.linphonecRegistered({ user: "carol", play, record: `${pbx.dir}/bench-lp.wav`, sipPort: 5070 });
  let ok = 0;
  try {
    for (let i = 0; i < 2 * calls; i++) {
      const count = (re: RegExp) => (lp.stdout.match(re) ?? []).length;
      const connected = count(/ connected\./g), ended = count(/ ended \(/g);
      const echo = i >= calls;
      // to kamailio's address: linphonec's `register` sets no outbound proxy, and pbx.test has no DNS
      await linphonecSay(lp, [`call sip:${echo ? "bob" : "phone"}@${pbx.ip}:${pbx.sipPort}`]);
      const up = await waitFor(() => count(/ connected\./g) > connected, { timeoutMs: 10_000 }).catch(() => false);
      // the file sound card plays a file once: the beep's from its start in every echo call
      if (up && echo) await linphonecSay(lp, [`play ${beep}`]);
      if (up && !echo) ok++;
      else if (!up) console.error(`bench call: linphonec call ${i + 1} did not connect: ${lp.stdout.slice(-300)}`);
      await new Promise((r) => setTimeout(r, echo ? 2500 : 1000));
      await linphonecSay(lp, ["terminate"]);
      await waitFor(() => count(/ ended \(/g) > ended, { timeoutMs: 5000 }).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await lp.stop();
  }
  return ok;
}

/** One INVITE dialog in a capture. */
export interface CapturedCall {
  user: string;
  callee: string;
  from: string;
  /** The caller's RTP address: its INVITE's source address and its SDP's port. */
  rtpTo?: string;
  t0: number;
  answer?: number;
}

/** One non-SIP UDP packet in a capture (hex payload). */
export interface Packet {
  at: number;
  from: string;
  to: string;
  payload: string;
}

/** What {@linkcode readCapture} read: the INVITE dialogs and the other UDP packets. */
export interface Captured {
  calls: CapturedCall[];
  packets: Packet[];
}

/** The INVITE dialogs through `pbxIp` (by Call-ID) and every other UDP packet of a capture (tshark). */
export async function readCapture(file: string, pbxIp: string): Promise<Captured> {
  const fields = (filter: string, f: string[]) =>
    sh(["tshark", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=\t", ...f.flatMap((x) => ["-e", x])]);
  const sip = await fields("sip", [
    "frame.time_epoch",
    "ip.src",
    "udp.srcport",
    "ip.dst",
    "udp.dstport",
    "sip.Call-ID",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq.method",
    "sip.from.user",
    "sip.r-uri.user",
    "sdp.connection_info.address",
    "sdp.media.port",
  ]);
  const udp = await fields("udp && !sip", [
    "frame.time_epoch",
    "ip.src",
    "udp.srcport",
    "ip.dst",
    "udp.dstport",
    "udp.payload",
  ]);
  const calls = new Map<string, CapturedCall>();
  for (const line of sip.stdout.split("\n")) {
    const [t, src, sport, dst, dport, callId, method, status, cseq, user, ruser, cAddr, mPort] = line.split("\t");
    if (!callId) continue;
    const at = Number(t) * 1000;
    const c = calls.get(callId);
    if (method === "INVITE" && dst === pbxIp && dport === "5060" && !c) {
      // the SDP's port at the INVITE's source address: linphonec's later offers say c=127.0.0.1
      const rtpTo = cAddr && mPort ? `${src}:${mPort.split(",")[0]}` : undefined;
      calls.set(callId, { user, callee: ruser, from: `${src}:${sport}`, rtpTo, t0: at });
    } else if (c && status === "200" && cseq === "INVITE" && `${dst}:${dport}` === c.from && c.answer === undefined) {
      c.answer = at;
    }
  }
  const packets: Packet[] = [];
  for (const line of udp.stdout.split("\n")) {
    const [t, src, sport, dst, dport, payload] = line.split("\t");
    if (!dport) continue;
    packets.push({ at: Number(t) * 1000, from: `${src}:${sport}`, to: `${dst}:${dport}`, payload: payload ?? "" });
  }
  return { calls: [...calls.values()], packets };
}

/** Per caller (see {@linkcode CALLER_OF_USER}), the setup of each captured call to `callee`. */
export function setupsFromCapture({ calls, packets }: Captured, callee = "phone"): Record<string, UdpSetup[]> {
  const out: Record<string, UdpSetup[]> = {};
  for (const c of calls) {
    const who = CALLER_OF_USER[c.user];
    if (!who || c.callee !== callee || c.answer === undefined) continue;
    const rtp = c.rtpTo ? packets.find((p) => p.to === c.rtpTo && p.at > c.t0)?.at : undefined;
    (out[who] ??= []).push({ answerMs: c.answer - c.t0, rtpMs: rtp === undefined ? undefined : rtp - c.t0 });
  }
  return out;
}

/** RMS level (dBFS) of a G.711 RTP packet's audio (hex UDP payload); undefined for other payload types. */
export function g711PacketDbfs(hex: string): number | undefined {
  if (hex.length < 24) return undefined;
  const byte = (i: number) => parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const pt = byte(1) & 0x7f;
  if (pt !== 0 && pt !== 8) return undefined;
  let at = 12 + 4 * (byte(0) & 0x0f);
  if (byte(0) & 0x10) at += 4 + 4 * ((byte(at + 2) << 8) | byte(at + 3));
  const n = hex.length / 2 - at;
  if (n <= 0) return undefined;
  let acc = 0;
  for (let i = at; i < at + n; i++) {
    const x = (pt === 0 ? mulawToLinear(byte(i)) : alawToLinear(byte(i))) / 32768;
    acc += x * x;
  }
  return 10 * Math.log10(acc / n || 1e-12);
}

/**
 * Per caller, the echo delay (ms) of each captured call to `callee` (the echo line): from the first packet
 * above -35 dBFS the caller sends to the first one sent back to its RTP address after it (within 3 s).
 */
export function echoDelaysFromCapture({ calls, packets }: Captured, callee = "bob"): Record<string, number[]> {
  const loud = (p: Packet) => (g711PacketDbfs(p.payload) ?? -Infinity) > -35;
  const out: Record<string, number[]> = {};
  for (const c of calls) {
    const who = CALLER_OF_USER[c.user];
    if (!who || c.callee !== callee || c.answer === undefined || !c.rtpTo) continue;
    const sent = packets.find((p) => p.from === c.rtpTo && p.at > c.t0 && loud(p));
    if (!sent) {
      const mine = packets.filter((p) => p.from === c.rtpTo && p.at > c.t0);
      const top = Math.max(...mine.map((p) => g711PacketDbfs(p.payload) ?? -Infinity));
      console.error(
        `bench call: ${who}'s echo call: no beep sent (${mine.length} packets, loudest ${top.toFixed(1)} dBFS)`,
      );
      continue;
    }
    const back = packets.find((p) => p.to === c.rtpTo && p.at > sent.at && p.at < sent.at + 3000 && loud(p));
    if (back) (out[who] ??= []).push(Math.round((back.at - sent.at) * 10) / 10);
  }
  return out;
}

/**
 * One call to an echo line: a DTMF-digit burst goes out in-band 700 ms after media connects, and is timed until
 * both of its tones come back (ms; undefined when not heard in 8 s). `hooks.onMedia` must be called on the call's
 * `media` event (the phone's `onEvent`).
 */
export async function echoBurstMs(
  phone: Phone,
  media: MediaBridge,
  target: string,
  hooks: { onMedia?: () => void },
): Promise<number | undefined> {
  const ac = new AbortController();
  let sentAt = 0, heardAt = 0;
  media.recorder.onFrame = (f, rate) => {
    if (!sentAt || heardAt) return;
    // both tones of digit "1" present: our burst, not noise
    const p = Math.min(goertzel(f, { hz: 1209, sampleRate: rate }), goertzel(f, { hz: 697, sampleRate: rate }));
    if (p > 0.001) {
      heardAt = performance.now();
      setTimeout(() => ac.abort(), 100);
    }
  };
  hooks.onMedia = () => {
    setTimeout(() => {
      media.feed.queueDtmf("1", { durationMs: 200, gapMs: 0 });
      sentAt = performance.now();
    }, 700);
  };
  const timer = setTimeout(() => ac.abort(), 8000);
  await phone.call(target, { media, ringTimeoutMs: 10_000, signal: ac.signal });
  clearTimeout(timer);
  media.close();
  return heardAt ? Math.round(heardAt - sentAt) : undefined;
}

/**
 * Inside the namespace: N pairs of pbxkit-udp calls (the library, one registration-free UA): one to the
 * auto-answering baresip `sip:phone@...` (its setup is read from the capture), one to the echo line `sip:bob@...`
 * (a `pbxkit call --listen --auto-answer --echo --transport udp`), each timing a DTMF-digit burst sent in-band until
 * both of its tones come back through rtpengine twice and two jitter buffers: the audio round trip (mouth-to-ear and
 * back again); prints the round trips (ms) as one JSON line.
 */
export async function udpRttAgent(proxy: string, calls: number): Promise<void> {
  const { installWebrtc } = await import("../lib/call/webrtc_shim.ts");
  const { mediaFactory } = await import("../lib/call/mod.ts");
  const { openSignalling, phoneSocketOptions } = await import("../lib/call/transport.ts");
  const { Phone } = await import("../lib/call/ua.ts");
  const { USERS } = await import("../tests/call/_pbx.ts");
  const uri = `sip:alice@${DOMAIN}`;
  const engine = await installWebrtc("rtp");
  const sig = await openSignalling({ transport: "udp", proxy, uri, tls: { insecure: false } });
  const makeMedia = await mediaFactory(engine, { kind: "silence" }, {
    localIp: sig.localIp!,
    ports: { min: 21000, max: 21999 },
    codecs: ["pcmu"],
  });
  const hooks: { onMedia?: () => void } = {};
  const phone = await Phone.open({
    ...phoneSocketOptions(sig),
    uri,
    password: USERS.alice,
    register: false,
    onEvent: (e) => {
      if (e.event === "media") hooks.onMedia?.();
    },
  });
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    // setup (timed on the wire): the auto-answering baresip, hung up once media is connected
    const m0 = makeMedia();
    const ac0 = new AbortController();
    hooks.onMedia = () => setTimeout(() => ac0.abort(), 500);
    const t0 = setTimeout(() => ac0.abort(), 8000);
    await phone.call(`sip:phone@${DOMAIN}`, { media: m0, ringTimeoutMs: 10_000, signal: ac0.signal });
    clearTimeout(t0);
    m0.close();
    await new Promise((r) => setTimeout(r, 300));
    // round trip: the echo line
    const rtt = await echoBurstMs(phone, makeMedia(), `sip:bob@${DOMAIN}`, hooks);
    if (rtt !== undefined) out.push(rtt);
    await new Promise((r) => setTimeout(r, 300));
  }
  await phone.close();
  console.log(JSON.stringify(out));
  Deno.exit(0);
}
