/**
 * The fleet's wire records: one JSON object per key of the NATS KV bucket, the key derived from the address
 * (`v4.203.0.113.7`, `v6.2001_db8__7`). A ban carries its absolute expiry (`until`, ms since the epoch: nats-server
 * 2.9 has no per-message TTL, so each host sets its own nft timeout to `until - now`), its origin node and reason. An
 * unban is a record too (a later value under the same key), so a host that joins late sees it.
 *
 * A network (an imported `198.51.100.0/24`) is its network address in `addr` and its prefix length in `len`; its key
 * carries the prefix (`v4.198.51.100.0=24`).
 *
 * Decoding is strict: exact field set and types, canonical address text, family and prefix consistent, host bits
 * clear, a ban's prefix no wider than the configured maximum, times in a sane range, bounded sizes. Anything else is
 * rejected with a reason.
 *
 * @module
 */

import { formatIpv4, formatIpv6, parseIp } from "../net/addr.ts";

/** Record format version. */
export const FLEET_RECORD_VERSION = 1;
/** Largest encoded record accepted, bytes. */
export const MAX_RECORD_BYTES = 1024;
/** Longest reason, characters. */
export const MAX_REASON_CHARS = 240;
/** A node name: what `--fleet-node` accepts and an origin must look like. */
export const NODE_NAME_RE: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** How far in the future an origin's clock may be and its record still count as sane, ms. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** A ban or unban as the fleet shares it. */
export interface FleetRecord {
  /** Format version (1). */
  v: 1;
  /** What happened. */
  op: "ban" | "unban";
  /** Canonical address (network address when `len` is shorter than the family's width). */
  addr: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** Prefix length (32/128 for one host). */
  len: number;
  /** When the origin made it (its clock, ms since the epoch). */
  at: number;
  /** Ban: absolute expiry, ms since the epoch. Unban: 0. */
  until: number;
  /** The node that made it. */
  origin: string;
  /** Why (a ban's reason, or who lifted it). */
  reason: string;
}

/** Limits a receiver checks records against. */
export interface RecordLimits {
  /** Widest IPv4 prefix accepted (default 32: single hosts only). */
  maxPrefix4: number;
  /** Widest IPv6 prefix accepted (default 128). */
  maxPrefix6: number;
  /** Longest ban accepted (`until - at`), and how old a record may be, ms. */
  maxAgeMs: number;
}

/** A reason as a record may carry it: control characters replaced by spaces, cut to {@linkcode MAX_REASON_CHARS}. */
export function cleanReason(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ").slice(0, MAX_REASON_CHARS);
}

/** The KV key of an address (`v4.203.0.113.7`, `v6.2001_db8__7`, with `=LEN` for a prefix). */
export function recordKey(addr: string, family: 4 | 6, len: number): string {
  const full = family === 4 ? 32 : 128;
  const base = family === 4 ? `v4.${addr}` : `v6.${addr.replaceAll(":", "_")}`;
  return len === full ? base : `${base}=${len}`;
}

/**
 * A ban target as the daemon writes it (`203.0.113.7`, or `198.51.100.0/24` for a network: canonical text, as
 * `targetText` of `blocklist.ts` makes it) split into a record's `addr` and `len`.
 */
export function splitTarget(target: string, family: 4 | 6): { addr: string; len: number } {
  const slash = target.indexOf("/");
  if (slash < 0) return { addr: target, len: family === 4 ? 32 : 128 };
  return { addr: target.slice(0, slash), len: Number(target.slice(slash + 1)) };
}

/** The ban target text of a record: the bare address for a /32 or /128, else `addr/len` (what the firewall takes). */
export function recordTarget(r: Pick<FleetRecord, "addr" | "family" | "len">): string {
  return r.len === (r.family === 4 ? 32 : 128) ? r.addr : `${r.addr}/${r.len}`;
}

/** The KV key of a ban target (`203.0.113.7`, `198.51.100.0/24`). */
export function targetKey(target: string, family: 4 | 6): string {
  const { addr, len } = splitTarget(target, family);
  return recordKey(addr, family, len);
}

/** Encode a record as its JSON bytes. */
export function encodeRecord(r: FleetRecord): Uint8Array {
  return new TextEncoder().encode(recordText(r));
}

/** A record's JSON text (fields in a fixed order): what {@linkcode encodeRecord} encodes. */
export function recordText(r: FleetRecord): string {
  return JSON.stringify({
    v: r.v,
    op: r.op,
    addr: r.addr,
    family: r.family,
    len: r.len,
    at: r.at,
    until: r.until,
    origin: r.origin,
    reason: r.reason,
  });
}

