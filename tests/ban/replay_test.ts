import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { concat, runCli, sh, testWith } from "../_util/mod.ts";
import { type CraftOptions, craftPacket, linkTypeOf, sipResponse } from "../../lib/ban/net/craft.ts";
import { PcapWriter, readCaptureFile } from "../../lib/ban/pcap_file.ts";
import { parseConfigText, resolveConfig } from "../../lib/ban/config.ts";
import { loadState, saveState } from "../../lib/ban/state.ts";

const PBX = "192.0.2.10";

/** A capture: attacker .66 gets 12 x 403 REGISTER, friend .7 gets 5 x 401 then a 200, noise in between. */
async function writeCapture(path: string, link: CraftOptions["link"] = "ether"): Promise<void> {
  const w = await PcapWriter.file(path, linkTypeOf(link));
  let ts = Date.UTC(2026, 0, 1);
  const send = (dst: string, msg: string, extra: Partial<CraftOptions> = {}) =>
    w.add(craftPacket({ src: PBX, dst, sport: 5060, dport: 5062, link, ...extra }, msg), ts += 100);
  for (let i = 0; i < 12; i++) {
    await send("198.51.100.66", sipResponse(403, "REGISTER"));
    await send("198.51.100.7", sipResponse(i < 5 ? 401 : 404, "OPTIONS"));
    // a scanner's own traffic from port 5060 (not the PBX)
    await w.add(
      craftPacket({ src: "198.51.100.99", dst: PBX, sport: 5060, dport: 5060, link }, sipResponse(403, "REGISTER")),
      ts += 1,
    );
  }
  for (let i = 0; i < 5; i++) await send("198.51.100.7", sipResponse(401, "REGISTER"));
  await send("198.51.100.7", sipResponse(200, "REGISTER"));
  for (let i = 0; i < 5; i++) await send("198.51.100.7", sipResponse(401, "REGISTER"));
  await w.close();
}

