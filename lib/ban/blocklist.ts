/**
 * Blocklists for `pbxkit ban import`, sans-I/O: text in (one address or CIDR per line with `#` comments, or a JSON
 * list of strings or `{"address": ...}` objects), validated ban targets out, with every bad line reported by its
 * line number. Networks wider than a maximum prefix and targets that overlap an exempt network are refused.
 * Expiries are jittered (seedable) so a large import does not expire in one second.
 *
 * @module
 */

import { type Cidr, cidrContains, formatIpv6, parseCidr } from "./net/addr.ts";

/** A validated ban target from a blocklist. */
export interface BlocklistEntry {
  /** Canonical text: a bare address (`203.0.113.7`, `2001:db8::7`) or a network (`198.51.100.0/24`). */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Prefix length (32 or 128 for a single address). */
  prefix: number;
  /** Line (1-based) it came from; for a JSON list, the item's index + 1. */
  line: number;
}

/** A line that was not accepted. */
export interface BlocklistError {
  /** Line number (1-based; for a JSON list, the item's index + 1). */
  line: number;
  /** The offending text (cut to 80 characters). */
  text: string;
  /** Why. */
  error: string;
}

/** Options for {@linkcode parseBlocklist}. */
export interface BlocklistOptions {
  /** Widest IPv4 network accepted (default 32: single addresses only). */
  maxPrefix4?: number;
  /** Widest IPv6 network accepted (default 128: single addresses only). */
  maxPrefix6?: number;
  /** Networks never banned: an entry inside or overlapping one of them is refused. */
  exempt?: readonly Cidr[];
  /** Entries accepted at most (default 10,000,000); beyond it the rest are errors. */
  maxEntries?: number;
}

/** What {@linkcode parseBlocklist} found. */
export interface ParsedBlocklist {
  /** Accepted targets, first occurrence of each, in file order. */
  entries: BlocklistEntry[];
  /** Rejected lines. */
  errors: BlocklistError[];
  /** Lines repeating an accepted target. */
  duplicates: number;
  /** `text` or `json`. */
  format: "text" | "json";
}

/** Whether two networks share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefix <= b.prefix ? cidrContains(a, b.family, b.bytes, 0) : cidrContains(b, a.family, a.bytes, 0);
}

/** The canonical ban target text of a network: the bare address for a /32 or /128, else `net/len`. */
export function targetText(c: Cidr): string {
  const max = c.family === 4 ? 32 : 128;
  return c.prefix === max ? c.text.slice(0, c.text.lastIndexOf("/")) : c.text;
}

/** Parse `addr` or `net/len` into a target, or an error message. */
export function parseTarget(text: string): Cidr | string {
  try {
    return parseCidr(text, "address");
  } catch (err) {
    return /prefix length/.test((err as Error).message) ? "bad prefix length" : "not an IP address or CIDR";
  }
}

/** A validated target: canonical text, family and prefix length. */
export interface ValidTarget {
  /** Canonical text: a bare address for a /32 or /128, else `net/len`. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Prefix length. */
  prefix: number;
}

/**
 * Checks ban targets from outside (a blocklist line, a control request, later a fleet record): syntax, the widest
 * network allowed, and the exempt networks. A plain IPv4 or IPv6 address (most of a real list) is parsed without
 * allocating; networks and anything else through {@linkcode parseCidr}.
 */
export class TargetValidator {
  readonly #max4: number;
  readonly #max6: number;
  readonly #exempt: readonly Cidr[];
  readonly #scratch = new Uint8Array(4);
  readonly #scratch6 = new Uint8Array(16);

  /** Rules: `maxPrefix4`/`maxPrefix6` (default 32/128: single addresses), `exempt`. */
  constructor(options: Pick<BlocklistOptions, "maxPrefix4" | "maxPrefix6" | "exempt"> = {}) {
    this.#max4 = options.maxPrefix4 ?? 32;
    this.#max6 = options.maxPrefix6 ?? 128;
    this.#exempt = options.exempt ?? [];
  }

  /** The target, or why it is refused. */
  check(raw: string): ValidTarget | string {
    const b = this.#scratch;
    if (ipv4Into(raw, b)) {
      const hit4 = this.#exempt.find((e) => cidrContains(e, 4, b, 0));
      if (hit4) return `overlaps the exempt network ${hit4.text}`;
      return { address: canonicalIpv4(raw, b), family: 4, prefix: 32 };
    }
    const b6 = this.#scratch6;
    if (ipv6Into(raw, b6)) {
      const hit6 = this.#exempt.find((e) => cidrContains(e, 6, b6, 0));
      if (hit6) return `overlaps the exempt network ${hit6.text}`;
      return { address: formatIpv6(b6, 0), family: 6, prefix: 128 };
    }
    const c = parseTarget(raw);
    if (typeof c === "string") return c;
    const widest = c.family === 4 ? this.#max4 : this.#max6;
    if (c.prefix < widest) return `network /${c.prefix} is wider than the maximum prefix /${widest} (--max-prefix)`;
    const hit = this.#exempt.find((e) => cidrsOverlap(e, c));
    if (hit) return `overlaps the exempt network ${hit.text}`;
    return { address: targetText(c), family: c.family, prefix: c.prefix };
  }
}

