/**
 * Packet decoding for `pbxkit ban`, sans-I/O: a captured frame in, SIP payloads sent by the PBX out.
 *
 * Link layers: Ethernet (with 802.1Q/802.1ad VLAN tags), Linux cooked capture v1 and v2 (`-i any`), raw IP, BSD
 * loopback. Network: IPv4 (options, fragments reassembled) and IPv6 (extension headers, fragments reassembled).
 * Transport: UDP datagrams, and TCP with stream reassembly and Content-Length framing. Only packets whose source
 * address and port are the PBX's reach reassembly, so traffic towards the PBX costs almost nothing and cannot fill
 * reassembly buffers. Malformed or truncated frames are counted and skipped, never thrown.
 *
 * @module
 */

import { FragReassembler } from "./ipfrag.ts";
import { TcpReassembler } from "./tcp_stream.ts";
import { formatIpv4, formatIpv6 } from "./addr.ts";

/** Link-layer header types (pcap LINKTYPE_* and the Linux DLT_* values libpcap reports). */
export const LinkType = {
  /** BSD loopback (4-byte host-order family). */
  NULL: 0,
  /** Ethernet II. */
  ETHERNET: 1,
  /** Raw IP (DLT_RAW on Linux). */
  RAW_DLT: 12,
  /** Raw IP (DLT_RAW on OpenBSD). */
  RAW_DLT14: 14,
  /** Raw IP (LINKTYPE_RAW in files). */
  RAW: 101,
  /** OpenBSD loopback. */
  LOOP: 108,
  /** Linux cooked capture v1. */
  LINUX_SLL: 113,
  /** Raw IPv4. */
  IPV4: 228,
  /** Raw IPv6. */
  IPV6: 229,
  /** Linux cooked capture v2. */
  LINUX_SLL2: 276,
} as const;

/** True when the decoder understands link type `lt`. */
export function linkTypeSupported(lt: number): boolean {
  return (Object.values(LinkType) as number[]).includes(lt);
}

/** Decoder counters. All packets end up in exactly one of the outcome counters. */
export interface DecodeStats {
  /** Frames given to the decoder. */
  packets: number;
  /** Frames that were not IPv4/IPv6 (ARP, LLDP...). */
  nonIp: number;
  /** Frames too short, with bad header lengths, or cut by the snap length. */
  malformed: number;
  /** IP packets that were neither UDP nor TCP. */
  otherProto: number;
  /** UDP/TCP packets not from the PBX's address and port (incoming traffic, other services). */
  notPbx: number;
  /** Fragments held for reassembly (the completed datagram is then decoded). */
  fragmentsHeld: number;
  /** UDP payloads from the PBX handed on. */
  udpPayloads: number;
  /** TCP segments from the PBX handed to stream reassembly. */
  tcpSegments: number;
  /** Of those, segments cut by the snap length (the missing bytes are skipped as a gap). */
  tcpTruncated: number;
}

/** One SIP payload from the PBX: a UDP datagram or one framed TCP message (header section at least). */
export class Payload {
  /** Capture timestamp, ms since the epoch (fractional). */
  ts = 0;
  /** 4 or 6. */
  family: 4 | 6 = 4;
  /** "udp" or "tcp". */
  transport: "udp" | "tcp" = "udp";
  /** Bytes holding the message. */
  buf: Uint8Array = new Uint8Array(0);
  /** Start of the message in `buf`. */
  off = 0;
  /** End of the message in `buf`. */
  end = 0;
  /** Source address bytes at [0..4|16), destination address at [16..20|32). */
  readonly addr: Uint8Array = new Uint8Array(32);
  /** Source port (the PBX's). */
  srcPort = 0;
  /** Destination port (the remote's). */
  dstPort = 0;

