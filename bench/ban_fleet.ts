/**
 * The fleet cells of `deno task bench ban` (root, in namespaces the bench makes and deletes): a real `nats-server`
 * with JetStream and three `pbxkit ban --daemon --fleet` hosts with real nft. Propagation latency is measured from
 * the origin's set insert (its `--json` ban event, stamped after the firewall call returned) to the element being
 * in each other host's set (its `fleet-ban` event, stamped the same way), over 1,000 single bans from rotating
 * origins and during a burst of 10,000 bans in one import, then checked against the kernel sets. Printed beside the
 * anchors: CrowdSec's bouncers poll every 10 s by default, APIBAN clients pull every 4-5 minutes.
 *
 * @module
 */

import { controlRequest } from "../lib/ban/control.ts";
import { hasCommand } from "../lib/common/mod.ts";
import { parseProcStat, peerAbsent, percentile, printTable } from "./_util.ts";
import { cliArgv, type Proc, ROOT, sh, TestNet, waitFor } from "../tests/_util/mod.ts";
import { blocklistSample } from "../tests/ban/_lab.ts";

interface Event {
  event: string;
  address: string;
  appliedUs: number;
  storedMs?: number;
  receivedUs?: number;
}

/** Parse a daemon's `--json` stdout into address -> applied time (µs) for the given event kind. */
function eventsOf(p: Proc, kind: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of p.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const e = JSON.parse(line) as Event;
      if (e.event === kind && !out.has(e.address)) out.set(e.address, e.appliedUs);
    } catch { /* a partial last line */ }
  }
  return out;
}

/** A receiver's `fleet-ban` events: address -> the server's store time (ms) and its receive and apply times (µs). */
function arrivalsOf(p: Proc): Map<string, { storedMs: number; receivedUs: number; appliedUs: number }> {
  const out = new Map<string, { storedMs: number; receivedUs: number; appliedUs: number }>();
  for (const line of p.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const e = JSON.parse(line) as Event;
      if (e.event !== "fleet-ban" || out.has(e.address) || e.storedMs === undefined) continue;
      if (e.receivedUs === undefined) continue;
      out.set(e.address, { storedMs: e.storedMs, receivedUs: e.receivedUs, appliedUs: e.appliedUs });
    } catch { /* a partial last line */ }
  }
  return out;
}

/**
 * Where the time goes (ms): origin's set insert -> sent by the origin (a ban that came by the live path: the origin's
 * send time) or stored by nats-server (one that came by the KV watch: its store time, ms resolution, includes the
 * origin's publish), -> delivered to the receiver, -> in the receiver's set (batching and nft). All
 * hosts share one clock (network namespaces). p50/p99 of each stage, and each stage's median over the slowest 1% of
 * the deliveries (which stage the tail comes from).
 */
function stages(bans: { address: string; origin: number }[], daemons: Proc[]): Record<string, number[]> {
  const own = daemons.map((d) => eventsOf(d, "ban"));
  const got = daemons.map((d) => arrivalsOf(d));
  const rows: { total: number; publish: number; deliver: number; apply: number }[] = [];
  for (const b of bans) {
    const t0 = own[b.origin].get(b.address);
    for (let h = 0; h < daemons.length; h++) {
      const a = got[h].get(b.address);
      if (h === b.origin || t0 === undefined || a === undefined) continue;
      rows.push({
        total: (a.appliedUs - t0) / 1000,
        publish: a.storedMs - t0 / 1000,
        deliver: a.receivedUs / 1000 - a.storedMs,
        apply: (a.appliedUs - a.receivedUs) / 1000,
      });
    }
  }
  const tail = [...rows].sort((x, y) => y.total - x.total).slice(0, Math.max(1, Math.ceil(rows.length / 100)));
  const out: Record<string, number[]> = {};
  for (const k of ["publish", "deliver", "apply"] as const) {
    const all = rows.map((r) => r[k]);
    out[k] = all.length ? [percentile(all, 50), percentile(all, 99), percentile(tail.map((r) => r[k]), 50)] : [];
  }
  return out;
}

