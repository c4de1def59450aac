/**
 * `pbxkit ban import` and `ban export`: apply a blocklist as one batched firewall transaction with jittered
 * expiries, through the running daemon (so its state, and the fleet, know the bans) or, with no daemon, straight
 * into the firewall and the state file (so `ban list`, `status` and expiry work as for detected bans); and print
 * the active bans in a form `import` reads back.
 *
 * @module
 */

import { concatBytes, openRead, PbxError } from "../common/mod.ts";
import type { BanConfig } from "./config.ts";
import { controlRequest } from "./control.ts";
import type { BanVerdict } from "./engine.ts";
import { firewallFor } from "./firewall/mod.ts";
import { type BlocklistError, jitteredExpiries, parseBlocklist } from "./blocklist.ts";
import { loadState, saveState } from "./state.ts";

/** A blocklist file is read up to this size. */
export const BLOCKLIST_MAX_BYTES = 512 * 1024 * 1024;

/** Read a blocklist: a file, or standard input for `-`. One-line errors name the file. */
export async function readBlocklist(path: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const src = path === "-" ? Deno.stdin.readable : (await openRead(path, { what: "blocklist" })).file.readable;
  for await (const c of src) {
    total += c.length;
    if (total > BLOCKLIST_MAX_BYTES) {
      throw new PbxError("E_LIMIT", `blocklist '${path}' is larger than ${BLOCKLIST_MAX_BYTES >> 20} MiB`);
    }
    chunks.push(c);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks, total));
  } catch {
    throw new PbxError("E_INVALID_INPUT", `blocklist '${path}' is not UTF-8 text`);
  }
}

/** Options for {@linkcode banImport}. */
export interface ImportOptions {
  /** Ban time in ms (default: the config's `ban_time`; 0 = permanent). */
  banTimeMs?: number;
  /** Reason recorded with each ban (default `imported from NAME`). */
  reason?: string;
  /** Name of the source for the default reason and error messages (default `blocklist`). */
  source?: string;
  /** Expiry spread, a fraction of the ban time either way (default 0.1). */
  jitter?: number;
  /** PRNG seed of the spread (default random). */
  seed?: number;
  /** Widest IPv4 network accepted (default 32). */
  maxPrefix4?: number;
  /** Widest IPv6 network accepted (default 128). */
  maxPrefix6?: number;
  /** Apply the valid lines even when some are bad (default: any bad line fails the import, nothing applied). */
  skipInvalid?: boolean;
  /** Only validate and report; change nothing. */
  dryRun?: boolean;
}

/** What {@linkcode banImport} did. */
export interface ImportResult {
  /** `daemon` (through its control socket), `firewall` (no daemon running) or `dry-run`. */
  via: "daemon" | "firewall" | "dry-run";
  /** Valid, distinct entries in the list. */
  entries: number;
  /** Bans newly applied. */
  imported: number;
  /** Entries already banned (left as they were: re-importing is idempotent). */
  alreadyBanned: number;
  /** Lines repeating an earlier entry. */
  duplicates: number;
  /** Bad lines (skipped with `skipInvalid`). */
  invalid: BlocklistError[];
  /** Entries the daemon refused (its own exempt list). */
  rejectedByDaemon: number;
  /** The spread of the new bans' expiries: first and last (ISO) and how many distinct seconds. */
  expiries?: { first: string; last: string; distinctSeconds: number };
  /** Time spent parsing and validating, ms. */
  parseMs: number;
  /** Time the firewall transaction took, ms. */
  firewallMs: number;
  /** Whole import, ms. */
  totalMs: number;
}

/**
 * Import a blocklist (its text): validate (bad lines fail the import unless `skipInvalid`), spread the expiries,
 * then one firewall batch, through the daemon when one answers on the control socket.
 */
