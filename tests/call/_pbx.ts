/**
 * A real small PBX for the call tests: kamailio 5.6 (registrar with usrloc in memory, digest auth with fixed users,
 * xhttp + websocket, nathelper fixing WebSocket contacts, gruu off), rtpengine in userspace bridging WebRTC
 * (DTLS-SRTP, ICE, AVPF) and plain RTP (SDES-SRTP RTP/SAVP stays RTP/SAVP on both legs), and baresip phones, all
 * in network namespaces made for the test.
 *
 * Topology: host `pbx` runs rtpengine, kamailio and the pbxkit under test; host `phone` runs baresip (it needs a
 * non-loopback address to bind). Everything is stopped by PID and the namespaces are deleted by `close()`.
 *
 * @module
 */

import { cliArgv, Proc, selfSignedCert, TestNet, waitFor } from "../_util/mod.ts";
import { listenerRegistered } from "./_heard.ts";

/** The SIP domain every test account lives in. */
export const DOMAIN = "pbx.test";

/** Test accounts (user -> password). */
export const USERS: Record<string, string> = {
  alice: "alice-secret",
  bob: "bob-secret",
  carol: "carol-secret",
  phone: "phone-secret",
  phone2: "phone2-secret",
};

/** `--user USER --password PASSWORD` of a test account. */
export function creds(user: string): string[] {
  return ["--user", user, "--password", USERS[user]];
}

/** `call TARGET --ws WS` with USER's credentials (more flags go after). */
export function callArgv(target: string, o: { ws: string; user: string }): string[] {
  return ["call", target, "--ws", o.ws, ...creds(o.user)];
}

/** `call --listen [--auto-answer] --ws WS` with USER's credentials (more flags go after). */
export function listenArgv(user: string, o: { ws: string; autoAnswer?: boolean }): string[] {
  return ["call", "--listen", ...(o.autoAnswer ? ["--auto-answer"] : []), "--ws", o.ws, ...creds(user)];
}

/** `call TARGET --proxy PROXY --domain pbx.test` with USER's credentials (SIP over UDP by default; more flags go after). */
export function proxyCallArgv(target: string, o: { proxy: string; user: string }): string[] {
  return ["call", target, "--proxy", o.proxy, ...creds(o.user), "--domain", DOMAIN];
}

/**
 * `call --listen --auto-answer --proxy PROXY --domain pbx.test --max-calls 1` with USER's credentials: answers one
 * call, then exits (more flags go after).
 */
export function proxyListenArgv(user: string, o: { proxy: string }): string[] {
  return [
    "call",
    "--listen",
    "--auto-answer",
    "--proxy",
    o.proxy,
    ...creds(user),
    "--domain",
    DOMAIN,
    "--max-calls",
    "1",
  ];
}

/** `--tone HZ --duration DURATION [--record FILE]`: what a test call sends, how long, and where what it hears goes. */
export function toneArgv(hz: number, duration: string, record?: string): string[] {
  return ["--tone", String(hz), "--duration", duration, ...(record === undefined ? [] : ["--record", record])];
}

/** Tools the fixture needs. */
export const PBX_TOOLS = ["kamailio", "rtpengine", "ip"] as const;

/** Options for {@linkcode Pbx.start}. */
export interface PbxOptions {
  /** Users routed statically to a scripted peer on the pbx host (user -> UDP port), e.g. sipp. */
  staticRoutes?: Record<string, number>;
  /** INVITE final-response timer (ms) kamailio waits before 408. */
  frInvTimerMs?: number;
  /** Which host the static routes point at (default `pbx`; `phone` puts e.g. sipp behind its own interface). */
  staticRouteHost?: "pbx" | "phone";
  /**
   * Also listen for SIP over TCP on 5060 and TLS on 5061 (a throw-away self-signed certificate for the pbx address
   * and `pbx.test`, see {@linkcode Pbx.tlsCert}), and open kamailio's control socket for `kamcmd` ({@linkcode Pbx.kamcmd}).
   */
  netTransports?: boolean;
  /** Extra UDP ports kamailio listens on (e.g. an SRV target port). */
  extraUdpPorts?: number[];
  /** Also listen for SIP over UDP on the pbx host's IPv6 address (port 5060). */
  udpIpv6?: boolean;
  /** Load kamailio's ctl module on a unix socket in the PBX's temp dir (see {@linkcode Pbx.kamcmd}). */
  ctl?: boolean;
}

