/**
 * SDP for plain RTP media (RTP/AVP, and RTP/SAVP with SDES `a=crypto`, RFC 4568): build our offer or answer, read
 * the other side's (the `c=`/`m=` address to send to, honouring a media-level `c=` over the session one, payload
 * types, telephone-event, `a=rtcp`, direction, crypto), and pick the codec. Pure; no I/O.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import { isRtpCodec, RTP_CODECS, type RtpCodecName } from "./rtp_codec.ts";

export type { RtpCodecName } from "./rtp_codec.ts";

/** Our telephone-event payload type in offers (8 kHz clock, for G.711). */
export const TE_PT = 101;
/** Our telephone-event payload type at 48 kHz in offers that have opus (RFC 4733 §2.1: the audio's clock). */
export const TE_PT_48K = 110;

/** An SDES crypto attribute (RFC 4568): suite and base64 inline key||salt. */
export interface SdesCrypto {
  /** Tag. */
  tag: number;
  /** Crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`. */
  suite: string;
  /** base64 of the 16-byte master key followed by the 14-byte master salt. */
  keyB64: string;
  /** The MKI, `VALUE:LENGTH`, when the line has one (pbxkit does not use MKIs). */
  mki?: string;
  /** Session parameters after the key (`UNENCRYPTED_SRTP`, `KDR=...`) or further keys, when any. */
  sessionParams?: string;
}

/** What we put in our SDP. */
export interface LocalMedia {
  /** Our address (c=). */
  ip: string;
  /** Our RTP port (RTCP is port + 1). */
  port: number;
  /** Codecs in order of preference. */
  codecs: readonly RtpCodecName[];
  /** o= session id. */
  sessionId: string;
  /** o= version. */
  version: number;
  /** SDES crypto to offer (RTP/SAVP); absent: RTP/AVP. */
  crypto?: SdesCrypto;
}

/** The audio section of the other side's SDP. */
export interface RemoteMedia {
  /** Where to send RTP. */
  ip: string;
  /** RTP port (0: audio refused). */
  port: number;
  /** RTCP port (a=rtcp, else port + 1). */
  rtcpPort: number;
  /** RTP/AVP, RTP/SAVP, ... */
  proto: string;
  /** Payload types with their encoding names (lower case) and clock rates, in the order offered. */
  payloads: { pt: number; name: string; rate: number }[];
  /** telephone-event payload type, if offered. */
  tePt?: number;
  /** sendrecv, sendonly, recvonly, inactive. */
  direction: string;
  /** SDES crypto attributes offered. */
  crypto: SdesCrypto[];
}

/** The codec both sides use. */
export interface Negotiated {
  /** Our codec name. */
  codec: RtpCodecName;
  /** Its payload type on the wire. */
  pt: number;
  /** telephone-event payload type, if both sides have it. */
  tePt?: number;
}

/** Parse the first audio m= section of an SDP; throws E_PARSE when there is none or it is unusable. */
export function parseRemoteSdp(sdp: string): RemoteMedia {
  const lines = sdp.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const mIdx = lines.findIndex((l) => l.startsWith("m=audio "));
  if (mIdx < 0) throw new PbxError("E_PARSE", "SDP has no audio m= line");
  let end = lines.findIndex((l, i) => i > mIdx && l.startsWith("m="));
  if (end < 0) end = lines.length;
  const session = lines.slice(0, mIdx), media = lines.slice(mIdx + 1, end);
  const conn = (ls: string[]) => {
    const c = ls.find((l) => l.startsWith("c="));
    return c ? /^c=IN IP[46] ([^ /]+)/.exec(c)?.[1] : undefined;
  };
  const ip = conn(media) ?? conn(session);
  const m = /^m=audio (\d+)(?:\/\d+)? (\S+)((?: \d+)*)$/.exec(lines[mIdx]);
  if (!m || !ip) {
    throw new PbxError("E_PARSE", `SDP audio section unusable: ${lines[mIdx]}${ip ? "" : " (no c= line)"}`);
  }
  const port = Number(m[1]);
  const pts = m[3].trim().split(/ +/).filter(Boolean).map(Number);
  const rtpmap = new Map<number, { name: string; rate: number }>();
  for (const l of media) {
    const r = /^a=rtpmap:(\d+) ([^/]+)\/(\d+)/.exec(l);
    if (r) rtpmap.set(Number(r[1]), { name: r[2].toLowerCase(), rate: Number(r[3]) });
  }
  const payloads = pts.map((pt) => {
    const r = rtpmap.get(pt);
    if (r) return { pt, ...r };
    const s = Object.entries(RTP_CODECS).find(([, v]) => v.pt === pt && pt < 96);
    return { pt, name: s ? s[0] : `pt${pt}`, rate: s ? s[1].clockRate : 8000 };
  });
  const rtcp = media.map((l) => /^a=rtcp:(\d+)/.exec(l)).find(Boolean);
  const dirs = ["sendrecv", "sendonly", "recvonly", "inactive"];
  const direction = media.map((l) => l.slice(2)).find((a) => dirs.includes(a)) ??
    session.map((l) => l.slice(2)).find((a) => dirs.includes(a)) ?? "sendrecv";
  const crypto: SdesCrypto[] = [];
  for (const l of media) {
    const c = /^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)(\S*)(?:\s+(.*))?$/.exec(l);
    if (!c) continue;
    const mki = /\|(\d+:\d+)/.exec(c[4])?.[1];
    const more = [c[4].includes(";") ? c[4].slice(c[4].indexOf(";")) : "", c[5] ?? ""].filter(Boolean).join(" ");
    crypto.push({
      tag: Number(c[1]),
      suite: c[2],
      keyB64: c[3],
      ...(mki ? { mki } : {}),
      ...(more ? { sessionParams: more } : {}),
    });
  }
  return {
    ip,
    port,
    rtcpPort: rtcp ? Number(rtcp[1]) : port + 1,
    proto: m[2],
    payloads,
    tePt: payloads.find((p) => p.name === "telephone-event" && p.rate === 8000)?.pt,
    direction,
    crypto,
  };
}

