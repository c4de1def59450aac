/**
 * The WebSocket opening handshake (RFC 6455 §4) without I/O: validating a client's upgrade request and building
 * the 101 answer (or the 400/403/426 refusal), and the client side (building a request, checking the answer).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type DeflateOptions, type DeflateParams, negotiateDeflateServer } from "./deflate.ts";
import { acceptDeflateClient, CLIENT_DEFLATE_OFFER } from "./deflate.ts";
import {
  errorResponse,
  headerHasToken,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseHead,
  isToken,
} from "./http.ts";
import { PbxError } from "../common/mod.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (base64 of SHA-1 of key + GUID). */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** True when the request asks for a WebSocket upgrade (`Upgrade: websocket`), valid or not. */
export function isUpgradeRequest(req: HttpRequest): boolean {
  return headerHasToken(req.headers.get("upgrade"), "websocket");
}

/** The subprotocols a client offered (`Sec-WebSocket-Protocol`), in its order. Throws `E_PROTOCOL` if malformed. */
export function offeredSubprotocols(req: HttpRequest): string[] {
  const v = req.headers.get("sec-websocket-protocol");
  if (v === undefined) return [];
  const list = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const p of list) if (!isToken(p)) throw new PbxError("E_PROTOCOL", `bad subprotocol '${p}'`);
  return list;
}

/** What the server accepts. */
export interface ServerHandshakeOptions {
  /** Subprotocols the server speaks, in preference order (e.g. `["sip"]`). */
  subprotocols?: readonly string[];
  /**
   * Allowed `Origin` values (`https://pbx.example.com`, or `*` for any). Empty or absent: any origin, and requests
   * without `Origin` (non-browser clients) are always allowed.
   */
  origins?: readonly string[];
  /** permessage-deflate settings, or false to never compress. Default: on. */
  deflate?: DeflateOptions | false;
  /** Extra headers for the 101 response. */
  headers?: Record<string, string>;
  /** Choose the subprotocol yourself (overrides `subprotocols`); return undefined for none. */
  selectSubprotocol?: (offered: string[]) => string | undefined;
}

/** Outcome of {@linkcode serverHandshake}. */
export type ServerHandshake =
  | {
    ok: true;
    /** The 101 response to write. */
    response: HttpResponse;
    /** The chosen subprotocol, if any. */
    protocol: string | undefined;
    /** The `Sec-WebSocket-Extensions` answered (empty when none). */
    extensions: string;
    /** permessage-deflate parameters when negotiated. */
    deflate: DeflateParams | undefined;
  }
  | { ok: false; response: HttpResponse; reason: string };

function refuse(status: number, reason: string, headers: Record<string, string> = {}): ServerHandshake {
  return { ok: false, response: errorResponse(status, reason, { headers }), reason };
}

/**
 * Validate an upgrade request and produce the answer: 101 on success; 400 for a non-GET method, HTTP/1.0, a
 * missing or malformed `Host`, `Upgrade`, `Connection` or `Sec-WebSocket-Key`, or a malformed subprotocol list;
 * 426 with `Sec-WebSocket-Version: 13` when the version is missing or not 13; 403 for a forbidden `Origin`.
 */
export function serverHandshake(req: HttpRequest, options: ServerHandshakeOptions = {}): ServerHandshake {
  const h = req.headers;
  if (req.method !== "GET") return refuse(400, `a WebSocket upgrade must use GET, not ${req.method}`, { Allow: "GET" });
  if (req.version !== "1.1") return refuse(400, "a WebSocket upgrade needs HTTP/1.1");
  if (!h.get("host")) return refuse(400, "missing Host header");
  if (!headerHasToken(h.get("upgrade"), "websocket")) return refuse(400, "missing 'Upgrade: websocket'");
  if (!headerHasToken(h.get("connection"), "upgrade")) return refuse(400, "missing 'Connection: Upgrade'");
  const version = h.get("sec-websocket-version");
  if (version === undefined || !headerHasToken(version, "13")) {
    return refuse(426, `unsupported WebSocket version '${version ?? "(none)"}': only 13 is supported`, {
      "Sec-WebSocket-Version": "13",
    });
  }
  if (version.trim() !== "13") return refuse(400, "Sec-WebSocket-Version must be exactly 13");
  const key = h.get("sec-websocket-key");
  if (key === undefined) return refuse(400, "missing Sec-WebSocket-Key");
  if (!/^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key.trim())) {
    return refuse(400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
  }
  const origin = h.get("origin");
  const origins = options.origins ?? [];
  if (origins.length > 0 && origin !== undefined && !origins.includes("*")) {
    const o = origin.toLowerCase().replace(/\/$/, "");
    if (!origins.some((a) => a.toLowerCase().replace(/\/$/, "") === o)) {
      return refuse(403, `origin '${origin}' is not allowed`);
    }
  }
  let offered: string[];
  try {
    offered = offeredSubprotocols(req);
  } catch (err) {
    return refuse(400, (err as Error).message);
  }
  let protocol: string | undefined;
  if (options.selectSubprotocol) {
    protocol = options.selectSubprotocol(offered);
    if (protocol !== undefined && !offered.includes(protocol)) protocol = undefined;
  } else {
    protocol = (options.subprotocols ?? []).find((p) => offered.includes(p));
  }
  const negotiated = options.deflate === false
    ? undefined
    : negotiateDeflateServer(h.get("sec-websocket-extensions"), options.deflate);
  const headers: Record<string, string> = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Accept": acceptKey(key.trim()),
  };
  if (protocol !== undefined) headers["Sec-WebSocket-Protocol"] = protocol;
  if (negotiated) headers["Sec-WebSocket-Extensions"] = negotiated.response;
  Object.assign(headers, options.headers);
  return {
    ok: true,
    response: { status: 101, headers },
    protocol,
    extensions: negotiated?.response ?? "",
    deflate: negotiated?.params,
  };
}

