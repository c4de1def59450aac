// `bbb-pack console` end to end against QEMU's serial port, as a pty and as a unix socket: Debian's u-boot stops
// autoboot and fetches os.bin and apps.bin from pbxkit's own TFTP server, each CRC checked on the board against the
// local file; then a board that never prints (QEMU started paused). QEMU and `pbxkit tftp-serve` run in a test
// namespace: the guest's TFTP goes out of QEMU's user network to the namespace's own address (QEMU's user network
// answers TFTP to its 10.0.2.2 itself, with "Access violation" when it has no tftp= directory).
import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { cliArgv, type Proc, runCli, TestNet, testWith, waitFor } from "../_util/mod.ts";
import { UBOOT } from "./uboot_console.ts";
import { pack } from "../../lib/bbb/mod.ts";

/** QEMU's virt board running u-boot with its first serial port as `serial` (`pty` or `unix:PATH,server=on,...`). */
async function qemu(net: TestNet, serial: string, extra: string[] = []): Promise<{ proc: Proc; pty: string }> {
  const proc = net.spawn("board", [
    "qemu-system-arm",
    ...["-M", "virt", "-m", "512", "-bios", UBOOT, "-nographic", "-monitor", "none", "-serial", serial],
    ...["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"],
    ...extra,
  ]);
  if (serial !== "pty") return { proc, pty: "" };
  const m = await waitFor(() => /redirected to (\/dev\/pts\/\d+)/.exec(proc.stdout + proc.stderr), { what: "pty" });
  return { proc, pty: m[1] };
}

const fetch = (server: string) =>
  `setenv ipaddr 10.0.2.15; setenv netmask 255.255.255.0; setenv gatewayip 10.0.2.2; setenv serverip ${server}; tftp 0x40200000 os.bin; tftp 0x41000000 apps.bin`;

testWith("bbb-pack console: u-boot on a QEMU pty and unix socket, tftp from pbxkit + CRC; a silent board times out", {
  tools: ["qemu-system-arm", "stty", "ip"],
  files: [UBOOT],
  root: true, // the guest's TFTP client can only use port 69
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-console-" });
  let q: { proc: Proc; pty: string } | undefined;
  const net = await TestNet.create(["board"]);
  const server = net.hosts.board.ipv4;
  const FETCH = fetch(server);
  try {
    await Deno.writeFile(`${dir}/k.bin`, crypto.getRandomValues(new Uint8Array(60_000)));
    await Deno.writeFile(`${dir}/a.bin`, crypto.getRandomValues(new Uint8Array(3000)));
    await pack({ kernel: `${dir}/k.bin`, apps: [`${dir}/a.bin`], outDir: `${dir}/out` });
    const tftpd = net.spawn("board", cliArgv(["tftp-serve", "--root", `${dir}/out`, "--address", server]));
    await waitFor(() => /serving/.test(tftpd.stderr + tftpd.stdout), { what: `tftp-serve${tftpd.stderr}` });

    q = await qemu(net, "pty");
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
      FETCH,
    ]);
    assertEquals(r.code, 0, r.stderr + r.stdout + "\n--- tftp-serve\n" + tftpd.stderr + tftpd.stdout);
    assertStringIncludes(r.stdout, "Bytes transferred = 60000 ");
    assertStringIncludes(r.stderr, "step 5/6 tftp 0x40200000 os.bin: 60000 bytes");
    assertStringIncludes(r.stderr, "crc32 ");
    assertStringIncludes(r.stderr, "all 6 step(s) done");
    // the transfers came from pbxkit's server: it logged both
    await waitFor(() => /apps\.bin/.test(tftpd.stderr + tftpd.stdout), { what: "tftp-serve log of apps.bin" });
    assertStringIncludes(tftpd.stderr + tftpd.stdout, "sent os.bin to ");
    // the same board: an unknown command fails the run
    const bad = await runCli(["bbb-pack", "console", "--port", q.pty, "--run", "mmc dev 1; echo never"]);
    assertEquals(bad.code, 1, bad.stderr);
    assertStringIncludes(bad.stderr, "Unknown command 'mmc'");
    await q.proc.stop("SIGKILL", 1000);

    // QEMU's -serial unix:PATH,server: the console connects to the socket
    const sock = `${dir}/console.sock`;
    q = await qemu(net, `unix:${sock},server=on,wait=off`);
    await waitFor(async () => (await Deno.stat(sock).catch(() => undefined))?.isSocket === true, { what: "socket" });
    const u = await runCli(["bbb-pack", "console", "--port", sock, "--out", `${dir}/out`, "--run", FETCH, "--json"]);
    assertEquals(u.code, 0, u.stderr + u.stdout);
    const steps = u.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert(steps.length >= 6, u.stdout);
    assertStringIncludes(u.stdout, "apps.bin");
    await q.proc.stop("SIGKILL", 1000);

    // a board that never prints: QEMU paused (-S)
    q = await qemu(net, "pty", ["-S"]);
    const t0 = performance.now();
    const silent = await runCli(["bbb-pack", "console", "--port", q.pty, "--run", "version", "--timeout", "2"]);
    assertEquals(silent.code, 1);
    assertStringIncludes(silent.stderr, "no u-boot prompt within 2 s");
    assert(performance.now() - t0 < 15_000);
  } finally {
    await q?.proc.stop("SIGKILL", 1000);
    await net.close();
    await Deno.remove(dir, { recursive: true });
  }
});
