/**
 * Mapping trace addresses to cache keys: object traces use the object id; block traces use
 * `device · 2^40 + ⌊offset / blockSize⌋` (one object per block in the object model; the seed model splits a
 * request into every block it touches).
 *
 * @module
 */

/** Multiplier that keeps devices apart in a key. */
export const DEVICE_SPAN = 2 ** 40;

/**
 * Key of the block at byte `offset` on `dev`.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export function blockKey(dev: number, offset: number, blockSize: number): number {
  return dev * DEVICE_SPAN + Math.floor(offset / blockSize);
}
