/**
 * `pbxkit call`: place or answer real SIP calls over WebSocket with JsSIP, with real audio. Options and printing
 * only; the logic is in `lib/call/`.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import { collect, parseDuration, parseIntIn, parseList, usageError } from "../lib/common/mod.ts";
import {
  chooseWebrtc,
  type DtmfMode,
  exitStatusHelp,
  outcomeError,
  runCall,
  type SipTransport,
  type WebrtcEngineName,
} from "../lib/call/mod.ts";
import { parseRtpPorts } from "../lib/call/media_rtp.ts";
import { DTMF_PATTERN } from "../lib/call/audio.ts";
import { parseFailIf, readUsers, runLoad } from "../lib/call/load/mod.ts";

const KNOWN_CODECS = ["opus", "pcmu", "pcma", "g722", "isac", "ilbc", "g729", "telephone-event"];

function parseCodecs(text: string): string[] {
  const list = parseList(text.toLowerCase());
  if (!list.length) throw usageError("--codecs: give at least one codec, e.g. pcmu,pcma");
  for (const c of list) {
    if (!KNOWN_CODECS.includes(c)) {
      throw usageError(`--codecs: unknown codec '${c}' (known: ${KNOWN_CODECS.join(", ")})`);
    }
  }
  return list;
}

/** Build the `call` subcommand. */
export function callCommand(): Command {
  const cmd = newCommand("call", {
    summary: "Place and auto-answer SIP calls (UDP, TCP, TLS, WebSocket) with JsSIP, with real audio",
    description: "Register to a PBX (JsSIP, digest auth), place a call or answer incoming ones, send\n" +
      "a WAV file or a tone, record what is heard to WAV, send DTMF, and exit with a status that says how the call\n" +
      `ended: ${exitStatusHelp()}.\n` +
      "SIP over UDP/TCP/TLS (--transport, --proxy; RFC 3263 DNS) carries plain RTP (PCMU/PCMA, RFC 4733 DTMF),\n" +
      "or SDES-SRTP with --srtp sdes (RTP/SAVP, a=crypto AES_CM_128_HMAC_SHA1_80; keys in the SDP: use tls).\n" +
      "Over --ws media is WebRTC (ICE + DTLS-SRTP) through @roamhq/wrtc, or werift with --webrtc werift.\n" +
      "wss:// or --transport tls with a self-signed certificate needs --ca FILE or --insecure. Reference: docs/call.md",
    examples: [
      "pbxkit call sip:100@pbx.lan --proxy pbx.lan --user 200 --password secret --tone 440 --duration 10s",
      "pbxkit call sip:100@pbx.lan --transport tls --proxy pbx.lan --user 200 --password secret --srtp sdes --tone 440",
      "pbxkit call sip:100@pbx.example --ws wss://pbx.example/ws --user 200 --password secret --tone 440 --duration 10s",
      "pbxkit call 100 --ws ws://pbx.lan:8088/ws --user 200@pbx.lan --password s3 --play hello.wav --record heard.wav",
      "pbxkit call sip:ivr@pbx.lan --ws ws://pbx.lan:8088/ws --user 200 --password s3 --dtmf 1234# --duration 8s",
      "pbxkit call --listen --auto-answer --ws wss://pbx.example/ws --ca pbx.pem --user 300@pbx.example --password s " +
      "--play greeting.wav --record 'msg-{n}-{from}.wav'",
      "pbxkit call sip:echo@pbx.lan --ws ws://pbx.lan:8088/ws --user 200 --password s3 --load 50 --rate 5 --hold 30s " +
      "--tone 440 --report load.html --fail-if 'loss_pct.p50>1,mos.min<3.5,failed>0'",
    ],
  })
    .argument("[target]", "whom to call: sip:EXT@DOMAIN, EXT@DOMAIN or EXT")
    .option("--ws <url>", "PBX WebSocket URL (ws:// or wss://); without it SIP goes over --transport udp")
    .option("--transport <t>", "SIP transport: udp, tcp, tls, ws or wss (default: ws/wss with --ws, else udp)")
    .option("--proxy <host[:port]>", "outbound proxy/registrar for udp/tcp/tls (default: the target's host, DNS SRV)")
    .option("--local-port <port>", "our SIP port for udp/tcp/tls (default: any free one)")
    .option("--rtp-ports <min-max>", "UDP port range for plain RTP media (udp/tcp/tls)", "10000-20000")
    .option(
      "--srtp <mode>",
      "sdes: require SDES-SRTP on plain RTP media (RTP/SAVP, a=crypto AES_CM_128_HMAC_SHA1_80); default: RTP/AVP only",
    )
    .option("--user <user>", "our SIP user: NAME or NAME@DOMAIN")
    .option("--password <password>", "digest password (or set PBXKIT_SIP_PASSWORD)")
    .option("--auth-user <name>", "digest user name when it differs from --user")
    .option("--domain <domain>", "SIP domain when --user has none (default: the target's, else the --ws host)")
    .option("--display-name <name>", "display name shown to the other party")
    .option("--register", "register before calling or listening (the default)")
    .option("--no-register", "call without registering first")
    .option("--listen", "answer incoming calls until stopped (Ctrl-C) instead of calling")
    .option("--auto-answer [delay]", "with --listen: answer each call (after an optional delay, e.g. 2s)")
    .option("--reject <code>", "with --listen: refuse each call with this SIP status (486 busy, 603 decline)")
    .option("--max-calls <n>", "with --listen: stop after this many calls")
    .option("--play <file.wav>", "send this WAV file (any rate/bits/channels; resampled)")
    .option("--loop", "repeat --play until hang-up")
    .option("--tone <hz>", "send a sine tone of this frequency")
    .option("--echo", "send back what we hear (an echo test line, like Asterisk's Echo())")
    .option("--tone-level <dBFS>", "RMS level of --tone", "-12")
    .option("--record <file.wav>", "record what we hear (with --listen: {n} and {from} expand per call)")
    .option("--record-rate <hz>", "sample rate of --record", "16000")
    .option("--dtmf <digits>", "send these DTMF digits once media is up (0-9 A-D * # and , for a 2 s pause)")
    .option("--dtmf-mode <mode>", "auto | rfc4733 | info | inband", "auto")
    .option("--duration <time>", "hang up this long after the answer (default: when the far end does)")
    .option("--hangup-after-play", "hang up when --play has been played once")
    .option("--ring-timeout <time>", "give up (CANCEL) when not answered within this time", "60s")
    .option(
      "--media-timeout <time>",
      "hang up as media-failed (exit 9) when media is not up this long after the answer",
      "15s",
    )
    .option("--connect-timeout <time>", "time allowed for the WebSocket and the registration", "15s")
    .option("--codecs <list>", "audio codecs to use, in order of preference, e.g. pcma,pcmu or opus")
    .option("--header <header>", "extra SIP header on the INVITE, 'Name: value' (repeatable)", collect)
    .option(
      "--webrtc <stack>",
      "WebRTC stack: wrtc (native libwebrtc; the default) or werift (pure TypeScript; the default with --dtmf-mode rfc4733)",
    )
    .option("--ca <file>", "for wss:// and --transport tls: trust this PEM CA or self-signed certificate")
    .option("--insecure", "for wss:// and --transport tls: do not verify the server certificate (warns)")
    .option("--sip-trace", "print every SIP message sent and received (JsSIP's transport log) on stderr")
    .option("--json", "print events and the call summary as JSON lines (with --load: one result object)")
    .option("--load <n>", "load test: keep N calls up at once (see --rate, --hold, --duration)")
    .option("--rate <cps>", "with --load: new calls per second until N are up", "1")
    .option("--hold <time>", "with --load: hold each answered call this long", "30s")
    .option("--users <file>", "with --load: caller accounts, one 'user password [auth-user]' a line, used in turn")
    .option("--register-each", "with --users: register every account (else they call with digest auth only)")
    .option("--report <file.html>", "with --load: write an HTML report with SVG charts")
    .option(
      "--fail-if <list>",
      "with --load: exit 1 when a threshold breaks, e.g. 'loss_pct.p50>1,mos.min<3.5,failed>0'",
    )
    .action(async function (target, opts) {
      globalFlags(this);
      const listen = !!opts.listen;
      const transport = opts.transport ?? (opts.ws ? (/^wss:/i.test(opts.ws) ? "wss" : "ws") : "udp");
      if (!["udp", "tcp", "tls", "ws", "wss"].includes(transport)) {
        throw usageError(`--transport: udp, tcp, tls, ws or wss, not '${transport}'`);
      }
      const overWs = transport === "ws" || transport === "wss";
      if (overWs && !opts.ws) throw usageError(`--transport ${transport} needs --ws URL (the PBX's WebSocket)`);
      if (!overWs && opts.ws) throw usageError(`--ws goes with --transport ws or wss, not ${transport}`);
      if (overWs && (opts.proxy || opts.localPort)) {
        throw usageError("--proxy and --local-port go with udp, tcp or tls");
      }
      if (!overWs && opts.load !== undefined) throw usageError("--load runs over --ws for now");
      if (listen && target) throw usageError("give either a target to call or --listen, not both");
      if (!listen && !target) throw usageError("missing target (sip:EXT@DOMAIN), or use --listen");
      if (!listen && (opts.autoAnswer !== undefined || opts.reject || opts.maxCalls)) {
        throw usageError("--auto-answer, --reject and --max-calls go with --listen");
      }
      if ([opts.play, opts.tone, opts.echo].filter((x) => x !== undefined).length > 1) {
        throw usageError("--play, --tone and --echo exclude each other");
      }
      for (const [flag, v] of [["--play", opts.play], ["--record", opts.record]] as const) {
        if (v !== undefined && !v.trim()) throw usageError(`${flag}: give a WAV file name`);
      }
      if ((opts.loop || opts.hangupAfterPlay) && opts.play === undefined) {
        throw usageError("--loop and --hangup-after-play go with --play FILE");
      }
      if (opts.reject && opts.autoAnswer !== undefined) {
        throw usageError("--reject and --auto-answer exclude each other");
      }
      if (opts.webrtc !== undefined && opts.webrtc !== "wrtc" && opts.webrtc !== "werift") {
        throw usageError(`--webrtc: 'wrtc' or 'werift', not '${opts.webrtc}'`);
      }
      if (!overWs && opts.webrtc !== undefined) {
        throw usageError("--webrtc goes with ws/wss (udp/tcp/tls use plain RTP)");
      }
      const dtmfMode = opts.dtmfMode as DtmfMode;
      if (!["auto", "rfc4733", "info", "inband"].includes(dtmfMode)) {
        throw usageError(`--dtmf-mode: auto, rfc4733, info or inband, not '${opts.dtmfMode}'`);
      }
      const webrtc: WebrtcEngineName = overWs ? chooseWebrtc(opts.webrtc, dtmfMode) : "rtp";
      const rtpPorts = parseRtpPorts(opts.rtpPorts);
      if (opts.srtp !== undefined && opts.srtp !== "sdes") {
        throw usageError(`--srtp: 'sdes' (RTP/SAVP with a=crypto), not '${opts.srtp}'`);
      }
      if (overWs && opts.srtp !== undefined) {
        throw usageError("--srtp goes with udp, tcp or tls (WebRTC media over ws/wss is always DTLS-SRTP)");
      }
      if (!overWs && opts.codecs !== undefined) {
        for (const c of parseCodecs(opts.codecs)) {
          if (c !== "opus" && c !== "pcmu" && c !== "pcma" && c !== "telephone-event") {
            throw usageError(`--codecs: plain RTP media has opus, pcmu and pcma, not ${c}`);
          }
        }
      }
      if (opts.dtmf !== undefined && !DTMF_PATTERN.test(opts.dtmf)) {
        throw usageError(`--dtmf: '${opts.dtmf}' has characters other than 0-9 A-D * # ,`);
      }
      const tone = opts.tone === undefined ? undefined : Number(opts.tone);
      if (tone !== undefined && !(tone >= 20 && tone <= 20000)) throw usageError("--tone: a frequency 20..20000 Hz");
      const toneDbfs = Number(opts.toneLevel);
      if (!(toneDbfs <= 0 && toneDbfs >= -90)) throw usageError("--tone-level: dBFS between -90 and 0");
      for (const h of opts.header ?? []) {
        if (!/^[A-Za-z0-9-]+:\s*\S/.test(h) || /[\r\n]/.test(h)) {
          throw usageError(`--header: '${h}' is not 'Name: value'`);
        }
      }
      const password = opts.password ?? Deno.env.get("PBXKIT_SIP_PASSWORD");
      const loadOnly = { "--users": opts.users, "--register-each": opts.registerEach, "--report": opts.report };
      if (opts.load === undefined) {
        for (const [flag, v] of Object.entries({ ...loadOnly, "--fail-if": opts.failIf })) {
          if (v !== undefined) throw usageError(`${flag} goes with --load N`);
        }
      } else if (listen || opts.record !== undefined || opts.dtmf !== undefined) {
        throw usageError("--load places calls: not with --listen, --record or --dtmf");
      }
      if (opts.registerEach && !opts.users) throw usageError("--register-each goes with --users FILE");
      const autoAnswer = opts.autoAnswer !== undefined;
      const answerDelayMs = typeof opts.autoAnswer === "string" ? parseDuration(opts.autoAnswer, "--auto-answer") : 0;
      const settings = {
        target,
        listen,
        ws: opts.ws ?? "",
        transport: transport as SipTransport,
        proxy: opts.proxy,
        localPort: opts.localPort === undefined
          ? undefined
          : parseIntIn(opts.localPort, "--local-port", { min: 1, max: 65535 }),
        rtpPorts,
        srtp: opts.srtp === "sdes" ? "sdes" as const : undefined,
        user: opts.user,
        domain: opts.domain,
        password,
        authUser: opts.authUser,
        displayName: opts.displayName,
        register: opts.register !== false,
        audio: { play: opts.play, tone, toneDbfs, loop: !!opts.loop, echo: !!opts.echo },
        record: opts.record,
        recordRate: parseIntIn(opts.recordRate, "--record-rate", { min: 8000, max: 48000 }),
        dtmf: opts.dtmf,
        dtmfMode,
        durationMs: opts.duration === undefined ? undefined : parseDuration(opts.duration, "--duration"),
        hangupAfterPlay: !!opts.hangupAfterPlay,
        ringTimeoutMs: parseDuration(opts.ringTimeout, "--ring-timeout"),
        connectTimeoutMs: parseDuration(opts.connectTimeout, "--connect-timeout"),
        mediaTimeoutMs: parseDuration(opts.mediaTimeout, "--media-timeout"),
        autoAnswer,
        answerDelayMs,
        rejectStatus: opts.reject === undefined
          ? undefined
          : parseIntIn(opts.reject, "--reject", { min: 400, max: 699 }),
        maxCalls: opts.maxCalls === undefined
          ? undefined
          : parseIntIn(opts.maxCalls, "--max-calls", { min: 1, max: 1_000_000 }),
        webrtc,
        tls: { insecure: !!opts.insecure, ca: opts.ca },
        headers: opts.header ?? [],
        codecs: opts.codecs === undefined ? undefined : parseCodecs(opts.codecs),
        json: !!opts.json,
        sipTrace: !!opts.sipTrace,
      };
      if (opts.load !== undefined) {
        const rate = Number(opts.rate);
        if (!(rate > 0 && rate <= 1000)) throw usageError("--rate: calls per second, > 0 and <= 1000");
        const failIf = opts.failIf === undefined ? undefined : parseFailIf(opts.failIf);
        await runLoad({ ...settings, durationMs: undefined }, {
          load: parseIntIn(opts.load, "--load", { min: 1, max: 100_000 }),
          rate,
          holdMs: parseDuration(opts.hold, "--hold"),
          durationMs: settings.durationMs,
          accounts: opts.users === undefined ? undefined : await readUsers(opts.users),
          registerEach: !!opts.registerEach,
          report: opts.report,
          failIf,
        });
        return;
      }
      const status = await runCall(settings);
      const err = outcomeError(target ?? "listen", status);
      if (err) throw err;
    });
  return cmd as unknown as Command;
}