/** A running PBX (kamailio + rtpengine) on a private test network. */
export class Pbx {
  readonly net: TestNet;
  readonly dir: string;
  readonly ip: string;
  readonly phoneIp: string;
  readonly sipPort = 5060;
  readonly wsPort = 8080;
  readonly tlsPort = 5061;
  /** With `netTransports`: kamailio's self-signed TLS certificate (PEM file), to give pbxkit as `--ca`. */
  tlsCert?: string;
  #procs: Proc[] = [];
  /** The kamailio process (its stderr is the PBX log). */
  kamailio?: Proc;
  /** The rtpengine process. */
  rtpengine?: Proc;

  private constructor(net: TestNet, dir: string) {
    this.net = net;
    this.dir = dir;
    this.ip = net.hosts.pbx.ipv4;
    this.phoneIp = net.hosts.phone.ipv4;
  }

  /** kamailio's binrpc control socket (with `ctl` or `netTransports`). */
  get ctlSocket(): string {
    return `${this.dir}/kamailio_ctl`;
  }

  /** Run `kamcmd CMD...` against this kamailio (needs `ctl` or `netTransports`); its stdout. */
  async kamcmd(...cmd: string[]): Promise<string> {
    const r = await this.net.run("pbx", ["kamcmd", "-s", `unix:${this.ctlSocket}`, ...cmd]);
    return r.stdout;
  }

  /** ws:// URL of kamailio's WebSocket listener. */
  get wsUrl(): string {
    return `ws://${this.ip}:${this.wsPort}/`;
  }

  /** Start the network, rtpengine and then kamailio; waits until both answer. */
  static async start(options: PbxOptions = {}): Promise<Pbx> {
    const net = await TestNet.create(["pbx", "phone"]);
    const dir = await Deno.makeTempDir({ prefix: "pbxkit-call-" });
    const pbx = new Pbx(net, dir);
    try {
      const ngPort = 22222;
      const rtp = pbx.rtpengine = pbx.spawn("pbx", [
        "rtpengine",
        "--table=-1",
        `--interface=${pbx.ip}`,
        `--listen-ng=127.0.0.1:${ngPort}`,
        "--foreground",
        "--log-stderr",
        "--port-min=30000",
        "--port-max=30999",
        `--pidfile=${dir}/rtpengine.pid`,
      ]);
      await waitFor(async () => (await pbx.ngPing(ngPort)) || rtp.stderr.includes("FATAL"), {
        timeoutMs: 15_000,
        what: "rtpengine",
      });
      if (!(await pbx.ngPing(ngPort))) throw new Error(`rtpengine failed: ${rtp.stderr.slice(-500)}`);
      const cfg = `${dir}/kamailio.cfg`;
      let tls: KamailioConfigOptions["tls"];
      if (options.netTransports) {
        const certDir = await Deno.makeTempDir({ dir, prefix: "tls-" });
        const { cert, key } = await selfSignedCert(certDir, { cn: DOMAIN, san: `IP:${pbx.ip},DNS:${DOMAIN}` });
        const tlsCfg = `${dir}/tls.cfg`;
        await Deno.writeTextFile(tlsCfg, kamailioTlsConfig(cert, key));
        tls = { port: pbx.tlsPort, config: tlsCfg };
        pbx.tlsCert = cert;
      }
      await Deno.writeTextFile(
        cfg,
        kamailioConfig({
          ip: pbx.ip,
          sipPort: pbx.sipPort,
          wsPort: pbx.wsPort,
          ngPort,
          ...options,
          routeIp: options.staticRouteHost === "phone" ? pbx.phoneIp : undefined,
          ip6: options.udpIpv6 ? net.hosts.pbx.ipv6 : undefined,
          tls,
          ctlSocket: options.ctl || options.netTransports ? pbx.ctlSocket : undefined,
        }),
      );
      const kam = pbx.kamailio = pbx.spawn("pbx", [
        "kamailio",
        "-f",
        cfg,
        "-DD",
        "-E",
        "-m",
        "64",
        "-M",
        "8",
        "-Y",
        dir,
        "-w",
        dir,
      ]);
      await waitFor(async () => {
        if (await hasExited(kam)) throw new Error(`kamailio exited: ${kam.stderr.slice(-1500)}`);
        return await pbx.tcpOpen(pbx.wsPort);
      }, { timeoutMs: 20_000, what: "kamailio" });
    } catch (err) {
      await pbx.close();
      throw err;
    }
    return pbx;
  }

