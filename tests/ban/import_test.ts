/**
 * `pbxkit ban import` / `export`: blocklist parsing and validation (line numbers, max prefix, exempt overlap),
 * jittered expiries, and, in the test's own network namespaces with real nftables and ipset, 100,000 imported
 * IPv4/IPv6 addresses in the kernel sets with expiries spread over many seconds, an idempotent re-import, export,
 * imported networks, and an import through a running daemon.
 */

import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { cliArgv, runCli, TestNet, testWith, waitFor } from "../_util/mod.ts";
import {
  ipv4Into,
  ipv6Into,
  jitteredExpiries,
  parseBlocklist,
  parseCidr,
  parseIp,
  seededRandom,
} from "../../lib/ban/mod.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";
import { blocklistSample, daemonOnEth0 } from "./_lab.ts";

const NFT_LIB = "/usr/lib/x86_64-linux-gnu/libnftables.so.1";

Deno.test("blocklist: comments, IPv6, networks, JSON; bad lines reported by line number", () => {
  const text = [
    "# APIBAN export 2026-12-04T06:00:00Z",
    "203.0.113.7",
    "  2001:DB8:0:0::7   # scanner",
    "",
    "198.51.100.0/24 ; SBL123456",
    "192.0.2.300",
    "10.1.2.3",
    "2001:db8::/32",
    "203.0.113.7",
    "not-an-ip",
    "198.51.100.9/33",
    "010.0.0.1",
  ].join("\n");
  const exempt = [parseCidr("10.0.0.0/8"), parseCidr("127.0.0.0/8")];
  const p = parseBlocklist(text, { maxPrefix4: 24, maxPrefix6: 64, exempt });
  assertEquals(p.format, "text");
  assertEquals(p.entries.map((e) => [e.address, e.line]), [
    ["203.0.113.7", 2],
    ["2001:db8::7", 3],
    ["198.51.100.0/24", 5],
  ]);
  assertEquals(p.duplicates, 1);
  assertEquals(p.errors.map((e) => e.line), [6, 7, 8, 10, 11, 12]);
  assertStringIncludes(p.errors[1].error, "exempt network 10.0.0.0/8");
  assertStringIncludes(p.errors[2].error, "wider than the maximum prefix /64");
  assertStringIncludes(p.errors[5].error, "exempt"); // 010.0.0.1 is 10.0.0.1
  // the default maximum prefix is a single address; a network that contains an exempt address is refused too
  const strict = parseBlocklist("198.51.100.0/24\n0.0.0.0/0\n", { maxPrefix4: 0, exempt });
  assertEquals(strict.entries.length, 1);
  assertStringIncludes(strict.errors[0].error, "exempt network 10.0.0.0/8");
  assertEquals(parseBlocklist("198.51.100.0/24\n").errors.length, 1);
  const json = parseBlocklist(
    JSON.stringify(["192.0.2.1", { address: "2001:db8::1", reason: "x" }, 42, { ip: "192.0.2.2" }]),
  );
  assertEquals(json.format, "json");
  assertEquals(json.entries.map((e) => e.address), ["192.0.2.1", "2001:db8::1"]);
  assertEquals(json.errors.map((e) => e.line), [3, 4]);
  assertEquals(parseBlocklist("[1, 2").errors.length, 1);
});

