/**
 * The daemon's default capture filter, judged by libpcap itself: compiled with `pcap_compile` for the capture's link
 * type (`pcap_open_dead`) and applied with `pcap_offline_filter` to crafted frames, untagged and 802.1Q-tagged (as a
 * capture on a trunk port sees them).
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "../_util/assert.ts";
import { testWith } from "../_util/mod.ts";
import { craftFragments, type CraftOptions, craftPacket, linkTypeOf, sipResponse } from "../../lib/ban/net/craft.ts";
import { bpfFor, parseConfigText, resolveConfig } from "../../lib/ban/config.ts";
import { CompiledFilter, LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { BanEngine } from "../../lib/ban/engine.ts";
import { parseCidr } from "../../lib/ban/net/addr.ts";

const PBX4 = "192.0.2.10", PBX6 = "2001:db8::10", ATK4 = "203.0.113.5", ATK6 = "2001:db8::66";

function frame(link: CraftOptions["link"], src: string, dst: string, sport = 5060): Uint8Array {
  return craftPacket({ src, dst, sport, dport: 5070, link }, sipResponse(404, "REGISTER"));
}

testWith(
  "capture filter: the default BPF matches the PBX's SIP untagged and 802.1Q-tagged on Ethernet, nothing else",
  { files: [LIBPCAP_PATH] },
  () => {
    const cfg = resolveConfig({}, { pbx: [PBX4, PBX6], ports: "5060" });
    const plain = new CompiledFilter(bpfFor(cfg, { linkType: 113 }), { linkType: 1 }); // the filter without `vlan`
    const eth = new CompiledFilter(bpfFor(cfg, { linkType: 1 }), { linkType: 1 });
    try {
      assertStringIncludes(bpfFor(cfg), "vlan and (", "Ethernet is the default");
      for (const [src, dst] of [[PBX4, ATK4], [PBX6, ATK6]]) {
        const untagged = frame("ether", src, dst), tagged = frame("vlan", src, dst);
        assert(plain.matches(untagged) && eth.matches(untagged), `untagged ${src}`);
        // The gap this closes: a filter without `vlan` misses tagged frames on a trunk.
        assert(!plain.matches(tagged), `the old filter misses tagged ${src}`);
        assert(eth.matches(tagged), `tagged ${src} matches`);
        // Not the PBX: a scanner sending from port 5060, tagged or not; the PBX from another port.
        assert(!eth.matches(frame("vlan", dst, src)) && !eth.matches(frame("ether", dst, src)), `scanner ${dst}`);
        assert(!eth.matches(frame("vlan", src, dst, 5080)), `other port ${src}`);
      }
      // Non-first IP fragments carry no ports; they pass (the engine reassembles them), tagged too.
      const frags = craftFragments(
        { src: PBX4, dst: ATK4, sport: 5060, dport: 5070, link: "vlan", fragSize: 256 },
        sipResponse(403, "INVITE", { body: "x".repeat(600) }),
      );
      assert(frags.length >= 3 && frags.every((f) => eth.matches(f)), "tagged fragments");
      // And the engine counts what the filter lets through: 10 tagged errors ban the attacker.
      const engine = new BanEngine({ maxFailures: 10, pbxAddrs: [parseCidr(PBX4)] });
      for (let i = 0; i < 10; i++) {
        const f = frame("vlan", PBX4, ATK4);
        if (eth.matches(f)) engine.packet(linkTypeOf("vlan"), f, f.length, 1000 + i);
      }
      assertEquals(engine.takeVerdicts().map((v) => v.address), [ATK4]);
    } finally {
      plain.close();
      eth.close();
    }
    // Linux cooked captures (`-i any`) have no `vlan` in libpcap: their filter has none, and compiles.
    for (const lt of [113, 276]) {
      const f = bpfFor(cfg, { linkType: lt });
      assert(!f.includes("vlan"), f);
      const c = new CompiledFilter(f, { linkType: lt });
      const link = lt === 113 ? "sll" : "sll2";
      assert(c.matches(frame(link, PBX4, ATK4)) && !c.matches(frame(link, ATK4, PBX4)), link);
      c.close();
    }
    assertThrows(() => new CompiledFilter("vlan and udp", { linkType: 276 }), Error, "no VLAN support");
    // A --bpf override is used as given.
    const own = resolveConfig({}, { bpf: "udp port 5080" });
    assertEquals(bpfFor(own, { linkType: 1 }), "udp port 5080");
  },
);

Deno.test("config: ipset = false in TOML or --no-ipset selects one iptables rule per ban", () => {
  assertEquals(resolveConfig({}, {}).ipset, true);
  assertEquals(resolveConfig(parseConfigText("backend = 'iptables'\nipset = false\n"), {}).ipset, false);
  assertEquals(resolveConfig({}, { ipset: "false" }).ipset, false);
  assertThrows(() => resolveConfig(parseConfigText("ipset = 'maybe'\n"), {}), Error, "ipset");
});
