/**
 * A pure TypeScript reader for capture files: classic pcap (microsecond and nanosecond, either byte order) and
 * pcapng (section header, interface description with `if_tsresol`, enhanced, simple and obsolete packet blocks,
 * several interfaces with different link types, either byte order). The parser is sans-I/O ({@linkcode
 * CaptureParser}: bytes in, packets out); {@linkcode readCaptureFile} feeds it from a file in large chunks.
 *
 * @module
 */

import { concatBytes, openRead, PbxError } from "../common/mod.ts";

/**
 * Called per packet: link type, frame bytes (a view, valid during the call), captured length, time in ms.
 * Hot path: positional parameters by design (no per-call allocation).
 */
export type PacketHandler = (linkType: number, frame: Uint8Array, caplen: number, ts: number) => void;

/** Capture file format. */
export type CaptureFormat = "pcap" | "pcapng";

interface Iface {
  linkType: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
}

const MAX_RECORD = 16 * 1024 * 1024;

/**
 * Sans-I/O capture parser: `push` chunks of the file in order, packets go to the handler. Throws a
 * {@linkcode PbxError} `E_PARSE` for a file that is not a capture or is corrupt beyond a record boundary.
 */
export class CaptureParser {
  /** Format, once known. */
  format: CaptureFormat | undefined;
  /** Packets delivered. */
  packets = 0;
  /** Bytes consumed. */
  offset = 0;
  #handler: PacketHandler;
  #le = true;
  #ifaces: Iface[] = [];
  // pcap
  #pcapLinkType = 0;
  #pcapUnitsPerMs = 1000; // µs
  #buf = new Uint8Array(0);
  #len = 0;

  /** Make a parser delivering packets to `handler`. */
  constructor(handler: PacketHandler) {
    this.#handler = handler;
  }

  /** Link type of the first interface (pcap: the file's). */
  get linkType(): number {
    return this.format === "pcap" ? this.#pcapLinkType : this.#ifaces[0]?.linkType ?? -1;
  }

