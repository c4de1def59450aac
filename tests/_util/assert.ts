/**
 * Assertions for the suite (Deno's std is not reachable here, so `node:assert` backs these).
 *
 * @module
 */

import nodeAssert from "node:assert/strict";

/** Assert a truthy value. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** String matches a pattern. */
export function assertMatch(actual: string, re: RegExp, message?: string): void {
  nodeAssert.match(actual, re, message);
}

/** String contains a substring. */
export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    message ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** Numbers are within `tolerance` of each other. */
export function assertAlmostEquals(actual: number, expected: number, tolerance = 1e-7, message?: string): void {
  nodeAssert.ok(
    Math.abs(actual - expected) <= tolerance,
    message ?? `expected ${actual} to be within ${tolerance} of ${expected}`,
  );
}

/** The function throws (optionally an instance of `ErrorClass` with a message including `msgIncludes`). */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
): Error {
  try {
    fn();
  } catch (err) {
    if (ErrorClass && !(err instanceof ErrorClass)) throw new Error(`expected ${ErrorClass.name}, got ${err}`);
    if (msgIncludes && !String((err as Error).message).includes(msgIncludes)) {
      throw new Error(`expected message to include ${JSON.stringify(msgIncludes)}, got ${(err as Error).message}`);
    }
    return err as Error;
  }
  throw new Error("expected function to throw");
}

/** The promise rejects (optionally with an instance of `ErrorClass`, message including `msgIncludes`). */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    if (ErrorClass && !(err instanceof ErrorClass)) throw new Error(`expected ${ErrorClass.name}, got ${err}`);
    if (msgIncludes && !String((err as Error).message).includes(msgIncludes)) {
      throw new Error(`expected message to include ${JSON.stringify(msgIncludes)}, got ${(err as Error).message}`);
    }
    return err as Error;
  }
  throw new Error("expected promise to reject");
}