Deno.test("ban --pcap --json: one line per ban with address, failures, first/last time and reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-replay-" });
  try {
    await writeCapture(`${dir}/c.pcap`);
    const r = await runCli(["ban", "--pcap", `${dir}/c.pcap`, "--json", "--pbx", PBX]);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.length, 1, r.stdout);
    assertEquals(lines[0].address, "198.51.100.66");
    assertEquals(lines[0].failures, 10);
    assertMatch(lines[0].first, /^2026-01-01T00:00:00\.\d+Z$/);
    assert(Date.parse(lines[0].last) > Date.parse(lines[0].first));
    assertStringIncludes(lines[0].reason, "403 REGISTER");
    assertStringIncludes(r.stderr, "replay done");

    // Without --pbx any source counts, but the scanner's fake responses then target the PBX: exempting it works.
    const r2 = await runCli([
      "ban",
      "--pcap",
      `${dir}/c.pcap`,
      "--json",
      "--exempt",
      `${PBX}/32`,
      "--max-failures",
      "3",
    ]);
    const addrs = r2.stdout.trim().split("\n").map((l) => JSON.parse(l).address).sort();
    assertEquals(addrs, ["198.51.100.66", "198.51.100.7"]);

    // bad input: one line, non-zero exit
    await Deno.writeTextFile(`${dir}/junk.pcap`, "this is not a capture file at all");
    const bad = await runCli(["ban", "--pcap", `${dir}/junk.pcap`]);
    assertEquals(bad.code, 1);
    assertMatch(bad.stderr.trim(), /^pbxkit: error: .*\[E_PARSE\]$/);
    const missing = await runCli(["ban", "--pcap", `${dir}/nope.pcap`]);
    assertEquals(missing.code, 1);
    assertEquals(missing.stderr.trim().split("\n").length, 1);
    const usage = await runCli(["ban", "--pcap", `${dir}/c.pcap`, "--max-failures", "zero"]);
    assertEquals(usage.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ban: bad --config, --state, --socket and empty lists are one-line errors; list leaves a corrupt state alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-bad-" });
  try {
    await Deno.writeTextFile(`${dir}/wrong.toml`, "interface = 5\npbx = { a = 1 }\n");
    await Deno.writeTextFile(`${dir}/state.json`, "garbage{");
    const m = ["--backend", "dry-run", "--socket", `${dir}/ctl.sock`];
    for (
      const [args, code, re] of [
        [
          ["ban", "--pcap", `${dir}/x.pcap`, "--config", dir],
          2,
          /--config '.*' is not a regular file \[E_INVALID_INPUT\]$/,
        ],
        [
          ["ban", "--pcap", `${dir}/x.pcap`, "--config", `${dir}/wrong.toml`],
          2,
          /wrong\.toml:1: 'interface' must be a string, not a number \[E_USAGE\]$/,
        ],
        [["ban", "--pcap", `${dir}/x.pcap`, "--methods", ""], 2, /--methods/],
        [["ban", "list", ...m, "--state", dir], 1, /cannot read state file .*: is a directory \[E_STATE\]$/],
        [
          ["ban", "status", "--backend", "dry-run", "--socket", `${dir}/${"s".repeat(120)}`],
          2,
          /--socket: .*107 bytes/,
        ],
      ] as const
    ) {
      const r = await runCli(args);
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertMatch(r.stderr.trim(), re);
    }
    const table = (() => {
      try {
        return parseConfigText("pbx = { a = 1 }");
      } catch (err) {
        return err as Error;
      }
    })();
    assertMatch(String(table), /'pbx' must be a string, a number or an array of them, not a table/);
    const m2 = ["--backend", "dry-run", "--socket", `${dir}/ctl.sock`, "--state", `${dir}/state.json`];
    const list = await runCli(["ban", "list", ...m2]);
    assertEquals(list.code, 0, list.stderr);
    assertEquals(
      await Deno.readTextFile(`${dir}/state.json`),
      "garbage{",
      "a read-only command keeps the file in place",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWith("pcap, pcapng and nanosecond pcap (converted by editcap) read the same", { tools: ["editcap"] }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-fmt-" });
  try {
    await writeCapture(`${dir}/c.pcap`, "sll2");
    await sh(["editcap", "-F", "pcapng", `${dir}/c.pcap`, `${dir}/c.pcapng`]);
    await sh(["editcap", "-F", "nsecpcap", `${dir}/c.pcap`, `${dir}/c.ns.pcap`]);
    const read = async (p: string) => {
      const out: string[] = [];
      const r = await readCaptureFile(p, (lt, f, cap, ts) => out.push(`${lt}:${cap}:${ts.toFixed(3)}:${f[30]}`));
      return { r, out };
    };
    const a = await read(`${dir}/c.pcap`), b = await read(`${dir}/c.pcapng`), c = await read(`${dir}/c.ns.pcap`);
    assertEquals(a.r.format, "pcap");
    assertEquals(b.r.format, "pcapng");
    assertEquals(a.r.linkType, 276);
    assertEquals(b.out, a.out);
    assertEquals(c.out, a.out);
    const r = await runCli(["ban", "--pcap", `${dir}/c.pcapng`, "--json", "--pbx", PBX]);
    assertEquals(JSON.parse(r.stdout.trim()).address, "198.51.100.66");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: TOML file merged under flags, bad keys and values are usage errors", () => {
  const file = parseConfigText(`
interface = "eth1"
pbx = ["192.0.2.10:5080", "[2001:db8::10]:5080"]
max_failures = 5
find_time = "2m"
ban_time = "0"
methods = ["register"]
exempt = ["10.0.0.0/8", "::1"]
notify_cmd = ["/usr/bin/logger", "-t", "pbxkit ban"]
`);
  const c = resolveConfig(file, { maxFailures: "7" });
  assertEquals(c.interface, "eth1");
  assertEquals(c.ports, [5080]);
  assertEquals(c.pbxAddrs.map((a) => a.text), ["192.0.2.10/32", "2001:db8::10/128"]);
  assertEquals(c.maxFailures, 7);
  assertEquals(c.findTimeMs, 120_000);
  assertEquals(c.banTimeMs, 0);
  assertEquals(c.methods, ["REGISTER"]);
  assertEquals(c.exempt.map((e) => e.text), ["10.0.0.0/8", "::1/128"]);
  assertEquals(c.notifyCmd, ["/usr/bin/logger", "-t", "pbxkit ban"]);
  let threw = 0;
  for (const bad of ["nope = 1", 'max_failures = "x"', 'exempt = ["10.0.0.300/8"]', "broken = [", 'scope = "some"']) {
    try {
      resolveConfig(parseConfigText(bad), {});
    } catch (err) {
      threw++;
      assert(["E_USAGE", "E_PARSE"].includes((err as { code: string }).code));
    }
  }
  assertEquals(threw, 5);
});

Deno.test("state: atomic save and load; a corrupt file is moved aside, not lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-state-" });
  try {
    const path = `${dir}/sub/state.json`;
    await saveState(path, { version: 1, savedAt: 0, hosts: [{ address: "192.0.2.1", failures: [1, 2, 3] }] });
    const s = await loadState(path);
    assertEquals(s.hosts[0].failures, [1, 2, 3]);
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["state.json"]);
    await Deno.writeTextFile(path, "{ half a file");
    const s2 = await loadState(path);
    assertEquals(s2.hosts, []);
    const names = [...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name);
    assert(names.some((n) => n.startsWith("state.json.corrupt-")), names.join());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A hand-made pcapng: two interfaces (Ethernet in µs, raw IP in ns via if_tsresol), EPB and SPB, either byte order. */
function pcapng(le: boolean, frames: { iface: number; data: Uint8Array; tsUnits: bigint }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const len = 12 + ((body.length + 3) & ~3);
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, le);
    dv.setUint32(4, len, le);
    b.set(body, 8);
    dv.setUint32(len - 4, len, le);
    parts.push(b);
  };
  const shb = new Uint8Array(16);
  new DataView(shb.buffer).setUint32(0, 0x1a2b3c4d, le);
  new DataView(shb.buffer).setUint16(4, 1, le);
  new DataView(shb.buffer).setBigInt64(8, -1n, le);
  block(0x0a0d0d0a, shb);
  const idb = (lt: number, tsresol?: number) => {
    const b = new Uint8Array(8 + (tsresol !== undefined ? 8 + 4 : 0));
    const dv = new DataView(b.buffer);
    dv.setUint16(0, lt, le);
    dv.setUint32(4, 65535, le);
    if (tsresol !== undefined) {
      dv.setUint16(8, 9, le);
      dv.setUint16(10, 1, le);
      b[12] = tsresol;
    }
    block(1, b);
  };
  idb(1);
  idb(101, 9);
  for (const f of frames) {
    if (f.iface === -1) { // simple packet block on interface 0
      const b = new Uint8Array(4 + f.data.length);
      new DataView(b.buffer).setUint32(0, f.data.length, le);
      b.set(f.data, 4);
      block(3, b);
      continue;
    }
    const b = new Uint8Array(20 + f.data.length);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, f.iface, le);
    dv.setUint32(4, Number(f.tsUnits >> 32n), le);
    dv.setUint32(8, Number(f.tsUnits & 0xffffffffn), le);
    dv.setUint32(12, f.data.length, le);
    dv.setUint32(16, f.data.length, le);
    b.set(f.data, 20);
    block(6, b);
  }
  block(5, new Uint8Array(8)); // an interface statistics block: skipped
  return concat(parts);
}

