/**
 * Built-in trace generators, so the default run needs no file: `zipf` (popularity ∝ 1/rank^alpha, sampled in O(1)
 * with Vose's alias method), `uniform`, `scan` (a sequential loop) and `mix` (zipf with a fraction of requests
 * from a sequential scan over a separate region), each with a read/write ratio, Poisson arrival times and a seed.
 *
 * Spec syntax: `KIND[,key=value...]`, e.g. `zipf,alpha=0.9,objects=100k,requests=1M,write=0.3,seed=7`.
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { BATCH_SIZE, newBatch, READ, type RequestBatch, type TraceSource, WRITE } from "./batch.ts";
import { Prng } from "./prng.ts";

/** A parsed generator spec. */
export interface GeneratorSpec {
  /** zipf, uniform, scan or mix. */
  kind: "zipf" | "uniform" | "scan" | "mix";
  /** Distinct objects (blocks). */
  objects: number;
  /** Requests to generate. */
  requests: number;
  /** Zipf skew. */
  alpha: number;
  /** Fraction of writes, 0..1. */
  write: number;
  /** Seed. */
  seed: number;
  /** Fraction of requests from the sequential scan (mix). */
  scan: number;
  /** Mean arrival rate in requests per second (Poisson), for timestamped replay. */
  iops: number;
  /** Request size in bytes (object traces: the object size). */
  size: number;
  /** Spread hot objects over the address space with a seeded permutation (default 1; 0 keeps rank order). */
  scatter: boolean;
}

/** Defaults of the generator (the default `cache-sim` run). */
export const DEFAULT_GENERATOR: GeneratorSpec = {
  kind: "zipf",
  objects: 20000,
  requests: 100000,
  alpha: 0.9,
  write: 0.3,
  seed: 1,
  scan: 0.2,
  iops: 100,
  size: 4096,
  scatter: true,
};

/** Parse a count with an optional k/M/G (decimal) suffix: `100000`, `100k`, `1M`; `what` names it in the error. */
export function parseCount(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text.trim());
  if (!m) throw new PbxError("E_USAGE", `${what} is not a count (e.g. 100000, 100k, 1M)`);
  const mult = { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2]]!;
  return Math.round(Number(m[1]) * mult);
}

/** Parse `KIND[,key=value...]`. */
export function parseGeneratorSpec(text: string): GeneratorSpec {
  const [kind, ...pairs] = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (!["zipf", "uniform", "scan", "mix"].includes(kind)) {
    throw new PbxError("E_USAGE", `generator: unknown kind '${kind}' (zipf, uniform, scan, mix)`);
  }
  const spec: GeneratorSpec = { ...DEFAULT_GENERATOR, kind: kind as GeneratorSpec["kind"] };
  for (const pair of pairs) {
    const [k, v] = pair.split("=");
    if (v === undefined) throw new PbxError("E_USAGE", `generator: expected key=value, got '${pair}'`);
    const num = Number(v);
    switch (k) {
      case "objects":
      case "requests":
      case "iops":
      case "size":
        spec[k] = parseCount(v, `generator: ${k}=${v}`);
        break;
      case "alpha":
      case "write":
      case "scan":
        if (!Number.isFinite(num) || num < 0 || (k !== "alpha" && num > 1)) {
          throw new PbxError("E_USAGE", `generator: bad ${k}=${v}`);
        }
        spec[k] = num;
        break;
      case "seed":
        spec.seed = parseCount(v, `generator: ${k}=${v}`);
        break;
      case "scatter":
        spec.scatter = v !== "0" && v !== "false";
        break;
      default:
        throw new PbxError(
          "E_USAGE",
          `generator: unknown key '${k}' (objects, requests, alpha, write, seed, scan, iops, size, scatter)`,
        );
    }
  }
  if (spec.objects < 1 || spec.requests < 1) {
    throw new PbxError("E_USAGE", "generator: objects and requests must be ≥ 1");
  }
  return spec;
}

