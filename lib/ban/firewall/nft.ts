/**
 * The nftables backend through libnftables via Deno FFI, speaking JSON both ways. Everything lives in pbxkit's own
 * table `inet pbxkit`: sets `ban4` (ipv4_addr) and `ban6` (ipv6_addr) with `flags timeout`, `net4`/`net6` with
 * `flags interval, timeout` for imported networks, and a chain `input` hooked at priority filter-10 with one counted
 * drop rule per set. Bans are set elements whose timeout is the
 * ban time, so the kernel expires them even when pbxkit is not running. Commands run synchronously in the
 * calling thread (one netlink batch per call), which keeps ban latency well under a millisecond; the one exception
 * is the counters' listing, which runs on a second context off that thread (libnftables fetches every set element
 * for any listing: 0.4-0.5 s with 100,000 bans, which `status` would otherwise stall the daemon for).
 *
 * @module
 */

import { PbxError } from "../../common/mod.ts";
import { canonicalIp } from "../net/addr.ts";
import { checkedTarget } from "./target.ts";
import type { BanElement, DropCounters, Firewall, FirewallEntry, FirewallOptions } from "./types.ts";

/** Where Debian keeps libnftables. */
export const LIBNFTABLES_PATH = "/usr/lib/x86_64-linux-gnu/libnftables.so.1";

/** pbxkit's table (family inet). */
export const NFT_TABLE = "pbxkit";

const NFT_CTX_OUTPUT_JSON = 1 << 4;

