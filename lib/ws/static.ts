/**
 * Plain-HTTP file serving for `ws-serve --static DIR` (GET/HEAD, content types, ETag/304, no path escapes, not
 * even through symlinks) and for in-memory assets (the `--webphone` page).
 *
 * @module
 */

import { errorResponse, type HttpRequest, type HttpResponse } from "./http.ts";
import type { StreamingResponse } from "./server.ts";

/** Content types by file extension. */
export const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  txt: "text/plain; charset=utf-8",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  wasm: "application/wasm",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  woff: "font/woff",
  woff2: "font/woff2",
  pdf: "application/pdf",
  webmanifest: "application/manifest+json",
};

/** The content type for a file name (application/octet-stream when unknown). */
export function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot >= 0 && CONTENT_TYPES[name.slice(dot + 1).toLowerCase()]) || "application/octet-stream";
}

/**
 * Turn a request path into safe path segments: percent-decoded, no `.`/`..`, no NUL, no backslash, no empty
 * segments in the middle. Returns undefined for hostile or malformed paths.
 */
export function safeSegments(path: string): string[] | undefined {
  const out: string[] = [];
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    let seg: string;
    try {
      seg = decodeURIComponent(parts[i]);
    } catch {
      return undefined;
    }
    if (seg === "" && i === parts.length - 1) break; // trailing slash
    if (seg === "" || seg === "." || seg === ".." || /[\\/\0]/.test(seg)) return undefined;
    out.push(seg);
  }
  return out;
}

const SMALL = 1024 * 1024;

function methodCheck(req: HttpRequest): HttpResponse | undefined {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  return errorResponse(405, `${req.method} is not allowed`, { headers: { Allow: "GET, HEAD" } });
}

/**
 * A request handler serving files under `root`, or undefined for paths outside it (so another handler may try).
 * Directories serve `index.html`; a directory path without the trailing slash is redirected.
 */
export function staticFiles(root: string): (req: HttpRequest) => Promise<StreamingResponse | undefined> {
  const rootReal = Deno.realPathSync(root);
  if (!Deno.statSync(rootReal).isDirectory) throw new Deno.errors.NotFound(`${root} is not a directory`);
  return async (req) => {
    const segs = safeSegments(req.path);
    if (segs === undefined) return errorResponse(404, "not found");
    let file = segs.length ? `${rootReal}/${segs.join("/")}` : rootReal;
    let info: Deno.FileInfo;
    try {
      const real = await Deno.realPath(file);
      if (real !== rootReal && !real.startsWith(rootReal + "/")) return errorResponse(404, "not found");
      file = real;
      info = await Deno.stat(file);
      if (info.isDirectory) {
        if (!req.path.endsWith("/")) {
          return { status: 301, headers: { Location: req.path + "/" + (req.query ? `?${req.query}` : "") } };
        }
        file = `${file}/index.html`;
        const realIndex = await Deno.realPath(file);
        if (!realIndex.startsWith(rootReal + "/")) return errorResponse(404, "not found");
        file = realIndex;
        info = await Deno.stat(file);
      }
    } catch {
      return undefined;
    }
    if (!info.isFile) return errorResponse(404, "not found");
    const bad = methodCheck(req);
    if (bad) return bad;
    const etag = `"${info.size.toString(16)}-${(info.mtime?.getTime() ?? 0).toString(16)}"`;
    const headers: Record<string, string> = {
      "Content-Type": contentType(file),
      "ETag": etag,
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "no-cache",
    };
    if (info.mtime) headers["Last-Modified"] = info.mtime.toUTCString();
    if (req.headers.get("if-none-match")?.split(",").some((t) => t.trim() === etag)) {
      return { status: 304, headers: { ETag: etag } };
    }
    headers["Content-Length"] = String(info.size);
    if (req.method === "HEAD") return { status: 200, headers };
    if (info.size <= SMALL) return { status: 200, headers, body: await Deno.readFile(file) };
    const f = await Deno.open(file);
    return { status: 200, headers, stream: f.readable };
  };
}

/** One in-memory asset. */
export interface Asset {
  /** Value sent as the `Content-Type` header (e.g. `text/html; charset=utf-8`). */
  contentType: string;
  /** The asset's bytes, sent as the body. */
  body: Uint8Array;
}

/** A request handler serving in-memory assets by exact path, or undefined for other paths. */
export function assetFiles(assets: Map<string, Asset>): (req: HttpRequest) => HttpResponse | undefined {
  return (req) => {
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      return undefined;
    }
    const a = assets.get(path);
    if (!a) return undefined;
    const bad = methodCheck(req);
    if (bad) return bad;
    return {
      status: 200,
      headers: { "Content-Type": a.contentType, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" },
      body: a.body,
    };
  };
}
