/**
 * `pbxkit call` over SIP/UDP with plain RTP against linphonec (linphone-cli) as the far end, headless (its sound card
 * replaced by WAV files): registered to the test kamailio and called through it (rtpengine relaying RTP/AVP), and
 * called directly at its contact with no registrar at all. Tones are checked both ways by frequency: pbxkit's
 * recording holds the tone linphonec plays from a WAV, linphonec's recording holds pbxkit's tone.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { sh, testWith, waitFor } from "../_util/mod.ts";
import { DOMAIN, Pbx, PBX_TOOLS, proxyCallArgv, toneArgv } from "./_pbx.ts";
import { answeredCall, assertHeard, near, show, toneOf } from "./_heard.ts";

/** A WAV linphonec plays into the call: a `hz` sine, 8 kHz mono 16-bit, longer than any call here. */
async function toneWav(path: string, hz: number): Promise<string> {
  await sh(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", path, "synth", "30", "sine", String(hz), "vol", "0.5"]);
  return path;
}

/** What linphonec recorded, once it has closed the file with enough audio in it (bounded). */
async function linphonecHeard(path: string) {
  return await waitFor(async () => {
    const s = await toneOf(path).catch(() => undefined);
    return s && s.activeSeconds > 2.5 ? s : undefined;
  }, { timeoutMs: 10_000, what: `linphonec's recording ${path}` });
}

testWith("call over SIP/UDP + plain RTP: linphonec as the far end", {
  tools: [...PBX_TOOLS, "linphonec", "stdbuf", "sox"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start();
  try {
    await t.step("through kamailio: linphonec registered, auto-answers; 1000 Hz out, 660 Hz back", async () => {
      const record = `${pbx.dir}/linphonec-heard.wav`;
      const lp = await pbx.linphonecRegistered({
        user: "carol",
        play: await toneWav(`${pbx.dir}/lp-660.wav`, 660),
        record,
      });
      const rec = `${pbx.dir}/pbxkit-heard-lp.wav`;
      const p = pbx.pbxkit([
        ...proxyCallArgv(`sip:carol@${DOMAIN}`, { proxy: `${pbx.ip}:${pbx.sipPort}`, user: "alice" }),
        ...toneArgv(1000, "4s", rec),
        "--rtp-ports",
        "20100-20199",
        "--json",
      ]);
      const sum = await answeredCall(p);
      assertMatch(sum.codec, /^PCM[UA]\/8000$/);
      await waitFor(() => lp.stdout.includes("ended"), { timeoutMs: 10_000, what: `linphonec hang-up${show(lp)}` });
      assertMatch(lp.stdout, /Call \d+ with sip:alice@pbx\.test connected/);
      assertStringIncludes(lp.stdout, "Media streams established with sip:alice@pbx.test");
      assertHeard(await toneOf(rec), 660, "pbxkit");
      const l = await linphonecHeard(record);
      near(l.toneHz, 1000, "linphonec");
      assert(Math.abs(l.levelDbfs - -12) < 3, `linphonec heard ${l.levelDbfs} dBFS, pbxkit sent -12`);
      await lp.stop();
    });

    await t.step(
      "no registrar: pbxkit --no-register calls linphonec's contact directly; 1300 Hz out, 520 Hz back",
      async () => {
        const record = `${pbx.dir}/linphonec-direct.wav`;
        const lp = await pbx.linphonec({ user: "carol", play: await toneWav(`${pbx.dir}/lp-520.wav`, 520), record });
        const rec = `${pbx.dir}/pbxkit-heard-direct.wav`;
        const target = `sip:carol@${pbx.phoneIp}:5060`;
        const args = ["call", target, "--no-register", "--transport", "udp", "--user", "alice", "--domain", DOMAIN];
        const p = pbx.pbxkit([...args, "--tone", "1300", "--duration", "4s", "--record", rec, "--json"]);
        // linphonec may still be starting: the first INVITE can go unanswered (pbxkit retransmits over UDP)
        const sum = await answeredCall(p);
        assertEquals(sum.peer, target);
        assertStringIncludes(p.stdout, `"connected","detail":"udp://${pbx.phoneIp}:5060"`);
        assert(!p.stdout.includes(`"event":"registered"`), `registered despite --no-register${show(p)}`);
        await waitFor(() => lp.stdout.includes("ended"), { timeoutMs: 10_000, what: `linphonec hang-up${show(lp)}` });
        assertMatch(lp.stdout, /Call \d+ with sip:alice@pbx\.test connected/);
        assertHeard(await toneOf(rec), 520, "pbxkit");
        near((await linphonecHeard(record)).toneHz, 1300, "linphonec");
        await lp.stop();
      },
    );
  } finally {
    await pbx.close();
  }
});
