/**
 * RFC 3263 next-hop selection against a real DNS server: dnsmasq (in the phone host) serves SRV, A and AAAA records
 * for `pbx.test`, the pbx host's resolver points at it, and `pbxkit call sip:phone@pbx.test` with no `--proxy` must
 * reach kamailio where DNS says: the SRV target and port (kamailio also listens on UDP 5080, a port only the SRV
 * record names), A/AAAA on the URI's port when the URI has one (no SRV query), `_sip._tcp` with failover to the next
 * priority when the first target refuses, `_sips._tcp` for TLS with the certificate checked against the domain, an
 * AAAA-only name (kamailio also on IPv6), and a name without SRV records on the default port.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { testWith, waitFor } from "../_util/mod.ts";
import { creds, DOMAIN, Pbx, PBX_TOOLS } from "./_pbx.ts";
import { Dnsmasq } from "./_dns.ts";
import { baresipHeard, exitOf, near, show, toneOf } from "./_heard.ts";

const SRV_UDP_PORT = 5080;

testWith("call: RFC 3263 SRV/A/AAAA next hop from dnsmasq (kamailio + baresip)", {
  tools: [...PBX_TOOLS, "baresip", "dnsmasq", "openssl"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ netTransports: true, extraUdpPorts: [SRV_UDP_PORT], udpIpv6: true });
  const ip6 = pbx.net.hosts.pbx.ipv6;
  let dns: Dnsmasq | undefined;
  try {
    dns = await Dnsmasq.start(pbx, {
      srv: [
        { name: `_sip._udp.${DOMAIN}`, target: `sip1.${DOMAIN}`, port: SRV_UDP_PORT },
        // priority 0 refuses TCP (nothing listens on 5099): RFC 3263 §4.3 says try the next one
        { name: `_sip._tcp.${DOMAIN}`, target: `sip1.${DOMAIN}`, port: 5099, priority: 0 },
        { name: `_sip._tcp.${DOMAIN}`, target: `sip1.${DOMAIN}`, port: pbx.sipPort, priority: 10 },
        { name: `_sips._tcp.${DOMAIN}`, target: `sip1.${DOMAIN}`, port: pbx.tlsPort },
      ],
      hosts: { [`sip1.${DOMAIN}`]: [pbx.ip, ip6], [DOMAIN]: [pbx.ip], [`v6.${DOMAIN}`]: [ip6] },
    }, { server: "phone", client: "pbx" });
    const { proc: phone, recDir } = await pbx.baresipRegistered({ user: "phone", autoAnswer: true, toneHz: 440 });

    const call = async (name: string, target: string, transport: string, extra: string[] = []) => {
      const rec = `${pbx.dir}/${name}.wav`;
      const p = pbx.pbxkit([
        "call",
        target,
        "--transport",
        transport,
        ...creds("alice"),
        "--tone",
        "1000",
        "--duration",
        "3s",
        "--record",
        rec,
        "--json",
        ...extra,
      ]);
      assertEquals(await exitOf(p), 0, show(p));
      const heard = await toneOf(rec);
      near(heard.toneHz, 440, `pbxkit (${name})`);
      assert(heard.activeSeconds > 1.5, `pbxkit heard only ${heard.activeSeconds} s (${name})`);
      return p;
    };

    await t.step(`sip:phone@${DOMAIN} over UDP, no --proxy: SRV _sip._udp -> sip1:${SRV_UDP_PORT}`, async () => {
      const p = await call("srv-udp", `sip:phone@${DOMAIN}`, "udp");
      assertStringIncludes(p.stdout, `"connected","detail":"udp://${pbx.ip}:${SRV_UDP_PORT}"`);
      const q = dns!.queries();
      assert(q.includes(`SRV _sip._udp.${DOMAIN}`), q.join(", "));
      assert(q.includes(`A sip1.${DOMAIN}`), q.join(", "));
      near((await baresipHeard(recDir)).toneHz, 1000, "baresip");
    });

    await t.step(`sip:phone@${DOMAIN}:5060: an explicit port skips SRV (A ${DOMAIN})`, async () => {
      const before = dns!.queries().length;
      const p = await call("a-port", `sip:phone@${DOMAIN}:${pbx.sipPort}`, "udp");
      assertStringIncludes(p.stdout, `"connected","detail":"udp://${pbx.ip}:${pbx.sipPort}"`);
      const q = dns!.queries().slice(before);
      assert(q.includes(`A ${DOMAIN}`), q.join(", "));
      assert(!q.some((x) => x.startsWith("SRV ")), `SRV asked for: ${q.join(", ")}`);
    });

    await t.step("TCP: SRV _sip._tcp, priority 0 refused -> priority 10 on 5060", async () => {
      const before = dns!.queries().length;
      const p = await call("srv-tcp", `sip:phone@${DOMAIN}`, "tcp");
      assertStringIncludes(p.stdout, `"connected","detail":"tcp://${pbx.ip}:${pbx.sipPort}"`);
      assert(dns!.queries().slice(before).includes(`SRV _sip._tcp.${DOMAIN}`));
    });

    await t.step(`TLS: SRV _sips._tcp -> sip1:${pbx.tlsPort}, certificate checked against ${DOMAIN}`, async () => {
      const before = dns!.queries().length;
      const p = await call("srv-tls", `sip:phone@${DOMAIN}`, "tls", ["--ca", pbx.tlsCert!]);
      assertStringIncludes(p.stdout, `"connected","detail":"tls://${pbx.ip}:${pbx.tlsPort}"`);
      assert(dns!.queries().slice(before).includes(`SRV _sips._tcp.${DOMAIN}`));
    });

    await t.step(
      `TLS to sip1.${DOMAIN}:${pbx.tlsPort}: a certificate for ${DOMAIN} only is refused, exit 7`,
      async () => {
        const p = pbx.pbxkit([
          "call",
          `sip:phone@sip1.${DOMAIN}:${pbx.tlsPort}`,
          "--transport",
          "tls",
          "--ca",
          pbx.tlsCert!,
          ...creds("alice"),
          "--domain",
          DOMAIN,
        ]);
        assertEquals(await exitOf(p, 20_000), 7, show(p));
        assertStringIncludes(p.stderr, `is not for sip1.${DOMAIN}`);
      },
    );

    // registration only (kamailio's location table says where it came in): no call, rtpengine here is IPv4-only
    const registerVia = async (proxy: string, want: { connected: string; socket: string }) => {
      const l = pbx.pbxkit(["call", "--listen", "--proxy", proxy, ...creds("bob"), "--domain", DOMAIN]);
      try {
        await waitFor(() => l.stdout.includes("registered"), { timeoutMs: 20_000, what: `registration${show(l)}` });
        assertStringIncludes(l.stdout, `connected ${want.connected}`);
        const dump = await pbx.kamcmd("ul.dump");
        assertMatch(dump, new RegExp(`AoR: bob\\n[\\s\\S]*?Socket: ${want.socket.replace(/[[\].]/g, "\\$&")}\\n`));
      } finally {
        await l.stop();
      }
    };

    await t.step(`--proxy v6.${DOMAIN}:5060 (AAAA only): registers over IPv6`, async () => {
      const before = dns!.queries().length;
      await registerVia(`v6.${DOMAIN}:${pbx.sipPort}`, {
        connected: `udp://[${ip6}]:${pbx.sipPort}`,
        socket: `udp:[${ip6}]:${pbx.sipPort}`,
      });
      const q = dns!.queries().slice(before);
      assert(q.includes(`AAAA v6.${DOMAIN}`) && !q.some((x) => x.startsWith("SRV ")), q.join(", "));
    });

    await t.step(`--proxy sip1.${DOMAIN} (no SRV for it): A/AAAA on 5060`, async () => {
      const before = dns!.queries().length;
      await registerVia(`sip1.${DOMAIN}`, {
        connected: `udp://${pbx.ip}:${pbx.sipPort}`,
        socket: `udp:${pbx.ip}:${pbx.sipPort}`,
      });
      assert(dns!.queries().slice(before).includes(`SRV _sip._udp.sip1.${DOMAIN}`));
    });

    await t.step(`sip:phone@nope.${DOMAIN}: no SRV, A or AAAA -> one error line, exit 7`, async () => {
      const p = pbx.pbxkit(["call", `sip:phone@nope.${DOMAIN}`, ...creds("alice")]);
      assertEquals(await exitOf(p, 20_000), 7, show(p));
      assertEquals(p.stderr.trim().split("\n"), [
        `pbxkit: error: cannot resolve SIP host nope.${DOMAIN}: no SRV, A or AAAA record [E_NETWORK]`,
      ]);
    });
    await phone.stop();
  } finally {
    await dns?.close();
    await pbx.close();
  }
});
