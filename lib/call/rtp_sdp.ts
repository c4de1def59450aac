/**
 * SDP for plain RTP media (RTP/AVP, and RTP/SAVP with SDES `a=crypto`, RFC 4568): build our offer or answer, read
 * the other side's (the `c=`/`m=` address to send to, honouring a media-level `c=` over the session one, payload
 * types, telephone-event, `a=rtcp`, direction, crypto), and pick the codec. Pure; no I/O.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

/** The audio codecs the plain RTP stack can send and receive. */
export type RtpCodecName = "pcmu" | "pcma";

/** Static payload types and clock rates (RFC 3551). */
const STATIC: Record<RtpCodecName, { pt: number; name: string }> = {
  pcmu: { pt: 0, name: "PCMU" },
  pcma: { pt: 8, name: "PCMA" },
};

/** Our telephone-event payload type in offers. */
export const TE_PT = 101;

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
    const s = Object.entries(STATIC).find(([, v]) => v.pt === pt);
    return { pt, name: s ? s[0] : `pt${pt}`, rate: 8000 };
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
  const usable = remote.payloads.filter((p) => p.rate === 8000 && (ours as readonly string[]).includes(p.name));
  if (preferOurs) usable.sort((a, b) => ours.indexOf(a.name as RtpCodecName) - ours.indexOf(b.name as RtpCodecName));
  const pick = usable[0];
  if (!pick) {
    const offered = remote.payloads.map((p) => p.name).filter((n) => n !== "telephone-event").join(", ");
    throw new PbxError("E_UNSUPPORTED", `no common audio codec (we have ${ours.join(", ")}; they offer ${offered})`);
  }
  return { codec: pick.name as RtpCodecName, pt: pick.pt, tePt: remote.tePt };
}

/** Our SDP: an offer with all `codecs` and telephone-event, or (with `answer`) just the negotiated ones. */
export function buildSdp(local: LocalMedia, answer?: Negotiated & { direction?: string }): string {
  const fam = local.ip.includes(":") ? "IP6" : "IP4";
  const proto = local.crypto ? "RTP/SAVP" : "RTP/AVP";
  const audio = answer ? [{ pt: answer.pt, name: STATIC[answer.codec].name }] : local.codecs.map((c) => STATIC[c]);
  const te = answer ? answer.tePt : TE_PT;
  const pts = [...audio.map((a) => a.pt), ...(te !== undefined ? [te] : [])];
  const lines = [
    "v=0",
    `o=pbxkit ${local.sessionId} ${local.version} IN ${fam} ${local.ip}`,
    "s=pbxkit",
    `c=IN ${fam} ${local.ip}`,
    "t=0 0",
    `m=audio ${local.port} ${proto} ${pts.join(" ")}`,
    ...audio.map((a) => `a=rtpmap:${a.pt} ${a.name}/8000`),
    ...(te !== undefined ? [`a=rtpmap:${te} telephone-event/8000`, `a=fmtp:${te} 0-16`] : []),
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
