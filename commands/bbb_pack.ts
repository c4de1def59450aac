/**
 * `pbxkit bbb-pack`: Pack a bare-metal kernel and apps for a BeagleBone Black, write uEnv.txt and serve them over TFTP.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import {
  announce,
  collect,
  formatTable,
  log,
  parseIntIn,
  parseMetricsAddress,
  parsePort,
  parseSize,
  PbxError,
  printJson,
  printJsonLine,
  writeStdout,
} from "../lib/common/mod.ts";
import { DEFAULTS, hex, hex32, inspectFile, pack, UIMAGE_CODES } from "../lib/bbb/mod.ts";
import type { InspectReport, PackOptions, PackReport } from "../lib/bbb/mod.ts";
import { devLoop } from "../lib/bbb/dev_loop.ts";
import { crc32, splitCommands, uenvSteps } from "../lib/bbb/mod.ts";
import type { ConsoleEvent, ExpectedFile } from "../lib/bbb/mod.ts";
import { interact, openPort, runConsole } from "../lib/bbb/console_port.ts";

const addr = (flag: string) => (v: string) => parseIntIn(v, flag, { min: 0, max: 0xffffffff });

/** Build the `bbb-pack` subcommand. */
export function bbbPackCommand(): Command {
  const cmd = newCommand("bbb-pack", {
    summary: "Pack a bare-metal kernel and apps for a BeagleBone Black, write uEnv.txt and serve them over TFTP",
    description: "Pack os.bin, apps.bin (a 512-byte table of little-endian sizes, then each app padded to 512 bytes) " +
      "and uEnv.txt for u-boot on a BeagleBone Black; optionally a legacy uImage and a bootable SD-card image. " +
      "Checks the RAM and eMMC layout first. --tftp serves the output directory (RFC 1350/2347/2348/2349/7440), " +
      "--watch rebuilds when the inputs change. See docs/bbb-pack.md.",
    examples: [
      "pbxkit bbb-pack --kernel os.bin --app a.bin --app b.bin --out build/ --ipaddr 192.168.7.2 --serverip 192.168.7.1",
      "pbxkit bbb-pack --kernel os.bin --app a.bin --out build/ --tftp --watch",
      "pbxkit bbb-pack --kernel os.bin --app a.bin --out build/ --self-update --tftp --watch",
      "pbxkit bbb-pack --kernel os.bin --app a.bin --out build/ --sdcard sd.img --mlo MLO --uboot u-boot.img",
      "pbxkit bbb-pack inspect build/apps.bin",
    ],
  })
    .option("--kernel <file>", "kernel binary (os.bin)")
    .option("--app <file>", "app binary, in table order (repeatable)", collect)
    .option("--out <dir>", "output directory (os.bin, apps.bin, uEnv.txt, uImage)")
    .option("--mode <mode>", "uEnv.txt mode: dev (TFTP + write apps to eMMC) or stable (boot from eMMC)", "dev")
    .option("--ipaddr <ip>", "board IPv4 address set in uEnv.txt (dev mode; default: u-boot's saved env)")
    .option("--serverip <ip>", "TFTP server IPv4 address set in uEnv.txt (dev mode)")
    .option(
      "--kernel-addr <addr>",
      `RAM address to load and run the kernel (default ${hex(DEFAULTS.kernelAddr)})`,
      addr("--kernel-addr"),
    )
    .option(
      "--apps-addr <addr>",
      `RAM address to load apps.bin (default ${hex(DEFAULTS.appsAddr)})`,
      addr("--apps-addr"),
    )
    .option(
      "--apps-block <block>",
      `eMMC block apps.bin is written to, or auto: the first free gap of --emmc-mbr (default ${
        hex(DEFAULTS.appsBlock)
      })`,
      (v: string) => v === "auto" ? "auto" as const : addr("--apps-block")(v),
    )
    .option(
      "--kernel-block <block>",
      `eMMC block of the kernel for stable mode and --flash-kernel (default ${hex(DEFAULTS.kernelBlock)})`,
      addr("--kernel-block"),
    )
    .option("--flash-kernel", "dev mode: also write the kernel to the eMMC at --kernel-block")
    .option("--kernel-max <size>", "refuse a kernel larger than this", "80MiB")
    .option("--ddr-base <addr>", "DDR start address (QEMU's ARM virt board: 0x40000000)", addr("--ddr-base"))
    .option("--ddr-size <size>", "DDR size from --ddr-base", "512MiB")
    .option("--uboot-reserve <size>", "top of DDR reserved for relocated u-boot", "34MiB")
    .option("--uimage", "also write a legacy u-boot uImage (as mkimage -T kernel -C none)")
    .option("--uimage-name <name>", "uImage name (default: the kernel's file name)")
    .option("--sdcard <file>", "also write a bootable SD-card image (MBR + FAT32 with MLO, u-boot.img, uEnv.txt)")
    .option("--mlo <file>", "MLO for --sdcard")
    .option("--uboot <file>", "u-boot.img for --sdcard")
    .option("--sdcard-size <size>", "FAT32 partition size for --sdcard", "64MiB")
    .option("--self-update", "uEnv.txt also fetches uEnv.txt over TFTP and writes it to the boot partition when new")
    .option("--self-update-part <part>", "boot partition --self-update rewrites (u-boot INTERFACE DEV:PART)", "mmc 1:1")
    .option("--replace-stable", "with --self-update: this dev uEnv.txt may replace a stable self-updating one")
    .option("--emmc-mbr <file>", "eMMC layout (MBR sector or disk image): warn when raw writes overlap a partition")
    .option("--tftp", "serve the output directory over TFTP after building")
    .option("--tftp-port <port>", "TFTP port", "69")
    .option("--tftp-address <addr>", "address to bind (repeatable; default :: = IPv4 and IPv6)", collect)
    .option("--tftp-allow-write", "accept TFTP uploads (atomic: a partial upload never replaces a file)")
    .option("--tftp-max-blksize <n>", "largest blksize granted", "65464")
    .option("--tftp-max-windowsize <n>", "largest windowsize granted", "64")
    .option("--metrics <host:port>", "with --tftp: serve Prometheus metrics at http://HOST:PORT/metrics")
    .option("--watch", "rebuild when the inputs change (Ctrl-C to stop)")
    .option("--json", "print the build report as JSON (one line per build with --watch)")
    .action(async function (opts) {
      globalFlags(this);
      await runPack(opts);
    });

  cmd.addCommand(
    newCommand("inspect", {
      summary: "Print the table of an existing apps.bin (or the header of a uImage)",
      examples: ["pbxkit bbb-pack inspect build/apps.bin", "pbxkit bbb-pack inspect build/uImage --json"],
    })
      .argument("<file>", "apps.bin or uImage")
      .option("--json", "print as JSON")
      .action(async function (file, _o) {
        globalFlags(this);
        const json = !!(this.optsWithGlobals() as { json?: boolean }).json;
        const r = await inspectFile(file);
        if (json) printJson(r, { pretty: true });
        else writeStdout(formatInspect(r));
        if (r.kind === "apps" && r.info.problems.length) {
          const ps = r.info.problems;
          const more = ps.length > 3 ? `; and ${ps.length - 3} more` : "";
          throw new PbxError("E_PARSE", `${file}: ${ps.length} problem(s): ${ps.slice(0, 3).join("; ")}${more}`);
        }
        if (r.kind === "uimage" && (!r.header.headerCrcOk || r.header.dataCrcOk === false)) {
          throw new PbxError("E_PARSE", `${file}: bad ${r.header.headerCrcOk ? "data" : "header"} CRC`);
        }
      }),
  );
  cmd.addCommand(
    newCommand("console", {
      summary: "Drive u-boot on the board's serial console: stop autoboot, run the dev commands, report each step",
      examples: [
        "pbxkit bbb-pack console --port /dev/ttyUSB0 --out build/",
        "pbxkit bbb-pack console --port /dev/ttyUSB0 --run 'tftp 0x80000000 os.bin; crc32 0x80000000 100' --interactive",
      ],
    })
      .requiredOption("--port <path>", "serial port (a tty or pty such as /dev/ttyUSB0, or a unix socket)")
      .option("--baud <n>", "baud rate", "115200")
      .option("--out <dir>", "bbb-pack output directory: run its uEnv.txt's commands, check tftp'd files' CRCs")
      .option("--uenv <file>", "uEnv.txt whose uenvcmd to run (default OUT/uEnv.txt)")
      .option("--run <cmds>", "commands to run instead, separated by ';'")
      .option("--timeout <s>", "seconds to wait for the u-boot prompt", "30")
      .option("--step-timeout <s>", "seconds one command may take", "120")
      .option("--interactive", "stay on the console afterwards (Ctrl-] to leave)")
      .option("--json", "print the steps as JSON lines instead of the console")
      .action(async function (o) {
        globalFlags(this);
        // --out and --json also exist on bbb-pack itself, which takes them first
        await runConsoleCommand({ ...o, ...(this.optsWithGlobals() as Partial<ConsoleFlags>) } as ConsoleFlags);
      }),
  );
  return cmd as unknown as Command;
}

