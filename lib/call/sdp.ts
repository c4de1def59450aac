/**
 * SDP helpers shared by every media stack: the negotiated codec of an SDP body and codec filtering.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

/** The first audio codec of an SDP body, e.g. `PCMU/8000`. */
export function codecOf(sdp: string | undefined): string | undefined {
  if (!sdp) return undefined;
  const m = /^m=audio \d+ \S+ (\d+)/m.exec(sdp);
  if (!m) return undefined;
  const pt = m[1];
  const r = new RegExp(`^a=rtpmap:${pt} ([^\\r\\n]+)`, "m").exec(sdp);
  if (r) return r[1];
  return ({ "0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000" } as Record<string, string>)[pt] ?? `PT ${pt}`;
}

/**
 * Keep only the named audio codecs (case-insensitive, e.g. `["pcma", "pcmu"]`) in an SDP, in that order of
 * preference; telephone-event (DTMF) is always kept. Lines of dropped payload types go too. Throws E_USAGE when none
 * of the names is offered.
 */
export function filterCodecs(sdp: string, names: readonly string[]): string {
  const want = names.map((n) => n.toLowerCase());
  const lines = sdp.split(/\r\n|\n/);
  const mIdx = lines.findIndex((l) => l.startsWith("m=audio "));
  if (mIdx < 0) return sdp;
  let end = lines.findIndex((l, i) => i > mIdx && l.startsWith("m="));
  if (end < 0) end = lines.length;
  const m = lines[mIdx].split(" ");
  const pts = m.slice(3);
  const nameOf = new Map<string, string>();
  for (let i = mIdx + 1; i < end; i++) {
    const r = /^a=rtpmap:(\d+) ([^/]+)/.exec(lines[i]);
    if (r) nameOf.set(r[1], r[2].toLowerCase());
  }
  const fixed: Record<string, string> = { "0": "pcmu", "8": "pcma", "9": "g722", "18": "g729" };
  const name = (pt: string) => nameOf.get(pt) ?? fixed[pt] ?? "";
  const kept: string[] = [];
  for (const w of want) for (const pt of pts) if (name(pt) === w && !kept.includes(pt)) kept.push(pt);
  if (!kept.length) {
    const offered = [...new Set(pts.map(name).filter((n) => n && n !== "telephone-event"))].join(", ");
    throw new PbxError("E_USAGE", `--codecs: none of ${names.join(", ")} is available (offered: ${offered})`);
  }
  for (const pt of pts) if (name(pt) === "telephone-event" && !kept.includes(pt)) kept.push(pt);
  const drop = new Set(pts.filter((pt) => !kept.includes(pt)));
  const out = lines.filter((l, i) => {
    if (i <= mIdx || i >= end) return true;
    const a = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ ]/.exec(l);
    return !(a && drop.has(a[1]));
  });
  out[mIdx] = [...m.slice(0, 3), ...kept].join(" ");
  return out.join("\r\n");
}
