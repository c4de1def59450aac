/**
 * The UDP cells of `deno task bench call`: call setup over SIP/UDP with plain RTP through the bench's kamailio +
 * rtpengine, for three callers calling the same auto-answering baresip: pbxkit over UDP (the library in one
 * long-running agent, as baresip and linphonec are long-running), baresip (the baseline's caller, driven over
 * ctrl_tcp) and linphonec (driven through its stdin). Every caller is timed the
 * same way, from one packet capture on the PBX host (tshark): the caller's first INVITE to the 200 OK kamailio sends
 * back to it, and to the first RTP packet sent to the caller's SDP address. Both include the 407 digest round trip.
 *
 * @module
 */

import { sh, waitFor } from "../tests/_util/mod.ts";
import { DOMAIN, linphonecSay, type Pbx } from "../tests/call/_pbx.ts";

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

/** `calls` linphonec calls (registered as carol, on the phone host's port 5070) to the baresip `phone`. */
export async function linphonecCalls(pbx: Pbx, calls: number): Promise<number> {
  const play = `${pbx.dir}/bench-silence.wav`;
  await sh(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", play, "synth", "30", "sine", "440", "vol", "0.1"]);
  const lp = await pbx.linphonecRegistered({ user: "carol", play, record: `${pbx.dir}/bench-lp.wav`, sipPort: 5070 });
  let ok = 0;
  try {
    for (let i = 0; i < calls; i++) {
      const count = (re: RegExp) => (lp.stdout.match(re) ?? []).length;
      const connected = count(/ connected\./g), ended = count(/ ended \(/g);
      // to kamailio's address: linphonec's `register` sets no outbound proxy, and pbx.test has no DNS
      await linphonecSay(lp, [`call sip:phone@${pbx.ip}:${pbx.sipPort}`]);
      const up = await waitFor(() => count(/ connected\./g) > connected, { timeoutMs: 10_000 }).catch(() => false);
      if (up) ok++;
      else console.error(`bench call: linphonec call ${i + 1} did not connect: ${lp.stdout.slice(-300)}`);
      await new Promise((r) => setTimeout(r, 1000));
      await linphonecSay(lp, ["terminate"]);
      await waitFor(() => count(/ ended \(/g) > ended, { timeoutMs: 5000 }).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await lp.stop();
  }
  return ok;
}

/** Read the capture: per caller (see {@linkcode CALLER_OF_USER}), the setup of each call to `callee` through `pbxIp`. */
export async function setupsFromCapture(
  file: string,
  pbxIp: string,
  callee = "phone",
): Promise<Record<string, UdpSetup[]>> {
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
  const udp = await fields("udp && !sip", ["frame.time_epoch", "ip.dst", "udp.dstport"]);
  const calls = new Map<string, { user: string; from: string; rtpTo?: string; t0: number; answer?: number }>();
  for (const line of sip.stdout.split("\n")) {
    const [t, src, sport, dst, dport, callId, method, status, cseq, user, ruser, cAddr, mPort] = line.split("\t");
    if (!callId) continue;
    const at = Number(t) * 1000;
    const c = calls.get(callId);
    if (method === "INVITE" && dst === pbxIp && dport === "5060" && !c && ruser === callee) {
      const rtpTo = cAddr && mPort ? `${cAddr.split(",")[0]}:${mPort.split(",")[0]}` : undefined;
      calls.set(callId, { user, from: `${src}:${sport}`, rtpTo, t0: at });
    } else if (c && status === "200" && cseq === "INVITE" && `${dst}:${dport}` === c.from && c.answer === undefined) {
      c.answer = at;
    }
  }
  const firstRtp = new Map<string, number[]>();
  for (const line of udp.stdout.split("\n")) {
    const [t, dst, dport] = line.split("\t");
    if (!dport) continue;
    const key = `${dst}:${dport}`;
    const list = firstRtp.get(key) ?? [];
    list.push(Number(t) * 1000);
    firstRtp.set(key, list);
  }
  const out: Record<string, UdpSetup[]> = {};
  for (const c of calls.values()) {
    const who = CALLER_OF_USER[c.user];
    if (!who || c.answer === undefined) continue;
    const rtp = c.rtpTo ? firstRtp.get(c.rtpTo)?.find((x) => x > c.t0) : undefined;
    (out[who] ??= []).push({ answerMs: c.answer - c.t0, rtpMs: rtp === undefined ? undefined : rtp - c.t0 });
  }
  return out;
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
  const { openSignalling } = await import("../lib/call/transport.ts");
  const { Phone } = await import("../lib/call/ua.ts");
  const { goertzel } = await import("../lib/call/dsp.ts");
  const { USERS } = await import("../tests/call/_pbx.ts");
  const uri = `sip:alice@${DOMAIN}`;
  const engine = await installWebrtc("rtp");
  const sig = await openSignalling({ transport: "udp", proxy, uri, tls: { insecure: false } });
  const makeMedia = await mediaFactory(engine, { kind: "silence" }, {
    localIp: sig.localIp!,
    ports: { min: 21000, max: 21999 },
    codecs: ["pcmu"],
  });
  let onMedia: (() => void) | undefined;
  const phone = await Phone.open({
    ws: sig.label,
    socket: sig.socket,
    viaHost: sig.viaHost,
    contactUri: sig.contactUri,
    uri,
    password: USERS.alice,
    register: false,
    onEvent: (e) => {
      if (e.event === "media") onMedia?.();
    },
  });
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    // setup (timed on the wire): the auto-answering baresip, hung up once media is connected
    const m0 = makeMedia();
    const ac0 = new AbortController();
    onMedia = () => setTimeout(() => ac0.abort(), 500);
    const t0 = setTimeout(() => ac0.abort(), 8000);
    await phone.call(`sip:phone@${DOMAIN}`, { media: m0, ringTimeoutMs: 10_000, signal: ac0.signal });
    clearTimeout(t0);
    m0.close();
    await new Promise((r) => setTimeout(r, 300));
    // round trip: the echo line
    const media = makeMedia();
    const ac = new AbortController();
    let sentAt = 0, heardAt = 0;
    media.recorder.onFrame = (f, rate) => {
      if (!sentAt || heardAt) return;
      const p = Math.min(goertzel(f, { hz: 1209, sampleRate: rate }), goertzel(f, { hz: 697, sampleRate: rate }));
      if (p > 0.001) {
        heardAt = performance.now();
        setTimeout(() => ac.abort(), 100);
      }
    };
    onMedia = () => {
      setTimeout(() => {
        media.feed.queueDtmf("1", { durationMs: 200, gapMs: 0 });
        sentAt = performance.now();
      }, 700);
    };
    const timer = setTimeout(() => ac.abort(), 8000);
    await phone.call(`sip:bob@${DOMAIN}`, { media, ringTimeoutMs: 10_000, signal: ac.signal });
    clearTimeout(timer);
    media.close();
    if (heardAt) out.push(Math.round(heardAt - sentAt));
    await new Promise((r) => setTimeout(r, 300));
  }
  await phone.close();
  console.log(JSON.stringify(out));
  Deno.exit(0);
}
