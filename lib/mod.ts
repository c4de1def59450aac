/**
 * pbxkit as a library: each subsystem is a folder under `lib/` with its own `mod.ts`.
 *
 * @module
 */

export * as common from "./common/mod.ts";
export * as ws from "./ws/mod.ts";
export * as ban from "./ban/mod.ts";
export * as cache from "./cache/mod.ts";
export * as bbb from "./bbb/mod.ts";
export * as tftp from "./tftp/mod.ts";
export * as call from "./call/mod.ts";
