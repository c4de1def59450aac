/**
 * The systemd units and default configs of pbxkit's daemons (sans-I/O: text in, text out). Each unit runs one
 * daemon with the least privilege it needs: only the capabilities it uses (ambient and bounding set), no new
 * privileges, a read-only system (`ProtectSystem=strict`) with its own state, runtime and cache directories, a
 * dynamic or dedicated user, reload = SIGHUP, restart on failure. `MemoryDenyWriteExecute` stays off: V8's JIT
 * needs writable-executable memory.
 *
 * @module
 */

/** The daemons that can be installed as a service. */
export const SERVICE_NAMES = ["ban", "ws", "tftp"] as const;

/** One of {@linkcode SERVICE_NAMES}. */
export type ServiceName = typeof SERVICE_NAMES[number];

/** Where the repository's `contrib/systemd/` units expect the launcher (a clone in `/opt/pbxkit`). */
export const CONTRIB_EXEC = "/opt/pbxkit/pbxkit";

/** What differs between the three units. */
export interface ServiceSpec {
  /** Unit name without `.service`. */
  unit: string;
  /** `Description=`. */
  description: string;
  /** The daemon's arguments after the launcher. */
  args: readonly string[];
  /** Capabilities kept (ambient and bounding set). */
  capabilities: readonly string[];
  /** Socket families allowed. */
  addressFamilies: readonly string[];
  /** A dedicated system user (created by sysusers.d) instead of a dynamic one. */
  user?: string;
  /** The config file the daemon reads. */
  config: string;
  /** Extra `[Service]` lines. */
  extra: readonly string[];
  /** Why it needs what it has, as comment lines at the top of the unit. */
  why: readonly string[];
}

/** The spec of a service. */
export function serviceSpec(name: ServiceName): ServiceSpec {
  switch (name) {
    case "ban":
      return {
        unit: "pbxkit-ban",
        description: "pbxkit ban: SIP brute-force banning (libpcap -> nftables/iptables)",
        args: ["ban", "--daemon", "--config", "/etc/pbxkit/ban.toml"],
        capabilities: ["CAP_NET_ADMIN", "CAP_NET_RAW"],
        addressFamilies: ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"],
        config: "/etc/pbxkit/ban.toml",
        extra: [
          "# bans stay fast on a busy host: the whole process at nice -10 (the config's nice = 0: no CAP_SYS_NICE)",
          "Nice=-10",
        ],
        why: [
          "CAP_NET_RAW: libpcap capture; CAP_NET_ADMIN: nftables/iptables (netlink).",
          "State in /var/lib/pbxkit-ban, control socket in /run/pbxkit-ban (see ban.toml).",
        ],
      };
    case "ws":
      return {
        unit: "pbxkit-ws",
        description: "pbxkit ws-serve: WebSocket/wss:// front for a PBX",
        args: ["ws-serve", "--config", "/etc/pbxkit/ws.toml"],
        capabilities: ["CAP_NET_BIND_SERVICE"],
        addressFamilies: ["AF_UNIX", "AF_INET", "AF_INET6"],
        user: "pbxkit",
        config: "/etc/pbxkit/ws.toml",
        extra: [],
        why: [
          "CAP_NET_BIND_SERVICE: listen on 443 and 80. User pbxkit (sysusers.d/pbxkit.conf): give its group read",
          "access to the TLS key (chgrp pbxkit privkey.pem; chmod 640); reload (SIGHUP) re-reads cert and key.",
        ],
      };
    case "tftp":
      return {
        unit: "pbxkit-tftp",
        description: "pbxkit tftp-serve: TFTP server for the board loop",
        args: ["tftp-serve", "--config", "/etc/pbxkit/tftp.toml"],
        capabilities: ["CAP_NET_BIND_SERVICE"],
        addressFamilies: ["AF_UNIX", "AF_INET", "AF_INET6"],
        config: "/etc/pbxkit/tftp.toml",
        extra: [],
        why: [
          "CAP_NET_BIND_SERVICE: UDP port 69. Serves /var/lib/pbxkit-tftp (its StateDirectory, writable for",
          "allow_write); to serve another directory add ReadOnlyPaths=/ReadWritePaths= in a drop-in.",
        ],
      };
  }
}

/** Options for {@linkcode unitText}. */
export interface UnitOptions {
  /** Absolute path of the `pbxkit` launcher (default {@linkcode CONTRIB_EXEC}). */
  exec?: string;
  /** Extra global flags before the subcommand, e.g. `["--log-format", "json"]`. */
  globalArgs?: readonly string[];
}