interface ConsoleFlags {
  port: string;
  baud: string;
  out?: string;
  uenv?: string;
  run?: string;
  timeout: string;
  stepTimeout: string;
  interactive?: boolean;
  json?: boolean;
}

async function runConsoleCommand(o: ConsoleFlags): Promise<void> {
  const baud = parseIntIn(o.baud, "--baud", { min: 50, max: 4_000_000 });
  const promptTimeoutMs = parseIntIn(o.timeout, "--timeout", { min: 1, max: 3600 }) * 1000;
  const stepTimeoutMs = parseIntIn(o.stepTimeout, "--step-timeout", { min: 1, max: 3600 }) * 1000;
  let steps: string[];
  const uenvPath = o.uenv ?? (o.out ? `${o.out}/uEnv.txt` : undefined);
  if (o.run !== undefined) steps = splitCommands(o.run);
  else if (uenvPath) {
    let text: string;
    try {
      text = await Deno.readTextFile(uenvPath);
    } catch {
      throw new PbxError("E_NOT_FOUND", `cannot read '${uenvPath}' (give --out DIR of a bbb-pack build, or --run)`);
    }
    steps = uenvSteps(text);
    if (!steps.length) throw new PbxError("E_INVALID_INPUT", `${uenvPath}: no uenvcmd= line`);
  } else throw new PbxError("E_USAGE", "give --out DIR (runs its uEnv.txt), --uenv FILE or --run 'cmd; cmd'");
  const expect = new Map<string, ExpectedFile>();
  if (o.out) {
    for (const name of ["os.bin", "apps.bin", "uImage", "uEnv.txt"]) {
      try {
        const data = await Deno.readFile(`${o.out}/${name}`);
        expect.set(name, { size: data.length, crc32: crc32(data) });
      } catch { /* not built */ }
    }
  }
  const conn = await openPort(o.port, baud);
  const out = (b: Uint8Array) => {
    if (!o.json) Deno.stdout.writeSync(b);
  };
  const onEvent = (e: ConsoleEvent) => {
    if (o.json) return printJsonLine(e);
    const at = (ms: number) => `[${(ms / 1000).toFixed(2).padStart(7)} s]`;
    if (e.kind === "autoboot-stopped") log.info(`${at(e.atMs)} autoboot stopped`);
    else if (e.kind === "step-done") {
      log.info(`step ${e.index + 1}/${e.total} ${e.command}: ${e.note ?? "ok"} (${(e.ms / 1000).toFixed(2)} s)`);
    } else if (e.kind === "kernel-started") log.info(`${at(e.atMs)} ${e.command}: kernel started`);
    else if (e.kind === "done") log.info(`${at(e.atMs)} all ${steps.length} step(s) done`);
  };
  const r = await runConsole(conn, steps, { promptTimeoutMs, stepTimeoutMs, expect, onOutput: out, onEvent });
  if (r.ok && o.interactive) await interact(conn, out);
  conn.close();
  if (!r.ok) {
    throw new PbxError("E_EXTERNAL", `${o.port}: ${r.reason}${r.command ? ` (at '${r.command}')` : ""}`);
  }
}

