/**
 * SDES-SRTP (RFC 4568 keys, RFC 3711 packets) for plain RTP media, sans I/O: {@linkcode newSdesKey} makes a fresh
 * 30-byte master key and salt with Web Crypto, {@linkcode pickCrypto} chooses the first `a=crypto` line of an offer
 * that pbxkit can use, {@linkcode acceptOffer}/{@linkcode acceptAnswer} apply `--srtp`, and
 * {@linkcode SrtpTransform} turns RTP and RTCP packets into SRTP and SRTCP and back. The cipher work (key
 * derivation, AES-CM keystream, HMAC-SHA1 tags, SRTCP index) is werift's `SrtpSession`/`SrtcpSession`; this module
 * frames keys and packets for them and adds what werift lacks: the RFC 3711 packet index estimate
 * ({@linkcode srtpIndex}) and a replay list ({@linkcode ReplayWindow}). What fails authentication or is replayed
 * is dropped and counted, never thrown to the socket handler. werift is loaded on first use ({@linkcode loadSrtp}),
 * so a CLI start without SRTP does not pay for it.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { SrtcpSession, SrtpSession } from "werift";
import { PbxError } from "../common/mod.ts";
import type { RemoteMedia, SdesCrypto } from "./rtp_sdp.ts";

/** The one crypto suite pbxkit offers and accepts. */
export const SDES_SUITE = "AES_CM_128_HMAC_SHA1_80";

/** `--srtp`: none (RTP/AVP only), or SDES-SRTP required (RTP/SAVP only), like baresip's `mediaenc=srtp-mand`. */
export type SrtpMode = "off" | "sdes";

const PLAIN = ["RTP/AVP", "RTP/AVPF"];

/**
 * Check the other side's offer against our mode, as the answerer: with `off` it must be RTP/AVP(F) (an RTP/SAVP
 * offer is declined: SRTP was not asked for), with `sdes` RTP/SAVP with a usable crypto line, which is returned.
 * Throws E_UNSUPPORTED with the reason (the INVITE then gets 488).
 */
export function acceptOffer(remote: RemoteMedia, mode: SrtpMode): SdesCrypto | undefined {
  return accept(remote, mode, "offers");
}

/**
 * Check the other side's answer to our offer: with `off` RTP/AVP(F), with `sdes` RTP/SAVP with a usable crypto line
 * answering our tag `ourTag`, which is returned. Throws E_UNSUPPORTED with the reason (the call is then media-failed).
 */
export function acceptAnswer(remote: RemoteMedia, mode: SrtpMode, ourTag = 1): SdesCrypto | undefined {
  return accept(remote, mode, "answers", ourTag);
}

function accept(remote: RemoteMedia, mode: SrtpMode, verb: string, tag?: number): SdesCrypto | undefined {
  if (mode === "off") {
    if (PLAIN.includes(remote.proto)) return undefined;
    const hint = remote.proto === "RTP/SAVP" ? " (SDES-SRTP: use --srtp sdes)" : "";
    throw new PbxError("E_UNSUPPORTED", `the other side ${verb} ${remote.proto} media${hint}; plain RTP is RTP/AVP`);
  }
  if (remote.proto !== "RTP/SAVP") {
    throw new PbxError(
      "E_UNSUPPORTED",
      `the other side ${verb} ${remote.proto} media; --srtp sdes requires RTP/SAVP with a=crypto`,
    );
  }
  const c = pickCrypto(tag === undefined ? remote.crypto : remote.crypto.filter((c) => c.tag === tag));
  if (!c) {
    const seen = remote.crypto.map((c) => `${c.tag} ${c.suite}${c.mki ? " with MKI" : ""}`).join(", ") || "none";
    throw new PbxError(
      "E_UNSUPPORTED",
      `the other side ${verb} no usable a=crypto${tag === undefined ? "" : ` for tag ${tag}`} (pbxkit has ` +
        `${SDES_SUITE} without MKI; seen: ${seen})`,
    );
  }
  return c;
}

/** Master key (16 bytes) and master salt (14 bytes) of one direction. */
export interface SrtpMasterKey {
  /** AES-128 master key. */
  key: Uint8Array;
  /** 112-bit master salt. */
  salt: Uint8Array;
}

const KEY_LEN = 16;
const SALT_LEN = 14;

/** A fresh master key and salt from the Web Crypto random source, as the base64 `inline:` value of `a=crypto`. */
export function newSdesKey(): string {
  const b = new Uint8Array(KEY_LEN + SALT_LEN);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b));
}

