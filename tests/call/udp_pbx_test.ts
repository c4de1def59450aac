/**
 * `pbxkit call` over SIP/UDP with plain RTP against real peers: kamailio (registrar/proxy, UDP) + rtpengine
 * (RTP/AVP) + baresip over UDP in test namespaces. Tones are checked both ways by frequency, RFC 4733 DTMF by what
 * baresip reports receiving.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { testWith, waitFor } from "../_util/mod.ts";
import { DOMAIN, Pbx, PBX_TOOLS, proxyCallArgv, proxyListenArgv, toneArgv } from "./_pbx.ts";
import { answeredCall, assertHeard, assertListenHeard, baresipHeard, exitOf, show, toneOf } from "./_heard.ts";

testWith("call over SIP/UDP + plain RTP: kamailio + rtpengine + baresip", {
  tools: [...PBX_TOOLS, "baresip"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start();
  const proxy = `${pbx.ip}:${pbx.sipPort}`;
  try {
    await t.step(
      "pbxkit --transport udp calls baresip: 1000 Hz out, 440 Hz back, RFC 4733 digits decoded by baresip",
      async () => {
        const { proc: phone, recDir } = await pbx.baresipRegistered({ user: "phone", autoAnswer: true, toneHz: 440 });
        const rec = `${pbx.dir}/udp-heard.wav`;
        const p = pbx.pbxkit([
          ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy, user: "alice" }),
          ...toneArgv(1000, "4s", rec),
          "--dtmf",
          "12#",
          "--rtp-ports",
          "20000-20099",
          "--json",
        ]);
        const sum = await answeredCall(p);
        assertStringIncludes(p.stdout, `"connected","detail":"udp://${pbx.ip}:5060"`);
        for (const ev of ["registered", "calling", "trying", "ringing", "answered", "media", "dtmf", "ended"]) {
          assertStringIncludes(p.stdout, `"event":"${ev}"`, `missing ${ev}${show(p)}`);
        }
        assertStringIncludes(p.stdout, "12# (RFC 4733)");
        assertEquals(sum.exitStatus, 0);
        assertMatch(sum.codec, /^PCM[UA]\/8000$/);
        assertHeard(await toneOf(rec), 440, "pbxkit");
        const b = assertHeard(await baresipHeard(recDir), 1000, "baresip");
        assert(Math.abs(b.levelDbfs - -12) < 3, `baresip heard ${b.levelDbfs} dBFS, pbxkit sent -12`);
        // the RFC 4733 digits as baresip decoded them (start and end of each event)
        await waitFor(() => phone.stdout.includes("received event: '#' (end=1)"), {
          timeoutMs: 5000,
          what: `RFC 4733 at baresip${show(phone)}`,
        });
        for (const d of ["1", "2", "#"]) {
          assertStringIncludes(phone.stdout, `received event: '${d}' (end=0)`);
          assertStringIncludes(phone.stdout, `received event: '${d}' (end=1)`);
        }
        // every packet arrived once: baresip's jitter buffer drops a repeated sequence number (EALREADY)
        assert(!/dropping \d+ bytes.*already in progress/.test(phone.stdout), `duplicate RTP at baresip${show(phone)}`);
        await phone.stop();
      },
    );

    await t.step("baresip calls pbxkit --listen over UDP: 500 Hz heard, 800 Hz sent back", async () => {
      const rec = `${pbx.dir}/udp-listen.wav`;
      const { listener: l, caller, recDir } = await pbx.baresipCallsListener([
        ...proxyListenArgv("bob", { proxy }),
        ...toneArgv(800, "4s", rec),
      ], { toneHz: 500 });
      assertEquals(await exitOf(l), 0, show(l));
      assertMatch(l.stdout, /#1 incoming sip:phone2@pbx\.test/);
      assertMatch(l.stdout, /answered, 4\.\d s/);
      await assertListenHeard(rec, recDir, { heardHz: 500, sentHz: 800 });
      await caller.stop();
    });
  } finally {
    await pbx.close();
  }
});