  /** The destination (remote) address as text. */
  dstText(): string {
    return this.family === 4 ? formatIpv4(this.addr, 16) : formatIpv6(this.addr, 16);
  }
  /** The source (PBX) address as text. */
  srcText(): string {
    return this.family === 4 ? formatIpv4(this.addr, 0) : formatIpv6(this.addr, 0);
  }
}

/** Which packets come from the PBX. */
export interface PbxFilter {
  /**
   * True when the source address of `family` at `buf[off..]` is the PBX's (or any address is accepted).
   * Hot path: positional parameters by design (no per-call allocation).
   */
  isPbxAddr(family: 4 | 6, buf: Uint8Array, off: number): boolean;
  /** `ports[p] === 1` when p is a PBX SIP port. */
  ports: Uint8Array;
}

/** Options for {@linkcode Decoder}. */
export interface DecoderOptions {
  /** Which packets are the PBX's. */
  filter: PbxFilter;
  /** Called for each SIP payload from the PBX; the object is reused, copy what you keep. */
  onPayload: (p: Payload) => void;
}

const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_VLAN = 0x8100, ETH_QINQ = 0x88a8, ETH_VLAN9100 = 0x9100;

/** Decodes frames and hands SIP payloads from the PBX to a callback. */
export class Decoder {
  /** Counters. */
  readonly stats: DecodeStats = {
    packets: 0,
    nonIp: 0,
    malformed: 0,
    otherProto: 0,
    notPbx: 0,
    fragmentsHeld: 0,
    udpPayloads: 0,
    tcpSegments: 0,
    tcpTruncated: 0,
  };
  /** IP fragment reassembly (its own counters). */
  readonly frags: FragReassembler = new FragReassembler();
  /** TCP reassembly (its own counters). */
  readonly tcp: TcpReassembler;
  #filter: PbxFilter;
  #onPayload: (p: Payload) => void;
  #p = new Payload();
  #ts = 0;

  /** Make a decoder. */
  constructor(options: DecoderOptions) {
    this.#filter = options.filter;
    this.#onPayload = options.onPayload;
    this.tcp = new TcpReassembler((buf, off, end) => {
      const p = this.#p;
      p.buf = buf;
      p.off = off;
      p.end = end;
      this.#onPayload(p);
    });
  }

  /** Drop stale fragments and idle TCP flows (call now and then with the packet clock). */
  expire(ts: number): void {
    this.frags.expire(ts);
    this.tcp.expire(ts);
  }

  /**
   * Decode one captured frame `buf[0..caplen)` of link type `linkType` with capture time `ts` (ms). `wireLen` is the
   * original length (a frame cut by the snap length is counted as malformed only if the cut hides what we need).
   * Hot path: positional parameters by design (no per-call allocation).
   */
  packet(linkType: number, buf: Uint8Array, caplen: number, ts: number): void {
    this.stats.packets++;
    this.#ts = ts;
    if (caplen > buf.length) caplen = buf.length;
    let off: number, etype: number;
    switch (linkType) {
      case LinkType.ETHERNET: {
        if (caplen < 14) return this.#bad();
        etype = (buf[12] << 8) | buf[13];
        off = 14;
        let tags = 0;
        while ((etype === ETH_VLAN || etype === ETH_QINQ || etype === ETH_VLAN9100) && tags < 4) {
          if (caplen < off + 4) return this.#bad();
          etype = (buf[off + 2] << 8) | buf[off + 3];
          off += 4;
          tags++;
        }
        break;
      }
      case LinkType.LINUX_SLL: {
        if (caplen < 16) return this.#bad();
        etype = (buf[14] << 8) | buf[15];
        off = 16;
        if (etype === ETH_VLAN) { // the kernel may leave the tag in place
          if (caplen < 20) return this.#bad();
          etype = (buf[18] << 8) | buf[19];
          off = 20;
        }
        break;
      }
      case LinkType.LINUX_SLL2: {
        if (caplen < 20) return this.#bad();
        etype = (buf[0] << 8) | buf[1];
        off = 20;
        if (etype === ETH_VLAN) {
          if (caplen < 24) return this.#bad();
          etype = (buf[22] << 8) | buf[23];
          off = 24;
        }
        break;
      }
      case LinkType.RAW:
      case LinkType.RAW_DLT:
      case LinkType.RAW_DLT14:
      case LinkType.IPV4:
      case LinkType.IPV6: {
        if (caplen < 1) return this.#bad();
        const v = buf[0] >> 4;
        etype = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : 0;
        off = 0;
        break;
      }
      case LinkType.NULL:
      case LinkType.LOOP: {
        if (caplen < 4) return this.#bad();
        off = 4;
        const v = caplen > 4 ? buf[4] >> 4 : 0;
        etype = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : 0;
        break;
      }
      default:
        this.stats.nonIp++;
        return;
    }
    if (etype === ETH_IPV4) this.#ipv4(buf, off, caplen);
    else if (etype === ETH_IPV6) this.#ipv6(buf, off, caplen);
    else this.stats.nonIp++;
  }

