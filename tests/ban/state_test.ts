/**
 * The state file's encoding in slices (`encodeState`) against `JSON.stringify`, the reference it must equal byte for
 * byte, and `saveState`/`loadState` round trips.
 *
 * @module
 */

import { assertEquals } from "../_util/assert.ts";
import { concat } from "../_util/mod.ts";
import { type BanState, encodeState, loadState, saveState } from "../../lib/ban/state.ts";
import type { HostRecord } from "../../lib/ban/engine.ts";

function hosts(n: number): HostRecord[] {
  const t = Date.parse("2026-12-05T01:10:00Z");
  return Array.from({ length: n }, (_, i) => {
    const address = i % 3 === 0
      ? `2001:db8:${(i >> 8).toString(16)}::${(i & 255).toString(16)}`
      : `198.51.${i >> 8}.${i & 255}`;
    const rec: HostRecord = { address, failures: i % 2 ? [t - 2000, t - 1000] : [] };
    if (i % 5 !== 4) {
      rec.bannedUntil = t + 3_600_000 + i;
      rec.ban = {
        address,
        family: address.includes(":") ? 6 : 4,
        failures: 5,
        first: t - 5000,
        last: t,
        expiresAt: t + 3_600_000 + i,
        reason: i % 7 ? "5 x 401 to REGISTER in 60 s" : 'imported from "/etc/pbxkit/block list.txt" \u00e9\u2028',
        ...(i % 4 ? { origin: "pbx-b.example.net" } : {}),
      };
    }
    return rec;
  });
}

Deno.test("encodeState: the same bytes as JSON.stringify for any slice size, keys in order, undefined left out", async () => {
  const dec = new TextDecoder();
  for (const n of [0, 1, 7, 2000, 4001]) {
    const state: BanState = {
      version: 1,
      savedAt: 1796434200000,
      hosts: hosts(n),
      status: { pid: 4242, interface: "eth0", counters: { packets: 123456789, bans: n }, fleet: undefined },
      fleet: undefined,
    };
    const want = JSON.stringify(state) + "\n";
    for (const slice of n <= 7 ? [1, 3, 2000] : [3, 1000, 2000, 100_000]) {
      const parts = await encodeState(state, slice);
      assertEquals(dec.decode(concat(parts)), want, `n=${n} slice=${slice}`);
      if (n > slice) assertEquals(parts.length, Math.ceil(n / slice), `n=${n} slice=${slice}: one part per slice`);
    }
  }
});

Deno.test("saveState / loadState: 10,000 hosts round trip", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-state-" });
  try {
    const state: BanState = { version: 1, savedAt: 0, hosts: hosts(10_000), status: { pid: 1 } };
    await saveState(`${dir}/sub/state.json`, state);
    const back = await loadState(`${dir}/sub/state.json`);
    assertEquals(back, JSON.parse(JSON.stringify(state)));
    assertEquals((await Deno.stat(`${dir}/sub/state.json`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
