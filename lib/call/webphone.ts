/**
 * The browser webphone served by `pbxkit ws-serve --webphone`: a single page (JsSIP in the browser) and its assets.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

/** One static asset of the webphone. */
export interface WebphoneAsset {
  /** MIME type, e.g. `text/html; charset=utf-8`. */
  contentType: string;
  /** The file's bytes. */
  body: Uint8Array;
}

/** Options for {@linkcode webphoneAssets}. */
export interface WebphoneOptions {
  /** Path of the proxied PBX WebSocket on the same origin (e.g. `/pbxws`), used as the page's default server. */
  wsPath?: string;
}

/**
 * The webphone's files keyed by URL path (`/` and `/index.html` for the page, plus scripts).
 * `ws-serve --webphone` serves exactly these.
 */
export function webphoneAssets(_options: WebphoneOptions = {}): Promise<Map<string, WebphoneAsset>> {
  return Promise.reject(new PbxError("E_NOT_IMPLEMENTED", "the webphone is not built yet (tracked in issue #7)"));
}
