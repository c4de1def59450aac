// Unit tests of the image formats and layout checks (pure functions, no tools).
import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "../_util/assert.ts";
import {
  blocks,
  buildFat32,
  buildMbr,
  buildSelfUpdateUEnv,
  buildUEnv,
  buildUImage,
  checkLayout,
  crc32,
  dosDateTime,
  inspectApps,
  packApps,
  parseUImage,
  readPartitions,
  UIMAGE_MAGIC,
} from "../../lib/bbb/mod.ts";
import { PbxError } from "../../lib/common/mod.ts";

const enc = new TextEncoder();

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

Deno.test("crc32 matches the standard check value and is incremental", () => {
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array()), 0);
  const data = bytes(10_001);
  // slicing-by-8 against the bytewise definition, at every alignment tail
  const slow = (d: Uint8Array) => {
    let c = 0xffffffff;
    for (const v of d) {
      c ^= v;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return ~c >>> 0;
  };
  for (const n of [0, 1, 7, 8, 9, 15, 16, 10_001]) assertEquals(crc32(data.subarray(0, n)), slow(data.subarray(0, n)));
  assertEquals(crc32(data.subarray(5000), crc32(data.subarray(0, 5000))), crc32(data));
});

Deno.test("apps.bin: table of padded sizes, apps at the running sum, zero padding", () => {
  const a = bytes(1000, 2), b = bytes(512, 3), c = bytes(200_000, 4);
  const { image, entries } = packApps([{ name: "a", data: a }, { name: "b", data: b }, { name: "c", data: c }]);
  const dv = new DataView(image.buffer);
  assertEquals([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true)], [1024, 512, 200_192]);
  for (let i = 12; i < 512; i++) assertEquals(image[i], 0, `table byte ${i}`);
  assertEquals(image.length, 512 + 1024 + 512 + 200_192);
  assertEquals(entries.map((e) => e.offset), [512, 512 + 1024, 512 + 1024 + 512]);
  assertEquals(image.subarray(512, 1512), a);
  assert(image.subarray(1512, 1536).every((x) => x === 0), "padding is zero");
  assertEquals(image.subarray(entries[2].offset, entries[2].offset + c.length), c);

  const info = inspectApps(image);
  assertEquals(info.problems, []);
  assertEquals(info.apps.map((x) => [x.offset, x.size, x.blocks]), entries.map((x) => [x.offset, x.size, x.blocks]));
  assertEquals(info.apps.map((x) => x.crc32), entries.map((x) => x.crc32));
  assertEquals(info.apps[0].used, 1000);
});

Deno.test("apps.bin: refuses empty apps and too many; inspect reports truncation and junk", () => {
  assertThrows(() => packApps([]), PbxError);
  assertThrows(() => packApps([{ name: "e", data: new Uint8Array() }]), PbxError, "empty");
  assertThrows(() => packApps(Array.from({ length: 129 }, (_, i) => ({ name: `${i}`, data: bytes(1) }))), PbxError);
  assertEquals(packApps(Array.from({ length: 128 }, (_, i) => ({ name: `${i}`, data: bytes(1) }))).entries.length, 128);
  const { image } = packApps([{ name: "a", data: bytes(3000) }]);
  assertMatch(inspectApps(image.subarray(0, 2000)).problems.join(), /needs 3072 bytes/);
  const longer = new Uint8Array(image.length + 512);
  longer.set(image);
  assertMatch(inspectApps(longer).problems.join(), /512 bytes after the last app/);
  assertThrows(() => inspectApps(new Uint8Array(100)), PbxError, "too short");
});

const layout = {
  mode: "dev" as const,
  kernelAddr: 0x80000000,
  kernelSize: 300_000,
  appsAddr: 0x90000000,
  appsSize: 400_000,
  appsBlock: 0x28000,
  kernelBlock: 0x800,
};

Deno.test("uEnv.txt: dev and stable commands, block counts from real sizes, \\n only", () => {
  const u = buildUEnv({ ...layout, ipaddr: "192.168.7.2", serverip: "192.168.7.1" });
  assertEquals(
    u,
    "uenvcmd=setenv ipaddr 192.168.7.2; setenv serverip 192.168.7.1; tftp 0x80000000 os.bin; " +
      "tftp 0x90000000 apps.bin; mmc dev 1; mmc write 0x90000000 0x28000 0x30e; go 0x80000000\n",
  );
  assert(!u.includes("\r"));
  // Over 128 KiB: a fixed 0x100 would truncate; the count follows the size.
  assertEquals(blocks(400_000), 782);
  assert(blocks(400_000) > 0x100);
  const s = buildUEnv({ ...layout, mode: "stable" });
  assertEquals(s, "uenvcmd=mmc dev 1; mmc read 0x80000000 0x800 0x24a; go 0x80000000\n");
  assertMatch(buildUEnv({ ...layout, flashKernel: true }), /mmc write 0x80000000 0x800 0x24a; go/);
  assertThrows(() => buildUEnv({ ...layout, ipaddr: "1.2.3" }), PbxError);
  assertThrows(() => buildUEnv({ ...layout, ipaddr: "1.2.3.4; reset" }), PbxError);
});

