// --self-update against the real thing: Debian's u-boot for QEMU's ARM virt board boots with a virtio disk made by
// `bbb-pack --sdcard` (script A on its FAT partition) and QEMU's own TFTP server (10.0.2.2) serving the new script.
// u-boot runs what the BeagleBone's stock bootcmd runs (load uEnv.txt from the boot partition, env import -t, run
// uenvcmd); after a `reset` it runs whatever the partition then holds. The disk is checked afterwards with mtools
// and fsck.fat, independently of u-boot and of pbxkit's FAT reader.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { sh, testWith } from "../_util/mod.ts";
import { UBOOT, UbootConsole } from "./uboot_console.ts";
import { pack, SELF_UPDATE_TAG } from "../../lib/bbb/mod.ts";
import type { PackOptions } from "../../lib/bbb/mod.ts";

/** Boot the way the BeagleBone does, up to the jump into the kernel (which never returns: reset after it). */
function boot(con: UbootConsole): Promise<string> {
  return con.runUntil(BBB_BOOT, /## Starting application at 0x[0-9a-f]+/, 60_000);
}

/** What the BeagleBone's stock u-boot does with uEnv.txt, for a virtio disk. */
const BBB_BOOT = "fatload virtio 0:1 0x48000000 uEnv.txt; env import -t 0x48000000 ${filesize}; run uenvcmd";

testWith(
  "--self-update: u-boot fetches a new uEnv.txt over TFTP, fatwrites it, and runs it after a reset; guards hold",
  { tools: ["qemu-system-arm", "mtype", "mdir", "fsck.fat"], files: [UBOOT] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bbb-selfup-" });
    let con: UbootConsole | undefined;
    try {
      await Deno.writeFile(`${dir}/k1.bin`, new TextEncoder().encode("kernel stand-in"));
      await Deno.writeFile(`${dir}/app.bin`, new TextEncoder().encode("app ".repeat(300)));
      await Deno.writeFile(`${dir}/MLO`, new TextEncoder().encode("MLO stand-in"));
      await Deno.writeFile(`${dir}/u-boot.img`, new TextEncoder().encode("u-boot.img stand-in"));
      await Deno.mkdir(`${dir}/tftp`);
      const base: PackOptions = {
        kernel: `${dir}/k1.bin`,
        apps: [`${dir}/app.bin`],
        outDir: `${dir}/a`,
        ipaddr: "10.0.2.15",
        serverip: "10.0.2.2",
        ddrBase: 0x40000000,
        kernelAddr: 0x40200000,
        appsAddr: 0x41000000,
        selfUpdate: { part: "virtio 0:1" },
        sourceDateEpoch: 1_764_806_400,
      };
      // A: on the disk, made by bbb-pack --sdcard
      const a = await pack({
        ...base,
        sdcard: `${dir}/sd.img`,
        mlo: `${dir}/MLO`,
        uboot: `${dir}/u-boot.img`,
        sdcardSize: 40 * 1024 * 1024,
      });
      const textA = await Deno.readTextFile(`${dir}/a/uEnv.txt`);
      // B: served over TFTP; another kernel address, so its run is told apart on the console
      const b = await pack({ ...base, outDir: `${dir}/tftp`, kernelAddr: 0x40400000 });
      const textB = await Deno.readTextFile(`${dir}/tftp/uEnv.txt`);
      assert(textA !== textB);
      assertStringIncludes(a.uenvcmd, "run pbx_up; tftp 0x40200000 os.bin");
      assertStringIncludes(b.uenvcmd, "tftp 0x40400000 os.bin");

      con = await UbootConsole.boot(60_000, { disk: `${dir}/sd.img`, tftpDir: `${dir}/tftp` });
      // First boot: A runs, fetches B, finds it different, writes it, then the rest of A runs (B's os.bin at A's
      // address; the BBB's mmc commands do not exist on this board).
      let out = await boot(con);
      assertStringIncludes(out, "Load address: 0x40301000", out); // B fetched into A's scratch (kernel + 1 MiB + 4 KiB)
      assertStringIncludes(out, `Bytes transferred = ${new TextEncoder().encode(textB).length} `);
      assertStringIncludes(out, `${SELF_UPDATE_TAG} wrote new uEnv.txt to virtio 0:1, reset to run it`);
      assertMatch(out, /Filename 'os.bin'.\s+Load address: 0x40200000[^]*## Starting application at 0x40200000/);
      assert(!out.includes("0x40400000"), "A's own commands ran after the update, not B's");
      // the disk now holds B, read while the board is up (QEMU writes through to the image file)
      assertEquals((await sh(["mtype", "-i", `${dir}/sd.img@@1M`, "::uEnv.txt"])).stdout, textB);

      // After a reset: the partition holds B, and u-boot runs B, which finds itself up to date.
      await con.reset();
      out = await boot(con);
      assertStringIncludes(out, `${SELF_UPDATE_TAG} uEnv.txt unchanged`, out);
      assertStringIncludes(out, "Total of 1 word(s) were the same");
      assertMatch(out, /Filename 'os.bin'.\s+Load address: 0x40400000[^]*## Starting application at 0x40400000/);
      assert(!out.includes("wrote new"));

      // Guard: a fetched script that env import -t rejects is not written.
      await Deno.writeTextFile(`${dir}/tftp/uEnv.txt`, "pbx_kind=dev\n=oops no name\nuenvcmd=echo broken\n");
      await con.reset();
      out = await boot(con);
      assertStringIncludes(out, "## Error: Environment import failed", out);
      assertStringIncludes(out, `${SELF_UPDATE_TAG} fetched uEnv.txt fails env import -t, not written`);
      assertStringIncludes(out, "Load address: 0x40400000");
      // Guard: a text file that is not a pbxkit script (no pbx_kind) is not written either.
      await Deno.writeTextFile(`${dir}/tftp/uEnv.txt`, "uenvcmd=echo hand-written\n");
      await con.reset();
      out = await boot(con);
      assertStringIncludes(out, `${SELF_UPDATE_TAG} fetched uEnv.txt has no pbx_kind, not written`, out);

      // A dev script may be replaced by a stable self-updating one (C)...
      const stableOpts = { ...base, mode: "stable" as const, kernelAddr: 0x40600000, kernelBlock: 0x800 };
      await pack({ ...stableOpts, outDir: `${dir}/tftp` });
      const textC = await Deno.readTextFile(`${dir}/tftp/uEnv.txt`);
      await con.reset();
      out = await boot(con);
      assertStringIncludes(out, `${SELF_UPDATE_TAG} wrote new uEnv.txt`, out);
      // ...which never takes a plain dev script (D)
      await pack({ ...base, outDir: `${dir}/tftp`, kernelAddr: 0x40800000 });
      await con.reset();
      out = await boot(con);
      assertStringIncludes(out, "Load address: 0x40701000", out); // C's scratch
      assertStringIncludes(out, `${SELF_UPDATE_TAG} fetched dev uEnv.txt not written over a stable one`);
      assertStringIncludes(out, "## Starting application at 0x40600000");
      assert(!out.includes("wrote new"));
      await con.close();
      con = undefined;

      // The disk, read by mtools and checked by fsck.fat: the stable script C, byte for byte.
      assertEquals((await sh(["mtype", "-i", `${dir}/sd.img@@1M`, "::uEnv.txt"])).stdout, textC);
      const ls = (await sh(["mdir", "-i", `${dir}/sd.img@@1M`, "-b", "::"])).stdout;
      assertEquals(ls.trim().split("\n").map((l) => l.trim()).sort(), ["::/MLO", "::/u-boot.img", "::/uEnv.txt"]);
      await Deno.writeFile(`${dir}/part.img`, (await Deno.readFile(`${dir}/sd.img`)).subarray(2048 * 512));
      const fsck = await sh(["fsck.fat", "-n", `${dir}/part.img`], { check: false });
      assertEquals(fsck.code, 0, fsck.stdout + fsck.stderr);
    } finally {
      await con?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
