/**
 * Building packets: Ethernet (optionally VLAN-tagged), Linux cooked v1/v2 and raw-IP frames carrying IPv4/IPv6
 * with UDP or TCP, and IP fragments. Used by the tests, the fuzzer and the benchmark's capture generator.
 *
 * @module
 */

import { parseIp } from "./addr.ts";

/** Options for {@linkcode craftPacket}. */
export interface CraftOptions {
  /** Source address (IPv4 or IPv6 text). */
  src: string;
  /** Destination address (same family). */
  dst: string;
  /** Source port. */
  sport: number;
  /** Destination port. */
  dport: number;
  /** "udp" (default) or "tcp". */
  transport?: "udp" | "tcp";
  /** TCP sequence number. */
  seq?: number;
  /** TCP flags (default ACK|PSH = 0x18). */
  flags?: number;
  /** Link layer: "ether" (default), "vlan", "sll", "sll2", "raw". */
  link?: "ether" | "vlan" | "sll" | "sll2" | "raw";
  /** IPv4 identification (for fragments). */
  ipId?: number;
}

/** Options for {@linkcode craftFragments}: a {@linkcode CraftOptions} plus the fragment size. */
export interface FragmentOptions extends CraftOptions {
  /** Most bytes of L4 data (UDP/TCP header and payload) per fragment: a multiple of 8. */
  fragSize: number;
}

/** Options for {@linkcode linkWrap}. */
export interface LinkWrapOptions {
  /** Link layer (default "ether"). */
  link?: CraftOptions["link"];
}

/** The pcap link type for a {@linkcode CraftOptions.link}. */
export function linkTypeOf(link: CraftOptions["link"] = "ether"): number {
  return link === "sll" ? 113 : link === "sll2" ? 276 : link === "raw" ? 101 : 1;
}

function checksum16(buf: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < len; i += 2) s += (buf[off + i] << 8) | buf[off + i + 1];
  if (len & 1) s += buf[off + len - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Build the L4 segment (UDP or TCP header + payload). */
function l4(o: CraftOptions, payload: Uint8Array): Uint8Array {
  if ((o.transport ?? "udp") === "udp") {
    const out = new Uint8Array(8 + payload.length);
    out[0] = o.sport >> 8;
    out[1] = o.sport & 255;
    out[2] = o.dport >> 8;
    out[3] = o.dport & 255;
    out[4] = out.length >> 8;
    out[5] = out.length & 255;
    out.set(payload, 8);
    return out;
  }
  const out = new Uint8Array(20 + payload.length);
  out[0] = o.sport >> 8;
  out[1] = o.sport & 255;
  out[2] = o.dport >> 8;
  out[3] = o.dport & 255;
  const seq = (o.seq ?? 1) >>> 0;
  out[4] = seq >>> 24;
  out[5] = (seq >>> 16) & 255;
  out[6] = (seq >>> 8) & 255;
  out[7] = seq & 255;
  out[12] = 5 << 4;
  out[13] = o.flags ?? 0x18;
  out[14] = 0xff;
  out[15] = 0xff;
  out.set(payload, 20);
  return out;
}

/** Wrap an IP packet of `family` in the chosen link layer. */
export function linkWrap(ip: Uint8Array, family: 4 | 6, options: LinkWrapOptions = {}): Uint8Array {
  const link = options.link ?? "ether";
  const etype = family === 4 ? 0x0800 : 0x86dd;
  let hdr: Uint8Array;
  switch (link) {
    case "raw":
      return ip;
    case "vlan":
      hdr = new Uint8Array(18);
      hdr.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x2a, etype >> 8, etype & 255]);
      break;
    case "sll":
      hdr = new Uint8Array(16);
      hdr.set([0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, etype >> 8, etype & 255]);
      break;
    case "sll2":
      hdr = new Uint8Array(20);
      hdr.set([etype >> 8, etype & 255, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
      break;
    default:
      hdr = new Uint8Array(14);
      hdr.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, etype >> 8, etype & 255]);
  }
  const out = new Uint8Array(hdr.length + ip.length);
  out.set(hdr);
  out.set(ip, hdr.length);
  return out;
}

