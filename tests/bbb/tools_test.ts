// bbb-pack against real tools: mkimage (u-boot-tools), fsck.fat/mdir/mtype/sfdisk (dosfstools, mtools, fdisk),
// and the CLI end to end (build, inspect, --watch).
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { cliArgv, freeUdpPort, Proc, runCli, sh, testWith, waitFor } from "../_util/mod.ts";
import { buildUImage, crc32, hex32 } from "../../lib/bbb/mod.ts";
import { runArgv } from "../../lib/common/mod.ts";
import { bbbPackArgs, curlGet, randomFile, waitForLog } from "../tftp/_helpers.ts";

/** mkimage -A arm -O linux -T kernel -C none for `input`, as u-boot-tools would build our uImage. */
async function mkimage(
  io: { input: string; output: string },
  h: { load: number; entry: number; name: string },
  epoch: number,
): Promise<void> {
  const args = ["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none"];
  args.push("-a", h.load.toString(16), "-e", h.entry.toString(16), "-n", h.name, "-d", io.input, io.output);
  await runArgv(["mkimage", ...args], { env: { SOURCE_DATE_EPOCH: String(epoch) } });
}

async function sha(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

testWith("uImage is byte-identical to mkimage with the same SOURCE_DATE_EPOCH", { tools: ["mkimage"] }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-mkimage-" });
  try {
    for (
      const [size, load, entry, name, epoch] of [
        [300_001, 0x80000000, 0x80000000, "os.bin", 1_700_000_000],
        [4096, 0x80008000, 0x80008040, "pbxkit bare-metal kernel 1.0", 0],
        [1, 0x82000000, 0x82000000, "x", 2_000_000_000],
        [70_000, 0x80000000, 0x80000000, "a".repeat(31), 1_234_567_890],
      ] as const
    ) {
      const data = await randomFile(`${dir}/os.bin`, size);
      await mkimage({ input: `${dir}/os.bin`, output: `${dir}/mk.img` }, { load, entry, name }, epoch);
      const theirs = await Deno.readFile(`${dir}/mk.img`);
      const ours = buildUImage(data, { load, entry, name, time: epoch });
      assertEquals(ours.length, theirs.length);
      assertEquals(hex32(crc32(ours)), hex32(crc32(theirs)), `uImage for ${name} (${size} bytes)`);
    }
    // And through the CLI (time from SOURCE_DATE_EPOCH, name from --uimage-name).
    await randomFile(`${dir}/k.bin`, 12_345);
    await randomFile(`${dir}/a.bin`, 100);
    const r = await runCli([
      "bbb-pack",
      "--kernel",
      `${dir}/k.bin`,
      "--app",
      `${dir}/a.bin`,
      "--out",
      `${dir}/out`,
      "--uimage",
      "--uimage-name",
      "bbb",
      "--kernel-addr",
      "0x80008000",
    ], { env: { SOURCE_DATE_EPOCH: "1600000000" } });
    assertEquals(r.code, 0, r.stderr);
    await mkimage(
      { input: `${dir}/k.bin`, output: `${dir}/mk2.img` },
      { load: 0x80008000, entry: 0x80008000, name: "bbb" },
      1_600_000_000,
    );
    assertEquals(await sha(`${dir}/out/uImage`), await sha(`${dir}/mk2.img`));
    const dump = await sh(["mkimage", "-l", `${dir}/out/uImage`]);
    assertStringIncludes(dump.stdout, "Load Address: 80008000");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWith(
  "SD-card image: sfdisk -l, fsck.fat -n, mdir/mtype list MLO first, byte-for-byte reproducible",
  { tools: ["sfdisk", "fsck.fat", "mdir", "mtype", "mcopy"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bbb-sd-" });
    try {
      const mlo = await randomFile(`${dir}/MLO`, 70_000);
      await randomFile(`${dir}/u-boot.img`, 450_000);
      await randomFile(`${dir}/os.bin`, 200_000);
      await randomFile(`${dir}/a.bin`, 5000);
      const args = [
        "bbb-pack",
        "--kernel",
        `${dir}/os.bin`,
        "--app",
        `${dir}/a.bin`,
        "--ipaddr",
        "192.168.7.2",
        "--serverip",
        "192.168.7.1",
        "--mlo",
        `${dir}/MLO`,
        "--uboot",
        `${dir}/u-boot.img`,
      ];
      const r1 = await runCli([...args, "--out", `${dir}/o1`, "--sdcard", `${dir}/sd1.img`]);
      assertEquals(r1.code, 0, r1.stderr);
      // Different time of day, same inputs: identical bytes.
      await new Promise((r) => setTimeout(r, 1100));
      const r2 = await runCli([...args, "--out", `${dir}/o2`, "--sdcard", `${dir}/sd2.img`]);
      assertEquals(r2.code, 0, r2.stderr);
      assertEquals(await sha(`${dir}/sd1.img`), await sha(`${dir}/sd2.img`), "reproducible");

      const img = `${dir}/sd1.img`;
      const sf = await sh(["sfdisk", "-l", img]);
      assertMatch(sf.stdout, /sd1\.img1\s+\*\s+2048\s+\d+\s+131072\s+64M\s+c W95 FAT32 \(LBA\)/);
      const sfj = JSON.parse((await sh(["sfdisk", "--json", img])).stdout);
      assertEquals(sfj.partitiontable.partitions.length, 1);

      // fsck.fat on the partition's bytes.
      const whole = await Deno.readFile(img);
      await Deno.writeFile(`${dir}/part.img`, whole.subarray(2048 * 512));
      const fsck = await sh(["fsck.fat", "-n", `${dir}/part.img`], { check: false });
      assertEquals(fsck.code, 0, fsck.stdout + fsck.stderr);
      assertMatch(fsck.stdout, /files, \d+\/\d+ clusters/);

      const mdir = await sh(["mdir", "-i", `${img}@@1M`, "::"]);
      const names = mdir.stdout.split("\n").filter((l) =>
        /^\S/.test(l) && !/^(Directory|\s)/.test(l) && !/ Volume/.test(l)
      );
      assertMatch(names[0], /^MLO\s+70000/);
      assertStringIncludes(mdir.stdout, "uEnv.txt");
      assertMatch(mdir.stdout, /u-boot\s+img\s+450000/);
      assertStringIncludes(mdir.stdout, "BBB-BOOT");
      const uenv = await sh(["mtype", "-i", `${img}@@1M`, "::uEnv.txt"]);
      assertEquals(uenv.stdout, await Deno.readTextFile(`${dir}/o1/uEnv.txt`));
      await sh(["mcopy", "-n", "-i", `${img}@@1M`, "::MLO", `${dir}/MLO.out`]);
      assertEquals(crc32(await Deno.readFile(`${dir}/MLO.out`)), crc32(mlo));
      // The first root-directory entry is MLO (the AM335x ROM looks for it there).
      const part = whole.subarray(2048 * 512);
      const dv = new DataView(part.buffer, part.byteOffset);
      const rsvd = dv.getUint16(14, true), fatSz = dv.getUint32(36, true), spc = part[13];
      const rootOff = (rsvd + 2 * fatSz) * 512;
      assertEquals(new TextDecoder().decode(part.subarray(rootOff, rootOff + 11)), "MLO        ");
      assertEquals(spc, 1);
      // Missing --uboot is a usage error.
      const bad = await runCli(bbbPackArgs(dir, `${dir}/o3`, ["--sdcard", `${dir}/x.img`, "--mlo", `${dir}/MLO`]));
      assertEquals(bad.code, 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWith("--emmc-mbr: warns when the raw apps region overlaps a partition of an sfdisk-made disk image", {
  tools: ["sfdisk"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-emmc-" });
  try {
    const f = await Deno.open(`${dir}/emmc.img`, { create: true, write: true });
    await f.truncate(200 * 1024 * 1024);
    f.close();
    // A BBB-like eMMC: a 100 MiB Linux partition from 4 MiB, the rest free.
    await sh(["sfdisk", "--no-reread", "--no-tell-kernel", `${dir}/emmc.img`], {
      stdin: "label: dos\nstart=8192, size=204800, type=83\n",
    });
    await randomFile(`${dir}/os.bin`, 1000);
    await randomFile(`${dir}/a.bin`, 1000);
    const base = bbbPackArgs(dir, `${dir}/o`, ["--emmc-mbr", `${dir}/emmc.img`]);
    const r = await runCli(base); // apps block 0x28000 = 80 MiB: inside the partition
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, /warn.*overlaps partition 1 \(Linux, blocks 0x2000-0x33fff\)/);
    const ok = await runCli([...base, "--apps-block", "0x40000", "--json"]);
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(JSON.parse(ok.stdout).warnings, []);
    // GPT behind a protective MBR (a whole image is needed: the entries live after sector 1).
    await sh(["sfdisk", "--no-reread", "--no-tell-kernel", "--wipe", "always", `${dir}/emmc.img`], {
      stdin: "label: gpt\nstart=8192, size=204800, name=rootfs\n",
    });
    const g = await runCli(base);
    assertEquals(g.code, 0, g.stderr);
    assertMatch(g.stderr, /overlaps partition 1 \(rootfs, blocks 0x2000-0x33fff\)/);
    await sh(["sfdisk", "--no-reread", "--no-tell-kernel", "--wipe", "always", `${dir}/emmc.img`], {
      stdin: "label: dos\nstart=8192, size=204800, type=83\n",
    });
    // Only the MBR sector is enough too.
    await Deno.writeFile(`${dir}/mbr.bin`, (await Deno.readFile(`${dir}/emmc.img`)).subarray(0, 512));
    const r2 = await runCli([...base.slice(0, -1), `${dir}/mbr.bin`]);
    assertMatch(r2.stderr, /overlaps partition 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: build, inspect table and JSON, refusals with one-line errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-cli-" });
  try {
    await randomFile(`${dir}/os.bin`, 10_000);
    await randomFile(`${dir}/a.bin`, 1000);
    await randomFile(`${dir}/b.bin`, 150_000);
    const r = await runCli([
      "bbb-pack",
      "--kernel",
      `${dir}/os.bin`,
      "--app",
      `${dir}/a.bin`,
      "--app",
      `${dir}/b.bin`,
      "--out",
      `${dir}/out`,
      "--json",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assertEquals(rep.apps.map((a: { size: number }) => a.size), [1024, 150_016]);
    assertMatch(rep.uenvcmd, /mmc write 0x90000000 0x28000 0x128; go 0x80000000$/);
    assertEquals(await Deno.readTextFile(`${dir}/out/uEnv.txt`), `uenvcmd=${rep.uenvcmd}\n`);
    const ins = await runCli(["bbb-pack", "inspect", `${dir}/out/apps.bin`, "--json"]);
    assertEquals(ins.code, 0, ins.stderr);
    const info = JSON.parse(ins.stdout).info;
    assertEquals(info.apps.map((a: { offset: number }) => a.offset), [512, 1536]);
    const txt = await runCli(["bbb-pack", "inspect", `${dir}/out/apps.bin`]);
    assertMatch(txt.stdout, /2 app\(s\)/);
    assertMatch(txt.stdout, /1\s+0x600\s+150016\s+0x125\s+150000/);
    // A file that is not an apps image: table printed, one error line, non-zero.
    const junk = await runCli(["bbb-pack", "inspect", `${dir}/os.bin`]);
    assert(junk.code !== 0);
    assertEquals(junk.stderr.trim().split("\n").length, 1);
    assertMatch(junk.stderr.trim(), /\[E_PARSE\]$/);
    // Kernel over the limit, overlapping RAM, bad mode: one line each, nothing written.
    for (
      const [args, code] of [
        [["--kernel-max", "5KiB"], "E_LIMIT"],
        [["--apps-addr", "0x80001000"], "E_INVALID_INPUT"],
        [["--apps-addr", "0x9fff0000"], "E_INVALID_INPUT"],
        [["--mode", "fast"], "E_USAGE"],
        [["--ipaddr", "300.1.1.1"], "E_USAGE"],
        [["--ipaddr", ""], "E_USAGE"],
        [["--ddr-size", "100TiB"], "E_INVALID_INPUT"],
        [["--uboot-reserve", "1TiB"], "E_INVALID_INPUT"],
      ] as const
    ) {
      const x = await runCli(bbbPackArgs(dir, `${dir}/bad`, args));
      assert(x.code !== 0, args.join(" "));
      assertEquals(x.stderr.trim().split("\n").length, 1, x.stderr);
      assertStringIncludes(x.stderr, `[${code}]`);
    }
    assert(!(await Deno.stat(`${dir}/bad`).catch(() => undefined)), "nothing written after a refusal");
    // --out is a file, --sdcard is a directory: one clean line (no "os error"), nothing replaced.
    for (
      const [out, extra, re] of [
        [`${dir}/os.bin`, [], /--out: cannot create directory .*: file exists \[E_EXISTS\]$/],
        [`${dir}/out2`, ["--sdcard", dir, "--mlo", `${dir}/a.bin`, "--uboot", `${dir}/a.bin`], /is a directory/],
      ] as const
    ) {
      const x = await runCli(bbbPackArgs(dir, out, extra));
      assertEquals(x.code, 1, x.stderr);
      assertEquals(x.stderr.trim().split("\n").length, 1, x.stderr);
      assertMatch(x.stderr.trim(), re);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--watch rebuilds apps.bin when an app changes and keeps the last good build on errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-watch-" });
  await randomFile(`${dir}/os.bin`, 1000);
  await randomFile(`${dir}/a.bin`, 1000);
  const p = new Proc(cliArgv(bbbPackArgs(dir, `${dir}/out`, ["--watch"])));
  try {
    await waitForLog(p, "watching", "watch start");
    assertStringIncludes(p.stderr, "watching");
    const before = inspectTable(await Deno.readFile(`${dir}/out/apps.bin`));
    assertEquals(before, [1024]);
    await Deno.writeFile(`${dir}/a.bin`, new Uint8Array(3000).fill(7));
    await waitFor(() => p.stderr.includes("rebuilt after change"), { timeoutMs: 15_000, what: "rebuild" });
    assertEquals(inspectTable(await Deno.readFile(`${dir}/out/apps.bin`)), [3072]);
    // An empty app is refused: the previous apps.bin stays.
    await Deno.writeFile(`${dir}/a.bin`, new Uint8Array());
    await waitFor(() => p.stderr.includes("rebuild failed"), { timeoutMs: 15_000, what: "failed rebuild" });
    assertEquals(inspectTable(await Deno.readFile(`${dir}/out/apps.bin`)), [3072]);
  } finally {
    const st = await p.stop("SIGINT");
    assertEquals(st.code, 0, p.stderr);
    await Deno.remove(dir, { recursive: true });
  }
});

function inspectTable(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset);
  const out: number[] = [];
  for (let i = 0; i < 128 && dv.getUint32(i * 4, true); i++) out.push(dv.getUint32(i * 4, true));
  return out;
}

testWith("CLI --tftp serves the output directory until SIGTERM", { tools: ["curl"] }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-tftp-cli-" });
  const os = await randomFile(`${dir}/os.bin`, 100_000);
  await randomFile(`${dir}/a.bin`, 1000);
  const port = freeUdpPort(); // a kernel-chosen free port, not a guess that may be taken (or ephemeral)
  const tftp = ["--tftp", "--tftp-port", String(port), "--tftp-address", "127.0.0.1"];
  const p = new Proc(cliArgv(bbbPackArgs(dir, `${dir}/out`, tftp)));
  try {
    await waitForLog(p, "tftp: serving", "server start");
    assertStringIncludes(p.stderr, `127.0.0.1:${port}`);
    await sh(curlGet(`tftp://127.0.0.1:${port}/os.bin`, `${dir}/got`, 10));
    assertEquals(crc32(await Deno.readFile(`${dir}/got`)), crc32(os));
    await waitFor(() => p.stderr.includes("sent os.bin"), { timeoutMs: 15_000, what: "transfer log line" });
  } finally {
    const st = await p.stop("SIGTERM");
    assertEquals(st.code, 0, p.stderr);
    await Deno.remove(dir, { recursive: true });
  }
});
