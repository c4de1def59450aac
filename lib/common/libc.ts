/**
 * The C library through `Deno.dlopen`, for the few calls Deno has no API for (`poll`, `setpriority`, `send`,
 * `epoll_wait`, `madvise`). One loader for every module that needs one.
 *
 * @module
 */

/** Where Debian's glibc is, then the loader's own search. */
const LIBC_PATHS = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6"];

/**
 * libc opened with `symbols` (the first of its usual paths that opens), or undefined where that cannot be: not
 * Linux, no `--allow-ffi`, or the library or a symbol missing. The caller owns the handle (`close()` it when done,
 * or keep it for the process's life).
 */
export function openLibc<S extends Deno.ForeignLibraryInterface>(symbols: S): Deno.DynamicLibrary<S> | undefined {
  try {
    if (Deno.build.os !== "linux") return undefined;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  } catch {
    return undefined;
  }
  for (const p of LIBC_PATHS) {
    try {
      return Deno.dlopen(p, symbols);
    } catch { /* next */ }
  }
  return undefined;
}