/** Build an IP header + `body` (already an L4 segment or a fragment of one). */
function ipPacket(
  o: CraftOptions,
  proto: number,
  body: Uint8Array,
  frag?: { off: number; more: boolean; id: number },
): { ip: Uint8Array; family: 4 | 6 } {
  const s = parseIp(o.src), d = parseIp(o.dst);
  if (!s || !d || s.family !== d.family) throw new Error(`craft: bad addresses ${o.src} -> ${o.dst}`);
  if (s.family === 4) {
    const ip = new Uint8Array(20 + body.length);
    ip[0] = 0x45;
    ip[2] = ip.length >> 8;
    ip[3] = ip.length & 255;
    const id = frag?.id ?? o.ipId ?? 0x1234;
    ip[4] = id >> 8;
    ip[5] = id & 255;
    const fw = frag ? ((frag.more ? 0x2000 : 0) | (frag.off >> 3)) : 0x4000;
    ip[6] = fw >> 8;
    ip[7] = fw & 255;
    ip[8] = 64;
    ip[9] = proto;
    ip.set(s.bytes, 12);
    ip.set(d.bytes, 16);
    const c = checksum16(ip, 0, 20);
    ip[10] = c >> 8;
    ip[11] = c & 255;
    ip.set(body, 20);
    return { ip, family: 4 };
  }
  const extra = frag ? 8 : 0;
  const ip = new Uint8Array(40 + extra + body.length);
  ip[0] = 0x60;
  const plen = extra + body.length;
  ip[4] = plen >> 8;
  ip[5] = plen & 255;
  ip[6] = frag ? 44 : proto;
  ip[7] = 64;
  ip.set(s.bytes, 8);
  ip.set(d.bytes, 24);
  if (frag) {
    ip[40] = proto;
    const w = frag.off | (frag.more ? 1 : 0);
    ip[42] = w >> 8;
    ip[43] = w & 255;
    ip[44] = frag.id >>> 24;
    ip[45] = (frag.id >>> 16) & 255;
    ip[46] = (frag.id >>> 8) & 255;
    ip[47] = frag.id & 255;
  }
  ip.set(body, 40 + extra);
  return { ip, family: 6 };
}

/** One frame carrying `payload` (a string is UTF-8 encoded). */
export function craftPacket(o: CraftOptions, payload: Uint8Array | string): Uint8Array {
  const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const proto = (o.transport ?? "udp") === "udp" ? 17 : 6;
  const { ip, family } = ipPacket(o, proto, l4(o, data));
  return linkWrap(ip, family, { link: o.link });
}

/** The frames of `payload` sent as IP fragments of at most `o.fragSize` bytes (a multiple of 8) of L4 data each. */
export function craftFragments(o: FragmentOptions, payload: Uint8Array | string): Uint8Array[] {
  const fragSize = o.fragSize;
  const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const proto = (o.transport ?? "udp") === "udp" ? 17 : 6;
  const seg = l4(o, data);
  const out: Uint8Array[] = [];
  const id = o.ipId ?? 0x4321;
  for (let off = 0; off < seg.length; off += fragSize) {
    const part = seg.subarray(off, Math.min(seg.length, off + fragSize));
    const { ip, family } = ipPacket(o, proto, part, { off, more: off + fragSize < seg.length, id });
    out.push(linkWrap(ip, family, { link: o.link }));
  }
  return out;
}

/** A SIP response as the PBX would send it. */
export function sipResponse(
  status: number,
  method: string,
  options: { reason?: string; callId?: string; cseq?: number; body?: string; compact?: boolean } = {},
): string {
  const body = options.body ?? "";
  const reason = options.reason ??
    (status === 200
      ? "OK"
      : status === 401
      ? "Unauthorized"
      : status === 403
      ? "Forbidden"
      : status === 404
      ? "Not Found"
      : "Error");
  const cid = options.callId ?? "abc123@host";
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    `${options.compact ? "v" : "Via"}: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-${cid};received=10.0.0.9`,
    `${options.compact ? "f" : "From"}: <sip:100@pbx>;tag=a1`,
    `${options.compact ? "t" : "To"}: <sip:100@pbx>;tag=b2`,
    `${options.compact ? "i" : "Call-ID"}: ${cid}`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
    `Server: kamailio`,
    `${options.compact ? "l" : "Content-Length"}: ${new TextEncoder().encode(body).length}`,
  ];
  return lines.join("\r\n") + "\r\n\r\n" + body;
}