/** The flags as commander gives them: those passed through typed as in {@linkcode PackOptions}, the rest as text. */
interface PackFlags extends
  Pick<
    PackOptions,
    | "ipaddr"
    | "serverip"
    | "kernelAddr"
    | "appsAddr"
    | "appsBlock"
    | "kernelBlock"
    | "flashKernel"
    | "uimage"
    | "uimageName"
    | "sdcard"
    | "mlo"
    | "uboot"
    | "emmcMbr"
    | "ddrBase"
  > {
  kernel?: string;
  app?: string[];
  out?: string;
  mode: string;
  kernelMax: string;
  ddrSize: string;
  ubootReserve: string;
  sdcardSize: string;
  tftp?: boolean;
  tftpPort: string;
  tftpAddress?: string[];
  tftpAllowWrite?: boolean;
  tftpMaxBlksize: string;
  tftpMaxWindowsize: string;
  metrics?: string;
  watch?: boolean;
  json?: boolean;
  selfUpdate?: boolean;
  selfUpdatePart: string;
  replaceStable?: boolean;
}

function packOptions(o: PackFlags): PackOptions {
  if (!o.kernel) throw new PbxError("E_USAGE", "--kernel FILE is required (or use: bbb-pack inspect FILE)");
  if (!o.app?.length) throw new PbxError("E_USAGE", "at least one --app FILE is required");
  if (!o.out) throw new PbxError("E_USAGE", "--out DIR is required");
  if (o.mode !== "dev" && o.mode !== "stable") {
    throw new PbxError("E_USAGE", `--mode: '${o.mode}' is not dev or stable`);
  }
  if (o.sdcard && (!o.mlo || !o.uboot)) throw new PbxError("E_USAGE", "--sdcard needs --mlo FILE and --uboot FILE");
  if (!o.sdcard && (o.mlo || o.uboot)) throw new PbxError("E_USAGE", "--mlo/--uboot are only used with --sdcard FILE");
  if (o.replaceStable && !o.selfUpdate) throw new PbxError("E_USAGE", "--replace-stable needs --self-update");
  return {
    kernel: o.kernel,
    apps: o.app,
    outDir: o.out,
    mode: o.mode,
    ipaddr: o.ipaddr,
    serverip: o.serverip,
    kernelAddr: o.kernelAddr,
    appsAddr: o.appsAddr,
    appsBlock: o.appsBlock,
    kernelBlock: o.kernelBlock,
    flashKernel: o.flashKernel,
    kernelMax: parseSize(o.kernelMax, "--kernel-max"),
    ddrBase: o.ddrBase,
    ddrSize: parseSize(o.ddrSize, "--ddr-size"),
    selfUpdate: o.selfUpdate ? { part: o.selfUpdatePart, replaceStable: o.replaceStable } : undefined,
    ubootReserve: parseSize(o.ubootReserve, "--uboot-reserve"),
    uimage: o.uimage,
    uimageName: o.uimageName,
    sdcard: o.sdcard,
    mlo: o.mlo,
    uboot: o.uboot,
    sdcardSize: parseSize(o.sdcardSize, "--sdcard-size"),
    emmcMbr: o.emmcMbr,
  };
}

