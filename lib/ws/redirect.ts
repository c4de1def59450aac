/**
 * The plain-HTTP redirect listener (`redirect = "https"`): every request, WebSocket upgrades included, gets a
 * `301 Moved Permanently` to the same host and target on `https://`. Sans-I/O: a request in, a response out.
 *
 * @module
 */

import { errorResponse, type HttpRequest, type HttpResponse } from "./http.ts";

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;
const HOST_V6 = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * The host part of a `Host` header (`pbx.example.com:8080` -> `pbx.example.com`, `[2001:db8::1]:80` ->
 * `[2001:db8::1]`), or undefined when it is not a plain host name or address (no user info, no path, no spaces:
 * nothing a `Location` header could be abused with).
 */
export function redirectHost(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return undefined;
  const host = m[1];
  return HOST_NAME.test(host) || HOST_V6.test(host) ? host.toLowerCase() : undefined;
}

/** The 301 answer to `req` for an `https://` service on `httpsPort` (443 leaves the port out). */
export function httpsRedirect(req: HttpRequest, httpsPort = 443): HttpResponse {
  const host = redirectHost(req.headers.get("host"));
  if (host === undefined) return errorResponse(400, "a Host header naming this server is needed for the redirect");
  const target = req.target.startsWith("/") ? req.target : "/";
  const location = `https://${host}${httpsPort === 443 ? "" : `:${httpsPort}`}${target}`;
  return errorResponse(301, `moved to ${location}`, { headers: { Location: location } });
}
