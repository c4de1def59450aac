// `bbb-pack console` end to end against QEMU's serial pty: Debian's u-boot (stops autoboot, fetches os.bin over
// TFTP, CRC checked on the board against the local file), then a board that never prints (QEMU started paused).
import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { Proc, runCli, testWith, waitFor } from "../_util/mod.ts";
import { UBOOT } from "./uboot_console.ts";
import { pack } from "../../lib/bbb/mod.ts";

async function qemuPty(extra: string[], dir: string): Promise<{ proc: Proc; pty: string }> {
  const proc = new Proc([
    "qemu-system-arm",
    "-M",
    "virt",
    "-m",
    "512",
    "-bios",
    UBOOT,
    "-nographic",
    "-monitor",
    "none",
    "-serial",
    "pty",
    "-netdev",
    `user,id=n0,tftp=${dir}`,
    "-device",
    "virtio-net-device,netdev=n0",
    ...extra,
  ]);
  const m = await waitFor(() => /redirected to (\/dev\/pts\/\d+)/.exec(proc.stdout + proc.stderr), { what: "pty" });
  return { proc, pty: m[1] };
}

testWith("bbb-pack console: u-boot on a QEMU pty, tftp + CRC checked; a silent board times out", {
  tools: ["qemu-system-arm", "stty"],
  files: [UBOOT],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-console-" });
  let q: { proc: Proc; pty: string } | undefined;
  try {
    await Deno.writeFile(`${dir}/k.bin`, crypto.getRandomValues(new Uint8Array(60_000)));
    await Deno.writeFile(`${dir}/a.bin`, crypto.getRandomValues(new Uint8Array(3000)));
    await pack({ kernel: `${dir}/k.bin`, apps: [`${dir}/a.bin`], outDir: `${dir}/out` });
    q = await qemuPty([], `${dir}/out`);
    const r = await runCli([
      "bbb-pack",
      "console",
      "--port",
      q.pty,
      "--out",
      `${dir}/out`,
      "--timeout",
      "30",
      "--run",
      "setenv ipaddr 10.0.2.15; setenv serverip 10.0.2.2; tftp 0x40200000 os.bin; tftp 0x41000000 apps.bin",
    ]);
    assertEquals(r.code, 0, r.stderr + r.stdout);
    assertStringIncludes(r.stdout, "Bytes transferred = 60000 ");
    assertStringIncludes(r.stderr, "step 3/4 tftp 0x40200000 os.bin: 60000 bytes");
    assertStringIncludes(r.stderr, "crc32 ");
    assertStringIncludes(r.stderr, "all 4 step(s) done");
    // the same board: an unknown command fails the run
    const bad = await runCli(["bbb-pack", "console", "--port", q.pty, "--run", "mmc dev 1; echo never"]);
    assertEquals(bad.code, 1, bad.stderr);
    assertStringIncludes(bad.stderr, "Unknown command 'mmc'");
    await q.proc.stop("SIGKILL", 1000);
    // a board that never prints: QEMU paused (-S)
    q = await qemuPty(["-S"], `${dir}/out`);
    const t0 = performance.now();
    const silent = await runCli(["bbb-pack", "console", "--port", q.pty, "--run", "version", "--timeout", "2"]);
    assertEquals(silent.code, 1);
    assertStringIncludes(silent.stderr, "no u-boot prompt within 2 s");
    assert(performance.now() - t0 < 15_000);
  } finally {
    await q?.proc.stop("SIGKILL", 1000);
    await Deno.remove(dir, { recursive: true });
  }
});
