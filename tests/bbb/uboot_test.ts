// The real client: Debian's u-boot for QEMU's ARM "virt" board fetches the images from pbxkit's TFTP server on the
// host's port 69 (QEMU user networking; serverip 255.255.255.255 reaches the host, 10.0.2.2:69 is QEMU's own TFTP),
// checks them with crc32, imports uEnv.txt and verifies the uImage with iminfo. Port 69 is used by this file only.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_util/assert.ts";
import { settle, testWith, waitFor } from "../_util/mod.ts";
import { UBOOT, UbootConsole } from "./uboot_console.ts";
import { crc32, hex32, pack } from "../../lib/bbb/mod.ts";
import { TftpServer } from "../../lib/tftp/mod.ts";
import type { TransferEvent } from "../../lib/tftp/mod.ts";
import { Logger } from "../../lib/common/mod.ts";
import { randomBytes as rand } from "../tftp/_helpers.ts";

async function listen69(root: string, events: TransferEvent[]): Promise<TftpServer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await TftpServer.listen({
        root,
        port: 69,
        onEvent: (e) => events.push(e),
        log: new Logger({ level: "error" }),
        progress: false,
      });
    } catch (err) {
      // Another run of these tests may still hold port 69 for a moment.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

testWith(
  "u-boot under QEMU fetches os.bin, apps.bin, uEnv.txt and uImage from pbxkit's TFTP server",
  { tools: ["qemu-system-arm"], files: [UBOOT], root: true },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bbb-uboot-" });
    const events: TransferEvent[] = [];
    let srv: TftpServer | undefined;
    let con: UbootConsole | undefined;
    try {
      await Deno.writeFile(`${dir}/os.bin`, rand(1_500_000 + 3));
      await Deno.writeFile(`${dir}/a.bin`, rand(200_000));
      await Deno.writeFile(`${dir}/b.bin`, rand(3000));
      const rep = await pack({
        kernel: `${dir}/os.bin`,
        apps: [`${dir}/a.bin`, `${dir}/b.bin`],
        outDir: `${dir}/out`,
        ipaddr: "10.0.2.15",
        serverip: "255.255.255.255",
        uimage: true,
        uimageName: "pbxkit test kernel",
        sourceDateEpoch: 1_700_000_000,
      });
      const file = (n: string) => rep.files.find((f) => f.name === n)!;
      srv = await listen69(`${dir}/out`, events);
      con = await UbootConsole.boot();
      await con.run("setenv ipaddr 10.0.2.15; setenv serverip 255.255.255.255");

      // os.bin, lockstep with u-boot's default blksize
      const KADDR = 0x40200000, AADDR = 0x41000000, UADDR = 0x42000000, IADDR = 0x43000000;
      let out = await con.run(`tftp ${KADDR.toString(16)} os.bin`);
      assertMatch(out, new RegExp(`Bytes transferred = ${file("os.bin").size} `), out);
      assertEquals(await con.crc32(KADDR, file("os.bin").size), file("os.bin").crc32);

      // apps.bin with windowsize 8 and an explicit blksize
      await con.run("setenv tftpwindowsize 8; setenv tftpblocksize 1428");
      out = await con.run(`tftp ${AADDR.toString(16)} apps.bin`);
      assertMatch(out, new RegExp(`Bytes transferred = ${file("apps.bin").size} `), out);
      assertEquals(await con.crc32(AADDR, file("apps.bin").size), file("apps.bin").crc32);
      const appsEv = await waitFor(() => events.find((e) => e.kind === "done" && e.file === "apps.bin"), {
        what: "apps.bin done",
      });
      assertEquals([appsEv.windowsize, appsEv.blksize], [8, 1428]);
      // and the same again without windowsize (plain lockstep, default blksize)
      await con.run("setenv tftpwindowsize 1; setenv tftpblocksize 512");
      await con.run(`mw.b ${AADDR.toString(16)} 0 ${file("apps.bin").size.toString(16)}`);
      out = await con.run(`tftp ${AADDR.toString(16)} apps.bin`);
      assertStringIncludes(out, "Bytes transferred");
      assertEquals(await con.crc32(AADDR, file("apps.bin").size), file("apps.bin").crc32);
      const lockstep = await waitFor(() => {
        const done = events.filter((e) => e.kind === "done" && e.file === "apps.bin");
        return done.length >= 2 ? done.at(-1) : undefined;
      }, { what: "second apps.bin done" });
      assertEquals([lockstep.windowsize, lockstep.blksize], [1, 512]);

      // uEnv.txt: env import -t, then the uenvcmd is exactly what pbxkit wrote
      out = await con.run(`tftp ${UADDR.toString(16)} uEnv.txt`);
      assertStringIncludes(out, `Bytes transferred = ${file("uEnv.txt").size} `);
      await con.run(`env import -t ${UADDR.toString(16)} \${filesize}`);
      out = await con.run("printenv uenvcmd");
      assertStringIncludes(out, `uenvcmd=${rep.uenvcmd}\r`);
      assert(!out.includes("\r\r"), "no stray carriage return in the imported value");

      // uImage: iminfo verifies the header and data checksums
      out = await con.run(`tftp ${IADDR.toString(16)} uImage`);
      assertStringIncludes(out, `Bytes transferred = ${file("uImage").size} `);
      out = await con.run(`iminfo ${IADDR.toString(16)}`);
      assertStringIncludes(out, "Legacy image found");
      assertStringIncludes(out, "Image Name:   pbxkit test kernel");
      assertStringIncludes(out, "ARM Linux Kernel Image (uncompressed)");
      assertStringIncludes(out, "Verifying Checksum ... OK");
      assertEquals(hex32(crc32(await Deno.readFile(`${dir}/out/os.bin`))), file("os.bin").crc32);
      // no transfer failed (the last one ends at the server when u-boot's final ACK arrives, maybe after its output)
      await settle(() => srv!.activeTransfers === 0);
      assertEquals(srv.activeTransfers, 0);
      assertEquals(events.filter((e) => e.kind === "failed"), []);
    } finally {
      await con?.close();
      await srv?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
