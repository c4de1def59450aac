/**
 * Byte-array helpers shared by the subsystems.
 *
 * @module
 */

/**
 * The pieces one after another in one new array. `total` is their summed length when the caller already knows it
 * (it is computed otherwise).
 */
export function concatBytes(pieces: readonly Uint8Array[], total?: number): Uint8Array {
  let n = total;
  if (n === undefined) {
    n = 0;
    for (const p of pieces) n += p.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
