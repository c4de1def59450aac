/**
 * The seed model's entry flags: the user's VALID, READ_PENDING, WRITE_PENDING, FILL_PENDING and IN_USE, plus DIRTY
 * for the periodic write-back alternative.
 *
 * @module
 */

/** Entry flags (the user's, plus DIRTY for periodic write-back). */
export const VALID = 1, READ_PENDING = 2, WRITE_PENDING = 4, FILL_PENDING = 8, IN_USE = 16, DIRTY = 32;

/** Any I/O pending on the entry (it can't be evicted). */
export const PENDING: number = READ_PENDING | WRITE_PENDING | FILL_PENDING;

/** Flag bits as `VALID|WRITE_PENDING`. */
export function flagNames(f: number): string {
  const names: string[] = [];
  if (f & VALID) names.push("VALID");
  if (f & READ_PENDING) names.push("READ_PENDING");
  if (f & WRITE_PENDING) names.push("WRITE_PENDING");
  if (f & FILL_PENDING) names.push("FILL_PENDING");
  if (f & IN_USE) names.push("IN_USE");
  if (f & DIRTY) names.push("DIRTY");
  return names.join("|") || "0";
}
