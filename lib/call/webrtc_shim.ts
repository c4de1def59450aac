/**
 * Give JsSIP the browser globals it expects (`window`, `RTCPeerConnection`, `RTCSessionDescription`,
 * `navigator.mediaDevices`, `MediaStream`) under Deno, backed by a WebRTC stack from npm: `@roamhq/wrtc` (native
 * libwebrtc, the default) or `werift` (pure TypeScript, `--webrtc werift`).
 *
 * Install the shim BEFORE importing JsSIP's session code; {@linkcode installWebrtc} returns the engine so the audio
 * layer can reach its non-standard parts (wrtc's `RTCAudioSource`/`RTCAudioSink`, werift's RTP tracks).
 *
 * @module
 */

import { PbxError } from "../common/mod.ts";
import type { WebrtcEngine, WebrtcEngineName } from "./media.ts";

export type { WebrtcEngine, WebrtcEngineName } from "./media.ts";

/**
 * The stack to run when the user did not name one: `wrtc` (native, fastest to connect), except that RFC 4733 DTMF
 * needs an `RTCDTMFSender`, which the shipped `@roamhq/wrtc` build lacks, so `--dtmf-mode rfc4733` picks `werift`.
 */
export function chooseWebrtc(requested: WebrtcEngineName | undefined, dtmfMode: string): WebrtcEngineName {
  if (requested) return requested;
  return dtmfMode === "rfc4733" ? "werift" : "wrtc";
}

let installed: WebrtcEngine | undefined;

/** Load a WebRTC stack and install the browser globals JsSIP reads. Idempotent for the same engine. */
export async function installWebrtc(name: WebrtcEngineName = "wrtc"): Promise<WebrtcEngine> {
  if (installed) {
    if (installed.name !== name) {
      throw new PbxError(
        "E_STATE",
        `WebRTC stack '${installed.name}' is already installed; cannot switch to '${name}'`,
      );
    }
    return installed;
  }
  const engine = name === "wrtc"
    ? await loadWrtc()
    : name === "rtp"
    ? (await import("./rtp_pc.ts")).rtpEngine()
    : await loadWerift();
  const g = globalThis as Record<string, unknown>;
  if (g.window === undefined) g.window = globalThis;
  g.RTCPeerConnection = engine.RTCPeerConnection;
  g.RTCSessionDescription = engine.RTCSessionDescription;
  if (g.MediaStream === undefined) g.MediaStream = engine.MediaStream;
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  if (nav.mediaDevices === undefined) {
    // pbxkit always hands JsSIP a ready MediaStream; a getUserMedia request means a bug, so fail loudly.
    Object.defineProperty(nav, "mediaDevices", {
      value: {
        getUserMedia: () =>
          Promise.reject(new PbxError("E_INTERNAL", "getUserMedia is not available: pbxkit supplies its own audio")),
        enumerateDevices: () => Promise.resolve([]),
      },
      configurable: true,
    });
  }
  installed = engine;
  return engine;
}

async function loadWrtc(): Promise<WebrtcEngine> {
  let mod: Record<string, unknown>;
  try {
    const m = await import("@roamhq/wrtc");
    mod = (m.default ?? m) as unknown as Record<string, unknown>;
  } catch (err) {
    throw new PbxError(
      "E_UNSUPPORTED",
      `cannot load the native WebRTC stack @roamhq/wrtc (${(err as Error).message}); try --webrtc werift`,
      { cause: err },
    );
  }
  return {
    name: "wrtc",
    RTCPeerConnection: mod.RTCPeerConnection,
    RTCSessionDescription: mod.RTCSessionDescription,
    MediaStream: mod.MediaStream,
    module: mod,
  };
}

async function loadWerift(): Promise<WebrtcEngine> {
  const { weriftEngine } = await import("./werift_adapter.ts");
  return weriftEngine();
}