/** Latencies (ms) from each origin ban to its arrival on the other hosts; counts the ones that never arrived. */
function propagation(
  bans: { address: string; origin: number }[],
  daemons: Proc[],
): { samples: number[]; missing: number } {
  const own = daemons.map((d) => eventsOf(d, "ban"));
  const got = daemons.map((d) => eventsOf(d, "fleet-ban"));
  const samples: number[] = [];
  let missing = 0;
  for (const b of bans) {
    const t0 = own[b.origin].get(b.address);
    for (let h = 0; h < daemons.length; h++) {
      if (h === b.origin) continue;
      const t1 = got[h].get(b.address);
      if (t0 === undefined || t1 === undefined) missing++;
      else samples.push((t1 - t0) / 1000);
    }
  }
  return { samples, missing };
}

/** utime+stime of process `pid` so far, ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`)).ticks * 10;
  } catch {
    return NaN;
  }
}

function stats(s: number[]): { p50: number; p99: number; max: number; n: number } {
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: percentile(s, 100), n: s.length };
}

/** The fleet cells; skipped loudly when root, nats-server, nft or `--fleet` are missing. */
export async function fleetBench(args: string[]): Promise<Record<string, unknown>> {
  if (Deno.uid() !== 0 || !hasCommand("nats-server") || !hasCommand("nft") || !hasCommand("ip")) {
    peerAbsent("fleet cells (root, nats-server, nft)", "run as root with nats-server and nftables installed");
    return { skipped: true };
  }
  const help = await sh(cliArgv(["ban", "--help"]), { check: false });
  if (!help.stdout.includes("--fleet ")) {
    peerAbsent("fleet cells", "this pbxkit has no `ban --fleet` yet");
    return { skipped: true };
  }
  const singles = Number(args[args.indexOf("--fleet-bans") + 1] ?? "") || 1000;
  const burst = Number(args[args.indexOf("--fleet-burst") + 1] ?? "") || 10_000;
  const net = await TestNet.create(["nats", "pbx1", "pbx2", "pbx3"]);
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-ban-fleet-bench-" });
  const h = net.hosts;
  try {
    const nats = net.spawn("nats", [
      "nats-server",
      "-js",
      "-a",
      h.nats.ipv4,
      "-p",
      "4222",
      "-sd",
      `${dir}/js`,
    ]);
    await waitFor(() => nats.stderr.includes("Server is ready"), { timeoutMs: 20_000, what: "nats-server" });
    const names = ["pbx1", "pbx2", "pbx3"];
    const daemons: Proc[] = [];
    for (const name of names) {
      await Deno.mkdir(`${dir}/${name}`);
      daemons.push(net.spawn(name, [
        `${ROOT}/pbxkit`,
        "ban",
        "--daemon",
        "--quiet",
        "--json",
        "--interface",
        "eth0",
        "--pbx",
        h[name].ipv4,
        "--ban-time",
        "1h",
        "--state",
        `${dir}/${name}/state.json`,
        "--socket",
        `${dir}/${name}/ban.sock`,
        "--fleet",
        `nats://${h.nats.ipv4}:4222`,
        "--fleet-node",
        name,
      ]));
    }
    const sock = (i: number) => `${dir}/${names[i]}/ban.sock`;
    for (let i = 0; i < 3; i++) {
      await waitFor(() => Deno.stat(sock(i)).then(() => true, () => false), { timeoutMs: 30_000, what: names[i] });
    }
    const ban = (i: number, addrs: string[]) =>
      controlRequest(sock(i), {
        cmd: "import",
        bans: addrs.map((a) => [a, Date.now() + 3_600_000] as [string, number]),
        reason: "bench",
      }, { timeoutMs: 120_000 });
    // warm-up: the fleet is connected when a ban from each host reaches the others
    const total = singles + burst + 3, n6 = Math.floor(total / 4);
    const { v4, v6 } = blocklistSample(total - n6, n6, 11);
    const pool = [...v4, ...v6];
    const warm = pool.splice(0, 3);
    for (let i = 0; i < 3; i++) await ban(i, [warm[i]]);
    await waitFor(() => daemons.every((d) => eventsOf(d, "fleet-ban").size >= 2), {
      timeoutMs: 30_000,
      what: "fleet warm-up",
    }).catch((err) => {
      // what each host saw, to tell a lost ban from a slow one
      for (let i = 0; i < 3; i++) console.error(`${names[i]}: ${daemons[i].stdout.slice(-1500)}`);
      throw err;
    });
    console.log(`fleet: ${singles} single bans from rotating origins ...`);
    const single: { address: string; origin: number }[] = [];
    for (let k = 0; k < singles; k++) {
      const b = { address: pool[k], origin: k % 3 };
      single.push(b);
      await ban(b.origin, [b.address]);
      if (k % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    // wait on the daemons' ban counts (cheap), not by parsing their whole output over and over while they work
    const bansOn = async (i: number) =>
      ((await controlRequest(sock(i), { cmd: "status" }, { timeoutMs: 10_000 })) as { status?: { bans?: number } })
        .status?.bans ?? 0;
    const allHave = async (n: number) => {
      for (let i = 0; i < 3; i++) if (await bansOn(i) < n) return false;
      return true;
    };
    await waitFor(() => allHave(3 + singles), { timeoutMs: 60_000, intervalMs: 200 }).catch(() => {});
    let one = propagation(single, daemons);
    await waitFor(() => (one = propagation(single, daemons)).missing === 0, { timeoutMs: 10_000, intervalMs: 200 })
      .catch(() => {});
    console.log(`fleet: burst of ${burst} bans in one import on pbx1 ...`);
    const burstList = pool.slice(singles, singles + burst).map((address) => ({ address, origin: 0 }));
    const procs = [...daemons, nats];
    const cpu0 = procs.map((p) => cpuMs(p.child.pid));
    const imp = await ban(0, burstList.map((b) => b.address)) as { firewallMs?: number } | undefined;
    const originMs = imp?.firewallMs ?? NaN;
    // polled every 0.5 s: each status also reads the firewall counters, CPU the hosts would rather spend on the burst
    await waitFor(() => allHave(3 + singles + burst), { timeoutMs: 120_000, intervalMs: 500 }).catch(() => {});
    const burstCpu = procs.map((p, i) => cpuMs(p.child.pid) - cpu0[i]);
    // the daemons queue their --json lines (never blocking on this reader): wait until the last ones are read
    let many = propagation(burstList, daemons);
    await waitFor(() => (many = propagation(burstList, daemons)).missing === 0, { timeoutMs: 15_000, intervalMs: 500 })
      .catch(() => {});
    // the kernel sets agree with the events
    const inSets: number[] = [];
    for (const name of names) {
      let n = 0;
      for (const set of ["ban4", "ban6"]) {
        const doc = JSON.parse((await net.run(name, ["nft", "-j", "list", "set", "inet", "pbxkit", set])).stdout);
        n += doc.nftables.find((x: { set?: unknown }) => x.set).set.elem?.length ?? 0;
      }
      inSets.push(n);
    }
    const s1 = stats(one.samples), s2 = stats(many.samples);
    printTable("fleet propagation, origin's set insert -> element in the other hosts' sets (ms)", [
      "case",
      "deliveries",
      "missing",
      "p50",
      "p99",
      "max",
      "goal p99 < 20 ms",
    ], [
      [
        `${singles} single bans, 3 hosts`,
        s1.n,
        one.missing,
        s1.p50.toFixed(2),
        s1.p99.toFixed(2),
        s1.max.toFixed(2),
        s1.p99 < 20 ? "MET" : "NOT MET",
      ],
      [
        `burst of ${burst} bans`,
        s2.n,
        many.missing,
        s2.p50.toFixed(2),
        s2.p99.toFixed(2),
        s2.max.toFixed(2),
        s2.p99 < 20 ? "MET" : "NOT MET",
      ],
      ["anchor: CrowdSec bouncer poll (default)", "-", "-", "≤ 10000", "10000", "10000 (users: 10-40 s)", "-"],
      ["anchor: APIBAN client cron", "-", "-", "240000-300000", "300000", "300000", "-"],
    ]);
    const st1 = stages(single, daemons), st2 = stages(burstList, daemons);
    const f = (v: number[] | undefined) => v?.length ? v.map((x) => x.toFixed(2)) : ["-", "-", "-"];
    printTable("where the time goes (ms; store time has ms resolution)", [
      "case",
      "stage",
      "p50",
      "p99",
      "median of the slowest 1%",
    ], [
      [`${singles} singles`, "set insert -> sent (live) / stored (KV)", ...f(st1.publish)],
      [`${singles} singles`, "sent / stored -> delivered", ...f(st1.deliver)],
      [`${singles} singles`, "delivered -> in the set", ...f(st1.apply)],
      [`burst of ${burst}`, "set insert -> sent (live) / stored (KV)", ...f(st2.publish)],
      [`burst of ${burst}`, "sent / stored -> delivered", ...f(st2.deliver)],
      [`burst of ${burst}`, "delivered -> in the set", ...f(st2.apply)],
    ]);
    // firewall transactions the receivers used for the fleet's records (batching at work)
    const batches: number[] = [];
    for (let i = 0; i < 3; i++) {
      const st = await controlRequest(sock(i), { cmd: "status" }, { timeoutMs: 10_000 }) as {
        status?: { fleet?: { batches?: number } };
      };
      batches.push(st.status?.fleet?.batches ?? -1);
    }
    console.log(`fleet records applied in ${batches.join(", ")} firewall transactions (per host)`);
    // a floor for the burst: every receiver puts the same 10,000 elements into its sets too
    console.log(
      `the origin's own import of the ${burst} (one nft transaction, then published): ${
        originMs.toFixed(1)
      } ms; each receiver inserts the same elements, so the burst's p99 cannot go below about that`,
    );
    console.log(
      `CPU over the burst (ms; 2 cores shared): ${
        names.map((n, i) => `${n}${i === 0 ? " (origin)" : ""} ${burstCpu[i]}`).join(", ")
      }, nats-server ${burstCpu[3]}`,
    );
    // which path brought each ban first: the live messages or the KV watch
    const vias = daemons.map((d) => {
      let live = 0, all = 0;
      for (const line of d.stdout.split("\n")) {
        if (!line.startsWith('{"event":"fleet-ban"')) continue;
        all++;
        if (line.includes('"via":"live"')) live++;
      }
      return { live, all };
    });
    console.log(`bans that came by the live path: ${vias.map((v) => `${v.live} of ${v.all}`).join(", ")} (per host)`);
    // the fleet's own warnings (a watch restarted, a disconnect, a failed publish) explain outliers
    const warns = daemons.map((d) => {
      const lines = d.stderr.split("\n").filter((l) =>
        /fleet (watch stalled|disconnected|publish failed|unreachable)/.test(l)
      );
      const kinds = new Map<string, number>();
      for (const l of lines) {
        const k = /watch stalled|disconnected|publish failed|unreachable/.exec(l)![0];
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      return [...kinds].map(([k, n]) => `${k} x${n}`).join(" ") || "none";
    });
    console.log(`fleet warnings per host: ${warns.join("; ")}`);
    const expected = 3 + singles + burst;
    console.log(
      `elements in the hosts' nft sets: ${
        inSets.join(", ")
      } (expected ${expected} each). Shared loaded machine: indicative.`,
    );
    return {
      singles: { ...s1, missing: one.missing, stages: st1 },
      burst: { ...s2, missing: many.missing, size: burst, stages: st2 },
      inSets,
      batches,
      originImportMs: originMs,
      burstCpuMs: { hosts: burstCpu.slice(0, 3), nats: burstCpu[3] },
      vias,
      warnings: warns,
      expectedInSets: expected,
      anchors: { crowdsecPollMs: 10_000, apibanCronMs: [240_000, 300_000] },
    };
  } finally {
    await net.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
