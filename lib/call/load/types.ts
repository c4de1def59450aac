/**
 * Types of a load run: its options, one call's numbers, and the result `--json` prints.
 *
 * @module
 */

/** One caller account (from `--user`/`--password` or a line of `--users FILE`). */
export interface Account {
  /** SIP user (`alice` or `alice@pbx`). */
  user?: string;
  /** Digest password. */
  password?: string;
  /** Digest user name when it differs. */
  authUser?: string;
}

/** What `--load` adds to a call's settings. */
export interface LoadOptions {
  /** Calls kept up at once (N). */
  load: number;
  /** New calls per second (R). */
  rate: number;
  /** How long each call is held after the answer (ms). */
  holdMs: number;
  /** Run this long, replacing calls that end (ms); undefined: one round of N. */
  durationMs?: number;
  /** Callers to use round-robin (default: the `--user`). */
  accounts?: Account[];
  /** With `accounts`: register each one (else they call with digest auth only). */
  registerEach: boolean;
  /** Draw the progress line (default: when stderr is a terminal). */
  progress?: boolean;
}

/** One call's numbers (the `calls` entries of `--json`). */
export interface CallResult {
  /** 1-based call number in the run. */
  id: number;
  /** How it ended (`answered`, `busy`, `network-error`, `media-failed`, ...). */
  status: string;
  /** INVITE sent to 200 OK (ms). */
  setup_ms: number | null;
  /** INVITE sent to media connected (ICE + DTLS) (ms). */
  media_ms: number | null;
  /** Received packets lost (%). */
  loss_pct: number | null;
  /** Interarrival jitter (ms). */
  jitter_ms: number | null;
  /** RTCP round trip (ms), when the far end sends receiver reports. */
  rtt_ms: number | null;
  /** E-model MOS estimate. */
  mos: number | null;
  /** RTP packets received. */
  packets_received: number | null;
  /** RTP packets sent. */
  packets_sent: number | null;
  /** Seconds from the answer to the end. */
  held_s: number;
  /** Codec from the SDP answer. */
  codec: string | null;
  /** JsSIP's end cause. */
  cause: string;
  /** When it was started (s since the run began). */
  started_s: number;
  /** The generator sent too few packets for the call's length (its media was starved). */
  starved: boolean;
}

/** Calls up and started per second, sampled each second. */
export interface TimelinePoint {
  /** Seconds since the run began. */
  t: number;
  /** Calls answered and not ended. */
  up: number;
  /** Calls started and not ended. */
  active: number;
  /** Calls started in the last second. */
  cps: number;
}

/** p50/p95/p99 (null when no value). */
export interface Tail {
  /** Median. */
  p50: number | null;
  /** 95th percentile. */
  p95: number | null;
  /** 99th percentile. */
  p99: number | null;
}

/** The result of a load run, as `--json` prints it. */
export interface LoadResult {
  /** Calls started. */
  attempted: number;
  /** Calls answered with media. */
  answered: number;
  /** Calls not answered, or answered without media. */
  failed: number;
  /** INVITE to 200 OK over answered calls (ms). */
  setup_ms: Tail;
  /** INVITE to media connected over answered calls (ms). */
  media_ms: Tail;
  /** Media quality over answered calls. */
  media: {
    /** Loss (%). */
    loss_pct: { p50: number | null; max: number | null };
    /** Jitter (ms). */
    jitter_ms: { p50: number | null; max: number | null };
    /** MOS estimate. */
    mos: { p50: number | null; min: number | null };
  };
  /** The generator's own health and resource use. */
  generator: {
    /** WebRTC stack. */
    webrtc: string;
    /** Wall time of the run (s). */
    wall_s: number;
    /** CPU time (user + system) of the whole process (s). */
    cpu_s: number;
    /** Most calls in progress (started, not ended) at once. */
    peak_calls: number;
    /** Most calls answered and up at once. */
    peak_up: number;
    /** CPU ms per second of held call. */
    cpu_ms_per_call_second: number | null;
    /** Memory growth (RSS) per concurrent call at the peak (MiB). */
    memory_mib_per_call: number | null;
    /** How late the 20 ms scheduler timer fired. */
    timer_late_ms: { p50: number | null; p99: number | null; max: number | null };
    /** Most a call start was behind its due time (ms). */
    start_late_max_ms: number | null;
    /** Calls whose media the generator starved. */
    starved_calls: number;
    /** False when the generator fell behind (see warnings). */
    kept_up: boolean;
    /** Why it did not keep up. */
    warnings: string[];
  };
  /** What was asked. */
  options: { load: number; rate: number; hold_ms: number; duration_ms: number | null };
  /** Calls up and cps over time. */
  timeline: TimelinePoint[];
  /** Every call. */
  calls: CallResult[];
}
