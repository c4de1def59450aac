/**
 * Opus over plain RTP against a real peer: kamailio (registrar/proxy over UDP) + rtpengine (RTP/AVP, passing opus
 * through) + baresip with its opus module (libopus 1.3 from Debian, not the WebAssembly build pbxkit uses), in test
 * namespaces. Both directions of call negotiate opus (pbxkit's JSON summary and baresip's own log say so) and the
 * tones are checked both ways by frequency; DTMF falls back to SIP INFO (baresip has no telephone-event/48000); with
 * `--codecs pcmu,pcma` the same baresip gets G.711.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { testWith } from "../_util/mod.ts";
import { DOMAIN, Pbx, PBX_TOOLS, proxyCallArgv, proxyListenArgv, toneArgv } from "./_pbx.ts";
import {
  answeredCall,
  assertHeard,
  assertListenHeard,
  baresipHeard,
  exitOf,
  lastJson,
  near,
  show,
  toneOf,
} from "./_heard.ts";

/** baresip's `audio_codecs`: opus must be named with its rate and channels (bare `opus` means opus/8000/1). */
const OPUS_FIRST = "opus/48000/2,PCMU,PCMA";

/** What baresip says about the audio codec it encodes with (its `audio: Set audio encoder` debug line). */
function baresipEncoder(out: string): string | undefined {
  return /Set audio encoder: (\S+)/.exec(out)?.[1];
}

testWith("opus over SIP/UDP + plain RTP: kamailio + rtpengine + baresip (opus module)", {
  tools: [...PBX_TOOLS, "baresip"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start();
  const proxy = `${pbx.ip}:${pbx.sipPort}`;
  try {
    await t.step("pbxkit calls baresip: opus negotiated, 1000 Hz out, 440 Hz back", async () => {
      const { proc: phone, recDir } = await pbx.baresipRegistered({
        user: "phone",
        autoAnswer: true,
        toneHz: 440,
        codecs: OPUS_FIRST,
      });
      try {
        const rec = `${pbx.dir}/opus-heard.wav`;
        const p = pbx.pbxkit([
          ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy, user: "alice" }),
          ...toneArgv(1000, "4s", rec),
          "--rtp-ports",
          "20100-20199",
          "--dtmf",
          "12#",
          "--json",
        ]);
        const sum = await answeredCall(p);
        assertEquals(sum.codec, "opus/48000/2", show(p));
        // baresip answers telephone-event/8000 only, which cannot share opus' 48 kHz timestamps (RFC 4733 §2.1):
        // the digits go as SIP INFO instead of mis-clocked events
        assertStringIncludes(p.stdout, "12# (SIP INFO)", show(p));
        assertHeard(await toneOf(rec), 440, "pbxkit");
        const b = assertHeard(await baresipHeard(recDir), 1000, "baresip");
        // the level survives the codec (pbxkit sends -12 dBFS; opus is not bit-exact, so a wider margin than G.711's)
        assert(Math.abs(b.levelDbfs - -12) < 4, `baresip heard ${b.levelDbfs} dBFS, pbxkit sent -12`);
        assertMatch(baresipEncoder(phone.stdout + phone.stderr) ?? "", /^opus/i, `baresip's encoder${show(phone)}`);
      } finally {
        await phone.stop();
      }
    });

    await t.step("baresip calls pbxkit --listen: pbxkit answers opus, 500 Hz heard, 800 Hz sent back", async () => {
      const rec = `${pbx.dir}/opus-listen.wav`;
      const { listener: l, caller, recDir } = await pbx.baresipCallsListener([
        ...proxyListenArgv("bob", { proxy }),
        ...toneArgv(800, "4s", rec),
        "--rtp-ports",
        "20200-20299",
        "--json",
      ], { toneHz: 500, codecs: OPUS_FIRST });
      try {
        assertEquals(await exitOf(l), 0, show(l));
        assertStringIncludes(l.stdout, `"codec":"opus/48000/2"`, show(l));
        await assertListenHeard(rec, recDir, { heardHz: 500, sentHz: 800 });
        assertMatch(baresipEncoder(caller.stdout + caller.stderr) ?? "", /^opus/i, `baresip's encoder${show(caller)}`);
      } finally {
        await caller.stop();
        await l.stop();
      }
    });

    await t.step("--codecs pcmu,pcma: the same opus-capable baresip gets G.711", async () => {
      const { proc: phone, recDir } = await pbx.baresipRegistered({
        user: "phone",
        autoAnswer: true,
        toneHz: 600,
        codecs: OPUS_FIRST,
      });
      try {
        const p = pbx.pbxkit([
          ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy, user: "alice" }),
          ...toneArgv(1200, "3s"),
          "--codecs",
          "pcmu,pcma",
          "--rtp-ports",
          "20300-20399",
          "--json",
        ]);
        assertEquals(await exitOf(p), 0, show(p));
        assertEquals(lastJson(p).codec, "PCMU/8000", show(p));
        near((await baresipHeard(recDir)).toneHz, 1200, "baresip");
        assertMatch(baresipEncoder(phone.stdout + phone.stderr) ?? "", /^PCMU/i, `baresip's encoder${show(phone)}`);
      } finally {
        await phone.stop();
      }
    });
  } finally {
    await pbx.close();
  }
});