const SYMBOLS = {
  nft_ctx_new: { parameters: ["u32"], result: "pointer" },
  nft_ctx_free: { parameters: ["pointer"], result: "void" },
  nft_ctx_output_set_flags: { parameters: ["pointer", "u32"], result: "void" },
  nft_ctx_buffer_output: { parameters: ["pointer"], result: "i32" },
  nft_ctx_buffer_error: { parameters: ["pointer"], result: "i32" },
  nft_ctx_get_output_buffer: { parameters: ["pointer"], result: "pointer" },
  nft_ctx_get_error_buffer: { parameters: ["pointer"], result: "pointer" },
  nft_run_cmd_from_buffer: { parameters: ["pointer", "buffer"], result: "i32" },
  // the same call on Deno's blocking thread pool (see NftContext.runAsync)
  nft_run_cmd_from_buffer_nb: {
    name: "nft_run_cmd_from_buffer",
    parameters: ["pointer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type NftLib = Deno.DynamicLibrary<typeof SYMBOLS>;

/** A libnftables context: run JSON commands, get JSON back. */
export class NftContext {
  #lib: NftLib;
  #ctx: Deno.PointerValue;
  #enc = new TextEncoder();
  /** Settles when the last asynchronous command queued has returned (never rejects); unset when none is. */
  #pending?: Promise<void>;

  /** Open libnftables (absolute path) and make a context. Throws `E_FFI` when the library is missing. */
  constructor(path = LIBNFTABLES_PATH) {
    try {
      this.#lib = Deno.dlopen(path, SYMBOLS);
    } catch (err) {
      throw new PbxError("E_FFI", `cannot load libnftables (${path}): install libnftables1`, { cause: err });
    }
    this.#ctx = this.#lib.symbols.nft_ctx_new(0);
    if (this.#ctx === null) throw new PbxError("E_FFI", "nft_ctx_new failed");
    this.#lib.symbols.nft_ctx_output_set_flags(this.#ctx, NFT_CTX_OUTPUT_JSON);
    this.#lib.symbols.nft_ctx_buffer_output(this.#ctx);
    this.#lib.symbols.nft_ctx_buffer_error(this.#ctx);
  }

  /** Run commands (a JSON document or nft syntax); returns the output text. Throws `E_EXTERNAL` with nft's error. */
  run(command: string | object): string {
    if (this.#pending !== undefined) throw new PbxError("E_FFI", "nft context busy with an asynchronous command");
    const buf = this.#encode(command);
    return this.#result(this.#lib.symbols.nft_run_cmd_from_buffer(this.#ctx, buf));
  }

  /**
   * {@linkcode run} on another thread (Deno's blocking pool), so the caller's event loop goes on meanwhile. For
   * listings: libnftables fetches the whole table, every set element included, for any listing (0.4 s for 100,000
   * elements here, even for one chain's rules), which on the daemon's thread would stall capture and control for
   * that long. Calls on one context run one at a time, in order; use a context of its own for them, never the one
   * that {@linkcode run} uses.
   */
  runAsync(command: string | object): Promise<string> {
    const buf = this.#encode(command);
    const next = (this.#pending ?? Promise.resolve()).then(async () => {
      if (this.#ctx === null) throw new PbxError("E_FFI", "nft context closed");
      return this.#result(await this.#lib.symbols.nft_run_cmd_from_buffer_nb(this.#ctx, buf));
    });
    // the queue's own handle never rejects: the caller gets the error, and an error nobody else waits for must not
    // become an unhandled rejection (which ends the process)
    const settled = next.then(() => {}, () => {});
    this.#pending = settled;
    settled.then(() => {
      if (this.#pending === settled) this.#pending = undefined;
    });
    return next;
  }

  /** {@linkcode json} through {@linkcode runAsync}. */
  async jsonAsync(command: string | object): Promise<Record<string, unknown>[]> {
    return parseNftJson(await this.runAsync(command));
  }

  #encode(command: string | object): Uint8Array {
    const text = typeof command === "string" ? command : JSON.stringify(command);
    return this.#enc.encode(text + "\0");
  }

  /** The output of the command that returned `rc`, or its error thrown. */
  #result(rc: number): string {
    const out = this.#read(this.#lib.symbols.nft_ctx_get_output_buffer(this.#ctx));
    const err = this.#read(this.#lib.symbols.nft_ctx_get_error_buffer(this.#ctx));
    if (rc !== 0) {
      const msg = err.trim().split("\n")[0] || `status ${rc}`;
      const e = new PbxError("E_EXTERNAL", `nft: ${msg}`);
      (e as PbxError & { notFound?: boolean }).notFound = /No such file or directory/.test(err);
      throw e;
    }
    return out;
  }

  /** Run and parse JSON output (`{"nftables": [...]}`); empty output gives an empty list. */
  json(command: string | object): Record<string, unknown>[] {
    return parseNftJson(this.run(command));
  }

  #read(ptr: Deno.PointerValue): string {
    if (ptr === null) return "";
    return Deno.UnsafePointerView.getCString(ptr);
  }

  /** Free the context and close the library (once an asynchronous command in progress has returned). */
  close(): void {
    const free = () => {
      if (this.#ctx !== null) this.#lib.symbols.nft_ctx_free(this.#ctx);
      this.#ctx = null;
      this.#lib.close();
    };
    if (this.#pending === undefined) free();
    else this.#pending.then(free);
  }
}

/** nft's JSON output (`{"nftables": [...]}`) as its list; empty output gives an empty list. */
function parseNftJson(text: string): Record<string, unknown>[] {
  const out = text.trim();
  if (!out) return [];
  const doc = JSON.parse(out) as { nftables?: Record<string, unknown>[] };
  return doc.nftables ?? [];
}

/** A JSON set element for an address or a network (`{"prefix": {...}}`). */
function netElem(address: string): unknown {
  const slash = address.indexOf("/");
  if (slash < 0) return address;
  return { prefix: { addr: address.slice(0, slash), len: Number(address.slice(slash + 1)) } };
}

/** The text of a listed element value: an address, a `{"prefix"}` object, or a `{"range"}` object. */
function elemText(v: unknown): string | undefined {
  if (typeof v === "string") return canonicalIp(v) ?? v;
  if (v && typeof v === "object" && "prefix" in v) {
    const p = (v as { prefix: { addr: string; len: number } }).prefix;
    return `${canonicalIp(p.addr) ?? p.addr}/${p.len}`;
  }
  return undefined;
}

function isNotFound(err: unknown): boolean {
  return (err as { notFound?: boolean }).notFound === true;
}

const T = { family: "inet", table: NFT_TABLE } as const;
/** The sets of banned addresses, per family. */
const SET = { 4: "ban4", 6: "ban6" } as const;
/** The sets of banned networks (imported CIDRs), per family: interval sets with timeouts. */
const NET_SET = { 4: "net4", 6: "net6" } as const;

/** The set an element belongs to: a network (`a/len`) goes to the interval set. */
function setOf(address: string, family: 4 | 6): string {
  return address.includes("/") ? NET_SET[family] : SET[family];
}

/** The nftables backend. */
export class NftFirewall implements Firewall {
  readonly name = "nft";
  readonly expiresItself = true;
  #nft: NftContext;
  /** A second context for listings off the calling thread (see `NftContext.runAsync`), made when first needed. */
  #reader?: NftContext;
  readonly #libPath?: string;
  #opts: FirewallOptions;

  /** Make the backend (opens libnftables). */
  constructor(options: FirewallOptions, libPath?: string) {
    this.#opts = options;
    this.#nft = new NftContext(libPath);
    this.#libPath = libPath;
  }

  #rule(family: 4 | 6, set: string = SET[family]): Record<string, unknown> {
    const expr: unknown[] = [
      {
        match: {
          op: "==",
          left: { payload: { protocol: family === 4 ? "ip" : "ip6", field: "saddr" } },
          right: `@${set}`,
        },
      },
    ];
    if (this.#opts.scope === "ports") {
      expr.push({ match: { op: "==", left: { meta: { key: "l4proto" } }, right: { set: ["tcp", "udp"] } } });
      const ports = [...new Set(this.#opts.ports)].sort((a, b) => a - b);
      expr.push({
        match: {
          op: "==",
          left: { payload: { protocol: "th", field: "dport" } },
          right: ports.length === 1 ? ports[0] : { set: ports },
        },
      });
    }
    expr.push({ counter: null }, { drop: null });
    const comment = set === SET[family] ? `pbxkit ban${family}` : `pbxkit net${family}`;
    return { add: { rule: { ...T, chain: "input", comment, expr } } };
  }

  /** Create the table, sets, chain and rules in one atomic batch (the rules are replaced, the sets kept). */
  setup(): Promise<void> {
    this.#nft.run({
      nftables: [
        { add: { table: { family: "inet", name: NFT_TABLE } } },
        { add: { set: { ...T, name: "ban4", type: "ipv4_addr", flags: ["timeout"] } } },
        { add: { set: { ...T, name: "ban6", type: "ipv6_addr", flags: ["timeout"] } } },
        { add: { set: { ...T, name: "net4", type: "ipv4_addr", flags: ["interval", "timeout"] } } },
        { add: { set: { ...T, name: "net6", type: "ipv6_addr", flags: ["interval", "timeout"] } } },
        {
          add: {
            chain: { ...T, name: "input", type: "filter", hook: "input", prio: -10, policy: "accept" },
          },
        },
        { flush: { chain: { ...T, name: "input" } } },
        this.#rule(4),
        this.#rule(6),
        this.#rule(4, NET_SET[4]),
        this.#rule(6, NET_SET[6]),
      ],
    });
    return Promise.resolve();
  }

  /**
   * Add elements in one transaction: one `add element` command per set with all its elements, in nft syntax
   * (libnftables parses it about three times faster than the same elements as JSON; 100,000 elements take about
   * 0.3 s). Every address is re-validated first, so nothing but canonical addresses reaches the command text.
   */
  ban(elements: readonly BanElement[]): Promise<void> {
    if (elements.length === 0) return Promise.resolve();
    const bySet = new Map<string, string[]>();
    for (const e of elements) {
      const set = setOf(checkedTarget(e.address, e.family), e.family);
      let list = bySet.get(set);
      if (!list) bySet.set(set, list = []);
      list.push(e.timeoutMs > 0 ? `${e.address} timeout ${Math.max(1, Math.ceil(e.timeoutMs / 1000))}s` : e.address);
    }
    const cmds: string[] = [];
    for (const [set, list] of bySet) cmds.push(`add element inet ${NFT_TABLE} ${set} { ${list.join(", ")} }`);
    this.#nft.run(cmds.join("\n"));
    return Promise.resolve();
  }

  /** Remove elements (one by one so a missing one does not fail the others). */
  unban(elements: readonly { address: string; family: 4 | 6 }[]): Promise<void> {
    for (const e of elements) {
      try {
        this.#nft.run({
          nftables: [{
            delete: { element: { ...T, name: setOf(e.address, e.family), elem: [netElem(e.address)] } },
          }],
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return Promise.resolve();
  }

  /** Elements of the address and network sets. Empty when the table does not exist. */
  list(): Promise<FirewallEntry[]> {
    const out: FirewallEntry[] = [];
    for (const fam of [4, 6] as const) {
      for (const name of [SET[fam], NET_SET[fam]]) {
        let items: Record<string, unknown>[];
        try {
          items = this.#nft.json({ nftables: [{ list: { set: { ...T, name } } }] });
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
        for (const it of items) {
          const set = it.set as { elem?: unknown[] } | undefined;
          for (const el of set?.elem ?? []) {
            const inner = el && typeof el === "object" && "elem" in el
              ? (el as { elem: { val: unknown; expires?: number } }).elem
              : { val: el, expires: undefined };
            const address = elemText(inner.val);
            if (address === undefined) continue;
            out.push({
              address,
              family: fam,
              expiresInMs: inner.expires !== undefined ? inner.expires * 1000 : undefined,
            });
          }
        }
      }
    }
    return Promise.resolve(out);
  }

  /**
   * Counters of the drop rules, read off the calling thread: libnftables fetches every set element to list one
   * chain, and a daemon with 100,000 bans would stall for that long on each `status`.
   */
  async counters(): Promise<DropCounters> {
    const c: DropCounters = { packets4: 0, packets6: 0, bytes: 0 };
    let items: Record<string, unknown>[];
    try {
      this.#reader ??= new NftContext(this.#libPath);
      items = await this.#reader.jsonAsync({ nftables: [{ list: { chain: { ...T, name: "input" } } }] });
    } catch (err) {
      if (isNotFound(err)) return c;
      throw err;
    }
    for (const it of items) {
      const rule = it.rule as { comment?: string; expr?: Record<string, unknown>[] } | undefined;
      if (!rule?.expr) continue;
      for (const x of rule.expr) {
        const counter = x.counter as { packets: number; bytes: number } | undefined;
        if (!counter) continue;
        if (rule.comment === "pbxkit ban6" || rule.comment === "pbxkit net6") c.packets6 += counter.packets;
        else c.packets4 += counter.packets;
        c.bytes += counter.bytes;
      }
    }
    return c;
  }

  /** Delete the table `inet pbxkit` (and with it everything pbxkit added); nothing else is touched. */
  cleanup(): Promise<void> {
    try {
      this.#nft.run({ nftables: [{ delete: { table: { family: "inet", name: NFT_TABLE } } }] });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return Promise.resolve();
  }

  /** Close libnftables. */
  close(): void {
    this.#reader?.close();
    this.#nft.close();
  }
}