export async function banImport(cfg: BanConfig, text: string, options: ImportOptions = {}): Promise<ImportResult> {
  const t0 = performance.now();
  const source = options.source ?? "blocklist";
  const max4 = options.maxPrefix4 ?? 32, max6 = options.maxPrefix6 ?? 128;
  const parsed = parseBlocklist(text, { maxPrefix4: max4, maxPrefix6: max6, exempt: [...cfg.exempt, ...cfg.pbxAddrs] });
  if (parsed.errors.length && !options.skipInvalid) {
    const first = parsed.errors.slice(0, 3).map((e) => `line ${e.line}: '${e.text}': ${e.error}`).join("; ");
    throw new PbxError(
      "E_INVALID_INPUT",
      `${source}: ${parsed.errors.length} invalid line(s), nothing imported (${first}${
        parsed.errors.length > 3 ? "; ..." : ""
      }); fix them or pass --skip-invalid`,
    );
  }
  const banTimeMs = options.banTimeMs ?? cfg.banTimeMs;
  const reason = options.reason ?? `imported from ${source}`;
  const now = Date.now();
  const expiries = jitteredExpiries(parsed.entries.length, now, banTimeMs, {
    jitter: options.jitter,
    seed: options.seed,
  });
  const parseMs = performance.now() - t0;
  const result: ImportResult = {
    via: "firewall",
    entries: parsed.entries.length,
    imported: 0,
    alreadyBanned: 0,
    duplicates: parsed.duplicates,
    invalid: parsed.errors,
    rejectedByDaemon: 0,
    parseMs,
    firewallMs: 0,
    totalMs: 0,
  };
  if (options.dryRun) {
    result.via = "dry-run";
    result.expiries = spread(expiries);
    result.totalMs = performance.now() - t0;
    return result;
  }
  const pairs: [string, number][] = parsed.entries.map((e, i) => [e.address, expiries[i]]);
  const live = parsed.entries.length === 0 ? undefined : await controlRequest(cfg.socketPath, {
    cmd: "import",
    bans: pairs,
    reason,
    maxPrefix: [max4, max6],
  }, { timeoutMs: 300_000 });
  if (live) {
    result.via = "daemon";
    result.imported = Number(live.imported);
    result.alreadyBanned = Number(live.alreadyBanned);
    result.rejectedByDaemon = Number(live.rejected);
    result.firewallMs = Number(live.firewallMs);
    result.expiries = spread(expiries);
    result.totalMs = performance.now() - t0;
    return result;
  }
  // No daemon: the firewall and the state file directly.
  const state = await loadState(cfg.statePath);
  const active = new Set(
    state.hosts.filter((h) => h.ban && (h.ban.expiresAt === 0 || h.ban.expiresAt > now)).map((h) => h.address),
  );
  const fresh: BanVerdict[] = [];
  const freshExp: number[] = [];
  parsed.entries.forEach((e, i) => {
    if (active.has(e.address)) return result.alreadyBanned++;
    freshExp.push(expiries[i]);
    fresh.push({
      address: e.address,
      family: e.family,
      failures: 0,
      first: now,
      last: now,
      expiresAt: expiries[i],
      reason,
      origin: "import",
    });
  });
  if (fresh.length) {
    const fw = firewallFor(cfg);
    try {
      await fw.setup();
      const tf = performance.now();
      await fw.ban(fresh.map((v) => ({
        address: v.address,
        family: v.family,
        timeoutMs: v.expiresAt === 0 ? 0 : Math.max(1000, v.expiresAt - Date.now()),
      })));
      result.firewallMs = performance.now() - tf;
    } finally {
      fw.close();
    }
    const byAddr = new Map(state.hosts.map((h, i) => [h.address, i]));
    for (const v of fresh) {
      const rec = { address: v.address, failures: [], bannedUntil: v.expiresAt, ban: v };
      const i = byAddr.get(v.address);
      if (i === undefined) state.hosts.push(rec);
      else state.hosts[i] = rec;
    }
    await saveState(cfg.statePath, state);
  }
  result.imported = fresh.length;
  result.expiries = spread(Float64Array.from(freshExp));
  result.totalMs = performance.now() - t0;
  return result;
}

function spread(exp: Float64Array): ImportResult["expiries"] {
  if (exp.length === 0 || exp[0] === 0) return undefined;
  let lo = Infinity, hi = -Infinity;
  const secs = new Set<number>();
  for (const e of exp) {
    if (e < lo) lo = e;
    if (e > hi) hi = e;
    secs.add(Math.floor(e / 1000));
  }
  return { first: new Date(lo).toISOString(), last: new Date(hi).toISOString(), distinctSeconds: secs.size };
}

/** One active ban as `ban export` prints it. */
export interface ExportEntry {
  /** Address or network. */
  address: string;
  /** `ipv4` or `ipv6`. */
  family: string;
  /** When it ends (ISO), or null when permanent/unknown. */
  until: string | null;
  /** `local` (detected here), `import`, another node's name, or `firewall` (found there, not in pbxkit's state). */
  origin: string;
  /** Why. */
  reason: string;
}

/** The active bans, from the daemon or (none running) the firewall joined with the state file. */
export async function banExport(cfg: BanConfig): Promise<ExportEntry[]> {
  const live = await controlRequest(cfg.socketPath, { cmd: "list" }, { timeoutMs: 60_000 });
  const now = Date.now();
  if (live) {
    return (live.bans as Record<string, unknown>[]).map((b) => ({
      address: String(b.address),
      family: String(b.family),
      until: (b.expires as string | null) ?? null,
      origin: String(b.origin ?? "local"),
      reason: String(b.reason ?? ""),
    }));
  }
  const state = await loadState(cfg.statePath, { readOnly: true });
  const byAddr = new Map(state.hosts.filter((h) => h.ban).map((h) => [h.address, h.ban!]));
  const fw = firewallFor(cfg);
  try {
    return (await fw.list()).map((e) => {
      const b = byAddr.get(e.address);
      const until = e.expiresInMs !== undefined ? now + e.expiresInMs : b?.expiresAt || undefined;
      return {
        address: e.address,
        family: e.family === 4 ? "ipv4" : "ipv6",
        until: until ? new Date(until).toISOString() : null,
        origin: b ? b.origin ?? "local" : "firewall",
        reason: b?.reason ?? "in the firewall (not in pbxkit's state)",
      };
    });
  } finally {
    fw.close();
  }
}

/** Plain-text export: one address per line with its details as a `#` comment, so `ban import` reads it back. */
export function exportText(entries: readonly ExportEntry[]): string {
  const clean = (s: string) => s.replace(/[\r\n]+/g, " ");
  return entries.map((e) =>
    `${e.address}  # until=${e.until ?? "never"} origin=${clean(e.origin)} reason=${clean(e.reason)}\n`
  ).join("");
}