async function runPack(o: PackFlags): Promise<void> {
  const opts = packOptions(o);
  const port = parsePort(o.tftpPort, "--tftp-port");
  if (o.tftpAddress?.some((a) => !a.trim())) throw new PbxError("E_USAGE", "--tftp-address: give an address, e.g. ::");
  const maxBlksize = parseIntIn(o.tftpMaxBlksize, "--tftp-max-blksize", { min: 8, max: 65464 });
  const maxWindowsize = parseIntIn(o.tftpMaxWindowsize, "--tftp-max-windowsize", { min: 1, max: 65535 });
  if (o.metrics !== undefined && !o.tftp) throw new PbxError("E_USAGE", "--metrics needs --tftp");
  const metrics = o.metrics !== undefined ? parseMetricsAddress(o.metrics) : undefined;
  const report = await pack(opts);
  if (o.json) (o.watch ? printJsonLine : (v: unknown) => printJson(v, { pretty: true }))(report);
  else if (log.format === "json") announceReport(report);
  else writeStdout(formatReport(report));
  if (!o.tftp && !o.watch) return;

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await devLoop(opts, {
      tftp: o.tftp
        ? { port, hostnames: o.tftpAddress, allowWrite: o.tftpAllowWrite, maxBlksize, maxWindowsize }
        : undefined,
      watch: o.watch,
      metrics,
      signal: stop.signal,
      onRebuild(r, changed) {
        if (o.json) printJsonLine(r);
        else {
          log.info(
            `rebuilt after change to ${changed.join(", ")}: ${r.files.map((f) => `${f.name} ${f.crc32}`).join(", ")}`,
          );
        }
      },
    });
  } finally {
    stop.abort();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/** `--log-format json` without `--json`: the report's gist as one JSON log line (not the tables), like a daemon's. */
function announceReport(r: PackReport): void {
  announce(`built ${r.files.map((f) => `${f.name} ${f.crc32}`).join(", ")} in ${r.outDir}`, {
    out: r.outDir,
    mode: r.mode,
    files: r.files.map((f) => ({ name: f.name, size: f.size, crc32: f.crc32 })),
    apps: r.apps.length,
    uenvcmd: r.uenvcmd,
  });
}

function formatReport(r: PackReport): string {
  const out: string[] = [];
  out.push(
    formatTable(
      ["file", "bytes", "blocks", "crc32"],
      [
        ...r.files.map((f) => [f.path, f.size, hex(f.blocks), f.crc32]),
        ...(r.sdcard
          ? [[r.sdcard.path, r.sdcard.size, hex(Math.ceil(r.sdcard.size / 512)), `volume ${r.sdcard.volumeId}`]]
          : []),
      ],
    ),
  );
  out.push("");
  out.push(
    formatTable(
      ["app", "file", "offset", "size (table)", "blocks", "crc32"],
      r.apps.map((a) => [a.index, a.name ?? "", hex(a.offset), a.size, hex(a.blocks), hex32(a.crc32)]),
    ),
  );
  out.push("");
  out.push(`uEnv.txt (${r.mode}): uenvcmd=${r.uenvcmd}`);
  const ram = r.layout.ram.map((x) => `${x.name} ${hex(x.start)}-${hex(x.end - 1)}`).join(", ");
  out.push(`RAM: ${ram}; u-boot reserved ${hex(r.layout.reserved.start)}-${hex(r.layout.reserved.end - 1)}`);
  if (r.appsGap) out.push(`apps block auto: ${hex(r.appsGap.start)} (${r.appsGap.where})`);
  if (r.layout.emmc.length) {
    out.push(`eMMC: ${r.layout.emmc.map((x) => `${x.name} blocks ${hex(x.start)}-${hex(x.end - 1)}`).join(", ")}`);
  }
  const k = r.files.find((f) => f.name === "os.bin"), a = r.files.find((f) => f.name === "apps.bin");
  if (k && a && r.mode === "dev") {
    const kaddr = r.layout.ram[0].start, aaddr = r.layout.ram[1]?.start ?? 0;
    out.push(
      `check on the board: crc32 ${hex(kaddr)} ${hex(k.size)} -> ${k.crc32.slice(2)}; crc32 ${hex(aaddr)} ${
        hex(a.size)
      } -> ${a.crc32.slice(2)}`,
    );
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join("\n") + "\n";
}

function formatInspect(r: InspectReport): string {
  if (r.kind === "uimage") {
    const h = r.header;
    const name = (t: Record<number, string>, v: number) => t[v] ?? String(v);
    return [
      `${r.path}: legacy uImage "${h.name}"`,
      `  created   ${new Date(h.time * 1000).toISOString()} (${h.time})`,
      `  type      ${name(UIMAGE_CODES.arch, h.arch)} ${name(UIMAGE_CODES.os, h.os)} ${
        name(UIMAGE_CODES.type, h.type)
      } (${name(UIMAGE_CODES.comp, h.comp)})`,
      `  data      ${h.size} bytes, crc ${hex32(h.dataCrc)} ${
        h.dataCrcOk === undefined ? "(truncated)" : h.dataCrcOk ? "ok" : "BAD"
      }`,
      `  load      ${hex(h.load)}, entry ${hex(h.entry)}`,
      `  header    crc ${hex32(h.headerCrc)} ${h.headerCrcOk ? "ok" : "BAD"}`,
    ].join("\n") + "\n";
  }
  const i = r.info;
  const lines = [
    `${r.path}: apps image, ${i.apps.length} app(s), ${i.fileSize} bytes (table implies ${i.expectedSize})`,
    formatTable(
      ["app", "offset", "size (table)", "blocks", "used", "crc32"],
      i.apps.map((a) => [a.index, hex(a.offset), a.size, hex(a.blocks), a.used, hex32(a.crc32)]),
    ),
  ];
  for (const p of i.problems) lines.push(`problem: ${p}`);
  return lines.join("\n") + "\n";
}
