/**
 * A WebAssembly SIMD kernel for the receive hot path: unmask a payload in place 16 bytes per step and report
 * whether it was all ASCII (for text). Each connection gets a small instance whose linear memory is that
 * connection's read buffer, so socket reads land where the kernel works (no copies). The module is 150 bytes,
 * written out below instruction by instruction. Where WebAssembly SIMD is missing, callers fall back to the
 * `Uint32Array` word loop in `frame.ts`.
 *
 * @module
 */

// (module
//   (memory (export "m") 2 2)
//   (func (export "u") (param $p i32) (param $end i32) (param $m i32) (result i32)
//     (local $mv v128) (local $acc v128) (local $v v128)
//     (local.set $mv (i32x4.splat (local.get $m)))
//     (block (loop
//       (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
//       (v128.store (local.get $p) (local.tee $v (v128.xor (v128.load (local.get $p)) (local.get $mv))))
//       (local.set $acc (v128.or (local.get $acc) (local.get $v)))
//       (local.set $p (i32.add (local.get $p) (i32.const 16)))
//       (br 0)))
//     (i8x16.bitmask (local.get $acc))))
const BODY = [
  0x01,
  0x03,
  0x7b, // 3 locals of type v128
  0x20,
  0x02,
  0xfd,
  0x11,
  0x21,
  0x03, // $mv = i32x4.splat($m)
  0x02,
  0x40,
  0x03,
  0x40, // block, loop
  0x20,
  0x00,
  0x20,
  0x01,
  0x4f,
  0x0d,
  0x01, // br_if 1 (p >= end)
  0x20,
  0x00, // address for the store
  0x20,
  0x00,
  0xfd,
  0x00,
  0x00,
  0x00, // v128.load p
  0x20,
  0x03,
  0xfd,
  0x51, // xor $mv
  0x22,
  0x05, // tee $v
  0xfd,
  0x0b,
  0x00,
  0x00, // v128.store
  0x20,
  0x04,
  0x20,
  0x05,
  0xfd,
  0x50,
  0x21,
  0x04, // $acc |= $v
  0x20,
  0x00,
  0x41,
  0x10,
  0x6a,
  0x21,
  0x00, // p += 16
  0x0c,
  0x00,
  0x0b,
  0x0b, // br 0, end loop, end block
  0x20,
  0x04,
  0xfd,
  0x64, // i8x16.bitmask($acc)
  0x0b,
];
const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x08,
  0x01,
  0x60,
  0x03,
  0x7f,
  0x7f,
  0x7f,
  0x01,
  0x7f, // type: (i32 i32 i32) -> i32
  0x03,
  0x02,
  0x01,
  0x00, // function 0 has type 0
  0x05,
  0x04,
  0x01,
  0x01,
  0x02,
  0x02, // memory: 2 pages, max 2 (never grows, so views stay valid)
  0x07,
  0x09,
  0x02,
  0x01,
  0x6d,
  0x02,
  0x00,
  0x01,
  0x75,
  0x00,
  0x00, // export "m" memory 0, "u" func 0
  0x0a,
  BODY.length + 2,
  0x01,
  BODY.length,
  ...BODY,
]);

/** Bytes of linear memory per kernel (the read buffer lives in it). */
export const KERNEL_BYTES = 2 * 65536;

let compiled: WebAssembly.Module | null | undefined;

function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = WebAssembly.validate(MODULE) ? new WebAssembly.Module(MODULE) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** One connection's SIMD kernel and the memory it works in. */
export class SimdKernel {
  /** The kernel's memory: allocate the connection's read buffer from it. */
  readonly bytes: Uint8Array;
  readonly #u: (p: number, end: number, m: number) => number;

  private constructor(instance: WebAssembly.Instance) {
    const ex = instance.exports as { m: WebAssembly.Memory; u: (p: number, end: number, m: number) => number };
    this.bytes = new Uint8Array(ex.m.buffer);
    this.#u = ex.u;
  }

  /** A new kernel, or undefined where WebAssembly SIMD is not available. */
  static create(): SimdKernel | undefined {
    const m = module();
    if (!m) return undefined;
    try {
      return new SimdKernel(new WebAssembly.Instance(m));
    } catch {
      return undefined;
    }
  }

  /** True when `bytes` lies in this kernel's memory. */
  owns(bytes: Uint8Array): boolean {
    return bytes.buffer === this.bytes.buffer;
  }

  /**
   * XOR `bytes[start, end)` (which must lie in this kernel's memory) with `key` from key position `phase`, and
   * return true when every resulting byte is ASCII. Returns the same as `unmaskAscii` in `frame.ts`.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  unmask(bytes: Uint8Array, start: number, end: number, key: Uint8Array, phase: number): boolean {
    const base = bytes.byteOffset;
    let p = phase & 3;
    let i = start;
    let acc = 0;
    const bulkEnd = start + ((end - start) & ~15);
    if (bulkEnd > start) {
      const m = (key[p] | (key[(p + 1) & 3] << 8) | (key[(p + 2) & 3] << 16) | (key[(p + 3) & 3] << 24)) | 0;
      if (this.#u(base + start, base + bulkEnd, m) !== 0) acc = 0x80;
      i = bulkEnd; // whole 16-byte steps keep the phase
    }
    while (i < end) {
      acc |= bytes[i] ^= key[p];
      i++;
      p = (p + 1) & 3;
    }
    return (acc & 0x80) === 0;
  }
}

// Kernels are pooled: each WebAssembly memory reserves a large virtual range, so only this many connections at a
// time get one (the rest use the word loop), and a closed connection's kernel serves the next one.
const MAX_LIVE = 1024;
const free: SimdKernel[] = [];
let live = 0;

/** A kernel for a new connection (from the pool), or undefined (no SIMD, or the pool is exhausted). */
export function acquireKernel(): SimdKernel | undefined {
  const k = free.pop();
  if (k) {
    live++;
    return k;
  }
  if (live >= MAX_LIVE) return undefined;
  const made = SimdKernel.create();
  if (made) live++;
  return made;
}

/** Give a kernel back when its connection has ended (its memory is reused by the next connection). */
export function releaseKernel(k: SimdKernel): void {
  live--;
  if (free.length < 64) free.push(k);
}