  /** Start a process inside one of the hosts; stopped in close(). */
  spawn(
    host: "pbx" | "phone",
    argv: readonly string[],
    options: { env?: Record<string, string>; stdin?: boolean } = {},
  ): Proc {
    const p = new Proc(this.net.wrap(host, argv), options);
    this.#procs.push(p);
    return p;
  }

  /** Run `pbxkit ARGS` inside the pbx host (as a long-running process). */
  pbxkit(args: readonly string[], options: { env?: Record<string, string> } = {}): Proc {
    return this.spawn("pbx", cliArgv(args), { env: { NO_COLOR: "1", ...options.env } });
  }

  /**
   * `pbxkit ws-serve --webphone` on the pbx host, port 8443, over TLS with a throw-away RSA certificate for the pbx
   * address and `pbx.test` (returned as `cert`, for `--ca`), proxying `/pbxws` to kamailio's WebSocket; once it
   * listens (bounded by `timeoutMs`).
   */
  async wsServeWebphone(timeoutMs = 20_000): Promise<{ proc: Proc; page: string; wss: string; cert: string }> {
    const { cert, key } = await selfSignedCert(this.dir, {
      cn: DOMAIN,
      san: `DNS:${DOMAIN},IP:${this.ip}`,
      key: "rsa",
      days: 1,
    });
    const proc = this.pbxkit([
      "ws-serve",
      "--host",
      this.ip,
      "--port",
      "8443",
      "--tls-cert",
      cert,
      "--tls-key",
      key,
      "--proxy",
      `/pbxws=${this.wsUrl}`,
      "--subprotocol",
      "sip",
      "--webphone",
    ]);
    await waitFor(() => this.tcpOpen(8443), {
      timeoutMs,
      what: `ws-serve\n--- stdout\n${proc.stdout}\n--- stderr\n${proc.stderr.slice(-2000)}`,
    });
    return { proc, page: `https://${this.ip}:8443/`, wss: `wss://${this.ip}:8443/pbxws`, cert };
  }

  /**
   * sipp on the phone host (port 5090, media on 6000) running scenario `xml` for `calls` calls and echoing RTP;
   * `extra` sipp flags go after.
   */
  sippEcho(xml: string, calls: number, extra: readonly string[]): Proc {
    return this.spawn("phone", [
      "sipp",
      "-sf",
      xml,
      "-i",
      this.phoneIp,
      "-p",
      "5090",
      "-mi",
      this.phoneIp,
      "-mp",
      "6000",
      "-rtp_echo",
      "-m",
      String(calls),
      "-nostdin",
      ...extra,
    ]);
  }

  /**
   * Start `pbxkit ARGS` (a `call --listen` as bob, e.g. {@linkcode proxyListenArgv}), wait until it has registered,
   * then have baresip `phone2` dial bob playing `toneHz` (with `codecs`, see {@linkcode Pbx.baresip}).
   */
  async baresipCallsListener(
    args: readonly string[],
    o: { toneHz: number; codecs?: string },
  ): Promise<{ listener: Proc; caller: Proc; recDir: string }> {
    const listener = this.pbxkit(args);
    await listenerRegistered(listener);
    const { proc: caller, recDir } = await this.baresip({ user: "phone2", dial: `sip:bob@${DOMAIN}`, ...o });
    return { listener, caller, recDir };
  }

