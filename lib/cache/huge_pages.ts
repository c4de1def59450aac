/**
 * Big typed-array buffers on transparent huge pages where the system allows it: a hash table of several MiB probed at
 * random costs a TLB miss on most probes with 4 KiB pages (the benchmark's ARC table is 8 MiB: 2048 pages), and a
 * handful of 2 MiB pages removes them. Linux only, through `madvise(MADV_HUGEPAGE)` from libc via `Deno.dlopen`, so
 * it needs `--allow-ffi` (the `pbxkit` launcher grants it); without it, on other systems, or with
 * `PBXKIT_HUGE_PAGES=0`, buffers are plain. libCacheSim's `cachesim` advises its tables the same way.
 *
 * @module
 */

import { openLibc } from "../common/mod.ts";

/** Huge page size on x86-64 and arm64 Linux (4 KiB base pages). */
const HUGE_PAGE = 2 * 1024 * 1024;
/** `MADV_HUGEPAGE` from `<sys/mman.h>`. */
const MADV_HUGEPAGE = 14;

type Madvise = (addr: Deno.PointerValue, length: bigint, advice: number) => number;
let madvise: Madvise | null | undefined;

function loadMadvise(): Madvise | null {
  if (madvise !== undefined) return madvise;
  madvise = null;
  try {
    if (Deno.env.get("PBXKIT_HUGE_PAGES") === "0") return null;
    const lib = openLibc({ madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" } });
    if (lib) madvise = lib.symbols.madvise as Madvise;
  } catch {
    madvise = null;
  }
  return madvise;
}

/** A zeroed region of `bytes` inside `buffer` from `offset`. */
export interface Region {
  /** The buffer to view. */
  buffer: ArrayBuffer;
  /** Byte offset of the region (0 when no huge pages were asked for). */
  offset: number;
}

/**
 * A zeroed region of `bytes` (a multiple of 8), 2 MiB-aligned and advised for huge pages when it is at least one
 * huge page and the system allows it (the buffer then spans whole huge pages plus one for the alignment); otherwise
 * a plain buffer. Advised before the first write, the pages are faulted in huge.
 */
export function hugeRegion(bytes: number): Region {
  const advise = bytes >= HUGE_PAGE ? loadMadvise() : null;
  if (advise === null) return { buffer: new ArrayBuffer(bytes), offset: 0 };
  const span = Math.ceil(bytes / HUGE_PAGE) * HUGE_PAGE; // whole huge pages, the last one partly unused
  const buffer = new ArrayBuffer(span + HUGE_PAGE);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(buffer))));
  const offset = Number((BigInt(HUGE_PAGE) - (base % BigInt(HUGE_PAGE))) % BigInt(HUGE_PAGE));
  try {
    advise(Deno.UnsafePointer.create(base + BigInt(offset)), BigInt(span), MADV_HUGEPAGE);
  } catch { /* advice only */ }
  return { buffer, offset };
}