/** Parse and validate a blocklist; never throws on bad content (each bad line becomes an error). */
export function parseBlocklist(text: string, options: BlocklistOptions = {}): ParsedBlocklist {
  const validator = new TargetValidator(options);
  const maxEntries = options.maxEntries ?? 10_000_000;
  const entries: BlocklistEntry[] = [];
  const errors: BlocklistError[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const add = (raw: string, line: number) => {
    const t = validator.check(raw);
    if (typeof t === "string") return errors.push({ line, text: cut(raw), error: t });
    if (seen.has(t.address)) return duplicates++;
    if (entries.length >= maxEntries) {
      return errors.push({ line, text: cut(raw), error: `more than ${maxEntries} entries` });
    }
    seen.add(t.address);
    entries.push({ address: t.address, family: t.family, prefix: t.prefix, line });
  };
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      errors.push({ line: 1, text: cut(trimmed), error: `not valid JSON: ${(err as Error).message}` });
      return { entries, errors, duplicates, format: "json" };
    }
    (doc as unknown[]).forEach((item, i) => {
      const v = typeof item === "string"
        ? item
        : item && typeof item === "object" && typeof (item as { address?: unknown }).address === "string"
        ? (item as { address: string }).address
        : undefined;
      if (v === undefined) {
        errors.push({ line: i + 1, text: cut(JSON.stringify(item) ?? "undefined"), error: "not an address string" });
      } else add(v, i + 1);
    });
    return { entries, errors, duplicates, format: "json" };
  }
  let line = 0, start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    line++;
    let s = text.slice(start, end);
    start = end + 1;
    const hash = s.indexOf("#");
    if (hash >= 0) s = s.slice(0, hash);
    // ';' comments (Spamhaus DROP style: "1.10.16.0/20 ; SBL256894")
    const semi = s.indexOf(";");
    if (semi >= 0) s = s.slice(0, semi);
    s = s.trim();
    if (s) add(s, line);
  }
  return { entries, errors, duplicates, format: "text" };
}

/** Parse a plain dotted IPv4 address into `out` (no allocation); false when `s` is anything else. */
export function ipv4Into(s: string, out: Uint8Array): boolean {
  return ipv4At(s, 0, s.length, out, 0);
}

/** Parse `s[from..to)` as dotted IPv4 into `out[off..off+4)` without allocating. */
function ipv4At(s: string, from: number, to: number, out: Uint8Array, off: number): boolean {
  let part = 0, digits = 0, v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      if (++digits > 3 || v > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part === 3) return false;
      out[off + part++] = v;
      v = 0;
      digits = 0;
    } else return false;
  }
  if (part !== 3 || digits === 0) return false;
  out[off + 3] = v;
  return true;
}

/**
 * Parse an IPv6 address (hex groups, one `::`, an optional dotted IPv4 tail; no zone, no brackets) into 16 bytes
 * of `out` without allocating; false when `s` is anything else.
 */
export function ipv6Into(s: string, out: Uint8Array): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let w = 0, gap = -1, i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let v = 0, d = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      const x = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (x < 0) break;
      if (++d > 4) return false;
      v = v * 16 + x;
      i++;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      if (w > 6 || !ipv4At(s, start, n, out, 2 * w)) return false;
      w += 2;
      break;
    }
    if (d === 0 || w >= 8) return false;
    out[2 * w] = v >> 8;
    out[2 * w + 1] = v & 0xff;
    w++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = w;
      i++;
    } else if (i === n) return false;
  }
  if (gap < 0) return w === 8;
  if (w > 7) return false; // '::' stands for at least one zero group
  const tail = w - gap;
  for (let k = tail - 1; k >= 0; k--) {
    out[2 * (8 - tail + k)] = out[2 * (gap + k)];
    out[2 * (8 - tail + k) + 1] = out[2 * (gap + k) + 1];
  }
  for (let k = gap; k < 8 - tail; k++) out[2 * k] = out[2 * k + 1] = 0;
  return true;
}

/** The canonical text of a parsed IPv4 address: `s` itself unless a part has a leading zero. */
function canonicalIpv4(s: string, b: Uint8Array): string {
  for (let i = 0; i < s.length - 1; i++) {
    if (s.charCodeAt(i) === 48 && (i === 0 || s.charCodeAt(i - 1) === 46) && s.charCodeAt(i + 1) !== 46) {
      return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
    }
  }
  return s;
}

function cut(s: string): string {
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

/** A small seedable PRNG (mulberry32): numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options for {@linkcode jitteredExpiries}. */
export interface JitterOptions {
  /** Fraction of the ban time each expiry may move either way (default 0.1 = ±10%). */
  jitter?: number;
  /** PRNG seed (default: random), so tests get the same spread each run. */
  seed?: number;
}

/**
 * Absolute expiries (ms since the epoch) for `count` bans of `banTimeMs` starting at `now`, each moved by a
 * uniform ±`jitter` fraction of the ban time; all 0 when the ban is permanent (`banTimeMs` 0).
 */
export function jitteredExpiries(
  count: number,
  now: number,
  banTimeMs: number,
  options: JitterOptions = {},
): Float64Array {
  const out = new Float64Array(count);
  if (banTimeMs === 0) return out;
  const j = Math.min(0.9, Math.max(0, options.jitter ?? 0.1));
  const rnd = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  for (let i = 0; i < count; i++) out[i] = Math.round(now + banTimeMs * (1 + j * (2 * rnd() - 1)));
  return out;
}
