/**
 * `--json` output helpers: data goes to stdout as JSON (one document, or one object per line for streams),
 * everything human goes to stderr, so `pbxkit X --json | jq` always works.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Serialize for output: bigint becomes a number (or string when unsafe), Map/Set become objects/arrays. */
export function toJsonText(value: unknown, pretty = false): string {
  return JSON.stringify(value, jsonReplacer, pretty ? 2 : undefined);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  return value;
}

/** Print one JSON document to stdout. */
export function printJson(value: unknown, options: { pretty?: boolean } = {}): void {
  writeStdout(toJsonText(value, options.pretty) + "\n");
}

/** Print one JSON object as a line (JSON Lines), for streams of events. */
export function printJsonLine(value: unknown): void {
  writeStdout(toJsonText(value) + "\n");
}

/** Write text to stdout synchronously (keeps ordering with stderr lines). */
export function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}
