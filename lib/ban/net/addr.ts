/**
 * IP addresses as bytes: formatting (RFC 5952 for IPv6, the form nft prints), parsing, and CIDR matching that
 * works on a packet buffer at an offset without allocating.
 *
 * @module
 */

import { usageError } from "../../common/mod.ts";

/** Format 4 bytes at `off` as dotted IPv4. */
export function formatIpv4(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Format 16 bytes at `off` as IPv6 in RFC 5952 canonical form (the longest zero run compressed). */
export function formatIpv6(buf: Uint8Array, off: number): string {
  // IPv4-mapped ::ffff:a.b.c.d
  let zeros10 = true;
  for (let i = 0; i < 10; i++) {
    if (buf[off + i] !== 0) {
      zeros10 = false;
      break;
    }
  }
  if (zeros10 && buf[off + 10] === 0xff && buf[off + 11] === 0xff) return `::ffff:${formatIpv4(buf, off + 12)}`;
  // the longest run (>= 2) of zero words
  let bestStart = -1, bestLen = 0, runStart = -1;
  for (let i = 0; i <= 8; i++) {
    const zero = i < 8 && buf[off + 2 * i] === 0 && buf[off + 2 * i + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart > bestLen && i - runStart >= 2) {
        bestStart = runStart;
        bestLen = i - runStart;
      }
      runStart = -1;
    }
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? "::" : ":";
      i += bestLen - 1;
      continue;
    }
    out += ((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]).toString(16);
    if (i < 7) out += ":";
  }
  return out;
}

/** Parse dotted IPv4 into 4 bytes, or undefined. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** Parse an IPv6 address (with `::`, optional embedded IPv4, optional `%zone` ignored) into 16 bytes. */
export function parseIpv6(text: string): Uint8Array | undefined {
  let t = text.trim();
  const pct = t.indexOf("%");
  if (pct >= 0) t = t.slice(0, pct);
  if (!/^[0-9a-fA-F:.]+$/.test(t) || !t.includes(":")) return undefined;
  const words: number[] = [];
  const parts = t.split("::");
  if (parts.length > 2) return undefined;
  const parseSide = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const groups = s.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const left = parseSide(parts[0]);
  const right = parts.length === 2 ? parseSide(parts[1]) : [];
  if (!left || !right) return undefined;
  if (parts.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    words.push(...left, ...new Array(fill).fill(0), ...right);
  } else {
    if (left.length !== 8) return undefined;
    words.push(...left);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/** A parsed IP address: family and bytes. */
export interface IpAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/** Parse an IPv4 or IPv6 address (brackets allowed around IPv6), or undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const t = text.trim().replace(/^\[(.*)\]$/, "$1");
  const v4 = parseIpv4(t);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(t);
  if (v6) return { family: 6, bytes: v6 };
  return undefined;
}

/** The canonical text of an address (what nft prints), or undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  const a = parseIp(text);
  if (!a) return undefined;
  return a.family === 4 ? formatIpv4(a.bytes, 0) : formatIpv6(a.bytes, 0);
}

/** A network prefix. */
export interface Cidr {
  /** 4 or 6. */
  family: 4 | 6;
  /** Network bytes (host bits cleared). */
  bytes: Uint8Array;
  /** Prefix length. */
  prefix: number;
  /** The text it was parsed from, canonicalized. */
  text: string;
}

/** Parse `10.0.0.0/8`, `fd00::/64` or a bare address (a /32 or /128). Throws `E_USAGE` naming `flag`. */
export function parseCidr(text: string, flag = "--exempt"): Cidr {
  const [addr, len, ...rest] = text.trim().split("/");
  const ip = rest.length === 0 ? parseIp(addr) : undefined;
  if (!ip) throw usageError(`${flag}: '${text}' is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/64)`);
  const max = ip.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw usageError(`${flag}: '${text}' has a bad prefix length`);
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  const base = ip.family === 4 ? formatIpv4(bytes, 0) : formatIpv6(bytes, 0);
  return { family: ip.family, bytes, prefix, text: `${base}/${prefix}` };
}

/**
 * True when the address of `family` at `buf[off..]` lies in `cidr` (run per packet on the raw frame).
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function cidrContains(cidr: Cidr, family: 4 | 6, buf: Uint8Array, off: number): boolean {
  if (cidr.family !== family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (buf[off + i] !== cidr.bytes[i]) return false;
  const rem = cidr.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (buf[off + full] & mask) === cidr.bytes[full];
}

/** True when the address text lies in any of `cidrs`. */
export function inAnyCidr(cidrs: readonly Cidr[], text: string): boolean {
  const ip = parseIp(text);
  if (!ip) return false;
  for (const c of cidrs) if (cidrContains(c, ip.family, ip.bytes, 0)) return true;
  return false;
}
