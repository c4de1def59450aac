/**
 * JsSIP on werift (pure TypeScript WebRTC, `--webrtc werift`). werift differs from a browser in ways JsSIP trips on,
 * so this adapter:
 * - wraps `RTCPeerConnection` with pbxkit's settings: G.711 (PCMU/PCMA) plus telephone-event only (werift has no
 *   audio encoder, pbxkit encodes G.711 itself), IPv4 host candidates including loopback, no TCP candidates;
 * - repairs remote SDP werift rejects: `a=rtcp:PORT` without an address gets the `c=` address added;
 * - provides its own `RTCSessionDescription` (werift's is not the plain `{type, sdp}` JsSIP builds);
 * - (the audio itself, G.711 RTP through werift's tracks, is in `media_werift.ts`);
 * - patches two werift behaviours (once, on its prototypes): no fallback to a public STUN server, and DTLS packets
 *   that arrive before werift's DTLS transport starts are kept and replayed instead of dropped (saves a ~1 s
 *   retransmit per call);
 * - per peer connection, latches on to the remote's SSRC when its SDP announced none, and accepts an RTP echo of our
 *   own stream (see {@linkcode latchRemoteSsrc}).
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { WebrtcEngine } from "./media.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const TE_PT = 101;

/** Fix SDP constructs werift cannot parse; pure, exported for tests. */
export function fixSdpForWerift(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  let sessionAddr = "0.0.0.0";
  let mediaAddr: string | undefined;
  const out: string[] = [];
  for (const line of lines) {
    const c = /^c=IN (IP[46]) (\S+)/.exec(line);
    if (c) {
      if (mediaAddr === undefined && !out.some((l) => l.startsWith("m="))) sessionAddr = c[2];
      else mediaAddr = c[2];
    }
    if (line.startsWith("m=")) mediaAddr = undefined;
    const r = /^a=rtcp:(\d+)\s*$/.exec(line);
    if (r) {
      const addr = mediaAddr ?? sessionAddr;
      out.push(`a=rtcp:${r[1]} IN ${addr.includes(":") ? "IP6" : "IP4"} ${addr}`);
      continue;
    }
    out.push(line);
  }
  return out.join("\r\n");
}

/**
 * werift routes incoming RTP by the SSRCs the remote SDP announced (`a=ssrc`) and drops every other packet. A far end
 * that announces none (rtpengine answering for a plain-RTP peer such as sipp or a desk phone) is then never heard,
 * and an RTP echo of our own stream (sipp `-rtp_echo`, an echo line that keeps the SSRC) is worse: its SSRC is ours,
 * which werift's router maps to our *sender*. Every packet reaching the router came in over the DTLS-SRTP transport,
 * i.e. from the remote; so when the connection has exactly one receiving audio transceiver, such packets go to its
 * receiver: the first SSRC it sees becomes the remote track's (so `getStats()` reports its inbound-rtp: packets,
 * loss, jitter), further ones feed the same track. An unknown SSRC is registered with the router (later packets take
 * werift's own path); our own SSRC is not (the router keeps routing RTCP reports about it to the sender).
 */
export function latchRemoteSsrc(pc: unknown): void {
  const p = pc as Any;
  const router = p?.router;
  if (!router || typeof router.routeRtp !== "function" || router.__pbxkitLatch) return;
  router.__pbxkitLatch = true;
  const route = router.routeRtp;
  router.routeRtp = (packet: Any) => {
    const ssrc = packet?.header?.ssrc;
    const owner = router.ssrcTable?.[ssrc];
    if (ssrc === undefined || owner?.type === "receiver") return route(packet);
    const receivers = (p.getTransceivers?.() ?? []).filter((t: Any) =>
      t.kind === "audio" && !t.stopped && ["sendrecv", "recvonly"].includes(t.currentDirection ?? t.direction)
    );
    if (receivers.length !== 1) return route(packet);
    const rx = receivers[0].receiver;
    if (!rx.trackBySSRC[ssrc]) {
      const track = rx.track; // what the "track" event handed out: the receiver's default track without an SSRC
      if (track.ssrc === undefined) {
        track.ssrc = ssrc;
        rx.addTrack(track);
      }
      rx.trackBySSRC[ssrc] = track;
      if (!owner) router.registerRtpReceiver(rx, ssrc);
    }
    rx.handleRtpBySsrc(packet, {}); // no header extensions are negotiated (headerExtensions.audio is empty)
  };
}

