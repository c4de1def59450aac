/**
 * A TFTP server (RFC 1350 with options: RFC 2347 negotiation, 2348 blksize, 2349 tsize/timeout, 7440 windowsize):
 * sans-I/O sessions ({@linkcode ReadSession}, {@linkcode WriteSession}), packet codecs, root confinement, and the UDP
 * adapter {@linkcode TftpServer}.
 *
 * @example
 * ```ts
 * import { TftpServer } from "./lib/tftp/mod.ts";
 * const srv = await TftpServer.listen({ root: "build", port: 6969 });
 * // ... later
 * await srv.close();
 * ```
 *
 * @module
 */

export * from "./packet.ts";
export * from "./session.ts";
export * from "./paths.ts";
export * from "./udp.ts";
export * from "./server.ts";
export * from "./ffi.ts";
export * from "./pool.ts";
export * from "./source.ts";
export * from "./config.ts";
export * from "./daemon.ts";
/** Re-exported: the logger type of {@linkcode TftpServerOptions.log}. */
export type { Logger, LoggerOptions, LogLevel } from "../common/mod.ts";
export * from "./metrics.ts";
