// pbxkit as a service: `service install` into a temp root, the units checked by systemd-analyze (verify and the
// offline security score), the repository's contrib/ files equal to what install writes, the default configs parsed
// by the real config loaders.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { ROOT, runCli, sh, testWith } from "../_util/mod.ts";
import {
  CONTRIB_EXEC,
  defaultConfigText,
  SERVICE_NAMES,
  serviceSpec,
  systemdQuote,
  sysusersText,
  unitText,
} from "../../lib/service/mod.ts";
import { readConfigFile, resolveConfig } from "../../lib/ban/config.ts";
import { parseTftpConfigText, readTftpConfigFile, resolveTftpConfig } from "../../lib/tftp/config.ts";
import { parse as parseToml } from "smol-toml";

const UNITS: Record<string, string> = { ban: "pbxkit-ban", ws: "pbxkit-ws", tftp: "pbxkit-tftp" };

/** `Key=value` lines of a unit's `[Service]` section, as a multimap. */
function serviceKeys(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let section = "";
  for (const line of unit.split("\n")) {
    const h = /^\[(\w+)\]$/.exec(line);
    if (h) section = h[1];
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv && section === "Service") m.set(kv[1], [...(m.get(kv[1]) ?? []), kv[2]]);
  }
  return m;
}

/** Turn `# key = value` comment lines into settings (the commented defaults must be valid keys and values too). */
function uncomment(text: string): string {
  return text.split("\n").map((l) => l.replace(/^# ((?:\[\[?[a-z]+\]\]?)|(?:[a-z_]+ = .*))$/, "$1")).join("\n");
}

Deno.test("contrib/: the repository's units, sysusers entry and configs are what service install writes", async () => {
  for (const name of SERVICE_NAMES) {
    const unit = await Deno.readTextFile(`${ROOT}/contrib/systemd/${UNITS[name]}.service`);
    assertEquals(
      unit,
      unitText(name, { exec: CONTRIB_EXEC }),
      `contrib/systemd/${UNITS[name]}.service is stale: regenerate with ./pbxkit service install ${name} ` +
        `--exec ${CONTRIB_EXEC} --root DIR and copy DIR/etc/systemd/system/${UNITS[name]}.service`,
    );
    assertEquals(await Deno.readTextFile(`${ROOT}/contrib/pbxkit/${name}.toml`), defaultConfigText(name));
  }
  assertEquals(await Deno.readTextFile(`${ROOT}/contrib/sysusers.d/pbxkit.conf`), sysusersText());
});

Deno.test("units: least privilege per daemon, reload = SIGHUP, restart on failure, the config each reads", () => {
  const want: Record<string, string> = {
    ban: "CAP_NET_ADMIN CAP_NET_RAW",
    ws: "CAP_NET_BIND_SERVICE",
    tftp: "CAP_NET_BIND_SERVICE",
  };
  for (const name of SERVICE_NAMES) {
    const k = serviceKeys(unitText(name, { exec: "/opt/pbxkit/pbxkit" }));
    const one = (key: string) => {
      const v = k.get(key);
      assertEquals(v?.length, 1, `${name}: ${key}= once, got ${JSON.stringify(v)}`);
      return v![0];
    };
    assertEquals(one("AmbientCapabilities"), want[name]);
    assertEquals(one("CapabilityBoundingSet"), want[name]);
    assertEquals(one("NoNewPrivileges"), "yes");
    assertEquals(one("ProtectSystem"), "strict");
    assertEquals(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assertEquals(one("Restart"), "on-failure");
    assertEquals(one("StateDirectory"), UNITS[name]);
    assertEquals(one("RuntimeDirectory"), UNITS[name]);
    assertEquals(k.has("MemoryDenyWriteExecute"), false, "V8 needs W+X memory");
    if (name === "ws") {
      assertEquals(one("User"), "pbxkit");
      assertEquals(k.has("DynamicUser"), false);
    } else assertEquals(one("DynamicUser"), "yes");
    const exec = one("ExecStart").split(" ");
    assertEquals(exec[0], "/opt/pbxkit/pbxkit");
    assertEquals(exec.slice(-2), ["--config", `/etc/pbxkit/${name}.toml`]);
    assertEquals(exec[1], serviceSpec(name).args[0]);
  }
  // a home checkout stays readable; arguments with spaces, % and $ are quoted for systemd
  assertEquals(serviceKeys(unitText("ban", { exec: "/root/pbxkit/pbxkit" })).get("ProtectHome"), ["read-only"]);
  assertEquals(serviceKeys(unitText("ban")).get("ProtectHome"), ["yes"]);
  assertEquals(systemdQuote("/opt/my pbx/pbxkit"), '"/opt/my pbx/pbxkit"');
  assertEquals(systemdQuote("100%"), "100%%");
  assertEquals(systemdQuote("$HOME"), "$$HOME");
});

testWith(
  "service install ban|ws|tftp into a temp root: systemd-analyze verify passes, security exposure is low",
  { tools: ["systemd-analyze"] },
  async () => {
    const root = await Deno.makeTempDir({ prefix: "pbxkit-svc-" });
    try {
      for (const name of SERVICE_NAMES) {
        const r = await runCli(["service", "install", name, "--root", root]);
        assertEquals(r.code, 0, r.stderr);
        const unitPath = `${root}/etc/systemd/system/${UNITS[name]}.service`;
        assertStringIncludes(r.stdout, `written     ${unitPath}`);
        assertStringIncludes(r.stdout, `written     ${root}/etc/pbxkit/${name}.toml`);
        assertStringIncludes(r.stdout, `systemctl enable --now ${UNITS[name]}.service`);
        assertStringIncludes(r.stdout, "systemctl daemon-reload");
        const unit = await Deno.readTextFile(unitPath);
        // the installed form runs this checkout's launcher, which exists: verify checks that
        assertEquals(unit, unitText(name, { exec: `${ROOT}/pbxkit` }));
        const v = await sh(["systemd-analyze", "verify", unitPath], { check: false });
        assertEquals(v.code, 0, v.stderr);
        // verify exits 0 on unknown keys and bad values but prints them: nothing may be printed
        assertEquals((v.stdout + v.stderr).trim(), "", `${name}: systemd-analyze verify complained`);
        const sec = await sh(["systemd-analyze", "security", "--offline=yes", unitPath], { check: false });
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(sec.stdout + sec.stderr);
        assert(m, `no exposure level in: ${sec.stdout.slice(-300)}`);
        // systemd's scale: 0 (locked down) .. 10 (unprotected); a plain unit with only ExecStart scores 9.6
        assert(Number(m[1]) <= 2.5, `${name}: exposure ${m[1]} > 2.5`);
        if (name === "ws") {
          assertEquals(await Deno.readTextFile(`${root}/etc/sysusers.d/pbxkit.conf`), sysusersText());
          assertStringIncludes(r.stdout, "systemd-sysusers /etc/sysusers.d/pbxkit.conf");
        }
      }
      // the reference point of the scale above, and a control that verify does fail: a missing binary
      const plain = `${root}/plain.service`;
      await Deno.writeTextFile(plain, `[Service]\nExecStart=${ROOT}/pbxkit ban --daemon\n`);
      const p = await sh(["systemd-analyze", "security", "--offline=yes", plain], { check: false });
      const pm = /Overall exposure level for \S+: (\d+\.\d+)/.exec(p.stdout + p.stderr);
      assert(pm && Number(pm[1]) >= 9, `unhardened unit scored ${pm?.[1]}`);
      const bad = await runCli(["service", "install", "ban", "--root", `${root}/b`, "--exec", "/nonexistent/pbxkit"]);
      assertEquals(bad.code, 0, bad.stderr);
      const bv = await sh(["systemd-analyze", "verify", `${root}/b/etc/systemd/system/pbxkit-ban.service`], {
        check: false,
      });
      assert(bv.code !== 0, "verify passed a unit whose ExecStart does not exist");
      assertStringIncludes(bv.stderr, "/nonexistent/pbxkit");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

Deno.test("service install: an existing config is kept, the unit replaced; --dry-run writes nothing; bad input", async () => {
  const root = await Deno.makeTempDir({ prefix: "pbxkit-svc-" });
  try {
    await Deno.mkdir(`${root}/etc/pbxkit`, { recursive: true });
    const mine = 'interface = "eth1"\nmax_failures = 3\n';
    await Deno.writeTextFile(`${root}/etc/pbxkit/ban.toml`, mine);
    await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/systemd/system/pbxkit-ban.service`, "old\n");
    const dry = await runCli(["service", "install", "ban", "--root", root, "--dry-run", "--json"]);
    assertEquals(dry.code, 0, dry.stderr);
    const d = JSON.parse(dry.stdout);
    assertEquals(d.files.map((f: { action: string }) => f.action), ["would write", "would keep"]);
    assertEquals(await Deno.readTextFile(`${root}/etc/systemd/system/pbxkit-ban.service`), "old\n");
    const text = await runCli(["service", "install", "tftp", "--root", root, "--dry-run"]);
    assertStringIncludes(text.stdout, "--- /etc/systemd/system/pbxkit-tftp.service");
    assertStringIncludes(text.stdout, "AmbientCapabilities=CAP_NET_BIND_SERVICE");
    assertEquals((await Array.fromAsync(Deno.readDir(`${root}/etc/pbxkit`))).map((e) => e.name), ["ban.toml"]);

    const r = await runCli(["service", "install", "ban", "--root", root, "--json", "--daemon-log-format", "json"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout).files.map((f: { action: string }) => f.action), ["written", "kept"]);
    assertEquals(await Deno.readTextFile(`${root}/etc/pbxkit/ban.toml`), mine);
    const unit = await Deno.readTextFile(`${root}/etc/systemd/system/pbxkit-ban.service`);
    assertMatch(unit, /^ExecStart=\S+\/pbxkit --log-format json ban --daemon --config \/etc\/pbxkit\/ban\.toml$/m);

    for (
      const [args, re] of [
        [["service", "install", "asterisk", "--root", root], /'asterisk' is invalid.*ban, ws, tftp/],
        [["service", "install", "ban", "--root", root, "--exec", "pbxkit"], /--exec: 'pbxkit' must be an absolute/],
        [["service", "install", "ban", "--root", `${root}/etc/pbxkit/ban.toml`], /cannot create/],
        [["service", "frobnicate"], /unknown command 'frobnicate'/],
      ] as const
    ) {
      const b = await runCli(args);
      assert(b.code !== 0, `${args.join(" ")} succeeded`);
      assertEquals(b.stderr.trim().split("\n").length, 1, b.stderr);
      assertMatch(b.stderr, re);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("default configs: parsed by the real loaders, paths match the units' directories, commented keys valid", async () => {
  const root = await Deno.makeTempDir({ prefix: "pbxkit-svc-" });
  try {
    for (const name of SERVICE_NAMES) {
      const r = await runCli(["service", "install", name, "--root", root]);
      assertEquals(r.code, 0, r.stderr);
    }
    // ban: the file as written, then with every commented default switched on
    const banPath = `${root}/etc/pbxkit/ban.toml`;
    const ban = resolveConfig(await readConfigFile(banPath), {});
    assertEquals(ban.statePath, "/var/lib/pbxkit-ban/state.json");
    assertEquals(ban.socketPath, "/run/pbxkit-ban/ctl.sock");
    assertEquals(ban.nice, 0);
    const unit = serviceKeys(unitText("ban"));
    assert(ban.statePath.startsWith(`/var/lib/${unit.get("StateDirectory")![0]}/`));
    assert(ban.socketPath.startsWith(`/run/${unit.get("RuntimeDirectory")![0]}/`));
    assertEquals(unit.get("Nice"), ["-10"]);
    const banAll = uncomment(await Deno.readTextFile(banPath));
    assert(banAll.split("\n").filter((l) => /^[a-z_]+ = /.test(l)).length >= 18, banAll);
    await Deno.writeTextFile(`${root}/all.toml`, banAll);
    const all = resolveConfig(await readConfigFile(`${root}/all.toml`), {});
    assertEquals(all.maxFailures, 10);
    assertEquals(all.notifyCmd, ["/usr/bin/logger", "-t", "pbxkit-ban"]);
    assertEquals(all.pbxAddrs.map((a) => a.text), ["192.0.2.10/32", "2001:db8::10/128"]);

    // tftp
    const tftp = resolveTftpConfig(await readTftpConfigFile(`${root}/etc/pbxkit/tftp.toml`), {});
    assertEquals(tftp.root, `/var/lib/${serviceKeys(unitText("tftp")).get("StateDirectory")![0]}`);
    const tAll = resolveTftpConfig(parseTftpConfigText(uncomment(defaultConfigText("tftp")), "tftp.toml"), {});
    assertEquals([tAll.port, tAll.maxBlksize, tAll.maxUploadSize, tAll.allowWrite], [69, 65464, 1 << 30, false]);

    // ws: ws-serve's own loader when it is there (h14b's lib/ws/config.ts), TOML at least
    const wsText = await Deno.readTextFile(`${root}/etc/pbxkit/ws.toml`);
    const doc = parseToml(wsText) as { echo?: boolean; listen?: { address: string }[] };
    assertEquals(doc.echo, true);
    assertEquals(doc.listen?.map((l) => l.address), ["127.0.0.1:8080"]);
    const wsAll = parseToml(uncomment(wsText)) as { listen: unknown[]; proxy: unknown[]; subprotocols: string[] };
    assertEquals([wsAll.listen.length, wsAll.proxy.length, wsAll.subprotocols], [3, 1, ["sip"]]);
    const spec = "../../lib/ws/config.ts";
    const ws = await import(spec).catch(() => undefined) as
      | { parseWsServeToml?: (t: string, s: string) => unknown }
      | undefined;
    if (ws?.parseWsServeToml) {
      ws.parseWsServeToml(wsText, "ws.toml");
      ws.parseWsServeToml(uncomment(wsText), "ws-all.toml");
    } else console.error("NOTE ws.toml checked as TOML only: lib/ws/config.ts (h14b) has no parseWsServeToml here");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