/**
 * The result of {@linkcode decodeRecord}: the record and its address's bytes. `tooWide` marks a well-formed ban of a
 * network wider than this host's maximum prefix: a local policy decision, not a malformed record.
 */
export type DecodeResult =
  | { ok: true; record: FleetRecord; bytes: Uint8Array }
  | { ok: false; error: string; tooWide?: true };

const FIELDS = ["addr", "at", "family", "len", "op", "origin", "reason", "until", "v"];
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Decode and validate a record received under `key` at local time `now`. Never throws: a hostile or malformed
 * record is `{ ok: false, error }`.
 */
export function decodeRecord(key: string, bytes: Uint8Array, options: RecordLimits & { now: number }): DecodeResult {
  if (bytes.length === 0) return { ok: false, error: "empty record" };
  if (bytes.length > MAX_RECORD_BYTES) {
    return { ok: false, error: `record of ${bytes.length} bytes (limit ${MAX_RECORD_BYTES})` };
  }
  let text: string;
  try {
    text = fatalDecoder.decode(bytes);
  } catch {
    return { ok: false, error: "not UTF-8 JSON" };
  }
  return decodeRecordText(key, text, options);
}

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * {@linkcode decodeRecord} of a record's text (already UTF-8 decoded, as a live message's line is): the same checks,
 * the size bound counted in characters.
 */
