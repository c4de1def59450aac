/**
 * `pbxkit ban`: Sniff SIP with libpcap and ban hosts that collect REGISTER/INVITE errors in nftables or iptables.
 *
 * @module
 */

import { type Command, Option } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import {
  collect,
  formatTable,
  log,
  parseIntIn,
  printJson,
  printJsonLine,
  Progress,
  usageError,
  writeStdout,
} from "../lib/common/mod.ts";
import {
  BACKENDS,
  banCleanup,
  type BanConfig,
  banExport,
  banImport,
  banJson,
  banList,
  banStatus,
  banUnban,
  engineCounters,
  exportText,
  type RawSettings,
  readBlocklist,
  readConfigFile,
  replayCapture,
  resolveConfig,
  runDaemon,
} from "../lib/ban/mod.ts";

interface CommonOpts {
  config?: string;
  backend?: string;
  state?: string;
  socket?: string;
  json?: boolean;
  /** commander's `--no-ipset`: false when given, true by default. */
  ipset?: boolean;
}

/** The command's options: raw settings as flags give them (`ipset` is commander's boolean, not the raw string). */
type FlagOpts = CommonOpts & Omit<RawSettings, "ipset">;

async function configFrom(opts: FlagOpts): Promise<BanConfig> {
  const file = opts.config ? await readConfigFile(opts.config) : {};
  const flags: RawSettings = {
    interface: opts.interface,
    pbx: opts.pbx,
    ports: opts.ports,
    maxFailures: opts.maxFailures,
    findTime: opts.findTime,
    banTime: opts.banTime,
    methods: opts.methods,
    exempt: opts.exempt,
    backend: opts.backend,
    scope: opts.scope,
    state: opts.state,
    socket: opts.socket,
    notifyCmd: opts.notifyCmd,
    snaplen: opts.snaplen,
    bufferSize: opts.bufferSize,
    bpf: opts.bpf,
    recheck: opts.recheck,
    nice: opts.nice,
    metrics: opts.metrics,
    fleet: opts.fleet,
    fleetNode: opts.fleetNode,
    fleetBucket: opts.fleetBucket,
    fleetUser: opts.fleetUser,
    fleetPassword: opts.fleetPassword,
    fleetCreds: opts.fleetCreds,
    fleetTlsCa: opts.fleetTlsCa,
    fleetMaxPrefix: opts.fleetMaxPrefix,
    fleetReplicas: opts.fleetReplicas,
    // only an explicit `--no-ipset` overrides the file (commander's default is true)
    ipset: opts.ipset === false ? "false" : undefined,
  };
  return resolveConfig(file, flags);
}

/** A management subcommand's start: the global flags, then the config its options give and whether `--json`. */
async function manageContext(
  cmd: Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
): Promise<{ cfg: BanConfig; json: boolean }> {
  globalFlags(cmd);
  const opts = cmd.optsWithGlobals() as CommonOpts;
  return { cfg: await configFrom(opts), json: !!opts.json };
}

function manageOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "TOML config file (same keys as the daemon's)")
    .option("--backend <name>", "firewall backend: nft, iptables, dry-run")
    .option("--no-ipset", "iptables backend: one rule per ban, even when ipset is installed")
    .option("--state <file>", "state file")
    .option("--socket <path>", "daemon control socket")
    .option("--json", "machine-readable output");
}

function statusCommand(): Command {
  const cmd = newCommand("status", {
    summary: "Show the daemon's counters, capture drops, ban latency and firewall drop counters",
    examples: ["pbxkit ban status", "pbxkit ban status --json"],
  });
  return manageOptions(cmd).action(async function () {
    const { cfg, json } = await manageContext(this);
    const s = await banStatus(cfg);
    if (json) return printJson(s);
    const rows: [string, string][] = [];
    const flat = (prefix: string, v: unknown) => {
      if (v && typeof v === "object" && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) flat(prefix ? `${prefix}.${k}` : k, x);
      } else rows.push([prefix, Array.isArray(v) ? v.join(",") : String(v)]);
    };
    flat("", s);
    writeStdout(formatTable(["key", "value"], rows) + "\n");
  });
}

function listCommand(): Command {
  const cmd = newCommand("list", {
    summary: "List current bans with their reason and expiry",
    examples: ["pbxkit ban list", "pbxkit ban list --json"],
  });
  return manageOptions(cmd).action(async function () {
    const { cfg, json } = await manageContext(this);
    const bans = await banList(cfg);
    if (json) return printJson(bans);
    if (bans.length === 0) return writeStdout("no bans\n");
    writeStdout(
      formatTable(
        ["address", "family", "failures", "expires", "origin", "reason"],
        bans.map((b) => [b.address, b.family, b.failures, b.expires ?? "never", b.origin ?? "-", b.reason]),
      ) + "\n",
    );
  });
}

