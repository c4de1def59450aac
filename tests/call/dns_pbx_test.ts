/**
 * RFC 3263 next-hop selection against a real DNS server: dnsmasq (in the phone host) serves SRV, A and AAAA records
 * for `pbx.test`, the pbx host's resolver points at it, and `pbxkit call sip:phone@pbx.test` with no `--proxy` must
 * reach kamailio where DNS says: the SRV target and port (kamailio also listens on UDP 5080, a port only the SRV
 * record names), A/AAAA on the URI's port when the URI has one (no SRV query), `_sip._tcp` with failover to the next
 * priority when the first target refuses, and `_sips._tcp` for TLS with the certificate checked against the domain.
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { testWith } from "../_util/mod.ts";
import { creds, DOMAIN, Pbx, PBX_TOOLS } from "./_pbx.ts";
import { Dnsmasq } from "./_dns.ts";
import { baresipHeard, exitOf, near, show, toneOf } from "./_heard.ts";

const SRV_UDP_PORT = 5080;

testWith("call: RFC 3263 SRV/A/AAAA next hop from dnsmasq (kamailio + baresip)", {
  tools: [...PBX_TOOLS, "baresip", "dnsmasq", "openssl"],
  root: true,
}, async (t) => {
  const pbx = await Pbx.start({ netTransports: true, extraUdpPorts: [SRV_UDP_PORT] });
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
      hosts: { [`sip1.${DOMAIN}`]: [pbx.ip, pbx.net.hosts.pbx.ipv6], [DOMAIN]: [pbx.ip] },
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
    await phone.stop();
  } finally {
    await dns?.close();
    await pbx.close();
  }
});
