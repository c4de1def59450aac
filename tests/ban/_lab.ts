/**
 * Real parts for the `pbxkit ban` integration tests: a kamailio configuration (known users challenged with 401,
 * wrong credentials 403, unknown users 404, INVITE likewise) and sipp scenarios (REGISTER/INVITE floods, a friend
 * registering with digest auth).
 *
 * @module
 */

import { assert } from "../_util/assert.ts";
import { type Proc, type Requirements, ROOT, type TestNet, waitFor } from "../_util/mod.ts";
import { LIBPCAP_PATH } from "../../lib/ban/libpcap.ts";

/** What the iptables/ipset daemon tests need: the firewall tools, python3 for the sender, libpcap, root. */
export const IPTABLES_LAB: Requirements = {
  tools: ["iptables", "ip6tables", "ipset", "python3", "ip"],
  files: [LIBPCAP_PATH],
  root: true,
};

/** Users kamailio knows, with their passwords. */
export const USERS: Record<string, string> = { "100": "s3cret", "200": "friendpw" };

/**
 * A kamailio.cfg listening on the given addresses (UDP and TCP, port 5060); logs every request it processes as
 * `PBXREQ METHOD from SRC proto PROTO cid CALL-ID cseq N`.
 */
export function kamailioCfg(v4: string, v6: string): string {
  const users = Object.entries(USERS)
    .map(([u, p], i) => `  ${i ? "else " : ""}if ($var(u) == "${u}") { $var(pw) = "${p}"; }`)
    .join("\n");
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:${v4}:5060
listen=tcp:${v4}:5060
listen=udp:[${v6}]:5060
listen=tcp:[${v6}]:5060
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"

request_route {
  xlog("L_ERR", "PBXREQ $rm from $si proto $pr cid $ci cseq $cs\\n");
  if (is_method("ACK")) { exit; }
  if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
  if (!is_method("REGISTER|INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }
  if (is_method("REGISTER")) { $var(u) = $tU; } else { $var(u) = $fU; }
${users}
  else { sl_send_reply("404", "Not Found"); exit; }
  if (!is_present_hf("Authorization")) { www_challenge("$td", "0"); exit; }
  if (!pv_www_authenticate("$td", "$var(pw)", "0")) { sl_send_reply("403", "Forbidden"); exit; }
  if (is_method("REGISTER")) { sl_send_reply("200", "OK"); exit; }
  sl_send_reply("480", "Temporarily Unavailable");
}
`;
}

const HEAD = `<?xml version="1.0" encoding="ISO-8859-1" ?>`;

/** sipp: REGISTER for unknown users (404 each). */
export const FLOOD_REGISTER = `${HEAD}
<scenario name="register flood">
  <send>
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:9[call_number]@[remote_ip]>;tag=[call_number]
      To: <sip:9[call_number]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:9[call_number]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Expires: 60
      Content-Length: 0

    ]]>
  </send>
  <recv response="404" timeout="1500" ontimeout="done"/>
  <label id="done"/>
</scenario>
`;

/** sipp: INVITE from an unknown user (404), then ACK. */
export const FLOOD_INVITE = `${HEAD}
<scenario name="invite flood">
  <send>
    <![CDATA[

      INVITE sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:8[call_number]@[remote_ip]>;tag=[call_number]
      To: <sip:100@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:8[call_number]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="404" timeout="1500" ontimeout="done"/>
  <send>
    <![CDATA[

      ACK sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:8[call_number]@[remote_ip]>;tag=[call_number]
      To: <sip:100@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <label id="done"/>
</scenario>
`;

/** sipp: REGISTER with digest auth (-au/-ap), expecting `final` (200 for the right password, 403 for a typo). */
export function registerWithAuth(final: number): string {
  const msg = (cseq: number, auth: string) => `
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[service]@[remote_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: ${cseq} REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Expires: 60
      ${auth}
      Content-Length: 0

    ]]>`;
  return `${HEAD}
<scenario name="register with auth">
  <send retrans="500">${msg(1, "")}
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">${msg(2, "[authentication]")}
  </send>
  <recv response="${final}"/>
</scenario>
`;
}

/**
 * python3 -c SENDER SRC DST N PAYLOAD: sends PAYLOAD N times over UDP from SRC:5060 to DST:5060, i.e. SIP responses
 * "from the PBX" without a PBX (run it in the pbx namespace).
 */
export const SENDER = `
import socket, sys
src, dst, n, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
fam = socket.AF_INET6 if ":" in src else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((src, 5060))
for i in range(n):
    s.sendto(payload, (dst, 5060))
`;

/** argv for `pbxkit ban --daemon --json` on eth0, watching the PBX host's IPv4 and IPv6 addresses. */
export function banDaemonArgv(
  pbx: { ipv4: string; ipv6: string },
  options: { maxFailures: number; banTime: string; extra: readonly string[] },
): string[] {
  return [
    `${ROOT}/pbxkit`,
    "ban",
    "--daemon",
    "--interface",
    "eth0",
    "--pbx",
    pbx.ipv4,
    "--pbx",
    pbx.ipv6,
    "--max-failures",
    String(options.maxFailures),
    "--ban-time",
    options.banTime,
    "--json",
    ...options.extra,
  ];
}

/** argv for `pbxkit ban --daemon` on eth0 watching the PBX address `pbxIp`, then `extra` flags. */
export function daemonOnEth0(pbxIp: string, extra: readonly string[] = []): string[] {
  return [`${ROOT}/pbxkit`, "ban", "--daemon", "--interface", "eth0", "--pbx", pbxIp, ...extra];
}

/** A small deterministic PRNG (xorshift32) so failures can be replayed from the seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/**
 * A blocklist shaped like a real one: distinct IPv4 addresses in public ranges SIP scanners come from (45/8, 77/8,
 * 103/8, 185/8, 194/8, 212/8) and IPv6 under 2a01..2a08::/16 in canonical RFC 5952 text, from `rng(seed)`.
 */
export function blocklistSample(n4: number, n6: number, seed: number): { v4: string[]; v6: string[] } {
  const r = rng(seed);
  const rnd = (m: number) => Math.floor(r() * m);
  const first = [45, 77, 103, 185, 194, 212];
  const v4 = new Set<string>(), v6 = new Set<string>();
  while (v4.size < n4) v4.add(`${first[rnd(6)]}.${rnd(256)}.${rnd(256)}.${1 + rnd(254)}`);
  const h = () => (1 + rnd(65535)).toString(16);
  while (v6.size < n6) v6.add(`2a0${1 + rnd(8)}:${h()}:${h()}::${h()}`);
  return { v4: [...v4], v6: [...v6] };
}

/** Options for {@linkcode waitForExpiry}. */
export interface ExpiryWait {
  /** True once the ban is out of the firewall. */
  gone: () => Promise<boolean>;
  /** When the ban ends (ms since the epoch). */
  expires: number;
  /** How long after `expires` to wait at most (the wait is at least 5 s). */
  graceMs: number;
  /** What the wait is for, in a timeout's message. */
  what: string;
  /** The daemon, whose log must show the unban. */
  daemon: Proc;
  /** The banned address. */
  address: string;
}

/** Wait for a ban to leave the firewall on expiry (not before its time), then for the daemon's unban log line. */
export async function waitForExpiry(w: ExpiryWait): Promise<void> {
  await waitFor(w.gone, {
    timeoutMs: Math.max(5000, w.expires - Date.now() + w.graceMs),
    intervalMs: 500,
    what: w.what,
  });
  assert(Date.now() >= w.expires - 1500, "not before --ban-time");
  await waitFor(() => w.daemon.stderr.includes(`unban address=${w.address} reason=expired`), {
    timeoutMs: 5000,
    what: "unban log line",
  });
}

/**
 * The elements of `host`'s nft set `inet pbxkit SET` (`ban4`, `ban6`) with the seconds each has left (0: no
 * timeout); empty when the set (or the table) is not there.
 */
export async function nftSetOf(net: TestNet, host: string, set: "ban4" | "ban6"): Promise<Map<string, number>> {
  const r = await net.run(host, ["nft", "-j", "list", "set", "inet", "pbxkit", set], { check: false });
  const m = new Map<string, number>();
  if (r.code !== 0) return m;
  const doc = JSON.parse(r.stdout) as {
    nftables: { set?: { elem?: (string | { elem: { val: string; expires?: number } })[] } }[];
  };
  for (const e of doc.nftables.find((x) => x.set)?.set?.elem ?? []) {
    if (typeof e === "string") m.set(e, 0);
    else m.set(e.elem.val, e.elem.expires ?? 0);
  }
  return m;
}