export function decodeRecordText(key: string, text: string, options: RecordLimits & { now: number }): DecodeResult {
  const bad = (error: string): DecodeResult => ({ ok: false, error });
  if (text.length === 0) return bad("empty record");
  if (text.length > MAX_RECORD_BYTES) return bad(`record of ${text.length} characters (limit ${MAX_RECORD_BYTES})`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad("not UTF-8 JSON");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return bad("not a JSON object");
  const o = doc as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  if (keys.join() !== FIELDS.join()) return bad(`fields ${keys.slice(0, 12).join(",")} (want ${FIELDS.join(",")})`);
  if (o.v !== FLEET_RECORD_VERSION) return bad(`version ${String(o.v).slice(0, 20)} (want 1)`);
  if (o.op !== "ban" && o.op !== "unban") return bad("op is not ban or unban");
  if (o.family !== 4 && o.family !== 6) return bad("family is not 4 or 6");
  if (typeof o.addr !== "string" || o.addr.length > 45) return bad("addr is not an address");
  const ip = parseIp(o.addr);
  if (!ip || (ip.family === 4 ? formatIpv4(ip.bytes, 0) : formatIpv6(ip.bytes, 0)) !== o.addr) {
    return bad(`addr '${o.addr}' is not a canonical IP address`);
  }
  if (ip.family !== o.family) return bad(`addr '${o.addr}' is not IPv${o.family}`);
  const full = o.family === 4 ? 32 : 128;
  if (typeof o.len !== "number" || !Number.isInteger(o.len) || o.len < 0 || o.len > full) {
    return bad(`len ${String(o.len).slice(0, 20)} is not a prefix length of IPv${o.family}`);
  }
  for (let bit = o.len; bit < full; bit++) {
    if (ip.bytes[bit >> 3] & (0x80 >> (bit & 7))) return bad(`${o.addr}/${o.len} has host bits set`);
  }
  if (typeof o.origin !== "string" || !NODE_NAME_RE.test(o.origin)) return bad("origin is not a node name");
  if (typeof o.reason !== "string" || o.reason.length > MAX_REASON_CHARS || CONTROL.test(o.reason)) {
    return bad(`reason is not text of at most ${MAX_REASON_CHARS} printable characters`);
  }
  for (const f of ["at", "until"] as const) {
    if (typeof o[f] !== "number" || !Number.isSafeInteger(o[f]) || (o[f] as number) < 0) {
      return bad(`${f} is not a time in ms`);
    }
  }
  const at = o.at as number, until = o.until as number;
  if (at > options.now + MAX_FUTURE_SKEW_MS) return bad(`at ${at} is in the future`);
  if (at < options.now - options.maxAgeMs) return bad(`at ${at} is older than the bucket's age limit`);
  if (o.op === "ban") {
    if (until <= at) return bad("until is not after at");
    if (until - at > options.maxAgeMs) return bad(`ban of ${until - at} ms is longer than the limit`);
  } else if (until !== 0) return bad("an unban's until must be 0");
  if (key !== recordKey(o.addr, o.family, o.len)) return bad(`key '${key.slice(0, 80)}' does not match the address`);
  // the widest network is a limit on bans only: an unban can only lift what this host has
  const widest = o.family === 4 ? options.maxPrefix4 : options.maxPrefix6;
  if (o.op === "ban" && o.len < widest) {
    return { ok: false, error: `prefix /${o.len} is wider than the allowed /${widest}`, tooWide: true };
  }
  return { ok: true, record: o as unknown as FleetRecord, bytes: ip.bytes };
}

/**
 * The live path: besides its KV put (durable, ordered, what a late joiner and a restart replay), a batch of new bans
 * goes out at once as plain NATS messages on {@linkcode liveSubject}, at most {@linkcode LIVE_MAX_RECORDS} records
 * each, so that a burst reaches the other hosts in a few messages instead of waiting for thousands of JetStream
 * acknowledgements. A message is a header line `pbxkit-fleet-live 1 NODE SENT_MS` and one `KEY<TAB>RECORD` line per
 * record (the record's JSON exactly as the KV stores it). Receivers validate every record like a KV one; the KV copy
 * that follows is then a duplicate. Unbans travel the KV only (ordered after the bans they lift).
 */
export const LIVE_MAX_RECORDS = 500;
/** Largest live message accepted, bytes. */
export const LIVE_MAX_BYTES: number = LIVE_MAX_RECORDS * (MAX_RECORD_BYTES + 128) + 256;
const LIVE_MAGIC = "pbxkit-fleet-live";

/** The plain NATS subject of a bucket's live messages. */
export function liveSubject(bucket: string): string {
  return `pbxkit.fleet.${bucket}.live`;
}

/** A parsed live message: who sent it, when (its clock, ms), and its `KEY<TAB>RECORD` lines, not yet validated. */
export interface LiveMessage {
  /** Sending node (as its header says; each record's origin is checked on its own). */
  node: string;
  /** The sender's clock when it sent the message, ms since the epoch. */
  sentMs: number;
  /** Key and record text of each line. */
  entries: { key: string; text: string }[];
}

/** Encode bans as live messages of at most {@linkcode LIVE_MAX_RECORDS} records each (unbans are left out). */
export function encodeLive(
  node: string,
  sentMs: number,
  records: readonly { key: string; record: FleetRecord }[],
): Uint8Array[] {
  const enc = new TextEncoder(), out: Uint8Array[] = [];
  let lines: string[] = [];
  const head = `${LIVE_MAGIC} ${FLEET_RECORD_VERSION} ${node} ${Math.round(sentMs)}`;
  const cut = () => {
    if (lines.length) out.push(enc.encode(`${head}\n${lines.join("\n")}\n`));
    lines = [];
  };
  for (const { key, record } of records) {
    if (record.op !== "ban") continue;
    lines.push(`${key}\t${recordText(record)}`);
    if (lines.length >= LIVE_MAX_RECORDS) cut();
  }
  cut();
  return out;
}

/** Parse a live message (size, UTF-8, header, line shape, record count); never throws. */
export function parseLive(bytes: Uint8Array): { ok: true; message: LiveMessage } | { ok: false; error: string } {
  if (bytes.length > LIVE_MAX_BYTES) return { ok: false, error: `live message of ${bytes.length} bytes` };
  let text: string;
  try {
    text = fatalDecoder.decode(bytes);
  } catch {
    return { ok: false, error: "live message is not UTF-8" };
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const head = (lines[0] ?? "").split(" ");
  if (head.length !== 4 || head[0] !== LIVE_MAGIC || head[1] !== String(FLEET_RECORD_VERSION)) {
    return { ok: false, error: "not a live message of version 1" };
  }
  if (!NODE_NAME_RE.test(head[2])) return { ok: false, error: "live message's node is not a node name" };
  const sentMs = Number(head[3]);
  if (!Number.isSafeInteger(sentMs) || sentMs < 0) return { ok: false, error: "live message's time is not ms" };
  if (lines.length - 1 > LIVE_MAX_RECORDS) return { ok: false, error: `live message of ${lines.length - 1} records` };
  const entries: { key: string; text: string }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const tab = lines[i].indexOf("\t");
    if (tab <= 0 || tab > 100) return { ok: false, error: `live message line ${i} is not KEY<TAB>RECORD` };
    entries.push({ key: lines[i].slice(0, tab), text: lines[i].slice(tab + 1) });
  }
  return { ok: true, message: { node: head[2], sentMs, entries } };
}