function unbanCommand(): Command {
  const cmd = newCommand("unban", {
    summary: "Lift the ban of an address now",
    examples: ["pbxkit ban unban 203.0.113.7", "pbxkit ban unban 2001:db8::7"],
  });
  manageOptions(cmd).argument("<address>", "IPv4 or IPv6 address").action(async function (address) {
    const { cfg, json } = await manageContext(this);
    const r = await banUnban(cfg, address);
    if (json) return printJson(r);
    writeStdout(`unbanned ${r.address} (via ${r.via})\n`);
  });
  return cmd;
}

function cleanupCommand(): Command {
  const cmd = newCommand("cleanup", {
    summary: "Remove everything pbxkit added to the firewall (table inet pbxkit, or its iptables chain and sets)",
    examples: ["pbxkit ban cleanup", "pbxkit ban cleanup --backend iptables"],
  });
  return manageOptions(cmd).action(async function () {
    const { cfg, json } = await manageContext(this);
    await doCleanup(cfg, json);
  });
}

async function doCleanup(cfg: BanConfig, json: boolean): Promise<void> {
  const r = await banCleanup(cfg);
  if (r.daemonRunning) log.warn("a pbxkit ban daemon is running; it will recreate its rules on restart");
  if (json) return printJson({ removedBans: r.removed, backend: cfg.backend });
  writeStdout(`removed pbxkit's firewall objects (${r.removed} bans) from ${cfg.backend}\n`);
}

function importCommand(): Command {
  const cmd = newCommand("import", {
    summary: "Ban every address or network of a blocklist in one firewall transaction, with jittered expiries",
    description: "FILE holds one address or CIDR per line ('#' and ';' start comments), or a JSON list of strings or " +
      "{\"address\": ...} objects; '-' reads standard input. Every line is validated: a bad address, a network " +
      "wider than --max-prefix, or one overlapping an --exempt network fails the import with its line number " +
      "(nothing is applied) unless --skip-invalid. Expiries are spread over +-10% of --ban-time (--jitter) so a " +
      "large list does not expire in one second. With a daemon running the bans go through it (its state and " +
      "list know them); otherwise straight into the firewall and the state file. Addresses already banned are " +
      "left as they are, so importing twice changes nothing.",
    examples: [
      "pbxkit ban import blocklist.txt --ban-time 24h --reason 'APIBAN SIP honeypots'",
      "curl -s https://example.org/drop.txt | pbxkit ban import - --max-prefix 24,48 --skip-invalid",
      "pbxkit ban import bans.json --json",
    ],
  });
  manageOptions(cmd)
    .argument("<file>", "blocklist file, or - for standard input")
    .option("--ban-time <duration>", "how long the bans last, 0 for permanent (default: the config's, 1h)")
    .option("--reason <text>", "reason recorded with each ban (default: imported from FILE)")
    .option("--jitter <fraction>", "spread expiries by this fraction of --ban-time either way: 0.1 or 10% (default)")
    .option("--seed <n>", "seed of the expiry spread (default: random), for reproducible imports")
    .option("--max-prefix <v4[,v6]>", "widest networks accepted (default: 32,128 = single addresses only)")
    .option(
      "--exempt <cidr>",
      "never ban this network, repeatable (replaces the config's list, as for the daemon)",
      collect,
    )
    .option("--skip-invalid", "apply the valid lines and report the bad ones instead of failing")
    .option("--dry-run", "validate and report only; change nothing")
    .action(async function (file, opts) {
      const { cfg, json } = await manageContext(this);
      const o = opts as { jitter?: string; seed?: string; maxPrefix?: string; skipInvalid?: boolean; dryRun?: boolean };
      const [max4, max6] = parseMaxPrefix(o.maxPrefix);
      const r = await banImport(cfg, await readBlocklist(file), {
        banTimeMs: (opts as { banTime?: string }).banTime !== undefined ? cfg.banTimeMs : undefined,
        reason: (opts as { reason?: string }).reason,
        source: file === "-" ? "stdin" : file,
        jitter: o.jitter !== undefined ? parseJitter(o.jitter) : undefined,
        seed: o.seed !== undefined ? parseIntIn(o.seed, "--seed", { min: 0, max: 2 ** 32 - 1 }) : undefined,
        maxPrefix4: max4,
        maxPrefix6: max6,
        skipInvalid: !!o.skipInvalid,
        dryRun: !!o.dryRun,
      });
      for (const e of r.invalid.slice(0, 20)) log.warn(`skipped line ${e.line}: '${e.text}': ${e.error}`);
      if (r.invalid.length > 20) log.warn(`... and ${r.invalid.length - 20} more invalid lines`);
      if (json) return printJson(r);
      const exp = r.expiries
        ? `, expiring ${r.expiries.first} .. ${r.expiries.last} (${r.expiries.distinctSeconds} distinct seconds)`
        : "";
      writeStdout(
        `${r.via === "dry-run" ? "would import" : "imported"} ${r.imported || (r.via === "dry-run" ? r.entries : 0)} ` +
          `bans via ${r.via} in ${r.totalMs.toFixed(0)} ms (firewall ${r.firewallMs.toFixed(0)} ms); ` +
          `${r.alreadyBanned} already banned, ${r.duplicates} duplicate lines, ${r.invalid.length} invalid` +
          `${r.rejectedByDaemon ? `, ${r.rejectedByDaemon} refused by the daemon` : ""}${exp}\n`,
      );
    });
  return cmd;
}

