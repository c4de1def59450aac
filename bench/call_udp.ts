/**
 * The UDP cells of `deno task bench call`: call setup over SIP/UDP with plain RTP through the bench's kamailio +
 * rtpengine, for three callers calling the same auto-answering baresip: pbxkit (`--transport udp`, the CLI), baresip
 * (the baseline's caller, driven over ctrl_tcp) and linphonec (driven through its stdin). Every caller is timed the
 * same way, from one packet capture on the PBX host (tshark): the caller's first INVITE to the 200 OK kamailio sends
 * back to it, and to the first RTP packet sent to the caller's SDP address. Both include the 407 digest round trip.
 *
 * @module
 */

import { sh, waitFor } from "../tests/_util/mod.ts";
import { creds, DOMAIN, linphonecSay, type Pbx } from "../tests/call/_pbx.ts";

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

/** `calls` pbxkit-udp calls (the CLI, 1 s of audio each) to the auto-answering baresip `phone`. */
export async function pbxkitUdpCalls(pbx: Pbx, calls: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < calls; i++) {
    const p = pbx.pbxkit([
      "call",
      `sip:phone@${DOMAIN}`,
      "--transport",
      "udp",
      "--proxy",
      `${pbx.ip}:${pbx.sipPort}`,
      ...creds("alice"),
      "--domain",
      DOMAIN,
      "--no-register",
      "--duration",
      "1s",
      "--rtp-ports",
      "20000-20999",
      "--quiet",
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const st = await Promise.race([p.done, new Promise<null>((r) => timer = setTimeout(() => r(null), 20_000))]);
    clearTimeout(timer);
    if (st?.code === 0) ok++;
    else {
      await p.stop();
      console.error(`bench call: pbxkit-udp call ${i + 1} failed: ${p.stderr.slice(-300)}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return ok;
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

/** Read the capture: per caller (see {@linkcode CALLER_OF_USER}), the setup of each call it made through `pbxIp`. */
export async function setupsFromCapture(file: string, pbxIp: string): Promise<Record<string, UdpSetup[]>> {
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
    "sdp.connection_info.address",
    "sdp.media.port",
  ]);
  const udp = await fields("udp && !sip", ["frame.time_epoch", "ip.dst", "udp.dstport"]);
  const calls = new Map<string, { user: string; from: string; rtpTo?: string; t0: number; answer?: number }>();
  for (const line of sip.stdout.split("\n")) {
    const [t, src, sport, dst, dport, callId, method, status, cseq, user, cAddr, mPort] = line.split("\t");
    if (!callId) continue;
    const at = Number(t) * 1000;
    const c = calls.get(callId);
    if (method === "INVITE" && dst === pbxIp && dport === "5060" && !c) {
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
