// tftp-serve with [metrics] listen in its TOML: counts survive a SIGHUP reload (which replaces the server), in the
// scrape and in a real Prometheus server that scrapes the daemon (its HTTP API: the bytes and transfers moved, and
// resets() over the run is 0); a bad [metrics] table is one line naming file, line and key, exit 2.
import { assert, assertEquals } from "../_util/assert.ts";
import { cliArgv, freePort, freeUdpPort, Proc, runCli, testWith, waitFor } from "../_util/mod.ts";
import { atftpGet, randomBytes } from "../tftp/_helpers.ts";
import { PrometheusServer, promtoolCheck, sample, scrape } from "./_prom.ts";

testWith("tftp-serve [metrics] listen: transfers counted across a SIGHUP reload; promtool and Prometheus", {
  tools: ["promtool", "prometheus", "atftp"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-tftpd-m-" });
  let srv: Proc | undefined;
  let prom: PrometheusServer | undefined;
  try {
    await Deno.mkdir(`${dir}/root`);
    const file = randomBytes(70_000);
    await Deno.writeFile(`${dir}/root/MLO`, file);
    const port = freeUdpPort(), mport = freePort();
    const cfg = `${dir}/tftp.toml`;
    const write = (blk: number) =>
      Deno.writeTextFile(
        cfg,
        `[tftp]\nroot = "${dir}/root"\nport = ${port}\naddress = ["127.0.0.1"]\nmax_blksize = ${blk}\n` +
          `[metrics]\nlisten = "127.0.0.1:${mport}"\n`,
      );
    await write(1468);
    srv = new Proc(cliArgv(["tftp-serve", "--config", cfg]), { env: { NO_COLOR: "1" } });
    await waitFor(() => srv!.stderr.includes("serving "), { timeoutMs: 30_000, what: "tftp-serve" });
    assert(srv.stderr.includes(`metrics on http://127.0.0.1:${mport}/metrics`), srv.stderr);
    const starting = PrometheusServer.start(`127.0.0.1:${mport}`);
    const server = { host: "127.0.0.1", port };
    const get = async (n: number) => {
      const p = new Proc(atftpGet(["blksize 1428"], { remote: "MLO", local: `${dir}/got${n}` }, server));
      assertEquals((await p.done).code, 0, p.stderr);
      assertEquals(await Deno.readFile(`${dir}/got${n}`), file);
    };
    const url = `http://127.0.0.1:${mport}/metrics`;
    const completed = async (want: number) => {
      let text = "";
      await waitFor(async () => {
        text = await scrape(url);
        return sample(text, "pbxkit_tftp_transfers_completed_total", { op: "read" }) === want;
      }, { timeoutMs: 5000, what: `${want} completed reads` }).catch(() => {});
      return text;
    };
    await get(1);
    let text = await completed(1);
    assertEquals(sample(text, "pbxkit_tftp_transfers_completed_total", { op: "read" }), 1);
    // Prometheus has scraped the first transfer before the reload (so a reset after it would show)
    prom = await starting;
    assert(await prom.targetUp(), `prometheus never scraped tftp-serve: ${prom.proc.stderr.slice(-1000)}`);
    const reads = 'pbxkit_tftp_transfers_completed_total{job="pbxkit",op="read"}';
    const sent = 'pbxkit_tftp_bytes_total{job="pbxkit",direction="sent"}';
    assertEquals(await prom.waitForValue(reads, (v) => v === 1), 1);
    assertEquals(await prom.waitForValue(sent, (v) => v === file.length), file.length);
    await write(512);
    srv.child.kill("SIGHUP");
    await waitFor(() => srv!.stderr.includes("config reloaded"), { timeoutMs: 10_000, what: "reload" });
    await get(2);
    text = await completed(2);
    await promtoolCheck(text);
    assertEquals(sample(text, "pbxkit_tftp_transfers_completed_total", { op: "read" }), 2);
    assertEquals(sample(text, "pbxkit_tftp_bytes_total", { direction: "sent" }), 2 * file.length);
    assertEquals(sample(text, "pbxkit_tftp_transfers_active"), 0);
    assertEquals(await prom.waitForValue(reads, (v) => v === 2), 2);
    assertEquals(await prom.waitForValue(sent, (v) => v === 2 * file.length), 2 * file.length);
    // the reload replaced the server, not the registry: Prometheus saw no counter go back
    assertEquals((await prom.query(`resets(${sent}[10m])`))[0]?.value, 0);
    assertEquals((await prom.query(`resets(${reads}[10m])`))[0]?.value, 0);
    assertEquals((await srv.stop()).code, 0);
    srv = undefined;

    await Deno.writeTextFile(`${dir}/bad.toml`, `root = "${dir}/root"\n[metrics]\nlisten = "127.0.0.1:1"\nport = 9\n`);
    const bad = await runCli(["tftp-serve", "--config", `${dir}/bad.toml`]);
    assertEquals(bad.code, 2, bad.stderr);
    assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert(bad.stderr.includes(`${dir}/bad.toml:4`) && bad.stderr.includes("metrics.port"), bad.stderr);
  } finally {
    await prom?.stop();
    await srv?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
