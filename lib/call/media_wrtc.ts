/**
 * Media for the `@roamhq/wrtc` stack: outgoing frames go into a non-standard `RTCAudioSource` (10 ms of 48 kHz
 * 16-bit PCM per `onData`), incoming audio comes out of an `RTCAudioSink` on the remote track.
 *
 * @module
 */

import { AudioFeed, type AudioPlan, type DtmfTiming, Recorder } from "./audio.ts";
import type { MediaBridge, WebrtcEngine } from "./media.ts";
import { floatToInt16 } from "./wav.ts";
import { joinMediaClock, leaveMediaClock } from "./media_clock.ts";

const RATE = 48000;
const FRAME = RATE / 100;

// deno-lint-ignore no-explicit-any
type Any = any;

/** A {@linkcode MediaBridge} over wrtc's RTCAudioSource/RTCAudioSink. */
export class WrtcMedia implements MediaBridge {
  readonly stream: unknown;
  readonly feed: AudioFeed;
  readonly recorder: Recorder;
  #ns: Any;
  #source: Any;
  #track: Any;
  #sinks: Any[] = [];
  #tick?: () => void;
  #pc?: Any;
  /** Decode what is heard into the recorder (false: a load run, no audio sink at all). */
  #hear: boolean;

  /** Create the source track and start producing frames in real time (`hear` false: no sink on the remote track). */
  constructor(engine: WebrtcEngine, plan: AudioPlan, options: { maxRecordSeconds?: number; hear?: boolean } = {}) {
    this.#hear = options.hear !== false;
    const ns = this.#ns = (engine.module as Any).nonstandard;
    this.#source = new ns.RTCAudioSource();
    this.#track = this.#source.createTrack();
    const MS = engine.MediaStream as Any;
    this.stream = new MS([this.#track]);
    this.feed = new AudioFeed(plan, RATE);
    this.recorder = new Recorder({ maxSeconds: options.maxRecordSeconds });
    this.#start();
  }

  #start(): void {
    const f = new Float32Array(FRAME);
    const pcm = new Int16Array(FRAME);
    const t0 = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.floor((performance.now() - t0) / 10) + 1;
      // never burst more than 100 ms after a stall
      if (due - sent > 10) sent = due - 10;
      while (sent < due) {
        this.feed.next(f);
        floatToInt16(f, pcm);
        this.#source.onData({
          samples: pcm,
          sampleRate: RATE,
          bitsPerSample: 16,
          channelCount: 1,
          numberOfFrames: FRAME,
        });
        sent++;
      }
    };
    this.#tick = tick;
    joinMediaClock(10, tick);
  }

  /** Listen for the remote track on JsSIP's peer connection. */
  attach(pc: unknown): void {
    this.#pc = pc;
    (pc as Any).addEventListener("track", (ev: Any) => {
      if (ev.track?.kind !== "audio" || !this.#hear) return;
      this.#sink(ev.track);
    });
  }

  #sink(track: Any): void {
    const sink = new this.#ns.RTCAudioSink(track);
    sink.ondata = (d: Any) => {
      this.recorder.pushInt16(d.samples as Int16Array, d.sampleRate, { channels: d.channelCount ?? 1 });
    };
    this.#sinks.push(sink);
  }

  /** RFC 4733 through libwebrtc's RTCDTMFSender, when this build of wrtc exposes `sender.dtmf`. */
  sendRfc4733(digits: string, timing: Required<DtmfTiming>): Promise<boolean> {
    const { durationMs, gapMs } = timing;
    const sender = this.#pc?.getSenders?.().find((s: Any) => s.track?.kind === "audio");
    if (!sender?.dtmf) return Promise.resolve(false);
    sender.dtmf.insertDTMF(digits, durationMs, gapMs);
    return Promise.resolve(true);
  }

  /** Stop the frame clock, the sinks and the source track. */
  close(): void {
    if (this.#tick) leaveMediaClock(10, this.#tick);
    for (const s of this.#sinks) {
      try {
        s.stop();
      } catch { /* already stopped */ }
    }
    this.#sinks = [];
    try {
      this.#track.stop();
    } catch { /* already stopped */ }
  }
}
