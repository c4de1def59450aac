/**
 * Writers of small multi-volume block traces in each format's own shape (MSR hostnames and Windows-filetime
 * timestamps, SPC ASUs, blkparse `maj,min` devices, fio files), from one seeded request model, for the key and
 * replay tests and for making libCacheSim reference figures outside the project.
 *
 * @module
 */

/** Block size the writers align requests to. */
export const BS = 4096;

/** A request of the tests' own trace model: volume name, block number, write or not. */
export interface Req {
  vol: string;
  block: number;
  write: boolean;
}

/** A small seeded PRNG (mulberry32), independent of pbxkit's own. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Requests over `vols` reusing the same block numbers on every volume (hot set plus a long tail). */
export function workload(vols: readonly string[], n: number, seed: number, blocks = 3000): Req[] {
  const r = rng(seed);
  const out: Req[] = [];
  for (let i = 0; i < n; i++) {
    const vol = vols[Math.floor(r() * r() * vols.length)];
    const block = r() < 0.6 ? Math.floor(r() * 200) : Math.floor(r() * blocks);
    out.push({ vol, block, write: r() < 0.3 });
  }
  return out;
}

/** Windows filetime of 2007-02-22 (100 ns units), as in the MSR Cambridge traces. */
export const FILETIME_2007 = 128166372000000000n;

/** MSR lines; volume names are `host_disk`. */
export function msrText(reqs: readonly Req[]): string {
  return reqs.map((q, i) => {
    const [host, disk] = q.vol.split("_");
    const ts = FILETIME_2007 + BigInt(i) * 1337n;
    return `${ts},${host},${disk},${q.write ? "Write" : "Read"},${q.block * BS},${BS},${1000 + (i % 500)}`;
  }).join("\n") + "\n";
}

/** SPC lines; volume names are `asuN`. */
export function spcText(reqs: readonly Req[]): string {
  return reqs.map((q, i) =>
    `${q.vol.slice(3)},${(q.block * BS) / 512},${BS},${q.write ? "W" : "r"},${(i * 0.000731).toFixed(6)}`
  ).join("\n") + "\n";
}

/** blkparse default output (with a summary); volume names are `maj,min`. */
export function blkparseText(reqs: readonly Req[]): string {
  const lines = reqs.map((q, i) => {
    const t = (i * 0.0001).toFixed(9);
    return `${q.vol.padStart(5)}    1   ${String(i + 1).padStart(6)}  ${t.padStart(14)}  4162  Q  ${
      q.write ? "WS" : "R"
    } ${(q.block * BS) / 512} + ${BS / 512} [postgres]`;
  });
  lines.push("CPU1 (8,0):", " Reads Queued:           3,       12KiB\t Writes Queued:           2,        8KiB");
  return lines.join("\n") + "\n";
}

/** A fio v3 iolog; volume names are file names. */
export function fioText(reqs: readonly Req[]): string {
  const files = [...new Set(reqs.map((q) => q.vol))];
  const head = ["fio version 3 iolog", ...files.flatMap((f) => [`0 ${f} add`, `0 ${f} open`])];
  return [...head, ...reqs.map((q, i) => `${i * 10} ${q.vol} ${q.write ? "write" : "read"} ${q.block * BS} ${BS}`)]
    .join("\n") + "\n";
}
