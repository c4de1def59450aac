/**
 * SIP on the wire without a SIP stack (JsSIP is the stack): the pure helpers the UDP/TCP/TLS socket adapter needs.
 * {@linkcode SipStreamFramer} cuts a TCP/TLS byte stream into messages by Content-Length (RFC 3261 §18.3) and spots
 * RFC 5626 keep-alives (a CRLFCRLF ping, answered with a CRLF pong); {@linkcode fixRequestVia} gives the top Via of
 * a request we send its real sent-by (`ip:port`), the transport and `rport` (RFC 3581); {@linkcode topVia} reads the
 * branch and sent-by of a message's top Via. No I/O.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";

/** Largest SIP message accepted (header + body). */
export const MAX_SIP_MESSAGE = 65_535;

/** What one {@linkcode SipStreamFramer.push} produced. */
export interface FramedInput {
  /** Whole SIP messages, in order. */
  messages: string[];
  /** How many CRLFCRLF keep-alive pings arrived (answer each with a CRLF pong). */
  pings: number;
}

const CR = 13, LF = 10;

/** Cuts a SIP byte stream into messages by Content-Length; bounded (throws E_PROTOCOL on an oversized message). */
export class SipStreamFramer {
  #buf = new Uint8Array(4096);
  #len = 0;
  #dec = new TextDecoder();

  /** Add bytes from the stream; returns the complete messages and keep-alive pings they finished. */
  push(chunk: Uint8Array): FramedInput {
    this.#append(chunk);
    const out: FramedInput = { messages: [], pings: 0 };
    for (;;) {
      // keep-alives between messages: CRLFCRLF is a ping, a lone CRLF a pong
      let skip = 0;
      while (skip + 1 < this.#len && this.#buf[skip] === CR && this.#buf[skip + 1] === LF) {
        if (skip + 3 < this.#len && this.#buf[skip + 2] === CR && this.#buf[skip + 3] === LF) {
          out.pings++;
          skip += 4;
        } else if (skip + 2 >= this.#len) {
          break; // maybe the first half of a ping: wait
        } else skip += 2;
      }
      if (skip) this.#consume(skip);
      if (this.#len >= 2 && this.#buf[0] === CR && this.#buf[1] === LF) return out;
      const headEnd = this.#find();
      if (headEnd < 0) {
        if (this.#len > MAX_SIP_MESSAGE) throw new PbxError("E_PROTOCOL", "SIP header longer than 64 KiB");
        return out;
      }
      const head = this.#dec.decode(this.#buf.subarray(0, headEnd));
      const cl = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im.exec(head);
      if (!cl) throw new PbxError("E_PROTOCOL", "SIP message over a stream without Content-Length");
      const total = headEnd + 4 + Number(cl[1]);
      if (total > MAX_SIP_MESSAGE) throw new PbxError("E_PROTOCOL", `SIP message of ${total} bytes (limit 64 KiB)`);
      if (this.#len < total) return out;
      out.messages.push(this.#dec.decode(this.#buf.subarray(0, total)));
      this.#consume(total);
    }
  }

  #append(chunk: Uint8Array): void {
    if (this.#len + chunk.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + chunk.length));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(chunk, this.#len);
    this.#len += chunk.length;
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  /** Offset of the CRLFCRLF that ends the header, or -1. */
  #find(): number {
    const b = this.#buf;
    for (let i = 0; i + 3 < this.#len; i++) {
      if (b[i] === CR && b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF) return i;
    }
    return -1;
  }
}

/** Branch and sent-by of a message's top Via. */
export interface ViaInfo {
  /** `branch` parameter. */
  branch?: string;
  /** `host[:port]` of the sent-by. */
  sentBy: string;
  /** Transport (`UDP`, `TCP`, ...). */
  transport: string;
}

/** The top Via of a SIP message (long or compact `v:` form), or undefined. */
export function topVia(message: string): ViaInfo | undefined {
  const head = message.slice(0, Math.max(0, message.search(/\r?\n\r?\n/)) || message.length);
  const m = /^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*([A-Za-z]+)[ \t]+([^;,\r\n]+)([^,\r\n]*)/im.exec(
    head,
  );
  if (!m) return undefined;
  const branch = /;[ \t]*branch=([^;, \t\r\n]+)/i.exec(m[3])?.[1];
  return { transport: m[1].toUpperCase(), sentBy: m[2].trim(), branch };
}

/**
 * A request we are about to send, with its top Via set to `SIP/2.0/<transport> <sentBy>;rport;...` (JsSIP writes
 * its configured host without port and no rport). Responses and messages without Via pass unchanged.
 */
export function fixRequestVia(message: string, sentBy: string, transport: string): string {
  if (message.startsWith("SIP/2.0 ")) return message;
  return message.replace(
    /^((?:via|v)[ \t]*:[ \t]*)SIP\/2\.0\/[A-Za-z]+[ \t]+[^;,\r\n]+((?:;[^,\r\n]*)?)/im,
    (_all, name: string, params: string) => {
      const rest = params.replace(/;[ \t]*rport(?:=\d*)?/i, "");
      return `${name}SIP/2.0/${transport} ${sentBy};rport${rest}`;
    },
  );
}
