/**
 * Shared conventions of pbxkit: the error type, logging, `--json` output, flag parsers, progress bars,
 * tables, SVG charts, safe process execution, file and byte helpers.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./log.ts";
export * from "./json.ts";
export * from "./parse.ts";
export * from "./progress.ts";
export * from "./table.ts";
export * from "./svg_chart.ts";
export * from "./process.ts";
export * from "./fs.ts";
export * from "./bytes.ts";
export * from "./toml.ts";
export * from "./metrics.ts";
export * from "./metrics_http.ts";
export * from "./clock.ts";
export * from "./line_writer.ts";
export * from "./libc.ts";