/** Load werift and build the constructors JsSIP will use. */
export async function weriftEngine(): Promise<WebrtcEngine> {
  let w: Any;
  try {
    w = await import("werift");
  } catch (err) {
    throw new PbxError("E_UNSUPPORTED", `cannot load werift: ${(err as Error).message}`, { cause: err });
  }

  // werift's ICE falls back to a public STUN server (stun.l.google.com) when none is configured. pbxkit must not
  // talk to anyone but the PBX unasked: without a configured STUN server, gather host candidates only.
  const Conn = w.Connection as Any;
  if (Conn?.prototype?.applyStunTurnServersFromOptions && !Conn.prototype.__pbxkitNoDefaultStun) {
    const orig = Conn.prototype.applyStunTurnServersFromOptions;
    Conn.prototype.applyStunTurnServersFromOptions = function (this: Any) {
      orig.call(this);
      if (!this.options?.stunServer) this.stunServer = undefined;
    };
    Conn.prototype.__pbxkitNoDefaultStun = true;
  }

  // werift starts its DTLS server only once its own ICE reports "connected"; the peer (rtpengine, a browser) may send
  // its ClientHello a moment earlier, when ITS side of ICE succeeded. werift drops that packet and the handshake waits
  // for the peer's 1 s retransmit. Keep DTLS packets that arrive before the DTLS transport starts and hand them to it.
  const Dtls = w.RTCDtlsTransport as Any;
  if (Conn?.prototype?.connect && Dtls?.prototype?.start && !Dtls.prototype.__pbxkitEarlyDtls) {
    const keepEarly = (conn: Any) => {
      if (conn.__pbxkitEarly || !conn.onData?.subscribe) return;
      const early: Uint8Array[] = conn.__pbxkitEarly = [];
      const { unSubscribe } = conn.onData.subscribe((buf: Uint8Array) => {
        if (conn.__pbxkitDtlsStarted) return unSubscribe?.();
        // DTLS records start with a content type byte 20..63 (RFC 7983); keep a few, bounded
        if (buf.length && buf[0] >= 20 && buf[0] <= 63 && early.length < 8) early.push(buf);
      });
    };
    for (const method of ["gatherCandidates", "connect"]) {
      const orig = Conn.prototype[method];
      if (typeof orig !== "function") continue;
      Conn.prototype[method] = function (this: Any, ...args: unknown[]) {
        keepEarly(this);
        return orig.apply(this, args);
      };
    }
    const origStart = Dtls.prototype.start;
    Dtls.prototype.start = function (this: Any, ...args: unknown[]) {
      const conn = this.iceTransport?.connection;
      const result = origStart.apply(this, args);
      if (conn) {
        conn.__pbxkitDtlsStarted = true;
        const early: Uint8Array[] = conn.__pbxkitEarly ?? [];
        const socket = this.dtls?.transport?.socket;
        if (early.length && typeof socket?.onData === "function") {
          const pending = early.splice(0);
          queueMicrotask(() => {
            for (const b of pending) socket.onData(b);
          });
        }
      }
      return result;
    };
    Dtls.prototype.__pbxkitEarlyDtls = true;
  }

  class SessionDescription {
    type: string;
    sdp: string;
    constructor(init: { type: string; sdp: string }) {
      this.type = init.type;
      this.sdp = init.sdp;
    }
    toJSON() {
      return { type: this.type, sdp: this.sdp };
    }
  }

  class PeerConnection extends w.RTCPeerConnection {
    constructor(_config?: unknown) {
      super({
        iceServers: [],
        codecs: {
          audio: [
            w.usePCMU(),
            w.usePCMA(),
            new w.RTCRtpCodecParameters({ mimeType: "audio/telephone-event", clockRate: 8000, payloadType: TE_PT }),
          ],
        },
        headerExtensions: { audio: [] },
        iceUseIpv6: false,
        iceUseTcp: false,
        iceTcpPassive: false,
        iceAdditionalHostAddresses: ["127.0.0.1"],
      });
      latchRemoteSsrc(this);
    }
    setRemoteDescription(desc: { type: string; sdp: string }) {
      return super.setRemoteDescription({ type: desc.type, sdp: fixSdpForWerift(desc.sdp) });
    }
  }

  class SimpleStream {
    readonly id = crypto.randomUUID();
    #tracks: Any[];
    constructor(tracks: Any[] = []) {
      this.#tracks = tracks;
    }
    getTracks() {
      return [...this.#tracks];
    }
    getAudioTracks() {
      return this.#tracks.filter((t) => t.kind === "audio");
    }
    getVideoTracks() {
      return this.#tracks.filter((t) => t.kind === "video");
    }
    removeTrack(t: Any) {
      this.#tracks = this.#tracks.filter((x) => x !== t);
    }
    addTrack(t: Any) {
      this.#tracks.push(t);
    }
  }

  return {
    name: "werift",
    RTCPeerConnection: PeerConnection,
    RTCSessionDescription: SessionDescription,
    MediaStream: SimpleStream,
    module: w,
  };
}