function parseJitter(text: string): number {
  const t = text.trim();
  const v = t.endsWith("%") ? Number(t.slice(0, -1)) / 100 : Number(t);
  if (!(v >= 0 && v <= 0.9) || t === "" || t === "%") {
    throw usageError(`--jitter: '${text}' is not a fraction from 0 to 0.9 (or 0% to 90%)`);
  }
  return v;
}

function parseMaxPrefix(text: string | undefined): [number, number] {
  if (text === undefined) return [32, 128];
  const parts = text.split(",").map((p) => p.trim().replace(/^\//, ""));
  if (parts.length > 2) throw usageError(`--max-prefix: '${text}' is not V4[,V6], e.g. 24,64`);
  const v4 = parseIntIn(parts[0], "--max-prefix", { min: 0, max: 32 });
  const v6 = parts[1] !== undefined ? parseIntIn(parts[1], "--max-prefix", { min: 0, max: 128 }) : 128;
  return [v4, v6];
}

function exportCommand(): Command {
  const cmd = newCommand("export", {
    summary: "Print the active bans (address, until, origin, reason); the text form is what ban import reads",
    examples: [
      "pbxkit ban export --json",
      "pbxkit ban export > bans.txt && pbxkit ban import bans.txt --state /var/lib/pbxkit/other.json",
    ],
  });
  return manageOptions(cmd).action(async function () {
    const { cfg, json } = await manageContext(this);
    const bans = await banExport(cfg);
    if (json) return printJson(bans);
    writeStdout(exportText(bans));
  });
}

/** Build the `ban` subcommand. */
export function banCommand(): Command {
  const cmd = newCommand("ban", {
    summary: "Sniff SIP with libpcap and ban hosts that collect REGISTER/INVITE errors in nftables or iptables",
    description:
      "Watch the SIP responses your PBX sends (libpcap) and ban, in nftables or iptables, every host that collects " +
      "--max-failures responses >= 400 to REGISTER/INVITE within --find-time. A 2xx resets a host's count. IPv4 and " +
      "IPv6, UDP and TCP. Bans expire after --ban-time and survive restarts. Replay a capture with --pcap.",
    examples: [
      "pbxkit ban --pcap capture.pcap --json",
      "pbxkit ban --daemon --interface eth0 --pbx 192.0.2.10:5060 --exempt 192.0.2.0/24",
      "pbxkit ban --daemon --config /etc/pbxkit/ban.toml",
      "pbxkit ban --daemon --interface eth0 --metrics 127.0.0.1:9464",
      "pbxkit ban --daemon --pbx 192.0.2.10 --fleet tls://nats1.example.org:4222 --fleet-node edge-1 " +
      "--fleet-creds /etc/pbxkit/fleet.creds --fleet-tls-ca /etc/pbxkit/nats-ca.pem",
      "pbxkit ban list",
      "pbxkit ban unban 203.0.113.7",
      "pbxkit ban import blocklist.txt --ban-time 24h",
      "pbxkit ban export --json",
    ],
  })
    .option("--daemon", "capture live and ban until SIGTERM (SIGHUP reloads --config)")
    .option("--pcap <file>", "replay a pcap/pcapng capture and report the bans it would make")
    .option("--cleanup", "remove everything pbxkit added to the firewall, then exit")
    .option("--config <file>", "TOML config file; flags override it")
    .option("-i, --interface <name>", "capture interface (default: any)")
    .option("--pbx <addr[:port]>", "the PBX's address (and port), repeatable (default: the interface's)", collect)
    .option("--ports <list>", "the PBX's SIP ports (default: 5060, or the ports given with --pbx)")
    .option("--max-failures <n>", "failures that trigger a ban (default: 10)")
    .option("--find-time <duration>", "window for counting failures (default: 10m)")
    .option("--ban-time <duration>", "how long a ban lasts, 0 for permanent (default: 1h)")
    .option("--methods <list>", "CSeq methods whose errors count (default: REGISTER,INVITE)")
    .option("--exempt <cidr>", "never count nor ban this network, repeatable (default: 127.0.0.0/8, ::1)", collect)
    .addOption(
      new Option("--backend <name>", "firewall backend (default: nft)").choices(BACKENDS),
    )
    .option("--no-ipset", "iptables backend: one rule per ban (removed by the daemon on expiry), even with ipset")
    .addOption(
      new Option("--scope <scope>", "block the PBX's ports or all traffic (default: ports)").choices(["ports", "all"]),
    )
    .option("--state <file>", "state file (default: /var/lib/pbxkit/ban-state.json)")
    .option("--socket <path>", "control socket (default: /run/pbxkit-ban.sock)")
    .option("--notify-cmd <cmd>", "run this argv (split on spaces, no shell) per ban with the address appended")
    .option("--snaplen <bytes>", "capture snap length; longer TCP segments are used up to the cut (default: 8192)")
    .option("--buffer-size <size>", "kernel capture buffer (default: 64MiB)")
    .option("--bpf <expr>", "capture filter (default: built from --pbx and --ports)")
    .option("--recheck <duration>", "how often to check that every ban is still in the firewall (default: 30s)")
    .option(
      "--nice <n>",
      "the daemon's nice value; negative keeps bans fast on a busy machine, 0 leaves it (default: -10)",
    )
    .option("--metrics <host:port>", "daemon: serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    .option("--fleet <url>", "share bans over NATS JetStream: nats://HOST:4222 or tls://HOST:4222, repeatable", collect)
    .option("--fleet-node <name>", "this host's name in the fleet (default: the host name)")
    .option("--fleet-bucket <name>", "the fleet's KV bucket (default: pbxkit_bans)")
    .option("--fleet-user <name>", "NATS user (with --fleet-password; better in the config file)")
    .option("--fleet-password <pw>", "NATS password (visible in ps: prefer fleet_password in a 0600 --config)")
    .option("--fleet-creds <file>", "NATS .creds file (JWT and NKey seed)")
    .option("--fleet-tls-ca <file>", "CA certificate that signs the NATS servers' certificates (turns TLS on)")
    .option("--fleet-max-prefix <v4,v6>", "widest network a fleet record may ban (default: 32,128 = single hosts)")
    .option("--fleet-replicas <n>", "replicas when this host creates the bucket: 1, 3 or 5 (default: 1)")
    .option("--json", "one JSON line per ban on stdout");
  cmd.addCommand(statusCommand());
  cmd.addCommand(listCommand());
  cmd.addCommand(unbanCommand());
  cmd.addCommand(cleanupCommand());
  cmd.addCommand(importCommand());
  cmd.addCommand(exportCommand());
  cmd.action(async function (opts) {
    globalFlags(this);
    const o = opts as FlagOpts & { daemon?: boolean; pcap?: string; cleanup?: boolean };
    const modes = [o.daemon, o.pcap !== undefined, o.cleanup].filter(Boolean).length;
    if (modes === 0) {
      throw usageError(
        "give --daemon, --pcap FILE or --cleanup, or a subcommand (status, list, unban, cleanup, import, export)",
      );
    }
    if (modes > 1) throw usageError("--daemon, --pcap and --cleanup are exclusive");
    const cfg = await configFrom(o);
    if (o.cleanup) return await doCleanup(cfg, !!o.json);
    if (o.pcap !== undefined) return await replay(o.pcap, cfg, !!o.json);
    log.timestamps = true;
    await runDaemon(cfg, {
      json: !!o.json,
      reload: o.config ? () => configFrom(o) : undefined,
    });
  });
  return cmd as unknown as Command;
}

async function replay(path: string, cfg: BanConfig, json: boolean): Promise<void> {
  const progress = new Progress(`replay ${path}`, { bytes: true });
  const r = await replayCapture(path, cfg, {
    onProgress: (done, total) => progress.update(done, total),
    onBan: (v) => {
      if (json) printJsonLine(banJson(v));
      else {
        writeStdout(
          `ban ${v.address} failures=${v.failures} first=${new Date(v.first).toISOString()} ` +
            `last=${new Date(v.last).toISOString()} reason="${v.reason}"\n`,
        );
      }
    },
  });
  progress.finish({ clear: true });
  const c = engineCounters(r.engine);
  const pps = r.seconds > 0 ? Math.round(r.packets / r.seconds) : 0;
  log.child("ban").info("replay done", {
    file: path,
    format: r.format,
    packets: r.packets,
    seconds: Number(r.seconds.toFixed(3)),
    packets_per_s: pps,
    responses: c.sip.responses,
    error_responses: c.sip.errorResponses,
    failures: c.sip.failures,
    bans: r.bans.length,
    malformed: c.decode.malformed,
  });
}
