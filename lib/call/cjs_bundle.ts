/**
 * A minimal CommonJS bundler for the browser webphone: starting from an npm package's entry file (JsSIP), it
 * follows `require("...")` calls (relative files and packages, honouring a package's `browser` field), wraps each
 * module in a function and emits one script that defines a global. Only what JsSIP and its dependencies need
 * (static string requires, `.js`/`.json`, `index.js`); anything else is a clear error, never a silent gap.
 *
 * @module
 */

import { createRequire } from "node:module";
import { PbxError } from "../common/mod.ts";

const REQUIRE_RE = /\brequire\(\s*(['"])([^'"]+)\1\s*\)/g;

/** Resolve a package's directory (the real path, so its own dependencies resolve next to it). */
export function packageDir(name: string, fromDir?: string): string {
  const candidates: string[] = [];
  let dir = fromDir;
  while (dir && dir !== "/") {
    candidates.push(`${dir}/node_modules/${name}`);
    dir = dir.replace(/\/[^/]+$/, "") || "/";
  }
  if (!fromDir) {
    try {
      const req = createRequire(import.meta.url);
      const main = req.resolve(`${name}/package.json`);
      candidates.push(main.replace(/\/package\.json$/, ""));
    } catch { /* try the project's node_modules */ }
    candidates.push(new URL(`../../node_modules/${name}`, import.meta.url).pathname);
  }
  for (const c of candidates) {
    try {
      if (Deno.statSync(`${c}/package.json`).isFile) return Deno.realPathSync(c);
    } catch { /* next */ }
  }
  throw new PbxError("E_NOT_FOUND", `npm package '${name}' not found (run pbxkit once online to install it)`);
}

function fileExists(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

function resolveFile(base: string): string | undefined {
  for (const c of [base, `${base}.js`, `${base}.json`, `${base}/index.js`]) {
    if (fileExists(c)) return Deno.realPathSync(c); // canonical: "lib/./X.js" and "lib/X.js" are one module
  }
  return undefined;
}

function packageEntry(dir: string): string {
  const pkg = JSON.parse(Deno.readTextFileSync(`${dir}/package.json`));
  const entry = typeof pkg.browser === "string" ? pkg.browser : pkg.main ?? "index.js";
  const f = resolveFile(`${dir}/${entry.replace(/^\.\//, "")}`);
  if (!f) throw new PbxError("E_NOT_FOUND", `entry '${entry}' of ${dir} not found`);
  return f;
}

/** Bundle `pkg` for the browser as `window[globalName]`. */
export function bundlePackage(pkg: string, globalName: string): string {
  const entry = packageEntry(packageDir(pkg));
  const ids = new Map<string, number>();
  const parts: string[] = [];
  const queue: string[] = [entry];
  ids.set(entry, 0);
  while (queue.length) {
    const file = queue.shift()!;
    const id = ids.get(file)!;
    const src = Deno.readTextFileSync(file);
    const deps: Record<string, number> = {};
    const dir = file.replace(/\/[^/]+$/, "");
    if (file.endsWith(".json")) {
      parts.push(`${id}: [function (module) { module.exports = ${src.trim()}; }, {}]`);
      continue;
    }
    for (const m of src.matchAll(REQUIRE_RE)) {
      const spec = m[2];
      if (spec in deps) continue;
      let target: string | undefined;
      if (spec.startsWith("./") || spec.startsWith("../")) target = resolveFile(`${dir}/${spec}`);
      else {
        const [scopeOrName, maybeName, ...rest] = spec.split("/");
        const name = scopeOrName.startsWith("@") ? `${scopeOrName}/${maybeName}` : scopeOrName;
        const sub = scopeOrName.startsWith("@") ? rest : [maybeName, ...rest].filter(Boolean);
        const pdir = packageDir(name, dir);
        target = sub.length ? resolveFile(`${pdir}/${sub.join("/")}`) : packageEntry(pdir);
      }
      if (!target) throw new PbxError("E_NOT_FOUND", `cannot resolve require('${spec}') in ${file}`);
      if (!ids.has(target)) {
        ids.set(target, ids.size);
        queue.push(target);
      }
      deps[spec] = ids.get(target)!;
    }
    parts.push(
      `${id}: [function (module, exports, require) {\n${src}\n}, ${JSON.stringify(deps)}]`,
    );
  }
  return `/* ${pkg} bundled by pbxkit for the browser */\n(function () {\n"use strict";\n` +
    `var defs = {\n${parts.join(",\n")}\n};\nvar cache = {};\n` +
    `function load(id) {\n  if (cache[id]) return cache[id].exports;\n  var module = cache[id] = { exports: {} };\n` +
    `  var def = defs[id];\n  def[0].call(module.exports, module, module.exports, function (spec) {\n` +
    `    if (!(spec in def[1])) throw new Error("module not bundled: " + spec);\n    return load(def[1][spec]);\n  });\n` +
    `  return module.exports;\n}\nwindow[${JSON.stringify(globalName)}] = load(0);\n})();\n`;
}
