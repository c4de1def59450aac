/**
 * The plain-RTP "WebRTC stack": JsSIP only talks to an `RTCPeerConnection`, so for RTP/AVP media pbxkit gives it
 * {@linkcode RtpPeerConnection}, a facade with the calls JsSIP makes (`createOffer`, `createAnswer`,
 * `setLocalDescription`, `setRemoteDescription`, `addTrack`, `getSenders`, ICE state events, `close`) whose SDP comes
 * from the attached media endpoint (`media_rtp.ts`): no ICE, no DTLS, `iceGatheringState` complete at once, and
 * `connected` when the first RTP packet arrives. {@linkcode rtpEngine} installs it as JsSIP's globals.
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { WebrtcEngine } from "./media.ts";

/** What the facade needs from the media endpoint. */
export interface RtpEndpoint {
  /** Our offer SDP. */
  offer(): Promise<string>;
  /** Throw when the other side's offer is unacceptable (JsSIP then answers the INVITE with 488). */
  checkOffer?(remoteOffer: string): void;
  /** Our answer to `remoteOffer`. */
  answer(remoteOffer: string): Promise<string>;
  /** Apply the other side's answer. */
  remoteAnswer(sdp: string): void;
  /** Stop media. */
  close(): void;
}

/** The `{type, sdp}` object JsSIP builds and reads. */
export class RtpSessionDescription {
  /** `offer` or `answer`. */
  readonly type: string;
  /** The SDP. */
  readonly sdp: string;
  /** A description. */
  constructor(init: { type: string; sdp: string }) {
    this.type = init.type;
    this.sdp = init.sdp;
  }
  /** Plain object form. */
  toJSON(): { type: string; sdp: string } {
    return { type: this.type, sdp: this.sdp };
  }
}

/** A minimal `MediaStream` (one fake audio track) for JsSIP's `mediaStream` option. */
export class RtpMediaStream {
  readonly #tracks: { kind: string; id: string; enabled: boolean; stop(): void }[];
  /** A stream with one audio track. */
  constructor() {
    this.#tracks = [{ kind: "audio", id: crypto.randomUUID(), enabled: true, stop() {} }];
  }
  /** The tracks. */
  getTracks(): { kind: string; id: string; enabled: boolean; stop(): void }[] {
    return this.#tracks;
  }
  /** The audio tracks. */
  getAudioTracks(): { kind: string; id: string; enabled: boolean; stop(): void }[] {
    return this.#tracks;
  }
  /** No video. */
  getVideoTracks(): never[] {
    return [];
  }
}

/** The RTCPeerConnection JsSIP drives when media is plain RTP. */
export class RtpPeerConnection extends EventTarget {
  /** Set by the media bridge in its `attach`. */
  endpoint?: RtpEndpoint;
  signalingState = "stable";
  iceGatheringState = "complete";
  iceConnectionState = "new";
  connectionState = "new";
  localDescription: RtpSessionDescription | null = null;
  remoteDescription: RtpSessionDescription | null = null;
  #senders: { track: unknown; dtmf: null }[] = [];

  /** JsSIP passes its pcConfig and constraints; nothing in them applies to plain RTP. */
  constructor(_config?: unknown, _constraints?: unknown) {
    super();
  }

  #ep(): RtpEndpoint {
    if (!this.endpoint) throw new PbxError("E_INTERNAL", "plain RTP peer connection used before media was attached");
    return this.endpoint;
  }

  /** Remember the track (JsSIP adds the local stream's tracks). */
  addTrack(track: unknown): { track: unknown; dtmf: null } {
    const s = { track, dtmf: null };
    this.#senders.push(s);
    return s;
  }
  /** Deprecated API some JsSIP paths probe. */
  addStream(): void {}
  /** The senders (no RTCDTMFSender: pbxkit sends RFC 4733 itself). */
  getSenders(): { track: unknown; dtmf: null }[] {
    return this.#senders;
  }
  /** No receivers are exposed. */
  getReceivers(): never[] {
    return [];
  }
  /** No transceivers are exposed. */
  getTransceivers(): never[] {
    return [];
  }
  /** Our offer. */
  async createOffer(): Promise<RtpSessionDescription> {
    return new RtpSessionDescription({ type: "offer", sdp: await this.#ep().offer() });
  }
  /** Our answer to the remote offer. */
  async createAnswer(): Promise<RtpSessionDescription> {
    if (!this.remoteDescription) throw new PbxError("E_STATE", "createAnswer before the remote offer");
    return new RtpSessionDescription({ type: "answer", sdp: await this.#ep().answer(this.remoteDescription.sdp) });
  }
  /** Store ours; gathering is complete at once (no ICE). */
  setLocalDescription(desc: { type: string; sdp: string }): Promise<void> {
    this.localDescription = new RtpSessionDescription(desc);
    this.signalingState = desc.type === "offer" ? "have-local-offer" : "stable";
    queueMicrotask(() => this.dispatchEvent(new Event("icegatheringstatechange")));
    return Promise.resolve();
  }
  /** Store theirs; an offer is checked (a refusal makes JsSIP reply 488), an answer starts media towards its c=/m=. */
  setRemoteDescription(desc: { type: string; sdp: string }): Promise<void> {
    try {
      if (desc.type === "offer") this.#ep().checkOffer?.(desc.sdp);
    } catch (err) {
      return Promise.reject(err);
    }
    this.remoteDescription = new RtpSessionDescription(desc);
    try {
      if (desc.type === "answer" || desc.type === "pranswer") this.#ep().remoteAnswer(desc.sdp);
    } catch (err) {
      return Promise.reject(err);
    }
    this.signalingState = desc.type === "offer" ? "have-remote-offer" : "stable";
    return Promise.resolve();
  }
  /** Called by the endpoint: the first RTP packet arrived (or media failed). */
  setMediaState(state: "connected" | "failed"): void {
    if (this.connectionState === state || this.connectionState === "closed") return;
    this.iceConnectionState = state;
    this.connectionState = state;
    this.dispatchEvent(new Event("iceconnectionstatechange"));
    this.dispatchEvent(new Event("connectionstatechange"));
  }
  /** Stop media. */
  close(): void {
    if (this.connectionState === "closed") return;
    this.endpoint?.close();
    this.signalingState = "closed";
    this.iceConnectionState = "closed";
    this.connectionState = "closed";
  }
}

/** The plain-RTP engine: its constructors become JsSIP's globals. */
export function rtpEngine(): WebrtcEngine {
  return {
    name: "rtp",
    RTCPeerConnection: RtpPeerConnection,
    RTCSessionDescription: RtpSessionDescription,
    MediaStream: RtpMediaStream,
    module: {},
  };
}
