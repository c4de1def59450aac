/**
 * Trace input for `cache-sim`: the formats (msr, spc, blkparse, fio, lcs-csv, oracle), transparent gzip/zstd,
 * format sniffing when `--format` is absent, and the built-in generators.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import type { TraceSource } from "./batch.ts";
import { blkparseParser } from "./blkparse.ts";
import { fioParser } from "./fio.ts";
import { generatorSource, parseGeneratorSpec } from "./generators.ts";
import { lcsCsvParser } from "./lcs_csv.ts";
import { msrParser } from "./msr.ts";
import { openTrace } from "./open.ts";
import { oracleSource } from "./oracle.ts";
import { spcParser } from "./spc.ts";
import { textSource } from "./text.ts";

export * from "./batch.ts";
export * from "./generators.ts";
export { ORACLE_RECORD, oracleSource, writeOracle } from "./oracle.ts";
export { openTrace } from "./open.ts";
export { Prng } from "./prng.ts";

/** Supported trace formats. */
export const FORMATS = ["msr", "spc", "blkparse", "fio", "lcs-csv", "oracle"] as const;
/** A trace format name. */
export type TraceFormat = typeof FORMATS[number];

/** Options for {@linkcode traceSource}. */
export interface TraceSourceOptions {
  /** Format; sniffed from the file when absent. */
  format?: string;
  /** Count and skip malformed lines. */
  skipBad?: boolean;
}

/** Validate a `--format` value. */
export function parseFormat(text: string): TraceFormat {
  const f = text.toLowerCase() === "csv" ? "lcs-csv" : text.toLowerCase() === "oraclegeneral" ? "oracle" : text;
  if (!(FORMATS as readonly string[]).includes(f)) {
    throw new PbxError("E_USAGE", `unknown trace format '${text}' (one of ${FORMATS.join(", ")})`);
  }
  return f as TraceFormat;
}

/** Open a trace file in `format` (or the sniffed format). */
export async function traceSource(path: string, options: TraceSourceOptions = {}): Promise<TraceSource> {
  const format = options.format ? parseFormat(options.format) : await sniffFormat(path);
  const o = { skipBad: options.skipBad };
  switch (format) {
    case "msr":
      return textSource(path, msrParser(), o);
    case "spc":
      return textSource(path, spcParser(), o);
    case "blkparse":
      return textSource(path, blkparseParser(), o);
    case "fio":
      return textSource(path, fioParser(), o);
    case "lcs-csv":
      return textSource(path, lcsCsvParser(), o);
    case "oracle":
      return oracleSource(path);
  }
}

/** A generated trace from a spec such as `zipf,alpha=0.9,objects=10k`. */
export function generatedSource(spec: string): TraceSource {
  return generatorSource(parseGeneratorSpec(spec));
}

/** Guess a file's format from its name and first line. */
export async function sniffFormat(path: string): Promise<TraceFormat> {
  const lower = path.toLowerCase().replace(/\.(gz|zst|zstd)$/, "");
  if (/oracle|\.bin$/.test(lower)) return "oracle";
  const opened = await openTrace(path);
  let head = new Uint8Array(0);
  for await (const c of opened.chunks) {
    head = c.slice(0, 4096);
    break;
  }
  const text = new TextDecoder().decode(head);
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  if (isBinary(head.subarray(0, 256))) return "oracle";
  if (line.startsWith("fio version")) return "fio";
  if (/^\s*\d+,\d+\s+\d+\s+\d+\s+\d+\.\d+/.test(line)) return "blkparse";
  const fields = line.split(",");
  if (fields.length === 7 && /^(read|write)$/i.test(fields[3])) return "msr";
  if (fields.length === 5 && /^[rw]$/i.test(fields[3].trim())) return "spc";
  if (fields.length >= 2) return "lcs-csv";
  throw new PbxError("E_PARSE", `cannot tell the format of ${path}; pass --format (${FORMATS.join(", ")})`);
}

function isBinary(bytes: Uint8Array): boolean {
  for (const c of bytes) if (c !== 9 && c !== 10 && c !== 13 && (c < 32 || c > 126)) return true;
  return false;
}