/** Split a base64 `inline:` value into master key and salt; throws E_PARSE unless it is exactly 30 bytes. */
export function decodeSdesKey(b64: string): SrtpMasterKey {
  let raw: string;
  try {
    raw = atob(b64);
  } catch {
    throw new PbxError("E_PARSE", `a=crypto key is not base64: ${b64.slice(0, 12)}...`);
  }
  if (raw.length !== KEY_LEN + SALT_LEN) {
    throw new PbxError("E_PARSE", `a=crypto key is ${raw.length} bytes, not ${KEY_LEN + SALT_LEN} (key + salt)`);
  }
  const b = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  return { key: b.slice(0, KEY_LEN), salt: b.slice(KEY_LEN) };
}

/**
 * The first offered crypto line pbxkit can use: suite {@linkcode SDES_SUITE}, a 30-byte key, no MKI and no session
 * parameters (UNENCRYPTED_SRTP, KDR, ... are not supported). Undefined when there is none.
 */
export function pickCrypto(offered: readonly SdesCrypto[]): SdesCrypto | undefined {
  return offered.find((c) => {
    if (c.suite !== SDES_SUITE || c.mki || c.sessionParams) return false;
    try {
      decodeSdesKey(c.keyB64);
      return true;
    } catch {
      return false;
    }
  });
}

type Werift = typeof import("werift");
let werift: Werift | undefined;

/** Load werift's SRTP (once); {@linkcode SrtpTransform} needs it loaded. */
export async function loadSrtp(): Promise<void> {
  werift ??= await import("werift");
}

/** Packet counts of one {@linkcode SrtpTransform}. */
export interface SrtpStats {
  /** RTP packets protected (sent). */
  protectedRtp: number;
  /** RTP packets that authenticated and were decrypted. */
  unprotectedRtp: number;
  /** RTP packets dropped: bad authentication tag, too short, not RTP. */
  rtpAuthFailures: number;
  /** RTP packets that authenticated but were dropped as replays (seen, or older than the 64-packet window). */
  rtpReplays: number;
  /** RTCP packets protected (sent). */
  protectedRtcp: number;
  /** SRTCP packets that authenticated and were decrypted. */
  unprotectedRtcp: number;
  /** SRTCP packets dropped: bad tag, too short. */
  rtcpAuthFailures: number;
  /** SRTCP packets that authenticated but were dropped as replays. */
  rtcpReplays: number;
}

const WINDOW = 64;
const WINDOW_MASK = (1n << BigInt(WINDOW)) - 1n;

/**
 * The RFC 3711 §3.3.2 replay list of one source: a sliding window over the last 64 packet indexes. Pure. Ask
 * {@linkcode ReplayWindow.fresh} before spending a decryption, {@linkcode ReplayWindow.mark} once the packet
 * authenticated (a forged packet never marks anything).
 */
export class ReplayWindow {
  #max = -1;
  /** Bit i set: index `max - i` was seen. */
  #seen = 0n;

  /** The highest index marked (-1 before the first). */
  get max(): number {
    return this.#max;
  }

