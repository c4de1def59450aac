/**
 * Persisted state of `pbxkit ban`: bans and per-host failure counts, plus the daemon's latest counters for
 * `ban status`. Written atomically (temporary file, fsync, rename), so a crash leaves the old or the new file, never a
 * torn one. A corrupt file is moved aside (never deleted) and the daemon starts from the firewall's view.
 *
 * @module
 */

import { dirname } from "node:path";
import { log, osErrorReason, PbxError, writeFileAtomic } from "../common/mod.ts";
import type { HostRecord } from "./engine.ts";
import type { FleetSaved } from "./fleet/mod.ts";

/** The state file's content. */
export interface BanState {
  /** Format version. */
  version: 1;
  /** When written (ms since the epoch). */
  savedAt: number;
  /** Hosts with failures or bans. */
  hosts: HostRecord[];
  /** The daemon's counters and settings at save time, for `ban status`. */
  status?: Record<string, unknown>;
  /** The fleet's last applied sequence and unpublished records (`--fleet`). */
  fleet?: FleetSaved;
}

/** An empty state. */
export function emptyState(): BanState {
  return { version: 1, savedAt: 0, hosts: [] };
}

/** Options for {@linkcode loadState}. */
export interface LoadStateOptions {
  /** Only look: a corrupt file is ignored with a warning and left where it is (`ban status`, `ban list`). */
  readOnly?: boolean;
}

/**
 * Load the state file; a missing file is an empty state, a corrupt one is moved aside with a warning (left in
 * place with `readOnly`).
 */
export async function loadState(path: string, options: LoadStateOptions = {}): Promise<BanState> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return emptyState();
    throw new PbxError("E_STATE", `cannot read state file ${path}: ${osErrorReason(err)}`, { cause: err });
  }
  try {
    const doc = JSON.parse(text) as BanState;
    if (doc?.version !== 1 || !Array.isArray(doc.hosts)) throw new Error("not a pbxkit ban state file");
    doc.hosts = doc.hosts.filter((h) => h && typeof h.address === "string" && Array.isArray(h.failures));
    return doc;
  } catch (err) {
    if (options.readOnly) {
      log.child("ban").warn("state file is corrupt; ignoring it", { path, error: (err as Error).message });
      return emptyState();
    }
    const aside = `${path}.corrupt-${Date.now()}`;
    await Deno.rename(path, aside).catch(() => {});
    log.child("ban").warn("state file is corrupt; moved aside, starting from the firewall's view", {
      path,
      aside,
      error: (err as Error).message,
    });
    return emptyState();
  }
}

/** Write the state atomically (its JSON made in slices, see {@linkcode encodeState}). */
export async function saveState(path: string, state: BanState): Promise<void> {
  state.savedAt = Date.now();
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, await encodeState(state), { mode: 0o600 });
}

/** Hosts serialized between two yields to the event loop by {@linkcode encodeState}. */
export const STATE_SLICE = 2000;

/**
 * The state file's bytes, exactly `JSON.stringify(state) + "\n"`, made `slice` hosts at a time with a turn of the
 * event loop between slices: 100,000 bans are about 26 MB of JSON, 40-60 ms to stringify and 25 ms to encode in one
 * piece, which a daemon's capture and control would wait for on every save.
 */
export async function encodeState(state: BanState, slice = STATE_SLICE): Promise<Uint8Array[]> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let text = "{", first = true;
  // the keys in their own order, as JSON.stringify writes them (undefined values left out)
  for (const [key, value] of Object.entries(state)) {
    if (value === undefined) continue;
    text += `${first ? "" : ","}${JSON.stringify(key)}:`;
    first = false;
    if (key !== "hosts" || !Array.isArray(value)) {
      text += JSON.stringify(value);
      continue;
    }
    text += "[";
    for (let i = 0; i < value.length; i += slice) {
      if (i > 0) {
        parts.push(enc.encode(text));
        text = ",";
        await new Promise((r) => setTimeout(r, 0));
      }
      text += value.slice(i, i + slice).map((h) => JSON.stringify(h) ?? "null").join(",");
    }
    text += "]";
  }
  parts.push(enc.encode(text + "}\n"));
  return parts;
}