/** Quote one ExecStart argument for systemd when it needs it (spaces, quotes, `$`, `%`, `\`, `;`). */
export function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (escaped !== "" && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The unit file of a service. */
export function unitText(name: ServiceName, options: UnitOptions = {}): string {
  const s = serviceSpec(name);
  const exec = options.exec ?? CONTRIB_EXEC;
  const argv = [exec, ...(options.globalArgs ?? []), ...s.args].map(systemdQuote).join(" ");
  // a launcher under /home or /root must stay readable
  const home = /^\/(home|root)(\/|$)/.test(exec) ? "read-only" : "yes";
  const caps = s.capabilities.join(" ");
  const lines = [
    `# ${s.unit}.service: written by \`pbxkit service install ${name}\` (reference: docs/service.md)`,
    ...s.why.map((w) => `# ${w}`),
    "[Unit]",
    `Description=${s.description}`,
    `Documentation=file://${exec.replace(/\/[^/]*$/, "")}/docs/service.md`,
    "Wants=network-online.target",
    "After=network-online.target",
    `ConditionPathExists=${s.config}`,
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${argv}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    "Restart=on-failure",
    "RestartSec=2s",
    ...(s.user ? [`User=${s.user}`, `Group=${s.user}`] : ["DynamicUser=yes"]),
    `StateDirectory=${s.unit}`,
    `RuntimeDirectory=${s.unit}`,
    `CacheDirectory=${s.unit}`,
    "# Deno's module cache: the launcher runs TypeScript, the service user has no home",
    `Environment=DENO_DIR=%C/${s.unit}/deno`,
    "Environment=DENO_NO_UPDATE_CHECK=1",
    "Environment=NO_COLOR=1",
    `AmbientCapabilities=${caps}`,
    `CapabilityBoundingSet=${caps}`,
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ProtectHome=${home}`,
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "ProtectProc=invisible",
    "PrivateMounts=yes",
    "RemoveIPC=yes",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    `RestrictAddressFamilies=${s.addressFamilies.join(" ")}`,
    "SystemCallArchitectures=native",
    "UMask=0077",
    "# no MemoryDenyWriteExecute=yes: V8's JIT needs writable-executable memory",
    ...s.extra,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** The sysusers.d entry for the dedicated `pbxkit` user (ws). */
export function sysusersText(): string {
  return [
    "# written by `pbxkit service install`: the user of pbxkit-ws.service (the others use DynamicUser=)",
    'u pbxkit - "pbxkit daemons" /var/lib/pbxkit-ws',
    "",
  ].join("\n");
}

/** The commented default config of a service: every key shown, the ones the unit needs set. */
export function defaultConfigText(name: ServiceName): string {
  switch (name) {
    case "ban":
      return `# /etc/pbxkit/ban.toml: pbxkit ban --daemon under pbxkit-ban.service. Reference: docs/ban.md
# Commented lines show the defaults. After editing: systemctl reload pbxkit-ban (a broken file keeps the old one).
# Management commands read the same file: pbxkit ban list --config /etc/pbxkit/ban.toml

# interface = "any"
# pbx = ["192.0.2.10:5060", "[2001:db8::10]:5060"]
# ports = [5060]
# max_failures = 10
# find_time = "10m"
# ban_time = "1h"
# methods = ["REGISTER", "INVITE"]
# exempt = ["127.0.0.0/8", "::1"]
# backend = "nft"             # nft | iptables | dry-run
# scope = "ports"             # ports | all
# ipset = true
# notify_cmd = ["/usr/bin/logger", "-t", "pbxkit-ban"]
# snaplen = 8192
# buffer_size = "64MiB"
# recheck = "30s"

# the unit's StateDirectory and RuntimeDirectory
state = "/var/lib/pbxkit-ban/state.json"
socket = "/run/pbxkit-ban/ctl.sock"
# the unit sets Nice=-10 for the whole process; the daemon itself has no CAP_SYS_NICE
nice = 0
`;
    case "ws":
      return `# /etc/pbxkit/ws.toml: pbxkit ws-serve under pbxkit-ws.service. Reference: docs/ws-serve.md
# After editing, or when a certificate is renewed: systemctl reload pbxkit-ws (open connections carry on).
# Commented lines show a typical PBX front: wss:// on 443, http -> https on 80, SIP WebSockets to the PBX.

# subprotocols = ["sip"]
# origins = ["https://pbx.example.com"]
# webphone = false
# max_message = "16MiB"
# max_connections = 10000
# idle_timeout = "120s"
# handshake_timeout = "10s"
# deflate = true

# until configured: an echo server on loopback only (replace it with the listeners below)
echo = true

[[listen]]
address = "127.0.0.1:8080"

# [[listen]]
# address = "[::]:443"
# tls_cert = "/etc/pbxkit/tls/fullchain.pem"   # group pbxkit must read the key: chgrp pbxkit; chmod 640
# tls_key = "/etc/pbxkit/tls/privkey.pem"
#
# [[listen]]
# address = ":80"
# redirect = "https"
#
# [[proxy]]
# path = "/pbxws"
# upstream = "ws://127.0.0.1:8088/ws"
`;
    case "tftp":
      return `# /etc/pbxkit/tftp.toml: pbxkit tftp-serve under pbxkit-tftp.service. Reference: docs/service.md
# Commented lines show the defaults. After editing: systemctl reload pbxkit-tftp.

# port = 69
# address = ["::"]            # :: = IPv4 and IPv6
# allow_write = false         # uploads, atomic (a partial upload never replaces a file)
# max_blksize = 65464
# max_windowsize = 64
# max_transfers = 128
# max_upload_size = "1GiB"

# the unit's StateDirectory (put os.bin, apps.bin, uEnv.txt here: bbb-pack --out /var/lib/pbxkit-tftp)
root = "/var/lib/pbxkit-tftp"
`;
  }
}
