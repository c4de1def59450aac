/**
 * A raw-socket WebSocket client for the conformance tests: it writes arbitrary (also invalid) frames byte-exact,
 * in chosen chunks, and reads the server's frames back. Nothing from lib/ws is used for framing here, so the
 * tests check the server against an independent implementation.
 *
 * @module
 */

import { concat } from "../_util/mod.ts";

/** A frame from the server. */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Options for a frame to send. */
export interface SendFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** RSV bits as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3). */
  rsv?: number;
  /** Send masked (default true). */
  mask?: boolean;
  /** Force the 16-bit or 64-bit length form. */
  lengthForm?: 7 | 16 | 64;
  /** Override the 64-bit length's high 32 bits (to test the high bit). */
  highBits?: number;
}

const enc = new TextEncoder();

/** Encode a client frame. */
export function encodeFrame(f: SendFrame): Uint8Array {
  const payload = typeof f.payload === "string" ? enc.encode(f.payload) : (f.payload ?? new Uint8Array(0));
  const mask = f.mask ?? true;
  const n = payload.length;
  const form = f.lengthForm ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const hlen = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask ? 4 : 0);
  const out = new Uint8Array(hlen + n);
  out[0] = ((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode;
  let p = 2;
  if (form === 7) out[1] = n;
  else if (form === 16) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 255;
    p = 4;
  } else {
    out[1] = 127;
    const dv = new DataView(out.buffer);
    dv.setUint32(2, f.highBits ?? Math.floor(n / 2 ** 32));
    dv.setUint32(6, n >>> 0);
    p = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, p);
    p += 4;
    for (let i = 0; i < n; i++) out[p + i] = payload[i] ^ key[i & 3];
  } else out.set(payload, p);
  return out;
}

/** Options for {@linkcode RawClient.open}. */
export interface OpenOptions {
  path?: string;
  /** Extra header lines (`Name: value`). */
  headers?: string[];
  /** Replace the default handshake headers entirely. */
  rawRequest?: string;
}

/** A raw WebSocket client connection. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  /** The server's response head. */
  response = "";
  #buf = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connect and send a handshake; resolves after the response head (check `status`). */
  static async open(port: number, options: OpenOptions = {}): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const c = new RawClient(conn);
    const req = options.rawRequest ??
      `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        (options.headers ?? []).map((h) => h + "\r\n").join("") + "\r\n";
    await c.write(enc.encode(req));
    const head = await c.#readUntilHeadEnd(5000);
    c.response = head;
    return c;
  }

  /** HTTP status of the handshake response. */
  get status(): number {
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(this.response)?.[1] ?? 0);
  }

  /** A response header (case-insensitive), or undefined. */
  header(name: string): string | undefined {
    const re = new RegExp(`^${name}:\\s*(.*)$`, "im");
    return re.exec(this.response)?.[1]?.trim();
  }

  async #fill(timeoutMs: number): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
    let n: number | null | "timeout";
    try {
      n = await Promise.race([this.conn.read(chunk), timeout]);
    } catch {
      n = null; // reset counts as closed
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") throw new Error(`timed out after ${timeoutMs} ms waiting for the server`);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = b;
    return true;
  }

  async #readUntilHeadEnd(timeoutMs: number): Promise<string> {
    for (;;) {
      const s = new TextDecoder("latin1").decode(this.#buf);
      const i = s.indexOf("\r\n\r\n");
      if (i >= 0) {
        this.#buf = this.#buf.slice(i + 4);
        return s.slice(0, i + 4);
      }
      if (!await this.#fill(timeoutMs)) return s;
    }
  }

  /** Write bytes, optionally in chunks of `chunk` bytes with `delayMs` between them. */
  async write(bytes: Uint8Array, chunk = 0, delayMs = 0): Promise<void> {
    const step = chunk > 0 ? chunk : bytes.length || 1;
    for (let o = 0; o < bytes.length; o += step) {
      const part = bytes.subarray(o, Math.min(bytes.length, o + step));
      let w = 0;
      while (w < part.length) w += await this.conn.write(part.subarray(w));
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  /** Send one frame (optionally chopped into `chunk`-byte writes). */
  send(f: SendFrame, chunk = 0, delayMs = 0): Promise<void> {
    return this.write(encodeFrame(f), chunk, delayMs);
  }

  /** Read one frame; undefined when the server closed the TCP connection. */
  async readFrame(timeoutMs = 5000): Promise<Frame | undefined> {
    for (;;) {
      const b = this.#buf;
      if (b.length >= 2) {
        const l7 = b[1] & 0x7f;
        const masked = (b[1] & 0x80) !== 0;
        let h = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0);
        if (b.length >= h) {
          let len = l7;
          const dv = new DataView(b.buffer, b.byteOffset);
          if (l7 === 126) len = dv.getUint16(2);
          else if (l7 === 127) len = dv.getUint32(2) * 2 ** 32 + dv.getUint32(6);
          if (masked) h += 4;
          if (b.length >= h + len) {
            let payload = b.slice(h, h + len);
            if (masked) {
              const key = b.subarray(h - 4, h);
              payload = payload.map((x, i) => x ^ key[i & 3]);
            }
            this.#buf = b.slice(h + len);
            return { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 15, masked, payload };
          }
        }
      }
      if (!await this.#fill(timeoutMs)) return undefined;
    }
  }

  /** Read a whole message (reassembling fragments, skipping pongs); undefined on close/EOF. */
  async readMessage(timeoutMs = 5000): Promise<{ opcode: number; payload: Uint8Array; rsv: number } | undefined> {
    const parts: Uint8Array[] = [];
    let opcode = -1, rsv = 0;
    for (;;) {
      const f = await this.readFrame(timeoutMs);
      if (!f) return undefined;
      if (f.opcode === 0xa) continue;
      if (f.opcode === 0x8) {
        this.lastClose = f;
        return undefined;
      }
      if (opcode < 0) {
        opcode = f.opcode;
        rsv = f.rsv;
      }
      parts.push(f.payload);
      if (f.fin) return { opcode, payload: concat(parts), rsv };
    }
  }

  /** The last close frame seen by readMessage. */
  lastClose: Frame | undefined;

  /**
   * Read frames until the server's close frame; returns its code (1005 for none), reason, and whether the server
   * then closed TCP (EOF within the timeout). Data frames before it are returned too.
   */
  async readClose(
    timeoutMs = 5000,
  ): Promise<{ code: number; reason: string; frames: Frame[]; tcpClosed: boolean; raw?: Frame }> {
    const frames: Frame[] = [];
    for (;;) {
      const f = await this.readFrame(timeoutMs);
      if (!f) return { code: 1006, reason: "", frames, tcpClosed: true };
      if (f.opcode === 8) {
        const code = f.payload.length >= 2 ? (f.payload[0] << 8) | f.payload[1] : 1005;
        const reason = new TextDecoder().decode(f.payload.subarray(2));
        // Answer like a client does, then expect the server to close TCP.
        try {
          await this.send({ opcode: 8, payload: f.payload.subarray(0, 2) });
        } catch { /* server may have gone already */ }
        let tcpClosed = false;
        try {
          tcpClosed = (await this.readFrame(timeoutMs)) === undefined;
        } catch {
          tcpClosed = false;
        }
        return { code, reason, frames, tcpClosed, raw: f };
      }
      frames.push(f);
    }
  }

  /** True when the server has already closed TCP (after reading what is left). */
  get eof(): boolean {
    return this.#eof;
  }

  /** Close the socket. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}
