/**
 * pbxkit as a library: each subsystem is a folder under `lib/` with its own `mod.ts`.
 *
 * @module
 */

export * as common from "./common/mod.ts";