/**
 * Choose the codec: as answerer, the first of the offer's payloads we support, in `ours` order when `preferOurs`;
 * as offerer, the first of the answer's. Throws E_UNSUPPORTED when nothing matches (the call is media-failed).
 */
export function negotiate(remote: RemoteMedia, ours: readonly RtpCodecName[], preferOurs = false): Negotiated {
  const usable = remote.payloads.filter((p) =>
    isRtpCodec(p.name) && p.rate === RTP_CODECS[p.name].clockRate && ours.includes(p.name)
  );
  if (preferOurs) usable.sort((a, b) => ours.indexOf(a.name as RtpCodecName) - ours.indexOf(b.name as RtpCodecName));
  const pick = usable[0];
  if (!pick) {
    const offered = remote.payloads.map((p) => p.name).filter((n) => n !== "telephone-event").join(", ");
    throw new PbxError("E_UNSUPPORTED", `no common audio codec (we have ${ours.join(", ")}; they offer ${offered})`);
  }
  const codec = pick.name as RtpCodecName, rate = RTP_CODECS[codec].clockRate;
  // telephone-event runs on the audio's clock (RFC 4733 §2.1): at 48 kHz for opus
  const tePt = rate === 8000
    ? remote.tePt
    : remote.payloads.find((p) => p.name === "telephone-event" && p.rate === rate)?.pt;
  return { codec, pt: pick.pt, tePt };
}

/** Our SDP: an offer with all `codecs` and telephone-event, or (with `answer`) just the negotiated ones. */
export function buildSdp(local: LocalMedia, answer?: Negotiated & { direction?: string }): string {
  const fam = local.ip.includes(":") ? "IP6" : "IP4";
  const proto = local.crypto ? "RTP/SAVP" : "RTP/AVP";
  const audio = answer ? [{ ...RTP_CODECS[answer.codec], pt: answer.pt }] : local.codecs.map((c) => RTP_CODECS[c]);
  const te: { pt: number; rate: number }[] = [];
  if (answer) {
    if (answer.tePt !== undefined) te.push({ pt: answer.tePt, rate: RTP_CODECS[answer.codec].clockRate });
  } else {
    if (audio.some((a) => a.clockRate === 8000)) te.push({ pt: TE_PT, rate: 8000 });
    if (audio.some((a) => a.clockRate === 48000)) te.push({ pt: TE_PT_48K, rate: 48000 });
  }
  const pts = [...audio.map((a) => a.pt), ...te.map((t) => t.pt)];
  const lines = [
    "v=0",
    `o=pbxkit ${local.sessionId} ${local.version} IN ${fam} ${local.ip}`,
    "s=pbxkit",
    `c=IN ${fam} ${local.ip}`,
    "t=0 0",
    `m=audio ${local.port} ${proto} ${pts.join(" ")}`,
    ...audio.flatMap((a) => [
      `a=rtpmap:${a.pt} ${a.encoding}/${a.clockRate}${a.channels ? `/${a.channels}` : ""}`,
      ...(a.fmtp ? [`a=fmtp:${a.pt} ${a.fmtp}`] : []),
    ]),
    ...te.flatMap((t) => [`a=rtpmap:${t.pt} telephone-event/${t.rate}`, `a=fmtp:${t.pt} 0-16`]),
    `a=rtcp:${local.port + 1}`,
    "a=ptime:20",
    ...(local.crypto ? [`a=crypto:${local.crypto.tag} ${local.crypto.suite} inline:${local.crypto.keyB64}`] : []),
    `a=${answerDirection(answer?.direction)}`,
  ];
  return lines.join("\r\n") + "\r\n";
}

/** The direction we answer with for the offer's direction. */
function answerDirection(offered: string | undefined): string {
  if (offered === "sendonly") return "recvonly";
  if (offered === "recvonly") return "sendonly";
  if (offered === "inactive") return "inactive";
  return "sendrecv";
}
