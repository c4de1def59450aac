/**
 * Blocklists for `pbxkit ban import`, sans-I/O: text in (one address or CIDR per line with `#` comments, or a JSON
 * list of strings or `{"address": ...}` objects), validated ban targets out, with every bad line reported by its
 * line number. Networks wider than a maximum prefix and targets that overlap an exempt network are refused.
 * Expiries are jittered (seedable) so a large import does not expire in one second.
 *
 * @module
 */

import { type Cidr, cidrContains, parseCidr } from "./net/addr.ts";

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
 * network allowed, and the exempt networks. A plain dotted IPv4 address (most of a real list) is parsed without
 * allocating; everything else through {@linkcode parseCidr}.
 */
export class TargetValidator {
  readonly #max4: number;
  readonly #max6: number;
  readonly #exempt: readonly Cidr[];
  readonly #scratch = new Uint8Array(4);

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
  let part = 0, digits = 0, v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      if (++digits > 3 || v > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part === 3) return false;
      out[part++] = v;
      v = 0;
      digits = 0;
    } else return false;
  }
  if (part !== 3 || digits === 0) return false;
  out[3] = v;
  return true;
}

/** The canonical text of a parsed IPv4 address: `s` itself unless it has leading zeros. */
function canonicalIpv4(s: string, b: Uint8Array): string {
  const t = `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return t.length === s.length ? s : t;
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
