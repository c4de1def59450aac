// bbb-pack --tftp --metrics: atftp downloads and uploads, a missing file, and a raw client that withholds one ACK
// (so exactly one DATA block is retransmitted); the scrape passes promtool and carries those counts, and a real
// Prometheus server scrapes them.
import { assert, assertEquals } from "../_util/assert.ts";
import { cliArgv, freePort, freeUdpPort, Proc, testWith } from "../_util/mod.ts";
import { atftpGet, bbbPackArgs, randomBytes, waitForLog } from "../tftp/_helpers.ts";
import { PrometheusServer, promtoolCheck, sample, scrapeUntilZero } from "./_prom.ts";

const enc = new TextEncoder();

/** RRQ `name` octet with `timeout 1`, ACK the OACK, ignore the first DATA 1, ACK its resend; returns the bytes. */
async function readWithOneLostAck(port: number, name: string): Promise<Uint8Array> {
  const sock = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const recv = async (): Promise<[Uint8Array, Deno.NetAddr]> => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      sock.receive(),
      new Promise<never>((_, rej) => t = setTimeout(() => rej(new Error("raw tftp client: no answer in 5 s")), 5000)),
    ]);
    clearTimeout(t);
    return [r[0], r[1] as Deno.NetAddr];
  };
  const u16 = (p: Uint8Array, o: number) => (p[o] << 8) | p[o + 1];
  const ack = (n: number) => new Uint8Array([0, 4, n >> 8, n & 255]);
  try {
    // opcode 1, name, 0, "octet", 0, "timeout", 0, "1", 0
    const rrq = new Uint8Array([
      0,
      1,
      ...enc.encode(name),
      0,
      ...enc.encode("octet"),
      0,
      ...enc.encode("timeout"),
      0,
      ...enc.encode("1"),
      0,
    ]);
    await sock.send(rrq, { transport: "udp", hostname: "127.0.0.1", port });
    const [oack, tid] = await recv();
    assertEquals(u16(oack, 0), 6, "OACK");
    await sock.send(ack(0), tid);
    const [d1] = await recv();
    assertEquals([u16(d1, 0), u16(d1, 2)], [3, 1]);
    const [d1again] = await recv(); // not acknowledged: the server resends block 1 after 1 s
    assertEquals([u16(d1again, 0), u16(d1again, 2)], [3, 1]);
    assert(d1again.length < 4 + 512, "a one-block file");
    await sock.send(ack(1), tid);
    return d1again.slice(4);
  } finally {
    sock.close();
  }
}

testWith("bbb-pack --tftp --metrics: transfers, bytes, retransmissions, errors by code; promtool and Prometheus", {
  tools: ["promtool", "prometheus", "atftp"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-tftpm-" });
  let srv: Proc | undefined;
  let prom: PrometheusServer | undefined;
  try {
    await Deno.writeFile(`${dir}/os.bin`, randomBytes(200_000));
    await Deno.writeFile(`${dir}/a.bin`, randomBytes(1000));
    const port = freeUdpPort(), mport = freePort();
    srv = new Proc(
      cliArgv(bbbPackArgs(dir, `${dir}/out`, [
        "--tftp",
        "--tftp-port",
        String(port),
        "--tftp-address",
        "127.0.0.1",
        "--tftp-allow-write",
        "--metrics",
        `127.0.0.1:${mport}`,
      ])),
      { env: { NO_COLOR: "1" } },
    );
    await waitForLog(srv, "tftp: serving", "tftp server");
    assert(srv.stderr.includes(`metrics on http://127.0.0.1:${mport}/metrics`), srv.stderr);
    const starting = PrometheusServer.start(`127.0.0.1:${mport}`);
    const server = { host: "127.0.0.1", port };
    const osSize = (await Deno.stat(`${dir}/out/os.bin`)).size;
    const uenv = await Deno.readFile(`${dir}/out/uEnv.txt`);

    // `timeout 5` (RFC 2349): a stall of a second on a busy machine is no retransmission; the one counted below is
    // the raw client's withheld ACK
    const get = new Proc(
      atftpGet(["blksize 1428", "timeout 5"], { remote: "os.bin", local: `${dir}/got.bin` }, server),
    );
    assertEquals((await get.done).code, 0, get.stderr);
    assertEquals((await Deno.stat(`${dir}/got.bin`)).size, osSize);
    const missing = new Proc(atftpGet([], { remote: "nosuch.bin", local: `${dir}/nosuch` }, server));
    assert((await missing.done).code !== 0, "a missing file fails");
    const up = randomBytes(5000);
    await Deno.writeFile(`${dir}/up.bin`, up);
    const put = new Proc(
      ["atftp", "--option", "timeout 5", "-p", "-l", `${dir}/up.bin`, "-r", "up.bin", "127.0.0.1", String(port)],
    );
    assertEquals((await put.done).code, 0, put.stderr);
    assertEquals(await Deno.readFile(`${dir}/out/up.bin`), up);
    assertEquals(await readWithOneLostAck(port, "uEnv.txt"), uenv);

    const url = `http://127.0.0.1:${mport}/metrics`;
    // the server books a transfer when its session ends (the last ACK, the upload's dally)
    const text = await scrapeUntilZero(url, "pbxkit_tftp_transfers_active");
    await promtoolCheck(text);
    assertEquals(sample(text, "pbxkit_tftp_transfers_started_total", { op: "read" }), 2);
    assertEquals(sample(text, "pbxkit_tftp_transfers_completed_total", { op: "read" }), 2);
    assertEquals(sample(text, "pbxkit_tftp_transfers_started_total", { op: "write" }), 1);
    assertEquals(sample(text, "pbxkit_tftp_transfers_completed_total", { op: "write" }), 1);
    assertEquals(sample(text, "pbxkit_tftp_transfers_failed_total", { op: "read" }), 0);
    assertEquals(sample(text, "pbxkit_tftp_bytes_total", { direction: "sent" }), osSize + uenv.length);
    assertEquals(sample(text, "pbxkit_tftp_bytes_total", { direction: "received" }), up.length);
    assertEquals(sample(text, "pbxkit_tftp_retransmissions_total"), 1);
    assertEquals(sample(text, "pbxkit_tftp_errors_total", { code: "1" }), 1);
    assertEquals(sample(text, "pbxkit_tftp_transfer_duration_seconds_count", { op: "read" }), 2);

    prom = await starting;
    assert(await prom.targetUp(), "prometheus never scraped the tftp metrics");
    assertEquals(await prom.waitForValue('pbxkit_tftp_retransmissions_total{job="pbxkit"}', (v) => v === 1), 1);
    const sent = await prom.waitForValue(
      'pbxkit_tftp_bytes_total{job="pbxkit",direction="sent"}',
      (v) => v === osSize + uenv.length,
    );
    assertEquals(sent, osSize + uenv.length);
  } finally {
    await prom?.stop();
    await srv?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
