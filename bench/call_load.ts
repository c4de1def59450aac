/**
 * `deno task bench call --load`: the most concurrent WebRTC calls `pbxkit call --load` holds with p50 loss < 1 % and
 * MOS p50 >= 4.0, through kamailio + rtpengine (WebRTC to RTP/AVP) to a sipp UAS echoing RTP, for each stack
 * (wrtc, werift). Steps N through `--steps` (default 10,20,40,80,120), each held `--hold` (default 10 s), and stops a
 * stack at its first failing step. Prints CPU time (utime+stime of the pbxkit process, from its own report) beside the
 * wall numbers. The Chromium-tab baseline of the issue is not run here (see docs/call.md).
 *
 * @module
 */

import { printTable } from "./_util.ts";
import { callArgv, DOMAIN, Pbx } from "../tests/call/_pbx.ts";
import { UAS_XML } from "../tests/call/_sipp_echo.ts";

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Run the load cell. */
export async function run(args: string[]): Promise<void> {
  const steps = (arg(args, "--steps") ?? "10,20,40,80,120").split(",").map(Number);
  const stacks = (arg(args, "--stacks") ?? "wrtc,werift").split(",");
  const hold = arg(args, "--hold") ?? "10s";
  const pbx = await Pbx.start({ staticRoutes: { sipp: 5090 }, staticRouteHost: "phone" });
  const rows: string[][] = [];
  try {
    const xml = `${pbx.dir}/uas.xml`;
    await Deno.writeTextFile(xml, UAS_XML);
    for (const stack of stacks) {
      for (const n of steps) {
        const sipp = pbx.spawn("phone", [
          "sipp",
          "-sf",
          xml,
          "-i",
          pbx.phoneIp,
          "-p",
          "5090",
          "-mi",
          pbx.phoneIp,
          "-mp",
          "6000",
          "-rtp_echo",
          "-m",
          String(n),
          "-nostdin",
          "-timeout",
          "300s",
        ]);
        const p = pbx.pbxkit([
          ...callArgv(`sip:sipp@${DOMAIN}`, { ws: pbx.wsUrl, user: "alice" }),
          "--load",
          String(n),
          "--rate",
          "10",
          "--hold",
          hold,
          "--tone",
          "440",
          "--json",
          "--webrtc",
          stack,
        ]);
        const st = await p.done;
        await sipp.stop();
        let r;
        try {
          r = JSON.parse(p.stdout);
        } catch {
          console.error(`bench call --load: ${stack} N=${n} gave no result (exit ${st.code}): ${p.stderr.slice(-500)}`);
          break;
        }
        const ok = r.answered === n && r.media.loss_pct.p50 !== null && r.media.loss_pct.p50 < 1 &&
          r.media.mos.p50 >= 4;
        rows.push([
          stack,
          String(n),
          `${r.answered}/${r.attempted}`,
          String(r.media.loss_pct.p50),
          String(r.media.mos.p50),
          String(r.setup_ms.p50),
          String(r.generator.cpu_s),
          String(r.generator.wall_s),
          String(r.generator.cpu_ms_per_call_second),
          r.generator.kept_up ? "yes" : "no",
          ok ? "PASS" : "fail",
        ]);
        console.error(`bench call --load: ${rows[rows.length - 1].join(" ")}`);
        if (!ok) break;
      }
    }
  } finally {
    await pbx.close();
  }
  printTable(
    `call --load through kamailio + rtpengine to a sipp RTP echo, each call held ${hold}`,
    [
      "stack",
      "N",
      "answered",
      "loss p50 %",
      "MOS p50",
      "setup p50 ms",
      "CPU s",
      "wall s",
      "CPU ms/call-s",
      "kept up",
      "",
    ],
    rows,
  );
}