Deno.test("layout: refuses overlap, past DDR, into relocated u-boot; warns on eMMC partitions", () => {
  assertEquals(checkLayout(layout).warnings, []);
  assertThrows(() => checkLayout({ ...layout, appsAddr: 0x80010000 }), PbxError, "overlap");
  assertThrows(() => checkLayout({ ...layout, appsAddr: 0x9ff00000 }), PbxError, "u-boot");
  assertThrows(() => checkLayout({ ...layout, appsAddr: 0x9fffff00, ubootReserve: 0 }), PbxError, "outside DDR");
  assertThrows(() => checkLayout({ ...layout, kernelAddr: 0x70000000 }), PbxError, "outside DDR");
  assertThrows(() => checkLayout({ ...layout, appsSize: 0x10000000 }), PbxError, "u-boot");
  assertThrows(() => checkLayout({ ...layout, flashKernel: true, kernelBlock: 0x28010 }), PbxError, "eMMC regions");
  // stable mode ignores the apps RAM region
  assertEquals(checkLayout({ ...layout, mode: "stable", appsAddr: 0x80010000 }).ram.length, 1);
  const parts = readPartitions((lba) =>
    lba === 0
      ? buildMbr([{ start: 8192, sectors: 200_000, type: 0x83 }, { start: 300_000, sectors: 1000, type: 0x0c }], {
        diskId: 1,
      })
      : new Uint8Array()
  );
  const w = checkLayout({ ...layout, emmcPartitions: parts }).warnings;
  assertEquals(w.length, 1);
  assertMatch(w[0], /overlaps partition 1 \(Linux/);
  assertEquals(checkLayout({ ...layout, appsBlock: 250_000, emmcPartitions: parts }).warnings, []);
});

Deno.test("MBR: build and read back, logical partitions through the EBR chain", () => {
  const disk = new Map<number, Uint8Array>();
  disk.set(
    0,
    buildMbr([{ start: 2048, sectors: 4096, type: 0x0c, active: true }, { start: 10000, sectors: 9000, type: 0x05 }], {
      diskId: 7,
    }),
  );
  disk.set(
    10000,
    buildMbr([{ start: 63, sectors: 1000, type: 0x83 }, { start: 2000, sectors: 3000, type: 0x05 }], { diskId: 0 }),
  );
  disk.set(12000, buildMbr([{ start: 63, sectors: 500, type: 0x82 }], { diskId: 0 }));
  const parts = readPartitions((lba) => disk.get(lba) ?? new Uint8Array());
  assertEquals(parts.map((p) => [p.number, p.start, p.sectors, p.active]), [
    [1, 2048, 4096, true],
    [2, 10000, 9000, false],
    [5, 10063, 1000, false],
    [6, 12063, 500, false],
  ]);
  assertThrows(() => readPartitions(() => new Uint8Array(512)), PbxError, "0x55AA");
});

Deno.test("uImage: header fields, CRCs, parse round trip, name limit", () => {
  const data = bytes(5000);
  const img = buildUImage(data, { load: 0x80000000, entry: 0x80000040, name: "kern", time: 1_700_000_000 });
  const h = parseUImage(img);
  assertEquals(h.magic, UIMAGE_MAGIC);
  assert(h.headerCrcOk && h.dataCrcOk === true);
  assertEquals([h.size, h.load, h.entry, h.time, h.name, h.os, h.arch, h.type, h.comp], [
    5000,
    0x80000000,
    0x80000040,
    1_700_000_000,
    "kern",
    5,
    2,
    2,
    0,
  ]);
  // a data CRC the caller already has (pack computes the kernel's once) gives the same image and report
  const crc = crc32(data);
  assertEquals(
    buildUImage(data, { load: 0x80000000, entry: 0x80000040, name: "kern", time: 1_700_000_000, dataCrc: crc }),
    img,
  );
  assertEquals(parseUImage(img, { dataCrc: crc }), h);
  img[100] ^= 1;
  assertEquals(parseUImage(img).dataCrcOk, false);
  assertThrows(() => buildUImage(data, { load: 0, name: "x".repeat(32), time: 0 }), PbxError);
});

Deno.test("FAT32: DOS times, minimum size, files too big, reproducible", () => {
  assertEquals(dosDateTime(0), { date: (0 << 9) | (1 << 5) | 1, time: 0 });
  const t = dosDateTime(Date.UTC(2024, 1, 29, 13, 45, 30) / 1000);
  assertEquals(t, { date: (44 << 9) | (2 << 5) | 29, time: (13 << 11) | (45 << 5) | 15 });
  assertThrows(() => buildFat32([], { sectors: 40_000, volumeId: 1 }), PbxError, "65525");
  assertThrows(
    () => buildFat32([{ name: "big", data: new Uint8Array(70 << 20) }], { sectors: 131072, volumeId: 1 }),
    PbxError,
  );
  assertThrows(() => buildFat32([{ name: "a:b", data: bytes(1) }], { sectors: 131072, volumeId: 1 }), PbxError);
  const files = [{ name: "MLO", data: bytes(3000) }, { name: "A Long Name.text", data: bytes(10) }];
  const a = buildFat32(files, { sectors: 131072, volumeId: 0x1234, label: "BOOT" });
  const b = buildFat32(files, { sectors: 131072, volumeId: 0x1234, label: "BOOT" });
  assertEquals(a.head, b.head);
  assertEquals(a.size, 131072 * 512);
  assert(a.clusters >= 65525);
});

Deno.test("self-updating uEnv.txt: one step per variable, guards, and the partition checked", () => {
  const layout = {
    mode: "dev" as const,
    kernelAddr: 0x80000000,
    appsAddr: 0x90000000,
    appsBlock: 0x28000,
    kernelBlock: 0x800,
    kernelSize: 300_000,
    appsSize: 201_216,
    ipaddr: "192.168.7.2",
    serverip: "192.168.7.1",
  };
  const text = buildSelfUpdateUEnv(layout);
  const lines = text.trimEnd().split("\n");
  const vars = new Map(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  assertEquals(vars.get("pbx_kind"), "dev");
  assertEquals(
    vars.get("uenvcmd"),
    "setenv ipaddr 192.168.7.2; setenv serverip 192.168.7.1; run pbx_up; tftp 0x80000000 os.bin; " +
      "tftp 0x90000000 apps.bin; mmc dev 1; mmc write 0x90000000 0x28000 0x189; go 0x80000000",
  );
  // the fetched script lands 1 MiB + 4 KiB above the scratch start, the current one 4 KiB above it
  assertStringIncludes(vars.get("pbx_up")!, "if tftp 0x80101000 uEnv.txt; then run pbx_up1;");
  assertStringIncludes(vars.get("pbx_up4")!, "fatload mmc 1:1 0x80001000 uEnv.txt 0x100000");
  assertStringIncludes(vars.get("pbx_up5")!, "cmp.l 0x80000000 0x80000004 1");
  assertStringIncludes(vars.get("pbx_up6")!, "fatwrite mmc 1:1 0x80101000 uEnv.txt ${pbx_nsize}");
  // the fetched size is saved before the partition's copy is loaded (which sets filesize again)
  assertEquals(vars.get("pbx_up1"), "setenv pbx_nsize ${filesize}; run pbx_up2");
  // no echo over u-boot's 16 arguments, no backslash (env import -t would eat it), \n line ends
  for (const v of vars.values()) {
    for (const m of v.matchAll(/echo ([^;]*)/g)) assert(m[1].split(" ").length < 15, m[1]);
    assert(!v.includes("\\") && !v.includes("\r"));
  }
  const stable = buildSelfUpdateUEnv({ ...layout, mode: "stable" }, { part: "mmc 0:1" });
  assertStringIncludes(stable, "pbx_kind=stable\n");
  assertStringIncludes(stable, 'test "${pbx_kind}" = stable || test "${pbx_kind}" = dev-replaces-stable');
  assertStringIncludes(
    stable,
    "uenvcmd=setenv ipaddr 192.168.7.2; setenv serverip 192.168.7.1; run pbx_up; mmc dev 1;",
  );
  assertStringIncludes(buildSelfUpdateUEnv(layout, { replaceStable: true }), "pbx_kind=dev-replaces-stable\n");
  assertThrows(() => buildSelfUpdateUEnv({ ...layout, mode: "stable" }, { replaceStable: true }), PbxError);
  for (const part of ["mmc 1:1; reset", "mmc", "mmc 1", "mmc ${x}:1"]) {
    assertThrows(() => buildSelfUpdateUEnv(layout, { part }), PbxError, "--self-update-part");
  }
});