/** Format a spec back to its canonical text. */
export function formatGeneratorSpec(s: GeneratorSpec): string {
  return `${s.kind},objects=${s.objects},requests=${s.requests},alpha=${s.alpha},write=${s.write},seed=${s.seed}` +
    (s.kind === "mix" ? `,scan=${s.scan}` : "") + `,iops=${s.iops},size=${s.size},scatter=${s.scatter ? 1 : 0}`;
}

/** Vose's alias table for a Zipf(alpha) distribution over ranks 0..n-1. */
export class ZipfAlias {
  #prob: Float64Array;
  #alias: Int32Array;
  #n: number;

  /** Build the table (O(n)). */
  constructor(n: number, alpha: number) {
    this.#n = n;
    const p = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += p[i] = 1 / Math.pow(i + 1, alpha);
    for (let i = 0; i < n; i++) p[i] = (p[i] / sum) * n;
    this.#prob = new Float64Array(n);
    this.#alias = new Int32Array(n);
    const small = new Int32Array(n), large = new Int32Array(n);
    let ns = 0, nl = 0;
    for (let i = 0; i < n; i++) {
      if (p[i] < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns], l = large[--nl];
      this.#prob[s] = p[s];
      this.#alias[s] = l;
      p[l] = p[l] + p[s] - 1;
      if (p[l] < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    while (nl > 0) this.#prob[large[--nl]] = 1;
    while (ns > 0) this.#prob[small[--ns]] = 1;
  }

  /** Draw a rank with two uniform numbers. */
  sample(rng: Prng): number {
    const i = Math.floor(rng.next() * this.#n);
    return rng.next() < this.#prob[i] ? i : this.#alias[i];
  }
}

/** A generated trace (object ids, one object per block). */
export function generatorSource(spec: GeneratorSpec): TraceSource {
  return {
    name: `gen:${formatGeneratorSpec(spec)}`,
    unit: "object",
    total: spec.requests,
    skipped: 0,
    batches: () => generate(spec),
  };
}

async function* generate(spec: GeneratorSpec): AsyncGenerator<RequestBatch> {
  const rng = new Prng(spec.seed);
  const zipf = spec.kind === "zipf" || spec.kind === "mix" ? new ZipfAlias(spec.objects, spec.alpha) : undefined;
  let perm: Int32Array | undefined;
  if (spec.scatter && spec.kind !== "scan") {
    const prng = new Prng(spec.seed ^ 0x5bd1e995);
    perm = new Int32Array(spec.objects);
    for (let i = 0; i < spec.objects; i++) perm[i] = i;
    for (let i = spec.objects - 1; i > 0; i--) {
      const j = prng.below(i + 1);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  }
  const b = newBatch(Math.min(BATCH_SIZE, spec.requests));
  let t = 0;
  let cursor = 0;
  const meanGapUs = 1e6 / spec.iops;
  for (let done = 0; done < spec.requests;) {
    const n = Math.min(b.time.length, spec.requests - done);
    for (let i = 0; i < n; i++) {
      let id: number;
      if (spec.kind === "scan") {
        id = cursor;
        cursor = cursor + 1 === spec.objects ? 0 : cursor + 1;
      } else if (spec.kind === "uniform") {
        id = rng.below(spec.objects);
        if (perm) id = perm[id];
      } else if (spec.kind === "mix" && rng.next() < spec.scan) {
        id = spec.objects + cursor;
        cursor = cursor + 1 === spec.objects ? 0 : cursor + 1;
      } else {
        id = zipf!.sample(rng);
        if (perm) id = perm[id];
      }
      b.addr[i] = id;
      b.op[i] = spec.write > 0 && rng.next() < spec.write ? WRITE : READ;
      b.time[i] = t;
      t += -Math.log(1 - rng.next()) * meanGapUs;
      b.size[i] = spec.size;
      b.dev[i] = 0;
      b.next[i] = -1;
    }
    b.n = n;
    done += n;
    yield b;
  }
}