  /** Feed the next bytes of the file. */
  push(chunk: Uint8Array): void {
    let data: Uint8Array, len: number;
    if (this.#len === 0) {
      data = chunk;
      len = chunk.length;
    } else {
      if (this.#buf.length < this.#len + chunk.length) {
        const nb = new Uint8Array(Math.max(this.#len + chunk.length, this.#buf.length * 2));
        nb.set(this.#buf.subarray(0, this.#len));
        this.#buf = nb;
      }
      this.#buf.set(chunk, this.#len);
      data = this.#buf;
      len = this.#len + chunk.length;
    }
    const used = this.#parse(data, len);
    this.offset += used;
    const rest = len - used;
    if (rest > 0) {
      if (data === this.#buf) this.#buf.copyWithin(0, used, len);
      else {
        if (this.#buf.length < rest) this.#buf = new Uint8Array(Math.max(rest, 65536));
        this.#buf.set(data.subarray(used, len));
      }
    }
    this.#len = rest;
  }

  /** Call after the last chunk: throws when the file ended inside a record. */
  finish(): void {
    if (this.format === undefined) throw new PbxError("E_PARSE", "empty or truncated capture file (no header)");
    if (this.#len > 0) {
      throw new PbxError("E_PARSE", `capture file truncated: ${this.#len} bytes of a partial record at the end`);
    }
  }

  #u32(b: Uint8Array, o: number): number {
    return this.#le
      ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
      : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
  #u16(b: Uint8Array, o: number): number {
    return this.#le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1];
  }

  #parse(b: Uint8Array, len: number): number {
    let p = 0;
    if (this.format === undefined) {
      if (len < 24) return 0;
      const m = (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0;
      if (m === 0xd4c3b2a1 || m === 0x4d3cb2a1) {
        this.#le = true;
      } else if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) {
        this.#le = false;
      } else if (m === 0x0a0d0d0a) {
        this.format = "pcapng";
        return this.#parseNg(b, 0, len);
      } else {
        throw new PbxError("E_PARSE", "not a pcap or pcapng file (bad magic)");
      }
      this.format = "pcap";
      this.#pcapUnitsPerMs = m === 0x4d3cb2a1 || m === 0xa1b23c4d ? 1e6 : 1e3;
      this.#pcapLinkType = this.#u32(b, 20) & 0x0fffffff;
      p = 24;
    }
    if (this.format === "pcapng") return this.#parseNg(b, 0, len);
    const h = this.#handler, lt = this.#pcapLinkType, upm = this.#pcapUnitsPerMs;
    const le = this.#le;
    while (p + 16 <= len) {
      let sec: number, frac: number, incl: number;
      if (le) {
        sec = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
        frac = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
        incl = (b[p + 8] | (b[p + 9] << 8) | (b[p + 10] << 16) | (b[p + 11] << 24)) >>> 0;
      } else {
        sec = this.#u32(b, p);
        frac = this.#u32(b, p + 4);
        incl = this.#u32(b, p + 8);
      }
      if (incl > MAX_RECORD) {
        throw new PbxError("E_PARSE", `corrupt pcap record at byte ${this.offset + p}: length ${incl}`);
      }
      if (p + 16 + incl > len) break;
      this.packets++;
      h(lt, b.subarray(p + 16, p + 16 + incl), incl, sec * 1000 + frac / upm);
      p += 16 + incl;
    }
    return p;
  }

  #parseNg(b: Uint8Array, p: number, len: number): number {
    while (p + 12 <= len) {
      let type = this.#u32(b, p);
      if (type === 0x0a0d0d0a) {
        // Section header: learn the byte order from its magic.
        const bom = (b[p + 8] << 24 | b[p + 9] << 16 | b[p + 10] << 8 | b[p + 11]) >>> 0;
        if (bom === 0x1a2b3c4d) this.#le = false;
        else if (bom === 0x4d3c2b1a) this.#le = true;
        else throw new PbxError("E_PARSE", "not a pcapng file (bad byte-order magic)");
        type = 0x0a0d0d0a;
      }
      const blen = this.#u32(b, p + 4);
      if (blen < 12 || blen % 4 !== 0 || blen > MAX_RECORD) {
        throw new PbxError("E_PARSE", `corrupt pcapng block at byte ${this.offset + p}: length ${blen}`);
      }
      if (p + blen > len) break;
      const body = p + 8, bodyEnd = p + blen - 4;
      switch (type) {
        case 0x0a0d0d0a:
          this.#ifaces = [];
          break;
        case 1: { // interface description
          if (bodyEnd - body < 8) throw new PbxError("E_PARSE", `corrupt pcapng interface block at ${p}`);
          const iface: Iface = { linkType: this.#u16(b, body), unitsPerMs: 1000 };
          let o = body + 8;
          while (o + 4 <= bodyEnd) {
            const code = this.#u16(b, o), olen = this.#u16(b, o + 2);
            if (code === 0) break;
            if (code === 9 && olen >= 1) {
              const v = b[o + 4];
              const perSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
              iface.unitsPerMs = perSec / 1000;
            }
            o += 4 + ((olen + 3) & ~3);
          }
          this.#ifaces.push(iface);
          break;
        }
        case 6: // enhanced packet
        case 2: { // obsolete packet
          if (bodyEnd - body < 20) throw new PbxError("E_PARSE", `corrupt pcapng packet block at ${p}`);
          const ifId = type === 6 ? this.#u32(b, body) : this.#u16(b, body);
          const iface = this.#ifaces[ifId];
          if (!iface) throw new PbxError("E_PARSE", `pcapng packet for unknown interface ${ifId}`);
          const ts = (this.#u32(b, body + 4) * 4294967296 + this.#u32(b, body + 8)) / iface.unitsPerMs;
          const cap = this.#u32(b, body + 12);
          if (body + 20 + cap > bodyEnd) throw new PbxError("E_PARSE", `corrupt pcapng packet length at ${p}`);
          this.packets++;
          this.#handler(iface.linkType, b.subarray(body + 20, body + 20 + cap), cap, ts);
          break;
        }
        case 3: { // simple packet
          const iface = this.#ifaces[0];
          if (!iface) throw new PbxError("E_PARSE", "pcapng simple packet before any interface");
          const orig = this.#u32(b, body);
          const cap = Math.min(orig, bodyEnd - body - 4);
          this.packets++;
          this.#handler(iface.linkType, b.subarray(body + 4, body + 4 + cap), cap, 0);
          break;
        }
        default:
          break; // statistics, name resolution, custom: skipped
      }
      p += blen;
    }
    return p;
  }
}

/** Options for {@linkcode readCaptureFile}. */
export interface ReadOptions {
  /** Called after each chunk with bytes read and the file size. */
  onProgress?: (done: number, total: number) => void;
  /** Chunk size (default 4 MiB). */
  chunkSize?: number;
  /** How error messages name the file (default `capture`; the CLI passes `--pcap`). */
  what?: string;
}

/** Read a pcap or pcapng file, delivering every packet to `handler`. Returns the packet count and format. */
export async function readCaptureFile(
  path: string,
  handler: PacketHandler,
  options: ReadOptions = {},
): Promise<{ packets: number; format: CaptureFormat; linkType: number }> {
  const parser = new CaptureParser(handler);
  const { file, info } = await openRead(path, { what: options.what ?? "capture" });
  try {
    const total = info.size;
    const chunk = new Uint8Array(options.chunkSize ?? 4 * 1024 * 1024);
    let done = 0;
    for (;;) {
      // fill the chunk as much as possible
      let n = 0;
      while (n < chunk.length) {
        const r = await file.read(chunk.subarray(n));
        if (r === null) break;
        n += r;
      }
      if (n === 0) break;
      parser.push(chunk.subarray(0, n));
      done += n;
      options.onProgress?.(done, total);
      if (n < chunk.length) break;
    }
  } finally {
    file.close();
  }
  parser.finish();
  return { packets: parser.packets, format: parser.format!, linkType: parser.linkType };
}

/** Options for {@linkcode PcapWriter.memory} and {@linkcode PcapWriter.file}. */
export interface PcapWriterOptions {
  /** Snapshot length written in the file header (default 262144). */
  snaplen?: number;
}

/** Write packets as a classic pcap file (microsecond stamps): used by tests and the benchmark. */
export class PcapWriter {
  #parts: Uint8Array[] = [];
  #size = 0;
  #pending: Uint8Array;
  #plen = 0;
  #file: Deno.FsFile | undefined;

  private constructor(linkType: number, snaplen: number, file?: Deno.FsFile) {
    this.#file = file;
    this.#pending = new Uint8Array(1 << 20);
    const h = new DataView(this.#pending.buffer);
    h.setUint32(0, 0xa1b2c3d4, true);
    h.setUint16(4, 2, true);
    h.setUint16(6, 4, true);
    h.setUint32(16, snaplen, true);
    h.setUint32(20, linkType, true);
    this.#plen = 24;
  }

  /** A writer collecting into memory. */
  static memory(linkType: number, options: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter(linkType, options.snaplen ?? 262144);
  }

  /** A writer streaming to `path` (created or truncated). */
  static async file(path: string, linkType: number, options: PcapWriterOptions = {}): Promise<PcapWriter> {
    const f = await Deno.open(path, { write: true, create: true, truncate: true });
    return new PcapWriter(linkType, options.snaplen ?? 262144, f);
  }

  /** Append a packet captured at `ts` ms. */
  async add(frame: Uint8Array, ts: number): Promise<void> {
    if (this.#plen + 16 + frame.length > this.#pending.length) await this.#flush();
    if (16 + frame.length > this.#pending.length) throw new PbxError("E_LIMIT", "frame too large");
    const dv = new DataView(this.#pending.buffer, this.#plen, 16);
    const sec = Math.floor(ts / 1000);
    dv.setUint32(0, sec, true);
    dv.setUint32(4, Math.min(999999, Math.round((ts - sec * 1000) * 1000)), true);
    dv.setUint32(8, frame.length, true);
    dv.setUint32(12, frame.length, true);
    this.#pending.set(frame, this.#plen + 16);
    this.#plen += 16 + frame.length;
  }

  async #flush(): Promise<void> {
    const chunk = this.#pending.slice(0, this.#plen);
    this.#plen = 0;
    if (this.#file) {
      let o = 0;
      while (o < chunk.length) o += await this.#file.write(chunk.subarray(o));
    } else {
      this.#parts.push(chunk);
      this.#size += chunk.length;
    }
  }

  /** Finish: close the file, or return the bytes of an in-memory capture. */
  async close(): Promise<Uint8Array> {
    await this.#flush();
    if (this.#file) {
      this.#file.close();
      return new Uint8Array(0);
    }
    return concatBytes(this.#parts, this.#size);
  }
}
