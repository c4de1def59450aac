/**
 * Open a trace file as a stream of byte chunks, transparently decompressing gzip (`DecompressionStream`) and
 * zstd (`node:zlib`'s zstd, or Debian's `zstd -dc` spawned with an argv when the runtime lacks it), detected by
 * magic bytes. Missing or unreadable files become one-line `E_NOT_FOUND`/`E_PERMISSION` errors.
 *
 * @module
 */

import { openRead, PbxError } from "../../common/mod.ts";

/** Compression of a trace file. */
export type Compression = "none" | "gzip" | "zstd";

/** An opened trace: its byte chunks and what it was. */
export interface OpenedTrace {
  /** Path as given. */
  path: string;
  /** Detected compression. */
  compression: Compression;
  /** Size on disk in bytes. */
  fileSize: number;
  /** Decompressed byte chunks. */
  chunks: AsyncIterable<Uint8Array>;
}

/** Stat and sniff a file; throws PbxError on a missing/unreadable path. */
export async function openTrace(path: string): Promise<OpenedTrace> {
  const { file, info: st } = await openRead(path, { what: "trace" });
  const head = new Uint8Array(4);
  const got = (await file.read(head)) ?? 0;
  await file.seek(0, Deno.SeekMode.Start);
  let compression: Compression = "none";
  if (got >= 2 && head[0] === 0x1f && head[1] === 0x8b) compression = "gzip";
  else if (got >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    compression = "zstd";
  }
  let chunks: AsyncIterable<Uint8Array>;
  if (compression === "gzip") {
    // fresh buffers: the decompressor may still hold a chunk when the next one is read
    chunks = ReadableStream.from(prefetch(file, 1 << 20, { reuse: false })).pipeThrough(
      new DecompressionStream("gzip"),
    );
  } else if (compression === "zstd") {
    chunks = await zstdChunks(file, path);
  } else {
    chunks = prefetch(file, 1 << 22);
  }
  return { path, compression, fileSize: st.size, chunks: guard(chunks, path) };
}

/** Options for {@linkcode prefetch}. */
export interface PrefetchOptions {
  /** Alternate two buffers (default true); false gives every chunk a fresh buffer. */
  reuse?: boolean;
}

/**
 * Read a file in large chunks with the next read already in flight while the consumer parses the current one.
 * With `reuse` (default) two buffers alternate, so a chunk is valid only until the consumer asks for the next one;
 * without it every chunk is a fresh buffer (for consumers that queue chunks). Closes the file at the end.
 */
export async function* prefetch(
  file: Deno.FsFile,
  size: number,
  options: PrefetchOptions = {},
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  const reuse = options.reuse ?? true;
  let cur = new Uint8Array(size), other = new Uint8Array(reuse ? size : 0);
  const fill = async (buf: Uint8Array): Promise<number> => {
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return n;
  };
  let pending = fill(cur);
  try {
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      const ready = cur;
      cur = reuse ? other : new Uint8Array(size);
      other = ready;
      pending = n < size ? Promise.resolve(0) : fill(cur);
      yield ready.subarray(0, n);
    }
  } finally {
    // A consumer that stops early (format sniffing reads one chunk) leaves a read in flight: closing the file
    // cancels it, and its rejection must not surface as an uncaught error.
    pending.catch(() => {});
    try {
      file.close();
    } catch { /* already closed */ }
  }
}

async function zstdChunks(file: Deno.FsFile, path: string): Promise<AsyncIterable<Uint8Array>> {
  const zlib = await import("node:zlib");
  const create = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (typeof create === "function") {
    const { Readable } = await import("node:stream");
    const src = Readable.fromWeb(file.readable as unknown as import("node:stream/web").ReadableStream);
    const out = src.pipe(create());
    src.on("error", (e) => out.emit("error", e));
    return out as unknown as AsyncIterable<Uint8Array>;
  }
  // Fallback: Debian's zstd, argv only (never a shell). Its exit status is checked at the end, so a corrupt file
  // is an error rather than a trace silently cut short.
  file.close();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("zstd", { args: ["-dc", "--", path], stdout: "piped", stderr: "null" }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PbxError("E_TOOL_MISSING", `${path}: reading zstd needs the zstd tool (apt-get install zstd)`);
    }
    throw err;
  }
  const out = child.stdout;
  return (async function* () {
    for await (const c of out) yield c;
    const status = await child.status;
    if (!status.success) throw new PbxError("E_PARSE", `${path}: cannot decompress: zstd exited with ${status.code}`);
  })();
}

async function* guard(chunks: AsyncIterable<Uint8Array>, path: string): AsyncGenerator<Uint8Array> {
  try {
    for await (const c of chunks) yield c;
  } catch (err) {
    if (err instanceof PbxError) throw err;
    throw new PbxError("E_PARSE", `${path}: cannot decompress: ${(err as Error).message.split("\n")[0]}`);
  }
}
