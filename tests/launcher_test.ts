import { assertEquals, assertMatch, assertStringIncludes } from "./_util/assert.ts";
import { ROOT, testWith } from "./_util/mod.ts";
import config from "../deno.json" with { type: "json" };

async function copyProject(dir: string): Promise<void> {
  for (const f of ["pbxkit", "cli.ts", "deno.json", "deno.lock"]) await Deno.copyFile(`${ROOT}/${f}`, `${dir}/${f}`);
  for (const d of ["commands", "lib"]) {
    const r = await new Deno.Command("cp", { args: ["-r", `${ROOT}/${d}`, `${dir}/${d}`] }).output();
    assertEquals(r.code, 0);
  }
  await Deno.chmod(`${dir}/pbxkit`, 0o755);
}

async function run(dir: string, args: string[], path: string) {
  const out = await new Deno.Command(`${dir}/pbxkit`, {
    args,
    // Keep the rest of the environment (CA bundles for the registry); only PATH changes.
    env: { ...Deno.env.toObject(), PATH: path, NO_COLOR: "1", PBXKIT_DENO: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

testWith(
  "launcher installs the pinned Deno from npm when none is on PATH, ignores a Deno 1.x, then reuses it",
  { tools: ["npm"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-launcher-" });
    try {
      await copyProject(dir);
      // A fake old deno on PATH must not be used.
      await Deno.mkdir(`${dir}/fakebin`);
      await Deno.writeTextFile(`${dir}/fakebin/deno`, "#!/bin/sh\necho 'deno 1.46.3 (fake)'\nexit 0\n");
      await Deno.chmod(`${dir}/fakebin/deno`, 0o755);
      const npmDir = new URL(".", `file://${(await resolveNpm())}`).pathname;
      const path = `${dir}/fakebin:${npmDir}:/usr/bin:/bin`;
      const first = await run(dir, ["--version"], path);
      assertEquals(first.code, 0, first.stderr);
      assertEquals(first.stdout.trim(), config.version);
      assertStringIncludes(first.stderr, "installing Deno 2.9.6");
      const denoPath = await run(dir, ["--deno-path"], path);
      assertMatch(denoPath.stdout.trim(), new RegExp(`^${dir}/\\.deno/`));
      const v = await run(dir, ["--deno", "--version"], path);
      assertMatch(v.stdout, /^deno 2\.9\.6 /);
      const second = await run(dir, ["--version"], path);
      assertEquals(second.code, 0);
      assertEquals(second.stderr.includes("installing"), false, "second run reuses the installed Deno");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function resolveNpm(): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", "command -v npm"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}