  /** Whether `index` was not seen yet and is not 64 or more behind the highest one. */
  fresh(index: number): boolean {
    if (index < 0) return false;
    if (index > this.#max) return true;
    const age = this.#max - index;
    return age < WINDOW && (this.#seen & (1n << BigInt(age))) === 0n;
  }

  /** Remember `index` as received. */
  mark(index: number): void {
    if (index > this.#max) {
      const shift = this.#max < 0 ? WINDOW : index - this.#max;
      this.#seen = shift >= WINDOW ? 1n : ((this.#seen << BigInt(shift)) | 1n) & WINDOW_MASK;
      this.#max = index;
    } else if (this.#max - index < WINDOW) this.#seen |= 1n << BigInt(this.#max - index);
  }
}

/**
 * The 48-bit SRTP packet index of sequence number `seq` given the highest index received so far (-1: none), by
 * RFC 3711 §3.3.1 and Appendix A: the rollover counter guessed from how far `seq` is from the highest one.
 */
export function srtpIndex(seq: number, highest: number): number {
  if (highest < 0) return seq;
  const roc = Math.floor(highest / 0x10000), sl = highest % 0x10000;
  let v = roc;
  if (sl < 0x8000) {
    if (seq - sl > 0x8000) v = roc - 1;
  } else if (sl - 0x8000 > seq) v = roc + 1;
  return v * 0x10000 + seq;
}

/**
 * SRTP and SRTCP for one media stream with AES_CM_128_HMAC_SHA1_80: ours is the key we sent in our SDP, theirs the
 * one in their SDP. Each call takes one whole packet and returns a new one; `unprotect*` returns undefined (and
 * counts it) for a packet that does not authenticate.
 */
export class SrtpTransform {
  /** Counters. */
  readonly stats: SrtpStats = {
    protectedRtp: 0,
    unprotectedRtp: 0,
    rtpAuthFailures: 0,
    protectedRtcp: 0,
    unprotectedRtcp: 0,
    rtcpAuthFailures: 0,
    rtpReplays: 0,
    rtcpReplays: 0,
  };
  readonly #srtp: SrtpSession;
  readonly #srtcp: SrtcpSession;
  readonly #w: Werift;
  readonly #rtpSeen = new Map<number, ReplayWindow>();
  readonly #rtcpSeen = new Map<number, ReplayWindow>();

  /** A transform with our (`local`) and their (`remote`) master keys; {@linkcode loadSrtp} must have run. */
  constructor(local: SrtpMasterKey, remote: SrtpMasterKey) {
    if (!werift) throw new PbxError("E_INTERNAL", "SrtpTransform used before loadSrtp()");
    const w = this.#w = werift;
    const config = {
      keys: {
        localMasterKey: Buffer.from(local.key),
        localMasterSalt: Buffer.from(local.salt),
        remoteMasterKey: Buffer.from(remote.key),
        remoteMasterSalt: Buffer.from(remote.salt),
      },
      profile: w.ProtectionProfileAes128CmHmacSha1_80,
    };
    this.#srtp = new w.SrtpSession(config);
    this.#srtcp = new w.SrtcpSession(config);
  }

  /** SRTP of an RTP packet (header in clear, payload encrypted, 10-byte tag appended). */
  protectRtp(packet: Uint8Array): Uint8Array {
    const buf = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    const header = this.#w.RtpHeader.deSerialize(buf);
    const out = this.#srtp.encrypt(buf.subarray(header.payloadOffset), header);
    this.stats.protectedRtp++;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The RTP packet inside an SRTP one, or undefined (counted) when it fails authentication or is a replay. */
  unprotectRtp(packet: Uint8Array): Uint8Array | undefined {
    if (packet.length < 12 + 10) {
      this.stats.rtpAuthFailures++;
      return undefined;
    }
    const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const ssrc = v.getUint32(8), seq = v.getUint16(2);
    const win = seen(this.#rtpSeen, ssrc);
    const index = srtpIndex(seq, win.max);
    if (!win.fresh(index)) {
      // a replay, or too late for the window (or before the first packet's rollover): not worth decrypting
      if (index < 0) this.stats.rtpAuthFailures++;
      else this.stats.rtpReplays++;
      return undefined;
    }
    // decrypt with our estimate of the rollover counter: werift's own guess (which a late or replayed packet could
    // throw off) is replaced by the RFC 3711 one for each packet
    this.#srtp.remoteContext.srtpSSRCStates[ssrc] = {
      ssrc,
      rolloverCounter: Math.floor(index / 0x10000),
      lastSequenceNumber: seq,
      rolloverHasProcessed: false,
    };
    let out: Buffer;
    try {
      out = this.#srtp.decrypt(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    } catch {
      this.stats.rtpAuthFailures++;
      return undefined;
    }
    win.mark(index);
    this.stats.unprotectedRtp++;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** SRTCP of a compound RTCP packet (encrypted after the first 8 bytes, E flag + index, 10-byte tag). */
  protectRtcp(packet: Uint8Array): Uint8Array {
    const out = this.#srtcp.encrypt(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    this.stats.protectedRtcp++;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The RTCP packet inside an SRTCP one, or undefined (counted) when it fails authentication or is a replay. */
  unprotectRtcp(packet: Uint8Array): Uint8Array | undefined {
    const buf = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    if (buf.length < 8 + 4 + 10) {
      this.stats.rtcpAuthFailures++;
      return undefined;
    }
    // the E flag + 31-bit SRTCP index before the 10-byte tag (trusted only once the packet authenticates)
    const index = buf.readUInt32BE(buf.length - 14) & 0x7fffffff;
    const win = seen(this.#rtcpSeen, buf.readUInt32BE(4));
    if (!win.fresh(index)) {
      this.stats.rtcpReplays++;
      return undefined;
    }
    let out: Buffer;
    try {
      out = this.#srtcp.decrypt(buf);
    } catch {
      this.stats.rtcpAuthFailures++;
      return undefined;
    }
    win.mark(index);
    this.stats.unprotectedRtcp++;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}

function seen(m: Map<number, ReplayWindow>, ssrc: number): ReplayWindow {
  let w = m.get(ssrc);
  if (!w) m.set(ssrc, w = new ReplayWindow());
  return w;
}