Deno.test("pcapng: several interfaces with their own link type and timestamp resolution, both byte orders", async () => {
  const { CaptureParser } = await import("../../lib/ban/pcap_file.ts");
  const eth = craftPacket({ src: PBX, dst: "198.51.100.1", sport: 5060, dport: 5060 }, sipResponse(403, "INVITE"));
  const raw = craftPacket(
    { src: PBX, dst: "198.51.100.2", sport: 5060, dport: 5060, link: "raw" },
    sipResponse(404, "REGISTER"),
  );
  for (const le of [true, false]) {
    const file = pcapng(le, [
      { iface: 0, data: eth, tsUnits: 1_700_000_000_123_456n },
      { iface: 1, data: raw, tsUnits: 1_700_000_000_123_456_789n },
      { iface: -1, data: eth, tsUnits: 0n },
    ]);
    const got: [number, number, number][] = [];
    const p = new CaptureParser((lt, _f, cap, ts) => got.push([lt, cap, ts]));
    for (let o = 0; o < file.length; o += 7) p.push(file.subarray(o, o + 7)); // tiny chunks
    p.finish();
    assertEquals(p.format, "pcapng");
    assertEquals(got.map((g) => [g[0], g[1]]), [[1, eth.length], [101, raw.length], [1, eth.length]]);
    assertEquals(got[0][2], 1_700_000_000_123.456);
    assert(Math.abs(got[1][2] - 1_700_000_000_123.456789) < 0.001);
  }
});