/** Options for {@linkcode clientRequest}. */
export interface ClientRequestOptions {
  /** `Host` header value (`host:port`). */
  host: string;
  /** Request target, e.g. `/ws`. */
  path: string;
  /** Subprotocols to offer. */
  protocols?: readonly string[];
  /** Offer permessage-deflate. */
  deflate?: boolean;
  /** `Origin` to send. */
  origin?: string;
  /** Extra headers (e.g. `X-Forwarded-For`). */
  headers?: Record<string, string>;
  /** The 16-byte key, base64 (random when absent; tests pin it). */
  key?: string;
}

/** Build a client's upgrade request; returns the bytes and the key to check the answer against. */
export function clientRequest(options: ClientRequestOptions): { bytes: Uint8Array; key: string } {
  const key = options.key ?? btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  let head = `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (options.protocols?.length) head += `Sec-WebSocket-Protocol: ${options.protocols.join(", ")}\r\n`;
  if (options.deflate) head += `Sec-WebSocket-Extensions: ${CLIENT_DEFLATE_OFFER}\r\n`;
  if (options.origin) head += `Origin: ${options.origin}\r\n`;
  for (const [k, v] of Object.entries(options.headers ?? {})) {
    // deno-lint-ignore no-control-regex
    if (/[\r\n\x00]/.test(k + v)) throw new PbxError("E_INVALID_INPUT", `header ${k} contains a line break`);
    head += `${k}: ${v}\r\n`;
  }
  return { bytes: new TextEncoder().encode(head + "\r\n"), key };
}

/**
 * Check a server's answer to {@linkcode clientRequest}. Returns the chosen subprotocol and deflate parameters;
 * throws `E_PROTOCOL` (naming the status for a refusal) when the answer is not a valid 101.
 */
export function checkClientResponse(
  res: HttpResponseHead,
  request: { key: string; protocols?: readonly string[]; deflate?: boolean },
): { protocol: string | undefined; deflate: DeflateParams | undefined } {
  if (res.status !== 101) {
    throw new PbxError("E_PROTOCOL", `upstream refused the WebSocket upgrade: ${res.status} ${res.reason}`.trim());
  }
  const h = res.headers;
  if (!headerHasToken(h.get("upgrade"), "websocket") || !headerHasToken(h.get("connection"), "upgrade")) {
    throw new PbxError("E_PROTOCOL", "upstream's 101 lacks Upgrade/Connection headers");
  }
  if (h.get("sec-websocket-accept") !== acceptKey(request.key)) {
    throw new PbxError("E_PROTOCOL", "upstream's Sec-WebSocket-Accept does not match the key");
  }
  const protocol = h.get("sec-websocket-protocol");
  if (protocol !== undefined && !(request.protocols ?? []).includes(protocol)) {
    throw new PbxError("E_PROTOCOL", `upstream chose subprotocol '${protocol}' that was not offered`);
  }
  const ext = h.get("sec-websocket-extensions");
  if (ext && !request.deflate) {
    throw new PbxError("E_PROTOCOL", `upstream chose extensions that were not offered: ${ext}`);
  }
  return { protocol, deflate: request.deflate ? acceptDeflateClient(ext) : undefined };
}