  /** Start baresip in the phone host with an account and a tone source; it records what it hears to `recDir`. */
  async baresip(options: {
    user: string;
    toneHz?: number;
    autoAnswer?: boolean;
    dial?: string;
    recDir?: string;
    /** Load ctrl_tcp on this port (JSON commands and events, for the benchmark). */
    ctrlPort?: number;
    /** Which host runs it (default `phone`); on `pbx` it uses SIP port 5070. */
    host?: "pbx" | "phone";
    /** The account's `audio_codecs` (default `PCMU,PCMA`); naming opus loads baresip's opus module. */
    codecs?: string;
    /** `audio_source` instead of the tone, e.g. `aufile,/path/to.wav` (loads the aufile module). */
    source?: string;
  }): Promise<{ proc: Proc; recDir: string }> {
    const host = options.host ?? "phone";
    const conf = await Deno.makeTempDir({ dir: this.dir, prefix: "baresip-" });
    const recDir = options.recDir ?? conf;
    await Deno.writeTextFile(
      `${conf}/config`,
      baresipConfig({
        ip: host === "phone" ? this.phoneIp : this.ip,
        sipPort: host === "phone" ? 5060 : 5070,
        toneHz: options.toneHz ?? 440,
        recDir,
        ctrlPort: options.ctrlPort,
        opus: /opus/i.test(options.codecs ?? ""),
        source: options.source,
      }),
    );
    const pw = USERS[options.user];
    const answer = options.autoAnswer ? ";answermode=auto" : "";
    await Deno.writeTextFile(
      `${conf}/accounts`,
      `<sip:${options.user}@${DOMAIN}>;auth_pass=${pw};outbound="sip:${this.ip}:${this.sipPort};transport=udp"` +
        `;regint=300;audio_codecs=${options.codecs ?? "PCMU,PCMA"}${answer}\n`,
    );
    await Deno.writeTextFile(`${conf}/contacts`, "");
    const argv = ["baresip", "-f", conf];
    if (options.dial) argv.push("-e", `/dial ${options.dial}`);
    const proc = this.spawn(host, argv);
    return { proc, recDir };
  }

  /** {@linkcode Pbx.baresip}, then wait (15 s at most) until the PBX has answered its REGISTER with 200 OK. */
  async baresipRegistered(
    options: Parameters<Pbx["baresip"]>[0] & { what?: string },
  ): Promise<{ proc: Proc; recDir: string }> {
    const b = await this.baresip(options);
    await waitFor(() => b.proc.stdout.includes("200 OK"), {
      timeoutMs: 15_000,
      what: options.what ?? "baresip registration",
    });
    return b;
  }

  /**
   * Start linphonec (linphone-cli) in the phone host, headless: a temp HOME and config (`-c`), auto-answer (`-a`),
   * its sound card replaced by files (`soundcard use files`): it sends the WAV `play` and records what it hears to
   * `record`. With `register`, it registers USER through this kamailio; without, it only listens on the phone host's
   * address (SIP port `sipPort`, default 5060; RTP 7078). Drive it further with {@linkcode linphonecSay}.
   */
  async linphonec(
    options: { user: string; play: string; record: string; register?: boolean; sipPort?: number },
  ): Promise<Proc> {
    const home = await Deno.makeTempDir({ dir: this.dir, prefix: "linphonec-" });
    // without its database directory the core never starts (no SIP listening point at all)
    await Deno.mkdir(`${home}/.local/share/linphone`, { recursive: true });
    const rc = `${home}/linphonerc`;
    await Deno.writeTextFile(rc, linphonecConfig(options.sipPort ?? 5060));
    const p = this.spawn("phone", ["stdbuf", "-oL", "linphonec", "-c", rc, "-a", "-d", "0"], {
      env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      stdin: true,
    });
    const lines = ["soundcard use files", `play ${options.play}`, `record ${options.record}`];
    if (options.register) {
      lines.push(`register sip:${options.user}@${DOMAIN} sip:${this.ip}:${this.sipPort} ${USERS[options.user]}`);
    }
    await linphonecSay(p, lines);
    // ready once its SIP port is bound (the core is up) and a command typed after the set-up ones has been answered:
    // a call that arrives earlier can find the real sound card still selected, or nobody listening
    const port = options.sipPort ?? 5060;
    await waitFor(async () => {
      const r = await this.net.run("phone", ["ss", "-Hlun", `sport = :${port}`], { check: false });
      return r.stdout.trim() !== "";
    }, { timeoutMs: 20_000, intervalMs: 200, what: `linphonec listening on UDP ${port}` });
    const marks = () => p.stdout.split("No active call").length;
    const before = marks();
    await waitFor(async () => {
      if (marks() > before) return true;
      await linphonecSay(p, ["calls"]);
      return false;
    }, { timeoutMs: 20_000, intervalMs: 500, what: `linphonec answering commands${p.stdout.slice(-500)}` });
    return p;
  }

