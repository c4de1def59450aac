/**
 * The one interface every media stack implements ({@linkcode MediaBridge}: wrtc in `media_wrtc.ts`, werift in
 * `media_werift.ts`, plain RTP in `media_rtp.ts`), and the description of a loaded WebRTC stack ({@linkcode WebrtcEngine}). Types only: the
 * stacks and the shim import this file, never each other.
 *
 * @module
 */

import type { AudioFeed, DtmfTiming, Recorder } from "./audio.ts";
import type { SrtpStats } from "./srtp.ts";

/** The media stacks pbxkit can run JsSIP on: two WebRTC stacks, and plain RTP (`rtp_pc.ts`, `media_rtp.ts`). */
export type WebrtcEngineName = "wrtc" | "werift" | "rtp";

/** What the rest of lib/call needs from a WebRTC stack. */
export interface WebrtcEngine {
  /** Which stack this is. */
  readonly name: WebrtcEngineName;
  /** The `RTCPeerConnection` constructor JsSIP will use. */
  readonly RTCPeerConnection: unknown;
  /** The `RTCSessionDescription` constructor JsSIP will use. */
  readonly RTCSessionDescription: unknown;
  /** The `MediaStream` constructor. */
  readonly MediaStream: unknown;
  /** The stack's module (wrtc's default export or werift's namespace), for the audio layer. */
  readonly module: Record<string, unknown>;
}

/** The media side of one call, whatever the WebRTC stack: JsSIP gets `stream`, and `attach` wires the pc. */
export interface MediaBridge {
  /** The local MediaStream to hand to JsSIP (`mediaStream` option). */
  readonly stream: unknown;
  /** The outgoing audio. */
  readonly feed: AudioFeed;
  /** The incoming audio. */
  readonly recorder: Recorder;
  /** Wire a new RTCPeerConnection (from JsSIP's `peerconnection` event). */
  attach(pc: unknown): void;
  /** SDES-SRTP packet counts, when the media is SRTP keyed in the SDP (plain RTP with `--srtp sdes`). */
  readonly srtpStats?: SrtpStats;
  /** Send RFC 4733 telephone-events, when the stack can; resolves false when it cannot. */
  sendRfc4733?(digits: string, timing: Required<DtmfTiming>): Promise<boolean>;
  /** Stop sending and receiving. */
  close(): void;
}
