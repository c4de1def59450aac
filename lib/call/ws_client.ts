/**
 * A sans-I/O WebSocket client codec (RFC 6455): builds the opening handshake, checks the server's answer, masks
 * outgoing frames and turns incoming bytes into messages. No sockets here; `ws_socket.ts` owns the TLS/TCP stream.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** A message or control event decoded from the server. */
export type WsClientEvent =
  | { type: "text"; data: string }
  | { type: "binary"; data: Uint8Array }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  | { type: "close"; code: number; reason: string };

/** Largest message accepted from the server (SIP messages are small). */
export const MAX_MESSAGE = 1 << 20;

/** Client-side WebSocket state machine. */
export class WsClientCodec {
  readonly key: string;
  #buf = new Uint8Array(0);
  #open = false;
  #frag: Uint8Array[] = [];
  #fragOp = 0;
  #fragLen = 0;

  /** A codec with a random (or given, for tests) Sec-WebSocket-Key. */
  constructor(key?: string) {
    if (key) this.key = key;
    else {
      const k = new Uint8Array(16);
      crypto.getRandomValues(k);
      this.key = btoa(String.fromCharCode(...k));
    }
  }

  /** The HTTP upgrade request for `url` with subprotocol `protocol`. */
  handshake(url: URL, protocol: string): Uint8Array {
    const path = (url.pathname || "/") + url.search;
    const host = url.host;
    return enc.encode(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n` +
        `User-Agent: pbxkit\r\n\r\n`,
    );
  }

  /** Whether the handshake completed. */
  get open(): boolean {
    return this.#open;
  }

  /**
   * Feed received bytes. Before the handshake completes, returns [] until the full HTTP answer is in, then checks
   * it (throws E_PROTOCOL when the server refused the upgrade). Afterwards returns decoded events.
   */
  async feed(bytes: Uint8Array): Promise<WsClientEvent[]> {
    this.#append(bytes);
    if (!this.#open) {
      const end = indexOfCrlfCrlf(this.#buf);
      if (end < 0) {
        if (this.#buf.length > 16384) throw new PbxError("E_PROTOCOL", "WebSocket handshake answer too long");
        return [];
      }
      const head = new TextDecoder().decode(this.#buf.subarray(0, end));
      this.#buf = this.#buf.slice(end + 4);
      await this.#checkAnswer(head);
      this.#open = true;
    }
    try {
      return this.#frames();
    } catch (err) {
      // a protocol error ends the connection: drop everything buffered so nothing is half-parsed later
      this.#buf = new Uint8Array(0);
      this.#frag = [];
      this.#fragLen = 0;
      this.#fragOp = 0;
      throw err;
    }
  }

  async #checkAnswer(head: string): Promise<void> {
    const lines = head.split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})\s*(.*)$/.exec(lines[0]);
    if (!status) throw new PbxError("E_PROTOCOL", `not an HTTP answer to the WebSocket upgrade: ${lines[0]}`);
    if (status[1] !== "101") {
      throw new PbxError("E_PROTOCOL", `server refused the WebSocket upgrade: ${status[1]} ${status[2]}`);
    }
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", enc.encode(this.key + GUID)));
    const expect = btoa(String.fromCharCode(...digest));
    if (headers.get("sec-websocket-accept") !== expect) {
      throw new PbxError("E_PROTOCOL", "bad Sec-WebSocket-Accept in the server's upgrade answer");
    }
  }

  #append(bytes: Uint8Array): void {
    if (this.#buf.length === 0) {
      this.#buf = bytes.slice();
      return;
    }
    const b = new Uint8Array(this.#buf.length + bytes.length);
    b.set(this.#buf);
    b.set(bytes, this.#buf.length);
    this.#buf = b;
  }

  #frames(): WsClientEvent[] {
    const events: WsClientEvent[] = [];
    let o = 0;
    const b = this.#buf;
    while (b.length - o >= 2) {
      const fin = (b[o] & 0x80) !== 0;
      const op = b[o] & 0x0f;
      if (b[o] & 0x70) throw new PbxError("E_PROTOCOL", "WebSocket frame with reserved bits set");
      const masked = (b[o + 1] & 0x80) !== 0;
      let len = b[o + 1] & 0x7f;
      let p = o + 2;
      if (len === 126) {
        if (b.length - p < 2) break;
        len = (b[p] << 8) | b[p + 1];
        p += 2;
      } else if (len === 127) {
        if (b.length - p < 8) break;
        const hi = (b[p] << 24 | b[p + 1] << 16 | b[p + 2] << 8 | b[p + 3]) >>> 0;
        const lo = (b[p + 4] << 24 | b[p + 5] << 16 | b[p + 6] << 8 | b[p + 7]) >>> 0;
        if (hi !== 0 || lo > MAX_MESSAGE) throw new PbxError("E_LIMIT", "WebSocket frame too large");
        len = lo;
        p += 8;
      }
      if (len > MAX_MESSAGE) throw new PbxError("E_LIMIT", "WebSocket frame too large");
      let mask: Uint8Array | undefined;
      if (masked) {
        if (b.length - p < 4) break;
        mask = b.subarray(p, p + 4);
        p += 4;
      }
      if (b.length - p < len) break;
      const payload = b.slice(p, p + len);
      if (mask) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]; }
      o = p + len;
      if (op >= 8) {
        if (!fin || len > 125) throw new PbxError("E_PROTOCOL", "bad WebSocket control frame");
        if (op === 8) {
          const code = len >= 2 ? (payload[0] << 8) | payload[1] : 1005;
          events.push({ type: "close", code, reason: len > 2 ? new TextDecoder().decode(payload.subarray(2)) : "" });
        } else if (op === 9) events.push({ type: "ping", data: payload });
        else if (op === 10) events.push({ type: "pong", data: payload });
        else throw new PbxError("E_PROTOCOL", `unknown WebSocket control opcode ${op}`);
        continue;
      }
      if (op === 0) {
        if (!this.#fragOp) throw new PbxError("E_PROTOCOL", "WebSocket continuation without a start");
      } else if (op === 1 || op === 2) {
        if (this.#fragOp) throw new PbxError("E_PROTOCOL", "new WebSocket message inside a fragmented one");
        this.#fragOp = op;
      } else throw new PbxError("E_PROTOCOL", `unknown WebSocket opcode ${op}`);
      this.#frag.push(payload);
      this.#fragLen += payload.length;
      if (this.#fragLen > MAX_MESSAGE) throw new PbxError("E_LIMIT", "WebSocket message too large");
      if (fin) {
        const whole = new Uint8Array(this.#fragLen);
        let q = 0;
        for (const f of this.#frag) {
          whole.set(f, q);
          q += f.length;
        }
        if (this.#fragOp === 1) {
          let text: string;
          try {
            text = dec.decode(whole);
          } catch {
            throw new PbxError("E_PROTOCOL", "WebSocket text message is not UTF-8");
          }
          events.push({ type: "text", data: text });
        } else events.push({ type: "binary", data: whole });
        this.#frag = [];
        this.#fragLen = 0;
        this.#fragOp = 0;
      }
    }
    this.#buf = b.slice(o);
    return events;
  }

  /** Encode a masked frame (opcode 1 text, 2 binary, 8 close, 9 ping, 10 pong). */
  frame(op: number, payload: Uint8Array): Uint8Array {
    const len = payload.length;
    const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const out = new Uint8Array(head + 4 + len);
    out[0] = 0x80 | op;
    if (len < 126) out[1] = 0x80 | len;
    else if (len < 65536) {
      out[1] = 0x80 | 126;
      out[2] = len >> 8;
      out[3] = len & 0xff;
    } else {
      out[1] = 0x80 | 127;
      new DataView(out.buffer).setUint32(6, len);
    }
    const mask = out.subarray(head, head + 4);
    crypto.getRandomValues(mask);
    for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
    return out;
  }

  /** Encode a text message. */
  text(data: string): Uint8Array {
    return this.frame(1, enc.encode(data));
  }

  /** Encode a close frame. */
  close(code = 1000, reason = ""): Uint8Array {
    const r = enc.encode(reason);
    const p = new Uint8Array(2 + r.length);
    p[0] = code >> 8;
    p[1] = code & 0xff;
    p.set(r, 2);
    return this.frame(8, p);
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