  /** {@linkcode Pbx.linphonec} with `register`, then wait (20 s at most) until kamailio has its binding. */
  async linphonecRegistered(
    options: { user: string; play: string; record: string; sipPort?: number },
  ): Promise<Proc> {
    const p = await this.linphonec({ ...options, register: true });
    // linphonec prints nothing when it registers: ask (`status register`) until it says so
    await waitFor(async () => {
      if (p.stdout.includes("registered, identity=")) return true;
      await linphonecSay(p, ["status register"]);
      return false;
    }, { timeoutMs: 20_000, intervalMs: 500 }).catch(() => {
      throw new Error(`linphonec did not register:\n${p.stdout}\n${p.stderr.slice(-1500)}`);
    });
    return p;
  }

  /** Whether a TCP port on the pbx host accepts connections. */
  async tcpOpen(port: number): Promise<boolean> {
    const r = await this.net.run("pbx", ["bash", "-c", `exec 3<>/dev/tcp/${this.ip}/${port}`], { check: false });
    return r.code === 0;
  }

  /** Ping rtpengine's control port with the ng protocol. */
  async ngPing(port: number): Promise<boolean> {
    const r = await this.net.run("pbx", [
      "bash",
      "-c",
      `exec 3<>/dev/udp/127.0.0.1/${port}; printf 'x1 d7:command4:pinge' >&3; timeout 1 head -c 18 <&3`,
    ], { check: false });
    return r.stdout.includes("pong");
  }

