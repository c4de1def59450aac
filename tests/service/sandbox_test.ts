// pbxkit-tftp.service's ExecStart, run the way its sandbox runs it (without booting systemd): a copy of the tracked
// files as a clone gives them, the README's `pbxkit --deno install` (offline, from the Deno cache), then the unit's own
// ExecStart argv and Environment= lines (DENO_DIR under the CacheDirectory) in a mount namespace where the checkout
// and the whole system are read-only and only the state and cache directories are writable (ProtectSystem=strict),
// as an unnamed uid like DynamicUser's, with no new privileges and CAP_NET_BIND_SERVICE as its only capability
// (ambient and bounding set), in the test's own network namespace: it must start, bind port 69 and serve a file.
import { assert, assertEquals, assertMatch } from "../_util/assert.ts";
import { Proc, ROOT, sh, testWith, waitFor } from "../_util/mod.ts";
import { defaultConfigText, unitText } from "../../lib/service/mod.ts";

/** A uid in systemd's DynamicUser range (61184-65519) with no passwd entry. */
const UID = 61999;

// Fixed text; every path comes in as an argument. $1 cache, $2 state (writable), $3 the checkout (read-only).
const MOUNTS = `set -e
mount --bind "$1" "$1"
mount --bind "$2" "$2"
mount --bind "$3" "$3"
mount -o remount,bind,ro "$3"
mount -o remount,bind,ro /
shift 3
exec "$@"`;

/** The files a clone has: git's tracked files, or (no git) everything but what .gitignore keeps out. */
async function cloneFiles(): Promise<string[]> {
  const git = await sh(["git", "-C", ROOT, "ls-files", "-z"], { check: false }).catch(() => undefined);
  if (git?.code === 0) return git.stdout.split("\0").filter((f) => f !== "");
  const skip = new Set([".git", ".deno", "node_modules", ".tmp", "bench/out"]);
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(`${ROOT}/${rel}`)) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (skip.has(p)) continue;
      if (e.isDirectory) walk(p);
      else if (e.isFile) out.push(p);
    }
  };
  walk("");
  return out;
}

