/**
 * Incremental, fail-fast UTF-8 validation for WebSocket text messages (RFC 6455 §8.1, RFC 3629): bytes can arrive
 * in any split (within a frame, across fragments) and the first invalid byte is reported at once. Pure ASCII runs
 * are checked four bytes at a time through a `Uint32Array` view when the caller has one.
 *
 * @module
 */

/** Incremental UTF-8 validator. Feed byte ranges with {@linkcode Utf8Validator.push}; check `complete` at the end. */
export class Utf8Validator {
  #need = 0;
  #lo = 0x80;
  #hi = 0xbf;

  /** Forget any partial code point (start of a new message). */
  reset(): void {
    this.#need = 0;
    this.#lo = 0x80;
    this.#hi = 0xbf;
  }

  /** True when no code point is left unfinished (a message may end here). */
  get complete(): boolean {
    return this.#need === 0;
  }

  /**
   * Validate `bytes[start, end)`. Returns false at the first byte that can never be part of valid UTF-8 (so the
   * caller fails fast); true when everything so far is valid or a valid prefix. `words`, when given, must be a
   * `Uint32Array` over the same `ArrayBuffer` as `bytes` (from offset 0): ASCII runs are then checked word-wise.
   * Hot path: positional parameters by design (no per-call allocation).
   */
  push(bytes: Uint8Array, start = 0, end: number = bytes.length, words?: Uint32Array): boolean {
    let need = this.#need, lo = this.#lo, hi = this.#hi;
    let i = start;
    const base = bytes.byteOffset;
    while (i < end) {
      if (need === 0) {
        // ASCII fast path: align, then four bytes per step.
        if (words !== undefined && end - i >= 16) {
          while (i < end && ((base + i) & 3) !== 0 && bytes[i] < 0x80) i++;
          if (((base + i) & 3) === 0) {
            let w = (base + i) >>> 2;
            const wEnd = (base + end) >>> 2;
            while (w < wEnd && (words[w] & 0x80808080) === 0) w++;
            i = (w << 2) - base;
          }
          if (i >= end) break;
        }
        const c = bytes[i++];
        if (c < 0x80) continue;
        if (c < 0xc2) return this.#fail();
        if (c < 0xe0) {
          need = 1;
          lo = 0x80;
          hi = 0xbf;
        } else if (c < 0xf0) {
          need = 2;
          lo = c === 0xe0 ? 0xa0 : 0x80;
          hi = c === 0xed ? 0x9f : 0xbf;
        } else if (c < 0xf5) {
          need = 3;
          lo = c === 0xf0 ? 0x90 : 0x80;
          hi = c === 0xf4 ? 0x8f : 0xbf;
        } else return this.#fail();
      } else {
        const c = bytes[i++];
        if (c < lo || c > hi) return this.#fail();
        lo = 0x80;
        hi = 0xbf;
        need--;
      }
    }
    this.#need = need;
    this.#lo = lo;
    this.#hi = hi;
    return true;
  }

  #fail(): false {
    this.reset();
    return false;
  }
}

/** True when `bytes` is complete, valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  const v = new Utf8Validator();
  return v.push(bytes) && v.complete;
}
