/**
 * `pbxkit call` over SIP/TCP and SIP/TLS with plain RTP against real peers: kamailio listening on UDP, TCP (5060) and
 * TLS (5061, a throw-away self-signed certificate pbxkit trusts with `--ca`), rtpengine (RTP/AVP), and baresip
 * registered over UDP to the same kamailio. pbxkit calls baresip and baresip calls `pbxkit --listen` on each
 * transport; tones are checked both ways by frequency; kamailio's location table (`kamcmd ul.dump`) says which
 * transport and socket each registration came in on. Incoming calls reach `--listen` over the connection pbxkit
 * opened to register (pbxkit accepts no connections).
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { testWith, waitFor } from "../_util/mod.ts";
import { DOMAIN, Pbx, PBX_TOOLS, proxyCallArgv, proxyListenArgv, toneArgv } from "./_pbx.ts";
import {
  answeredCall,
  assertHeard,
  assertListenHeard,
  baresipHeard,
  exitOf,
  listenerRegistered,
  show,
  toneOf,
} from "./_heard.ts";

/** The contacts of `aor` in kamcmd ul.dump output: Address and Socket of each. */
function contactsOf(dump: string, aor: string): { address: string; socket: string }[] {
  const at = dump.indexOf(`AoR: ${aor}\n`);
  if (at < 0) return [];
  const next = dump.indexOf("AoR: ", at + 5);
  const block = dump.slice(at, next < 0 ? undefined : next);
  return [...block.matchAll(/Address: (\S+)[\s\S]*?Socket: (\S+)/g)].map((m) => ({ address: m[1], socket: m[2] }));
}

testWith("call over SIP/TCP and SIP/TLS + plain RTP: kamailio + rtpengine + baresip", {
  tools: [...PBX_TOOLS, "baresip", "kamcmd", "openssl"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ netTransports: true });
  const hops = { tcp: `${pbx.ip}:${pbx.sipPort}`, tls: `${pbx.ip}:${pbx.tlsPort}` } as const;
  const trust = (transport: "tcp" | "tls") => transport === "tls" ? ["--ca", pbx.tlsCert!] : [];
  try {
    for (const [transport, toneOut, toneBack] of [["tcp", 1000, 440], ["tls", 1200, 600]] as const) {
      await t.step(
        `pbxkit --transport ${transport} calls baresip (UDP): ${toneOut} Hz out, ${toneBack} Hz back`,
        async () => {
          const { proc: phone, recDir } = await pbx.baresipRegistered({
            user: "phone",
            autoAnswer: true,
            toneHz: toneBack,
          });
          const rec = `${pbx.dir}/${transport}-heard.wav`;
          const p = pbx.pbxkit([
            ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy: hops[transport], user: "alice" }),
            "--transport",
            transport,
            ...trust(transport),
            ...toneArgv(toneOut, "4s", rec),
            "--rtp-ports",
            "20000-20099",
            "--json",
            // the explicit flag registers (the default); without registering, the INVITE is authenticated alone
            transport === "tcp" ? "--register" : "--no-register",
          ]);
          // while the call is up, kamailio's location table has alice's contact over this transport, if registered
          await waitFor(() => p.stdout.includes(`"event":"answered"`), { timeoutMs: 30_000, what: `answer${show(p)}` });
          const alice = contactsOf(await pbx.kamcmd("ul.dump"), "alice");
          if (transport === "tcp") {
            assertEquals(alice.length, 1, `alice's contacts: ${JSON.stringify(alice)}`);
            assertMatch(
              alice[0].address,
              new RegExp(`^sip:alice@${pbx.ip.replaceAll(".", "\\.")}:\\d+;transport=tcp$`),
            );
            assertEquals(alice[0].socket, `tcp:${hops.tcp}`);
            assertStringIncludes(p.stdout, `"event":"registered"`);
          } else {
            assertEquals(alice, [], "--no-register registered");
            assert(!p.stdout.includes(`"event":"registered"`), show(p));
          }
          const sum = await answeredCall(p);
          assertStringIncludes(p.stdout, `"connected","detail":"${transport}://${hops[transport]}"`);
          assertMatch(sum.codec, /^PCM[UA]\/8000$/);
          assertHeard(await toneOf(rec), toneBack, `pbxkit over ${transport}`);
          assertHeard(await baresipHeard(recDir), toneOut, "baresip");
          await phone.stop();
        },
      );

      await t.step(
        `baresip (UDP) calls pbxkit --listen --transport ${transport}: over the registered connection`,
        async () => {
          const rec = `${pbx.dir}/${transport}-listen.wav`;
          const l = pbx.pbxkit([
            ...proxyListenArgv("bob", { proxy: hops[transport] }),
            "--transport",
            transport,
            ...trust(transport),
            ...toneArgv(toneBack, "4s", rec),
          ]);
          await listenerRegistered(l);
          const bob = contactsOf(await pbx.kamcmd("ul.dump"), "bob");
          assertEquals(bob.map((c) => c.socket), [`${transport}:${hops[transport]}`]);
          const { proc: caller, recDir } = await pbx.baresip({
            user: "phone2",
            toneHz: toneOut,
            dial: `sip:bob@${DOMAIN}`,
          });
          assertEquals(await exitOf(l), 0, show(l));
          assertMatch(l.stdout, /#1 incoming sip:phone2@pbx\.test/);
          assertMatch(l.stdout, /answered, 4\.\d s/);
          await assertListenHeard(rec, recDir, {
            heardHz: toneOut,
            sentHz: toneBack,
            who: `pbxkit --listen over ${transport}`,
          });
          await caller.stop();
        },
      );
    }

    await t.step("--transport tls without --ca: the self-signed certificate is refused, exit 7", async () => {
      const p = pbx.pbxkit([
        ...proxyCallArgv(`sip:phone@${DOMAIN}`, { proxy: hops.tls, user: "alice" }),
        "--transport",
        "tls",
      ]);
      assertEquals(await exitOf(p, 20_000), 7, show(p));
      assertMatch(p.stderr, /TLS certificate of .* not trusted .*--ca FILE/);
      assertEquals(p.stderr.trim().split("\n").filter((l) => /error/i.test(l)).length, 1, show(p));
    });
  } finally {
    await pbx.close();
  }
});
