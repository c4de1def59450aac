/**
 * The one parser of libCacheSim `cachesim` result lines, shared by every cell of the cache benchmark. cachesim prints
 * one line per (policy, size), `"%s %s cache size %8ld%s, %lld req, miss ratio %.4lf"` (trace, cache name, size,
 * size unit, requests, miss ratio) followed by `, byte miss ratio %.4lf` unless object sizes are ignored, e.g.
 *
 * ```text
 * zipf.oracleGeneral                  S3FIFO-0.1000-2 cache size    10000, 10000000 req, miss ratio 0.2741, byte miss ratio 0.2741
 * ```
 *
 * The cache name carries the policy's parameters after a `-` (`S3FIFO-0.1000-2`), so it is read as everything up to
 * the blank before `cache size`, not as a word.
 *
 * @module
 */

/** One result line of `cachesim`. */
export interface CachesimRow {
  /** The cache name as printed (`LRU`, `S3FIFO-0.1000-2`). */
  cacheName: string;
  /** pbxkit's name for the policy (`lru`, `s3fifo`): the name before its parameters, lower case. */
  policy: string;
  /** Cache size in objects, or in bytes when cachesim printed a unit (KiB, MiB, GiB, TiB, B). */
  cacheSize: number;
  /** Requests replayed. */
  requests: number;
  /** Miss ratio (4 decimals, as printed). */
  missRatio: number;
  /** Byte miss ratio, when printed. */
  byteMissRatio?: number;
}

const UNITS: Record<string, number> = { "": 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

const LINE =
  /(\S+)\s+cache size\s+(\d+)(KiB|MiB|GiB|TiB|B)?,\s+(\d+) req, miss ratio ([\d.]+)(?:, byte miss ratio ([\d.]+))?/;

/** pbxkit's policy name for a cachesim cache name: the part before its parameters, lower case. */
export function cachesimPolicy(cacheName: string): string {
  return cacheName.split("-")[0].toLowerCase();
}

/** Every result line in cachesim's stdout, in order (other lines are ignored). */
export function parseCachesimOutput(stdout: string): CachesimRow[] {
  const rows: CachesimRow[] = [];
  for (const line of stdout.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const row: CachesimRow = {
      cacheName: m[1],
      policy: cachesimPolicy(m[1]),
      cacheSize: Number(m[2]) * UNITS[m[3] ?? ""],
      requests: Number(m[4]),
      missRatio: Number(m[5]),
    };
    if (m[6] !== undefined) row.byteMissRatio = Number(m[6]);
    rows.push(row);
  }
  return rows;
}

/** The miss ratios of `rows` keyed by `policy@cacheSize` (pbxkit's policy names). */
export function cachesimMissRatios(rows: readonly CachesimRow[]): Map<string, number> {
  return new Map(rows.map((r) => [`${r.policy}@${r.cacheSize}`, r.missRatio]));
}
