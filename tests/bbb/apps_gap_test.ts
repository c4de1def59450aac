// --apps-block auto on eMMC layouts made by sfdisk in the stock BeagleBone Black shapes: FAT + ext4 from 4 MiB (the
// Debian images' two-partition layout) and a single ext4 from 4 MiB; the expected blocks follow from the layout by
// hand (3 MiB boot-loader area, 1 MiB alignment), not from the code under test.
import { assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { runCli, sh, testWith } from "../_util/mod.ts";
import { randomFile } from "../tftp/_helpers.ts";

const MiB = 1024 * 1024;

/** A sparse disk image of `sizeMiB` partitioned by sfdisk from `script`. */
async function sfdiskImage(path: string, sizeMiB: number, script: string): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  await f.truncate(sizeMiB * MiB);
  f.close();
  const p = new Deno.Command("sfdisk", { args: ["--quiet", path], stdin: "piped", stdout: "null", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const st = await p.output();
  if (!st.success) throw new Error(`sfdisk: ${new TextDecoder().decode(st.stderr)}`);
}

testWith("--apps-block auto picks the first free eMMC gap in stock BBB layouts", { tools: ["sfdisk"] }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbb-gap-" });
  try {
    await randomFile(`${dir}/os.bin`, 100_000);
    await randomFile(`${dir}/small.bin`, 300_000); // 586 blocks + 1 table block: fits 3-4 MiB with the margin
    await randomFile(`${dir}/big.bin`, 3 * MiB); // 6145 blocks: fits no gap before 4 MiB
    // FAT (96 MiB) + ext4 to the end, both from 4 MiB, as the BBB Debian images
    await sfdiskImage(
      `${dir}/two.img`,
      512,
      "label: dos\nstart=8192, size=196608, type=c, bootable\nstart=204800, type=83\n",
    );
    // a single ext4 from 4 MiB to the end (the eMMC flasher's layout)
    await sfdiskImage(`${dir}/one.img`, 256, "label: dos\nstart=8192, type=83\n");
    // a single ext4 from 4 MiB that leaves 64 MiB free at the end
    await sfdiskImage(`${dir}/tail.img`, 256, "label: dos\nstart=8192, size=393216, type=83\n");
    const run = (img: string, app: string, extra: string[] = []) =>
      runCli([
        "bbb-pack",
        "--kernel",
        `${dir}/os.bin`,
        "--app",
        `${dir}/${app}`,
        "--out",
        `${dir}/out`,
        "--emmc-mbr",
        img,
        "--apps-block",
        "auto",
        "--json",
        ...extra,
      ]);
    for (const img of ["two.img", "one.img"]) {
      const r = await run(`${dir}/${img}`, "small.bin");
      assertEquals(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout);
      assertEquals(rep.appsGap.start, 3 * MiB / 512, img);
      assertEquals(rep.warnings, [], img);
      const uenv = await Deno.readTextFile(`${dir}/out/uEnv.txt`);
      assertStringIncludes(uenv, `mmc write 0x90000000 0x1800 0x${(1 + Math.ceil(300_000 / 512)).toString(16)};`);
      // and with the MBR sector alone
      await Deno.writeFile(`${dir}/mbr.bin`, (await Deno.readFile(`${dir}/${img}`)).subarray(0, 512));
      const m = await run(`${dir}/mbr.bin`, "small.bin");
      assertEquals(JSON.parse(m.stdout).appsGap.start, 0x1800, m.stderr);
    }
    // too big for the head gap and nothing free after the last partition: a clear error and exit non-zero
    for (const img of ["two.img", "one.img"]) {
      const r = await run(`${dir}/${img}`, "big.bin");
      assertEquals(r.code !== 0, true, `${img}: ${r.stdout}`);
      assertMatch(r.stderr, /--apps-block auto: no free eMMC gap holds apps\.bin \(6145 blocks \+ 512 margin\)/);
      assertStringIncludes(r.stderr, "0x1800-0x1fff (2048 blocks, after the boot-loader area, before partition 1)");
    }
    // room after the last partition: the first 1 MiB boundary after it (8192 + 393216 = 401408 = 196 MiB)
    const t = await run(`${dir}/tail.img`, "big.bin");
    assertEquals(t.code, 0, t.stderr);
    assertEquals(JSON.parse(t.stdout).appsGap.start, 401408);
    // the kernel written raw (--flash-kernel at 0x1800) is avoided too
    const k = await run(`${dir}/tail.img`, "small.bin", ["--flash-kernel", "--kernel-block", "0x1800"]);
    assertEquals(k.code, 0, k.stderr);
    // the kernel takes 0x1800 + 196 blocks; the rest of 3-4 MiB (1852 blocks, unaligned) still holds 587 + 512
    assertEquals(JSON.parse(k.stdout).appsGap.start, 0x1800 + Math.ceil(100_000 / 512));
    // auto without a layout is a usage error
    const u = await runCli([
      "bbb-pack",
      "--kernel",
      `${dir}/os.bin`,
      "--app",
      `${dir}/small.bin`,
      "--out",
      `${dir}/o2`,
      "--apps-block",
      "auto",
    ]);
    assertEquals(u.code !== 0, true);
    assertStringIncludes(u.stderr, "--apps-block auto needs --emmc-mbr FILE");
    // the chosen region is reported as clear by sfdisk's own view of the partitions
    const sf = JSON.parse((await sh(["sfdisk", "--json", `${dir}/two.img`])).stdout);
    assertEquals(sf.partitiontable.partitions[0].start, 8192);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