Deno.test("ipv6Into/ipv4Into agree with the general address parser on valid, odd and malformed text", () => {
  const r = seededRandom(99);
  const b16 = new Uint8Array(16), b4 = new Uint8Array(4);
  const cases: string[] = [
    "::",
    "::1",
    "1::",
    "2001:db8::7",
    "2001:DB8:0:0:0:0:0:7",
    "::ffff:192.0.2.1",
    "64:ff9b::198.51.100.7",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":1::",
    "1:",
    ":::",
    "12345::",
    "g::1",
    "1.2.3.4",
    "::1.2.3",
    "::256.1.1.1",
    "1:2:3:4:5:6:7:1.2.3.4",
    "",
    "0000:0000::00ff",
  ];
  for (let i = 0; i < 3000; i++) {
    // random groups, some zero runs, random case and leading zeros, sometimes compressed, sometimes broken
    const g = Array.from({ length: 8 }, () => (r() < 0.3 ? 0 : Math.floor(r() * 65536)));
    let parts = g.map((x) => {
      let t = x.toString(16);
      if (r() < 0.2) t = t.padStart(4, "0");
      return r() < 0.2 ? t.toUpperCase() : t;
    });
    if (r() < 0.5) {
      const a = Math.floor(r() * 8), len = 1 + Math.floor(r() * (8 - a));
      parts = [...parts.slice(0, a), "", ...parts.slice(a + len)];
      if (a === 0) parts.unshift("");
      if (a + len === 8) parts.push("");
    }
    let t = parts.join(":");
    if (r() < 0.1) t = t.slice(0, Math.floor(r() * t.length)) + ":" + t.slice(Math.floor(r() * t.length));
    cases.push(t.replace(/^:::/, "::").replace(/:::$/, "::"));
  }
  let valid = 0;
  for (const c of cases) {
    const ref = parseIp(c);
    const got = ipv6Into(c, b16);
    if (got) valid++;
    assertEquals(got, ref?.family === 6, `ipv6Into('${c}')`);
    if (got) assertEquals(b16, ref!.bytes, c);
    const got4 = ipv4Into(c, b4);
    assertEquals(got4, ref?.family === 4, `ipv4Into('${c}')`);
  }
  // both kinds are well represented
  assert(valid > 1000 && cases.length - valid > 200, `${valid} valid of ${cases.length}`);
});

Deno.test("jittered expiries: within +-10% of the ban time, spread over many seconds, same seed same spread", () => {
  const now = Date.UTC(2026, 11, 4, 6, 0, 0);
  const hour = 3_600_000;
  const a = jitteredExpiries(100_000, now, hour, { seed: 7 });
  const b = jitteredExpiries(100_000, now, hour, { seed: 7 });
  const c = jitteredExpiries(100_000, now, hour, { seed: 8 });
  assertEquals(a, b);
  assert(a.some((v, i) => v !== c[i]));
  let lo = Infinity, hi = -Infinity;
  const secs = new Set<number>();
  const buckets = new Array(10).fill(0);
  for (const v of a) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    secs.add(Math.floor(v / 1000));
    buckets[Math.min(9, Math.floor((v - (now + 0.9 * hour)) / (0.02 * hour)))]++;
  }
  assert(lo >= now + 0.9 * hour && hi <= now + 1.1 * hour, `${lo - now} ${hi - now}`);
  assert(secs.size > 700, `only ${secs.size} distinct seconds`); // the window is 720 s wide
  for (const n of buckets) assert(n > 9_000 && n < 11_000, `not uniform: ${buckets}`);
  assertEquals(jitteredExpiries(3, now, 0), new Float64Array(3)); // permanent: no expiry
  const r = seededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const v = r();
    assert(v >= 0 && v < 1);
  }
});

