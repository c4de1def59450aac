/**
 * Driving Debian's u-boot for QEMU's ARM "virt" board over its serial console (QEMU's stdio): boot, stop autoboot,
 * run commands and read their output. Shared by the u-boot test and the TFTP benchmark.
 *
 * @module
 */
import { assert } from "../_util/assert.ts";
import { Proc, waitFor } from "../_util/mod.ts";

/** Debian's u-boot-qemu build for the ARM virt board. */
export const UBOOT = "/usr/lib/u-boot/qemu_arm/u-boot.bin";

/** Extra QEMU devices for {@linkcode UbootConsole.boot}. */
export interface UbootBootOptions {
  /** A raw disk image attached as virtio block device 0 (`virtio 0:1` is its first partition). */
  disk?: string;
  /** Serve this directory with QEMU's own TFTP server at 10.0.2.2. */
  tftpDir?: string;
}

/** QEMU arguments for the network (user mode, optional built-in TFTP) and the optional virtio disk. */
export function qemuDevices(o: UbootBootOptions): string[] {
  const net = [
    "-netdev",
    `user,id=n0${o.tftpDir ? `,tftp=${o.tftpDir}` : ""}`,
    "-device",
    "virtio-net-device,netdev=n0",
  ];
  const disk = o.disk
    ? ["-drive", `if=none,id=d0,format=raw,file=${o.disk}`, "-device", "virtio-blk-device,drive=d0"]
    : [];
  return [...net, ...disk];
}

/** u-boot's serial console over QEMU's stdio. */
export class UbootConsole {
  #proc: Proc;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #seq = 0;
  #mark = 0;

  constructor(proc: Proc) {
    this.#proc = proc;
    this.#writer = proc.child.stdin.getWriter();
  }

  /** Start QEMU with u-boot and networking, and stop autoboot at the prompt. */
  static async boot(timeoutMs = 90_000, options: UbootBootOptions = {}): Promise<UbootConsole> {
    const proc = new Proc([
      "qemu-system-arm",
      "-M",
      "virt",
      "-m",
      "512",
      "-bios",
      UBOOT,
      "-nographic",
      "-serial",
      "mon:stdio",
      ...qemuDevices(options),
    ], { stdin: true });
    const c = new UbootConsole(proc);
    try {
      // Interrupt autoboot: newlines early and repeatedly until the prompt shows.
      await waitFor(async () => {
        await c.write("\n");
        return proc.stdout.includes("=> ");
      }, { timeoutMs, intervalMs: 150, what: "u-boot prompt" });
      await c.run("echo ready", 30_000);
    } catch (err) {
      await proc.stop("SIGKILL", 1000);
      throw new Error(`${(err as Error).message}; console: ${proc.stdout.slice(-2000)}`);
    }
    return c;
  }

  write(text: string): Promise<void> {
    return this.#writer.write(new TextEncoder().encode(text));
  }

  /** Run a command line and return its output (up to the marker echoed after it). */
  async run(line: string, timeoutMs = 60_000): Promise<string> {
    const n = ++this.#seq;
    const marker = `@@done${n}@@`;
    const from = this.#mark;
    await this.write(`${line}; echo ${marker}\n`);
    const re = new RegExp(`\\n${marker}\\r?\\n`);
    try {
      await waitFor(() => re.test(this.#proc.stdout.slice(from)), { timeoutMs, intervalMs: 50 });
    } catch {
      throw new Error(`timed out waiting for u-boot: ${line}; console: ${this.#proc.stdout.slice(from).slice(-2500)}`);
    }
    const out = this.#proc.stdout.slice(from);
    const end = out.search(re);
    this.#mark = from + end + marker.length + 2;
    return out.slice(0, end);
  }

  /**
   * Press the board's reset button (QEMU's monitor `system_reset`, reached with Ctrl-A c on the console: works even
   * when u-boot has jumped into a kernel) and stop autoboot again; resolves with the console since the reset.
   */
  async reset(timeoutMs = 60_000): Promise<string> {
    const from = this.#proc.stdout.length;
    await this.write("\x01c");
    await this.write("system_reset\n");
    await this.write("\x01c");
    await waitFor(() => this.#proc.stdout.slice(from).includes("Hit any key"), { timeoutMs, what: "autoboot prompt" });
    await waitFor(async () => {
      await this.write("\n");
      return /Hit any key[^]*=> /.test(this.#proc.stdout.slice(from));
    }, { timeoutMs, intervalMs: 150, what: "u-boot prompt after reset" });
    this.#mark = this.#proc.stdout.length;
    await this.run("echo ready", 30_000);
    return this.#proc.stdout.slice(from);
  }

  /** Type a command line and wait until the console since then matches `until` (for a `go` that never returns). */
  async runUntil(line: string, until: RegExp, timeoutMs = 60_000): Promise<string> {
    const from = this.#proc.stdout.length;
    await this.write(`${line}\n`);
    try {
      await waitFor(() => until.test(this.#proc.stdout.slice(from)), { timeoutMs, intervalMs: 50 });
    } catch {
      throw new Error(
        `timed out waiting for ${until} after: ${line}; console: ${this.#proc.stdout.slice(from).slice(-2500)}`,
      );
    }
    this.#mark = this.#proc.stdout.length;
    return this.#proc.stdout.slice(from);
  }

  /** u-boot's crc32 of a memory range. */
  async crc32(addr: number, size: number): Promise<string> {
    const out = await this.run(`crc32 ${addr.toString(16)} ${size.toString(16)}`);
    const m = /==> ([0-9a-f]{8})/.exec(out);
    assert(m, `crc32 output: ${out}`);
    return "0x" + m[1];
  }

  /** Stop QEMU by its PID. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#proc.stop("SIGKILL", 2000);
  }
}