testWith(
  "pbxkit-tftp.service ExecStart in its sandbox: read-only checkout and system, dynamic uid, only CAP_NET_BIND_SERVICE",
  { tools: ["unshare", "setpriv", "mount", "ip", "tftp", "env"], root: true },
  async () => {
    const base = await Deno.makeTempDir({ prefix: "pbxkit-sandbox-" });
    await Deno.chmod(base, 0o755);
    const ns = `pbxsbx${Deno.pid % 100000}${Math.floor(Math.random() * 100)}`;
    let netns = false;
    let daemon: Proc | undefined;
    try {
      // the clone: tracked files only (no node_modules, no .deno), readable by everyone as a root-owned /opt clone
      const copy = `${base}/opt/pbxkit`;
      const tracked = await cloneFiles();
      for (const f of tracked) {
        const to = `${copy}/${f}`;
        await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true, mode: 0o755 });
        await Deno.copyFile(`${ROOT}/${f}`, to).catch((err) => {
          if (!(err instanceof Deno.errors.NotFound)) throw err; // deleted in the work tree
        });
      }
      await Deno.chmod(`${copy}/pbxkit`, 0o755);

      const unit = unitText("tftp", { exec: `${copy}/pbxkit` });
      const value = (key: string) =>
        unit.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
      assertEquals(value("DynamicUser"), ["yes"]);
      assertEquals(value("ProtectSystem"), ["strict"]);
      assertEquals(value("AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"]);
      const [cacheName] = value("CacheDirectory"), [stateName] = value("StateDirectory");
      const cache = `${base}/cache`, state = `${base}/state/${stateName}`;
      // systemd makes these directories and gives them to the dynamic user
      for (const d of [`${cache}/${cacheName}`, state]) {
        await Deno.mkdir(d, { recursive: true, mode: 0o755 });
        await Deno.chown(d, UID, UID);
      }
      await Deno.chmod(`${base}/state`, 0o755);
      await Deno.chmod(cache, 0o755);
      const file = crypto.getRandomValues(new Uint8Array(30_000));
      await Deno.writeFile(`${state}/os.bin`, file, { mode: 0o644 });
      // the default config `service install tftp` writes, with the state directory moved into this test's tree
      const cfgText = defaultConfigText("tftp");
      assertMatch(cfgText, /^root = "\/var\/lib\/pbxkit-tftp"$/m);
      await Deno.mkdir(`${base}/etc`, { mode: 0o755 });
      await Deno.writeTextFile(
        `${base}/etc/tftp.toml`,
        cfgText.replace('root = "/var/lib/pbxkit-tftp"', `root = "${state}"`),
        {
          mode: 0o644,
        },
      );

      const [execStart] = value("ExecStart");
      assert(!/["'\\]/.test(execStart), execStart);
      const argv = execStart.split(" ").map((a) => a === "/etc/pbxkit/tftp.toml" ? `${base}/etc/tftp.toml` : a);
      assertEquals(argv.slice(0, 2), [`${copy}/pbxkit`, "tftp-serve"]);
      const env = value("Environment").map((e) => e.replaceAll("%C", cache));
      assert(env.includes(`DENO_DIR=${cache}/${cacheName}/deno`), env.join(" "));

      await sh(["ip", "netns", "add", ns]);
      netns = true;
      await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      const sandbox = (cmd: string[]) => [
        ...["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private"],
        ...["sh", "-c", MOUNTS, "sh", cache, state, copy],
        ...["setpriv", `--reuid=${UID}`, `--regid=${UID}`, "--clear-groups", "--no-new-privs"],
        "--inh-caps=-all,+net_bind_service",
        "--ambient-caps=-all,+net_bind_service",
        "--bounding-set=-all,+net_bind_service",
        ...["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", ...env, `PBXKIT_DENO=${Deno.execPath()}`],
        ...cmd,
      ];

      // the sandbox is what it claims: nothing outside the state and cache directories can be written
      for (const target of [`${copy}/probe`, `${base}/etc/probe`, "/var/tmp/pbxkit-sandbox-probe"]) {
        const t = await sh(sandbox(["/usr/bin/touch", target]), { check: false });
        assert(t.code !== 0 && /Read-only file system/.test(t.stderr), `${target}: ${t.code} ${t.stderr}`);
      }
      assertEquals((await sh(sandbox(["/usr/bin/touch", `${state}/probe`]), { check: false })).code, 0);
      await Deno.remove(`${state}/probe`);

      // README: `sudo /opt/pbxkit/pbxkit --deno install`, here without a network (what it needs is in the cache);
      // before it, the launcher in the read-only checkout says what is missing in one line
      const before = await sh(sandbox(argv), { check: false });
      assertEquals(before.code, 1, before.stderr);
      assertEquals(
        before.stderr.trim(),
        `pbxkit: error: ${copy} has no node_modules and is read-only here: run 'sudo ${copy}/pbxkit --deno install' ` +
          "once [E_NOT_INSTALLED]",
      );
      await sh(["unshare", "-n", "env", `PBXKIT_DENO=${Deno.execPath()}`, `${copy}/pbxkit`, "--deno", "install"]);

      daemon = new Proc(sandbox(argv));
      await waitFor(() => daemon!.stderr.includes("serving ") || daemon!.stderr.includes("error"), {
        timeoutMs: 60_000,
        what: "tftp-serve in the sandbox",
      });
      assertMatch(daemon.stderr, /serving .* on udp \[::\]:69\b/, daemon.stderr);
      // the running process: the dynamic uid, no new privileges, CAP_NET_BIND_SERVICE (bit 10) and nothing else.
      // ip netns exec, unshare, sh, setpriv, env and the launcher all exec: daemon.pid is Deno's
      const status = await Deno.readTextFile(`/proc/${daemon.pid}/status`);
      assertMatch(status, new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, "m"));
      assertMatch(status, /^NoNewPrivs:\s+1$/m);
      assertMatch(status, /^CapEff:\s+0000000000000400$/m);
      assertMatch(status, /^CapBnd:\s+0000000000000400$/m);
      assertMatch(await Deno.readTextFile(`/proc/${daemon.pid}/cmdline`), /deno\0run\0/);

      const got = `${base}/got.bin`;
      await sh(["ip", "netns", "exec", ns, "tftp", "127.0.0.1", "-m", "binary", "-c", "get", "os.bin", got]);
      assertEquals(await Deno.readFile(got), file);
      await waitFor(() => daemon!.stderr.includes("sent os.bin"), { what: "the transfer's log line" });
      // Deno kept its caches where the unit's DENO_DIR says, inside the CacheDirectory
      const cached = [...Deno.readDirSync(`${cache}/${cacheName}/deno`)].map((e) => e.name);
      assert(cached.length > 0, "DENO_DIR is empty");
      const st = await daemon.stop("SIGTERM", 10_000);
      daemon = undefined;
      assertEquals(st.code, 0);
    } finally {
      await daemon?.stop("SIGKILL");
      if (netns) await sh(["ip", "netns", "delete", ns], { check: false });
      await Deno.remove(base, { recursive: true });
    }
  },
);