  /** Stop everything (by PID) and delete the namespaces and temp files. */
  async close(): Promise<void> {
    for (const p of this.#procs.reverse()) await p.stop("SIGTERM", 3000).catch(() => {});
    this.#procs = [];
    await this.net.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Whether a process has exited already (without waiting for it). */
export async function hasExited(p: Proc): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<false>((r) => timer = setTimeout(() => r(false), 5));
  const v = await Promise.race([p.done.then(() => true), t]);
  clearTimeout(timer);
  return v;
}

/** Options for {@linkcode kamailioConfig}. */
interface KamailioConfigOptions extends PbxOptions {
  ip: string;
  sipPort: number;
  wsPort: number;
  ngPort: number;
  /** Address the static routes point at (default `ip`). */
  routeIp?: string;
  /** IPv6 address for a UDP listener on `sipPort`. */
  ip6?: string;
  /** SIP over TCP (on `sipPort`) and TLS (on `port`, with the tls module's `config` file). */
  tls?: { port: number; config: string };
  /** Load the ctl module with its binrpc socket here. */
  ctlSocket?: string;
}

/** The kamailio tls module's config: this certificate for every server connection, no client certificates. */
export function kamailioTlsConfig(cert: string, key: string): string {
  return `[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = ${key}
certificate = ${cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`;
}

/** Render the kamailio.cfg used by the tests. */
export function kamailioConfig(o: KamailioConfigOptions): string {
  const passwords = Object.entries(USERS).map(([u, p]) => `  if ($var(u) == "${u}") $var(pw) = "${p}";`).join("\n");
  const statics = Object.entries(o.staticRoutes ?? {}).map(([u, port]) =>
    `  if ($rU == "${u}") { $du = "sip:${o.routeIp ?? o.ip}:${port}"; route(RELAY); exit; }`
  ).join("\n");
  const extraListen = [
    ...(o.extraUdpPorts ?? []).map((port) => `listen=udp:${o.ip}:${port}\n`),
    ...(o.ip6 ? [`listen=udp:[${o.ip6}]:${o.sipPort}\n`] : []),
    ...(o.tls ? [`listen=tcp:${o.ip}:${o.sipPort}\nlisten=tls:${o.ip}:${o.tls.port}\nenable_tls=yes\n`] : []),
  ].join("");
  const tlsModules = o.tls
    ? `loadmodule "tls.so"
modparam("tls", "config", "${o.tls.config}")
`
    : "";
  return `#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
tcp_children=2
auto_aliases=no
alias="${DOMAIN}"
listen=udp:${o.ip}:${o.sipPort}
listen=tcp:${o.ip}:${o.wsPort}
${extraListen}tcp_accept_no_cl=yes
tcp_connection_lifetime=3605
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
${tlsModules}
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "nathelper.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
loadmodule "rtpengine.so"
loadmodule "sdpops.so"
${o.ctlSocket ? `loadmodule "ctl.so"\nmodparam("ctl", "binrpc", "unix:${o.ctlSocket}")\n` : ""}
modparam("tm", "fr_inv_timer", ${o.frInvTimerMs ?? 60000})
modparam("usrloc", "db_mode", 0)
modparam("registrar", "gruu_enabled", 0)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("rr", "append_fromtag", 1)
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:${o.ngPort}")

#!define FLT_SRC_WS 5
#!define FLB_DST_WS 6

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (!sanity_check("17895", "7")) { exit; }
  if (nat_uac_test("64")) {
    setflag(FLT_SRC_WS);
    force_rport();
    if (is_method("REGISTER")) {
      fix_nated_register();
    } else if (!add_contact_alias()) {
      sl_send_reply("400", "Bad Request");
      exit;
    }
  }
  if (has_totag()) {
    if (loose_route()) {
      if ($du == "") { handle_ruri_alias(); }
      if (is_method("BYE")) { rtpengine_delete(); }
      route(RELAY);
      exit;
    }
    if (is_method("ACK")) {
      if (t_check_trans()) { t_relay(); }
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) { rtpengine_delete(); t_relay(); }
    exit;
  }
  t_check_trans();
  if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "OK"); exit; }
  route(AUTH);
  if (is_method("REGISTER")) {
    if (!save("location")) { sl_reply_error(); }
    exit;
  }
  remove_hf("Route");
  if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
${statics}
  if (!lookup("location")) {
    t_newtran();
    t_reply("480", "Temporarily Unavailable");
    exit;
  }
  route(RELAY);
}

route[PASSWD] {
  $var(pw) = "";
${passwords}
}

route[AUTH] {
  if (is_method("REGISTER")) {
    $var(u) = $tU;
    route(PASSWD);
    if ($var(pw) == "" || !pv_www_authenticate("$td", "$var(pw)", "0")) {
      www_challenge("$td", "0");
      exit;
    }
    consume_credentials();
    return;
  }
  if (from_uri == myself && is_method("INVITE|MESSAGE|SUBSCRIBE|REFER")) {
    $var(u) = $fU;
    route(PASSWD);
    if ($var(pw) == "" || !pv_proxy_authenticate("$fd", "$var(pw)", "0")) {
      proxy_challenge("$fd", "0");
      exit;
    }
    consume_credentials();
  }
}

route[RELAY] {
  if (is_method("INVITE")) {
    t_on_branch("MEDIA_BRANCH");
    t_on_reply("MEDIA_REPLY");
    t_on_failure("FAILED");
  }
  if (!t_relay()) { sl_reply_error(); }
  exit;
}

branch_route[MEDIA_BRANCH] {
  if ($du =~ "transport=ws" || $ru =~ "transport=ws") { setbflag(FLB_DST_WS); }
  if (has_body("application/sdp")) {
    if (isbflagset(FLB_DST_WS)) {
      rtpengine_offer("replace-origin replace-session-connection ICE=force SDES-off UDP/TLS/RTP/SAVPF rtcp-mux-require generate-mid");
    } else if (sdp_with_transport("RTP/SAVP")) {
      rtpengine_offer("replace-origin replace-session-connection ICE=remove RTP/SAVP rtcp-mux-demux");
    } else {
      rtpengine_offer("replace-origin replace-session-connection ICE=remove RTP/AVP rtcp-mux-demux");
    }
  }
}

onreply_route[MEDIA_REPLY] {
  if (nat_uac_test("64")) { add_contact_alias(); }
  if (has_body("application/sdp")) {
    if (isflagset(FLT_SRC_WS)) {
      rtpengine_answer("replace-origin replace-session-connection ICE=force SDES-off UDP/TLS/RTP/SAVPF rtcp-mux-require generate-mid");
    } else if (sdp_with_transport("RTP/SAVP")) {
      rtpengine_answer("replace-origin replace-session-connection ICE=remove RTP/SAVP rtcp-mux-demux");
    } else {
      rtpengine_answer("replace-origin replace-session-connection ICE=remove RTP/AVP rtcp-mux-demux");
    }
  }
}

failure_route[FAILED] {
  rtpengine_delete();
}

event_route[xhttp:request] {
  set_reply_close();
  set_reply_no_connect();
  if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
    if (ws_handle_handshake()) { exit; }
  }
  xhttp_reply("404", "Not Found", "", "");
}
`;
}

/** Type command lines into linphonec's stdin (it reads one command a line). */
export async function linphonecSay(p: Proc, lines: readonly string[]): Promise<void> {
  const w = p.child.stdin.getWriter();
  try {
    await w.write(new TextEncoder().encode(lines.map((l) => l + "\n").join("")));
  } finally {
    w.releaseLock();
  }
}

/** A linphonerc for a headless linphonec: SIP over UDP only on `sipPort`, RTP on 7078, G.711 only, no video. */
export function linphonecConfig(sipPort = 5060): string {
  return `[sip]
sip_port=${sipPort}
sip_tcp_port=0
sip_tls_port=0
default_proxy=-1
register_only_when_network_is_up=0
ipv6=0

[rtp]
audio_rtp_port=7078
audio_jitt_comp=60
nortp_timeout=30

[sound]
echocancellation=0
play_file_loop=1

[video]
enabled=0
capture=0
display=0

[audio_codec_0]
mime=PCMU
rate=8000
enabled=1

[audio_codec_1]
mime=PCMA
rate=8000
enabled=1

[audio_codec_2]
mime=opus
rate=48000
enabled=0

[audio_codec_3]
mime=speex
rate=16000
enabled=0

[audio_codec_4]
mime=speex
rate=8000
enabled=0
`;
}

/** Render a baresip 1.0 config: SIP on the phone host's address, a sine tone source, decoded audio dumped to WAV. */
export function baresipConfig(
  o: {
    ip: string;
    sipPort?: number;
    toneHz: number;
    recDir: string;
    ctrlPort?: number;
    opus?: boolean;
    /** `audio_source` instead of `ausine,toneHz`. */
    source?: string;
  },
): string {
  let extra = o.ctrlPort ? `module_app ctrl_tcp.so\nctrl_tcp_listen ${o.ip}:${o.ctrlPort}\n` : "";
  if (o.opus) extra += "module opus.so\n";
  if (o.source?.startsWith("aufile,")) extra += "module aufile.so\n";
  return `poll_method epoll
sip_listen ${o.ip}:${o.sipPort ?? 5060}
sip_trans_def udp
call_local_timeout 120
call_max_calls 4
audio_player aubridge,sink
audio_source ${o.source ?? `ausine,${o.toneHz}`}
audio_alert aubridge,alert
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
rtp_tos 0
rtp_ports 40000-40999
net_interface eth0
snd_path ${o.recDir}
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
${extra}`;
}