  #bad(): void {
    this.stats.malformed++;
  }

  #ipv4(buf: Uint8Array, off: number, caplen: number): void {
    if (caplen - off < 20 || buf[off] >> 4 !== 4) return this.#bad();
    const ihl = (buf[off] & 15) * 4;
    const total = (buf[off + 2] << 8) | buf[off + 3];
    if (ihl < 20 || total < ihl) return this.#bad();
    let end = off + total;
    const proto = buf[off + 9];
    const fragWord0 = (buf[off + 6] << 8) | buf[off + 7];
    let missing = 0;
    if (end > caplen) {
      // Cut by the snap length: only a TCP segment (e.g. a GSO super-packet) can still be used, up to the cut.
      if (proto !== 6 || (fragWord0 & 0x3fff) !== 0 || caplen - off < ihl + 20) return this.#bad();
      missing = end - caplen;
      end = caplen;
    }
    if (proto !== 17 && proto !== 6) {
      this.stats.otherProto++;
      return;
    }
    if (!this.#fromPbx(4, buf, off + 12)) return;
    const more = (fragWord0 & 0x2000) !== 0, fragOff = (fragWord0 & 0x1fff) * 8;
    if (more || fragOff !== 0) {
      const key = `4|${formatIpv4(buf, off + 12)}|${formatIpv4(buf, off + 16)}|${
        (buf[off + 4] << 8) | buf[off + 5]
      }|${proto}`;
      const whole = this.frags.add(key, fragOff, more, buf.subarray(off + ihl, end), this.#ts);
      if (!whole) {
        this.stats.fragmentsHeld++;
        return;
      }
      return this.#l4(proto, whole, 0, whole.length, 0);
    }
    this.#l4(proto, buf, off + ihl, end, missing);
  }

  #ipv6(buf: Uint8Array, off: number, caplen: number): void {
    if (caplen - off < 40 || buf[off] >> 4 !== 6) return this.#bad();
    const plen = (buf[off + 4] << 8) | buf[off + 5];
    let end = off + 40 + plen;
    let missing = 0;
    if (end > caplen) {
      if (buf[off + 6] !== 6 || caplen - off < 60) return this.#bad(); // only a plain TCP segment survives a cut
      missing = end - caplen;
      end = caplen;
    }
    let nh = buf[off + 6];
    let p = off + 40;
    let fragHdr = -1;
    for (let hops = 0; hops < 8; hops++) {
      if (nh === 0 || nh === 43 || nh === 60) {
        if (p + 8 > end) return this.#bad();
        nh = buf[p];
        p += (buf[p + 1] + 1) * 8;
      } else if (nh === 51) {
        if (p + 8 > end) return this.#bad();
        nh = buf[p];
        p += (buf[p + 1] + 2) * 4;
      } else if (nh === 44) {
        if (p + 8 > end) return this.#bad();
        fragHdr = p;
        nh = buf[p];
        p += 8;
        break;
      } else break;
    }
    if (p > end) return this.#bad();
    if (fragHdr < 0 && nh !== 17 && nh !== 6) {
      this.stats.otherProto++;
      return;
    }
    if (!this.#fromPbx(6, buf, off + 8)) return;
    if (fragHdr >= 0) {
      const w = (buf[fragHdr + 2] << 8) | buf[fragHdr + 3];
      const fragOff = w & 0xfff8, more = (w & 1) !== 0;
      const id = ((buf[fragHdr + 4] << 24) | (buf[fragHdr + 5] << 16) | (buf[fragHdr + 6] << 8) | buf[fragHdr + 7]) >>>
        0;
      const key = `6|${formatIpv6(buf, off + 8)}|${formatIpv6(buf, off + 24)}|${id}`;
      const whole = this.frags.add(key, fragOff, more, buf.subarray(p, end), this.#ts);
      if (!whole) {
        this.stats.fragmentsHeld++;
        return;
      }
      // extension headers may follow inside the fragmentable part
      let q = 0;
      for (let hops = 0; hops < 8 && (nh === 0 || nh === 43 || nh === 60); hops++) {
        if (q + 8 > whole.length) return this.#bad();
        nh = whole[q];
        q += (whole[q + 1] + 1) * 8;
      }
      if (nh !== 17 && nh !== 6) {
        this.stats.otherProto++;
        return;
      }
      if (q > whole.length) return this.#bad();
      return this.#l4(nh, whole, q, whole.length, 0);
    }
    this.#l4(nh, buf, p, end, missing);
  }

  /**
   * False (counted as not the PBX's) unless the source address at `buf[src..]` is the PBX's; else copies it and the
   * destination address right after it into the payload.
   */
  #fromPbx(family: 4 | 6, buf: Uint8Array, src: number): boolean {
    if (!this.#filter.isPbxAddr(family, buf, src)) {
      this.stats.notPbx++;
      return false;
    }
    const p = this.#p;
    p.family = family;
    const a = p.addr, len = family === 4 ? 4 : 16;
    for (let i = 0; i < len; i++) {
      a[i] = buf[src + i];
      a[16 + i] = buf[src + len + i];
    }
    return true;
  }

  #l4(proto: number, buf: Uint8Array, off: number, end: number, missing: number): void {
    const pl = this.#p;
    if (end - off < 8) return this.#bad();
    const sport = (buf[off] << 8) | buf[off + 1];
    if (this.#filter.ports[sport] !== 1) {
      this.stats.notPbx++;
      return;
    }
    pl.srcPort = sport;
    pl.dstPort = (buf[off + 2] << 8) | buf[off + 3];
    pl.ts = this.#ts;
    if (proto === 17) {
      const ulen = (buf[off + 4] << 8) | buf[off + 5];
      if (ulen < 8 || off + ulen > end) return this.#bad();
      this.stats.udpPayloads++;
      pl.transport = "udp";
      pl.buf = buf;
      pl.off = off + 8;
      pl.end = off + ulen;
      this.#onPayload(pl);
      return;
    }
    if (end - off < 20) return this.#bad();
    const doff = (buf[off + 12] >> 4) * 4;
    if (doff < 20 || off + doff > end) return this.#bad();
    const seq = ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
    const flags = buf[off + 13];
    this.stats.tcpSegments++;
    pl.transport = "tcp";
    const key = `${pl.srcText()}|${sport}|${pl.dstText()}|${pl.dstPort}`;
    this.tcp.segment(key, seq, missing > 0 ? flags & ~0x05 : flags, buf, off + doff, end, this.#ts);
    if (missing > 0) {
      this.stats.tcpTruncated++;
      this.tcp.skip(key, (seq + (end - off - doff)) >>> 0, missing);
    }
  }
}