Deno.test("ban import: a bad line fails the import with its line number and changes nothing; --skip-invalid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-import-" });
  try {
    const list = `${dir}/list.txt`;
    await Deno.writeTextFile(list, "203.0.113.7\n2001:db8::7\n203.0.113.999\n");
    const base = ["ban", "import", list, "--backend", "dry-run", "--state", `${dir}/s.json`, "--socket", `${dir}/x`];
    const bad = await runCli(base);
    assertEquals(bad.code, 1);
    assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assertStringIncludes(bad.stderr, "line 3: '203.0.113.999'");
    assert(!(await Deno.stat(`${dir}/s.json`).then(() => true, () => false)), "state written on a failed import");
    const ok = await runCli([...base, "--skip-invalid", "--json", "--seed", "3"]);
    assertEquals(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout);
    assertEquals([r.via, r.imported, r.invalid.length], ["firewall", 2, 1]);
    assertStringIncludes(ok.stderr, "skipped line 3");
    const state = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assertEquals(state.hosts.map((h: { address: string }) => h.address).sort(), ["2001:db8::7", "203.0.113.7"]);
    const missing = await runCli(["ban", "import", `${dir}/nope.txt`, "--backend", "dry-run"]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stderr, "does not exist");
    for (const flag of [["--jitter", "150%"], ["--max-prefix", "24,64,8"], ["--seed", "abc"]]) {
      const u = await runCli([...base, ...flag]);
      assertEquals(u.code, 2, `${flag}: ${u.stderr}`);
    }
    // stdin, JSON list
    const piped = await runCli([...base.slice(0, 2), "-", ...base.slice(3), "--json"], {
      stdin: JSON.stringify(["198.51.100.1", "198.51.100.2"]),
    });
    assertEquals(JSON.parse(piped.stdout).imported, 2, piped.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWith(
  "ban import in nftables: 100,000 IPv4+IPv6 bans in one transaction, expiries over >700 s, re-import idempotent",
  { tools: ["nft", "ip"], files: [NFT_LIB], root: true },
  async () => {
    const net = await TestNet.create(["pbx"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-import-" });
    try {
      const { v4, v6 } = blocklistSample(70_000, 30_000, 20261204);
      await Deno.writeTextFile(`${dir}/list.txt`, `# test blocklist\n${[...v4, ...v6].join("\n")}\n`);
      const flags = ["--state", `${dir}/state.json`, "--socket", `${dir}/ban.sock`];
      const imp = () =>
        net.run(
          "pbx",
          cliArgv(["ban", "import", `${dir}/list.txt`, "--ban-time", "1h", "--seed", "42", ...flags, "--json"]),
        );
      const t0 = performance.now();
      const r = JSON.parse((await imp()).stdout);
      const wall = performance.now() - t0;
      assertEquals([r.via, r.entries, r.imported, r.invalid.length], ["firewall", 100_000, 100_000, 0]);
      console.error(
        `import of 100k: firewall ${r.firewallMs.toFixed(0)} ms, parse ${r.parseMs.toFixed(0)} ms, ` +
          `total ${r.totalMs.toFixed(0)} ms, process wall ${wall.toFixed(0)} ms`,
      );
      const listSet = async (name: string) => {
        const doc = JSON.parse((await net.run("pbx", ["nft", "-j", "list", "set", "inet", "pbxkit", name])).stdout);
        const set = doc.nftables.find((x: { set?: unknown }) => x.set).set;
        return (set.elem ?? []) as { elem: { val: string; expires: number; timeout: number } }[];
      };
      const e4 = await listSet("ban4"), e6 = await listSet("ban6");
      assertEquals(e4.length, 70_000);
      assertEquals(e6.length, 30_000);
      assertEquals(new Set(e4.map((e) => e.elem.val)), new Set(v4));
      assertEquals(new Set(e6.map((e) => e.elem.val)), new Set(v6));
      const expires = [...e4, ...e6].map((e) => e.elem.expires);
      // +-10% of 1 h = 3240..3960 s (minus the seconds the test has taken so far)
      assert(Math.min(...expires) >= 3240 - 60 && Math.max(...expires) <= 3960, `${Math.min(...expires)}`);
      const distinct = new Set(expires).size;
      assert(distinct > 700, `expiries over only ${distinct} distinct seconds`);
      // the state file knows them, with their origin and the jittered expiry
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assertEquals(state.hosts.length, 100_000);
      assertEquals(state.hosts[0].ban.origin, "import");
      assertStringIncludes(state.hosts[0].ban.reason, "list.txt");

      const again = JSON.parse((await imp()).stdout);
      assertEquals([again.imported, again.alreadyBanned], [0, 100_000]);
      assertEquals((await listSet("ban4")).length + (await listSet("ban6")).length, 100_000);

      const exp = JSON.parse((await net.run("pbx", cliArgv(["ban", "export", "--json", ...flags]))).stdout);
      assertEquals(exp.length, 100_000);
      const one = exp.find((e: { address: string }) => e.address === v6[0]);
      assertEquals([one.family, one.origin], ["ipv6", "import"]);
      const untilS = (Date.parse(one.until) - Date.now()) / 1000;
      assert(untilS > 3000 && untilS <= 3960, String(untilS));
      const text = (await net.run("pbx", cliArgv(["ban", "export", ...flags]))).stdout.split("\n");
      assertEquals(text.filter((l) => l).length, 100_000);
      assertStringIncludes(text[0], "origin=import");
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

for (const backend of ["nft", "iptables"]) {
  testWith(
    `ban import (${backend}): networks up to --max-prefix go to the network sets; unban of a network`,
    {
      tools: backend === "nft" ? ["nft", "ip"] : ["iptables", "ip6tables", "ipset", "ip"],
      files: [NFT_LIB],
      root: true,
    },
    async () => {
      const net = await TestNet.create(["pbx"]);
      const dir = await Deno.makeTempDir({ prefix: "pbxkit-import-" });
      try {
        await Deno.writeTextFile(`${dir}/l.txt`, "198.51.100.0/24\n2001:db8:77::/48\n203.0.113.5\n");
        const flags = ["--backend", backend, "--state", `${dir}/s.json`, "--socket", `${dir}/ban.sock`];
        const r = await net.run("pbx", cliArgv(["ban", "import", `${dir}/l.txt`, "--max-prefix", "24,48", ...flags]), {
          check: false,
        });
        assertEquals(r.code, 0, r.stderr);
        const exp = JSON.parse((await net.run("pbx", cliArgv(["ban", "export", "--json", ...flags]))).stdout);
        assertEquals(exp.map((e: { address: string }) => e.address).sort(), [
          "198.51.100.0/24",
          "2001:db8:77::/48",
          "203.0.113.5",
        ]);
        if (backend === "nft") {
          const nets = (await net.run("pbx", ["nft", "list", "set", "inet", "pbxkit", "net4"])).stdout;
          assertStringIncludes(nets, "198.51.100.0/24");
        } else {
          assertStringIncludes((await net.run("pbx", ["ipset", "list", "pbxkit6net"])).stdout, "2001:db8:77::/48");
        }
        await net.run("pbx", cliArgv(["ban", "unban", "198.51.100.0/24", ...flags]));
        const after = JSON.parse((await net.run("pbx", cliArgv(["ban", "export", "--json", ...flags]))).stdout);
        assertEquals(after.length, 2);
        await net.run("pbx", cliArgv(["ban", "cleanup", ...flags]));
      } finally {
        await net.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

testWith(
  "ban import through a running daemon: its list knows the bans (origin import), its exempt list rules",
  { tools: ["nft", "ip"], files: [NFT_LIB, LIBPCAP_PATH], root: true },
  async () => {
    const net = await TestNet.create(["pbx"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-import-" });
    const h = net.hosts;
    try {
      const flags = ["--state", `${dir}/state.json`, "--socket", `${dir}/ban.sock`];
      const d = net.spawn("pbx", [
        ...daemonOnEth0(h.pbx.ipv4),
        "--exempt",
        "192.0.2.0/24",
        ...flags,
      ]);
      await waitFor(() => d.stderr.includes("[ban] started"), { timeoutMs: 30_000, what: "daemon start" });
      const { v4, v6 } = blocklistSample(1500, 500, 99);
      await Deno.writeTextFile(`${dir}/l.txt`, [...v4, ...v6].join("\n"));
      const r = JSON.parse(
        (await net.run("pbx", cliArgv(["ban", "import", `${dir}/l.txt`, "--reason", "APIBAN", "--json", ...flags])))
          .stdout,
      );
      assertEquals([r.via, r.imported, r.alreadyBanned], ["daemon", 2000, 0]);
      await waitFor(() => d.stderr.includes("count=2000"), { timeoutMs: 5000, what: "summary log line" });
      const list = JSON.parse((await net.run("pbx", cliArgv(["ban", "list", "--json", ...flags]))).stdout);
      assertEquals(list.length, 2000);
      assert(list.every((b: { origin: string; reason: string }) => b.origin === "import" && b.reason === "APIBAN"));
      const n4 = (await net.run("pbx", ["nft", "-j", "list", "set", "inet", "pbxkit", "ban4"])).stdout;
      assertEquals(JSON.parse(n4).nftables.find((x: { set?: unknown }) => x.set).set.elem.length, 1500);
      // the daemon's own exempt list: the CLI here has none, the daemon refuses it
      await Deno.writeTextFile(`${dir}/x.txt`, `192.0.2.44\n${v4[0]}\n`);
      const x = JSON.parse(
        (await net.run("pbx", cliArgv(["ban", "import", `${dir}/x.txt`, "--json", ...flags]))).stdout,
      );
      assertEquals([x.imported, x.alreadyBanned, x.rejectedByDaemon], [0, 1, 1]);
      // unban through the daemon; it stops clean with the imported bans saved
      await net.run("pbx", cliArgv(["ban", "unban", v6[0], ...flags]));
      assertEquals(
        JSON.parse((await net.run("pbx", cliArgv(["ban", "list", "--json", ...flags]))).stdout).length,
        1999,
      );
      const st = await d.stop("SIGTERM", 10_000);
      assertEquals(st.code, 0);
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assertEquals(state.hosts.filter((x: { ban?: { origin?: string } }) => x.ban?.origin === "import").length, 1999);
    } finally {
      await net.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
