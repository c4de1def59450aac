/**
 * libCacheSim's oracleGeneral binary format: little-endian records of 24 bytes
 * `{u32 timestamp_s, u64 obj_id, u32 obj_size, i64 next_access_vtime}` (optionally gzip/zstd compressed), read
 * with a DataView straight from the chunks. Also a writer, so generated traces can be replayed by `cachesim`.
 *
 * @module
 */

import { checkOffset } from "../keys.ts";
import { osErrorReason, PbxError, toPbxError } from "../../common/mod.ts";
import { type BatchFields, newBatch, type TraceSource } from "./batch.ts";
import { openTrace } from "./open.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bytes per oracleGeneral record. */
export const ORACLE_RECORD = 24;

/** A streamed oracleGeneral trace. */
export function oracleSource(path: string): TraceSource {
  let total: number | undefined;
  return {
    name: path,
    unit: "object",
    get total() {
      return total;
    },
    skipped: 0,
    batches: async function* (fields: BatchFields = {}) {
      if (!LITTLE_ENDIAN) throw new PbxError("E_UNSUPPORTED", "oracleGeneral reading needs a little-endian host");
      const opened = await openTrace(path);
      if (opened.compression === "none") total = Math.floor(opened.fileSize / ORACLE_RECORD);
      // dev and op stay 0 from newBatch (one volume, reads only): never written per record.
      const b = newBatch();
      const cap = b.time.length;
      const wantTime = fields.time !== false, wantNext = fields.next !== false;
      const carry = new Uint8Array(ORACLE_RECORD);
      let carried = 0;
      let i = 0;
      let t0 = NaN;
      let rec = 0;
      const put = (dv: DataView, o: number) => {
        const ts = dv.getUint32(o, true);
        const lo = dv.getUint32(o + 4, true), hi = dv.getUint32(o + 8, true);
        if (hi >= 0x200000) tooBig(path, hi * 4294967296 + lo);
        if (t0 !== t0) t0 = ts;
        b.time[i] = (ts - t0) * 1e6;
        b.addr[i] = hi * 4294967296 + lo;
        b.size[i] = dv.getUint32(o + 12, true);
        const nlo = dv.getUint32(o + 16, true), nhi = dv.getInt32(o + 20, true);
        b.next[i] = nhi < 0 ? -1 : nhi * 4294967296 + nlo;
        rec++;
      };
      for await (const chunk of opened.chunks) {
        let o = 0;
        if (carried > 0) {
          const need = ORACLE_RECORD - carried;
          const take = Math.min(need, chunk.length);
          carry.set(chunk.subarray(0, take), carried);
          carried += take;
          o = take;
          if (carried < ORACLE_RECORD) continue;
          put(new DataView(carry.buffer), 0);
          carried = 0;
          if (++i === cap) {
            b.n = i;
            yield b;
            i = 0;
          }
        }
        if (((chunk.byteOffset + o) & 3) === 0) {
          // Aligned: read whole records as uint32 words (little-endian hosts; checked at load).
          const words = new Uint32Array(chunk.buffer, chunk.byteOffset + o, (chunk.length - o) >>> 2);
          const nrec = Math.floor((chunk.length - o) / ORACLE_RECORD);
          const time = b.time, addr = b.addr, size = b.size, next = b.next;
          for (let r = 0, w = 0; r < nrec; r++, w += 6) {
            if (wantTime) {
              const ts = words[w];
              if (t0 !== t0) t0 = ts;
              time[i] = (ts - t0) * 1e6;
            }
            const hi = words[w + 2];
            if (hi === 0) addr[i] = words[w + 1]; // ids below 2^32 (most traces): no multiply
            else {
              if (hi >= 0x200000) tooBig(path, hi * 4294967296 + words[w + 1]);
              addr[i] = hi * 4294967296 + words[w + 1];
            }
            size[i] = words[w + 3];
            if (wantNext) {
              const nhi = words[w + 5] | 0;
              next[i] = nhi < 0 ? -1 : nhi * 4294967296 + words[w + 4];
            }
            if (++i === cap) {
              b.n = i;
              rec += cap;
              yield b;
              i = 0;
            }
          }
          rec += i;
          o += nrec * ORACLE_RECORD;
        } else {
          const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          while (o + ORACLE_RECORD <= chunk.length) {
            put(dv, o);
            o += ORACLE_RECORD;
            if (++i === cap) {
              b.n = i;
              yield b;
              i = 0;
            }
          }
        }
        if (o < chunk.length) {
          carry.set(chunk.subarray(o), 0);
          carried = chunk.length - o;
        }
      }
      if (carried > 0) {
        throw new PbxError(
          "E_PARSE",
          `${path}: truncated oracleGeneral record ${rec + 1} (${carried} of ${ORACLE_RECORD} bytes)`,
        );
      }
      if (i > 0) {
        b.n = i;
        yield b;
      }
    },
  };
}

/** An object id of 2^53 or more is not exact in a JS number: refuse it rather than merge objects. */
function tooBig(path: string, id: number): never {
  checkOffset(id, "object id", path);
  throw new Error("unreachable");
}

/**
 * Write batches from `source` as an oracleGeneral file (next_access_vtime = -1); returns the request count. The file
 * is written under a temporary name and renamed into place at the end, so a failure leaves no partial file (and an
 * existing file untouched); errors are one-line `PbxError`s naming `path`.
 */
export async function writeOracle(source: TraceSource, path: string): Promise<number> {
  const fail = (err: unknown) =>
    err instanceof PbxError
      ? err
      : new PbxError(toPbxError(err).code, `cannot write '${path}': ${osErrorReason(err)}`, { cause: err });
  if ((await Deno.stat(path).catch(() => undefined))?.isDirectory) {
    throw new PbxError("E_INVALID_INPUT", `cannot write '${path}': it is a directory`);
  }
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
  } catch (err) {
    throw fail(err);
  }
  try {
    const count = await writeOracleRecords(source, file);
    file.close();
    await Deno.rename(tmp, path);
    return count;
  } catch (err) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw fail(err);
  }
}

async function writeOracleRecords(source: TraceSource, file: Deno.FsFile): Promise<number> {
  let count = 0;
  const buf = new Uint8Array(65536 * ORACLE_RECORD);
  const dv = new DataView(buf.buffer);
  for await (const b of source.batches()) {
    let o = 0;
    for (let i = 0; i < b.n; i++) {
      const id = b.addr[i];
      dv.setUint32(o, Math.floor((b.time[i] === b.time[i] ? b.time[i] : 0) / 1e6), true);
      dv.setUint32(o + 4, id >>> 0, true);
      dv.setUint32(o + 8, Math.floor(id / 4294967296), true);
      dv.setUint32(o + 12, b.size[i], true);
      dv.setInt32(o + 16, -1, true);
      dv.setInt32(o + 20, -1, true);
      o += ORACLE_RECORD;
      if (o === buf.length) {
        await writeAll(file, buf);
        o = 0;
      }
    }
    if (o > 0) await writeAll(file, buf.subarray(0, o));
    count += b.n;
  }
  return count;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}
