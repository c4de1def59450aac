/**
 * The fleet's NATS adapter: connects (retrying in the background, never failing the daemon), opens or creates the
 * JetStream KV bucket (history 1 per key, age limit = the longest ban), watches it from the last sequence applied
 * and publishes records (each batch's bans also at once on the live path, see `liveSubject`). The library's own
 * reconnect logic and ordered consumer carry the watch across server restarts and cluster fail-overs. Credentials go to the client library only (never argv, never logs).
 *
 * @module
 */

import { checkServerIdentity, type PeerCertificate } from "node:tls";
import {
  connect,
  createInbox,
  credsAuthenticator,
  type Msg,
  type NatsConnection,
  type QueuedIterator,
  type Subscription,
} from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm, type KvWatchEntry } from "@nats-io/kv";
import type { Logger } from "../../common/mod.ts";
import type { ReceivedEntry } from "./core.ts";
import { encodeLive, encodeRecord, type FleetRecord, liveSubject } from "./records.ts";
import { parsePubAck, PublishWindow } from "./publish.ts";

/** Records a link has awaiting their acknowledgement at most. */
export const PUBLISH_WINDOW = 1024;
/** A publish batch with records in flight and no acknowledgement for this long fails the rest, ms. */
export const PUBLISH_STALL_MS = 3000;

/** Connection settings of the fleet. */
export interface NatsLinkOptions {
  /** `nats://HOST:PORT` or `tls://HOST:PORT` URLs (no credentials in them). */
  servers: readonly string[];
  /** This node's name (connection name `pbxkit-ban NODE`). */
  node: string;
  /** KV bucket name. */
  bucket: string;
  /** Replicas when this node creates the bucket (1, 3 or 5). */
  replicas: number;
  /** Bucket age limit, ms. */
  maxAgeMs: number;
  /** User name. */
  user?: string;
  /** Password. */
  password?: string;
  /** Content of a `.creds` file (JWT + NKey seed). */
  creds?: Uint8Array;
  /** CA certificate file that signs the servers' certificates (turns TLS on). */
  tlsCa?: string;
  /** Sequence to resume after (0 = start from the bucket's current values); asked at every (re)subscribe. */
  resumeAfter: () => number;
  /** Called when the bucket's last sequence is below ours (the bucket was recreated). */
  onReset: () => void;
  /** Each entry from the watch. */
  onEntry: (e: ReceivedEntry) => void;
  /** Each message of the live path (see `liveSubject`), unparsed. */
  onLive: (data: Uint8Array) => void;
  /** Connected (and the bucket open) or not. */
  onConnected: (up: boolean) => void;
  /** Logger (child `fleet`). */
  log: Logger;
}

/**
 * Whether an uncaught error is a late read/write error of a socket the NATS client has already closed. When a server
 * refuses the credentials it sends `-ERR 'Authorization Violation'` and closes the connection with the client's PING
 * still unread, i.e. with a reset; the client library has by then removed the socket's listeners and destroyed it,
 * and Deno's `node:net` can still deliver that reset as an `error` event, which with no listener left is thrown as an
 * uncaught exception and would end the daemon (Node delivers none after `destroy()`). The daemon has no other
 * `node:net` sockets, and the link already treats the refusal as a failed connection (logged, retried).
 */
export function isStraySocketError(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return err instanceof Error && typeof e?.code === "string" &&
    ["ECONNRESET", "EPIPE", "ECONNABORTED"].includes(e.code) && (e.syscall === "read" || e.syscall === "write");
}

/** The adapter (see the module doc). */
export class NatsLink {
  #o: NatsLinkOptions;
  #nc?: NatsConnection;
  #kv?: KV;
  #closed = false;
  #up = false;
  #loop?: Promise<void>;
  #server = "";
  #sleepTimer?: ReturnType<typeof setTimeout>;
  #wake?: () => void;
  #watcher?: QueuedIterator<KvWatchEntry>;
  #restartWatch = false;
  #inbox = "";
  #ackSub?: Subscription;
  #liveSub?: Subscription;
  #liveRefused = false;
  #batchNo = 0;
  /** The batch being published: its number and its acknowledgement handler. */
  #onAck?: { no: number; fn: (i: number, m: Msg) => void };

  /** Make a link; nothing happens before {@linkcode start}. */
  constructor(options: NatsLinkOptions) {
    this.#o = options;
  }

  /** True when connected and the bucket is open. */
  get connected(): boolean {
    return this.#up;
  }

  /** The server currently connected to, or "". */
  get server(): string {
    return this.#up ? this.#server : "";
  }

  /** Connect in the background (retrying until {@linkcode close}). */
  start(): void {
    if (!this.#loop) addEventListener("error", this.#onUncaught);
    this.#loop ??= this.#run();
  }

  /** Keeps a closed socket's late reset from ending the process (see {@linkcode isStraySocketError}). */
  #onUncaught = (ev: ErrorEvent): void => {
    if (!isStraySocketError(ev.error)) return;
    ev.preventDefault();
    this.#o.log.debug("fleet: a closed NATS socket reported a late error (ignored)", {
      error: (ev.error as Error).message,
    });
  };

  #setUp(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#o.onConnected(up);
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      this.#wake = r;
      this.#sleepTimer = setTimeout(r, ms);
    });
    clearTimeout(this.#sleepTimer);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    let delay = 500, lastError = "";
    while (!this.#closed) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({
          servers: [...o.servers],
          name: `pbxkit-ban ${o.node}`,
          user: o.creds ? undefined : o.user,
          pass: o.creds ? undefined : o.password,
          authenticator: o.creds ? credsAuthenticator(o.creds) : undefined,
          tls: o.tlsCa ? this.#tls(o.tlsCa) : undefined,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          reconnectJitter: 100,
          timeout: 2000,
          pingInterval: 5000,
          maxPingOut: 2,
          noRandomize: false,
        });
        if (this.#closed) {
          await nc.close();
          return;
        }
        this.#nc = nc;
        this.#server = nc.getServer();
        const kv = await this.#openBucket(nc);
        this.#kv = kv;
        this.#subscribeAcks(nc);
        this.#subscribeLive(nc);
        delay = 500;
        lastError = "";
        this.#watchStatus(nc);
        o.log.info("fleet connected", { server: this.#server, bucket: o.bucket });
        this.#setUp(true);
        await this.#watch(kv, nc);
      } catch (err) {
        const msg = (err as Error).message ?? String(err);
        if (msg !== lastError && !this.#closed) {
          o.log.warn("fleet unreachable; banning goes on locally, retrying", {
            servers: o.servers.join(","),
            error: msg.slice(0, 200),
          });
          lastError = msg;
        }
      }
      this.#setUp(false);
      this.#kv = undefined;
      this.#ackSub?.unsubscribe();
      this.#ackSub = undefined;
      this.#liveSub?.unsubscribe();
      this.#liveSub = undefined;
      if (nc && !nc.isClosed()) await nc.close().catch(() => {});
      this.#nc = undefined;
      if (this.#closed) return;
      await this.#sleep(delay);
      delay = Math.min(delay * 2, 4000);
    }
  }

  /**
   * TLS with the fleet's CA. The client library gives Node's TLS no host for an IP address (its check would then be
   * against "localhost"), so the certificate is checked against the configured servers' hosts: it must be valid for
   * one of them.
   */
  #tls(caFile: string): { caFile: string } {
    const hosts = this.#o.servers.map((u) =>
      u.replace(/^[a-z]+:\/\//, "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1")
    );
    return {
      caFile,
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        let err: Error | undefined;
        for (const h of hosts) {
          err = checkServerIdentity(h, cert);
          if (!err) return undefined;
        }
        return err;
      },
    } as { caFile: string };
  }

  async #openBucket(nc: NatsConnection): Promise<KV> {
    const o = this.#o;
    const jsm = await jetstreamManager(nc, { timeout: 3000 });
    const stream = `KV_${o.bucket}`;
    let exists = true;
    try {
      await jsm.streams.info(stream);
    } catch {
      exists = false;
    }
    const kvm = new Kvm(jetstream(nc, { timeout: 3000 }));
    if (exists) return await kvm.open(o.bucket);
    return await kvm.create(o.bucket, { history: 1, ttl: o.maxAgeMs, replicas: o.replicas, maxValueSize: 1024 });
  }

  #watchStatus(nc: NatsConnection): void {
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") {
          this.#o.log.warn("fleet disconnected; banning goes on locally, reconnecting", { server: s.server });
          this.#setUp(false);
        } else if (s.type === "reconnect") {
          this.#server = nc.getServer();
          this.#o.log.info("fleet reconnected", { server: this.#server });
          // the server that held our consumer may be gone: watch again from the last sequence applied
          this.#rewatch();
          if (this.#kv) this.#setUp(true);
        }
      }
    })().catch(() => {});
  }

  /** End the current watcher; {@linkcode #watch} starts a new one after the last sequence applied. */
  #rewatch(): void {
    this.#restartWatch = true;
    this.#watcher?.stop();
  }

  async #watch(kv: KV, nc: NatsConnection): Promise<void> {
    const o = this.#o;
    // a watch that stalls while the stream moves on (its consumer's server died) is restarted: after two checks a
    // second apart without progress (one alone is a busy server in a burst, not a dead consumer)
    let mark = -1, still = 0;
    const dog = setInterval(async () => {
      try {
        const last = (await kv.status()).streamInfo.state.last_seq;
        const ours = o.resumeAfter();
        still = last > ours && ours === mark ? still + 1 : 0;
        if (still >= 2) {
          o.log.warn("fleet watch stalled; watching again", { last, ours });
          this.#rewatch();
          still = 0;
        }
        mark = ours;
      } catch { /* not reachable now: the client reconnects */ }
    }, 1000);
    try {
      while (!nc.isClosed() && !this.#closed) {
        this.#restartWatch = false;
        let after = o.resumeAfter();
        if (after > 0) {
          const st = await kv.status();
          const last = st.streamInfo.state.last_seq;
          if (last < after) {
            o.log.warn("fleet bucket is behind our last sequence (recreated?); replaying it", { last, ours: after });
            o.onReset();
            after = 0;
          }
        }
        const w = await kv.watch(after > 0 ? { key: ">", resumeFromRevision: after + 1 } : { key: ">" });
        this.#watcher = w;
        for await (const e of w) {
          o.onEntry({
            seq: e.revision,
            key: e.key,
            value: e.value,
            operation: e.operation,
            serverTime: e.created.getTime(),
            // behind this one: what the server has not sent yet (the consumer's delta) and what the client library
            // has received but not handed out yet (a burst arrives faster than it is applied: it queues here)
            pending: (e.delta ?? 0) + w.getPending(),
          });
        }
        // the watch ended: restarted on purpose (loop), else the connection is gone (the caller reconnects)
        if (!this.#restartWatch) break;
      }
    } finally {
      clearInterval(dog);
      this.#watcher = undefined;
    }
  }

  /**
   * One subscription for every publish acknowledgement of this connection: replies to `INBOX.<batch>.<index>` go
   * to the batch being published (a late one of an earlier batch is dropped: that record was sent again).
   */
  #subscribeAcks(nc: NatsConnection): void {
    this.#inbox = createInbox();
    this.#ackSub = nc.subscribe(`${this.#inbox}.*.*`, {
      callback: (err, m) => {
        if (err) return;
        const parts = m.subject.slice(this.#inbox.length + 1).split(".");
        const h = this.#onAck;
        if (h && Number(parts[0]) === h.no) h.fn(Number(parts[1]), m);
      },
    });
  }

  /**
   * The live path's subscription. A server that does not permit the subject (an account limited to the bucket's
   * `$KV` subjects) is said once: the bans then travel the KV only, as fast as its acknowledgements allow.
   */
  #subscribeLive(nc: NatsConnection): void {
    this.#liveSub = nc.subscribe(liveSubject(this.#o.bucket), {
      callback: (err, m) => {
        if (err) {
          if (!this.#liveRefused) {
            this.#liveRefused = true;
            this.#o.log.warn("fleet live path refused by the server; bans travel the KV only", {
              error: (err.message ?? String(err)).slice(0, 200),
            });
          }
          return;
        }
        this.#o.onLive(m.data);
      },
    });
  }

  /**
   * Publish records: each a plain publish to the bucket's subject (`$KV.<bucket>.<key>`, what a KV put sends) with
   * its own reply subject, pipelined with at most {@linkcode PUBLISH_WINDOW} awaiting their acknowledgement, the
   * acknowledgements taken as they come (see `publish.ts`). Returns the ones acknowledged (stored by JetStream) and
   * the ones that failed; after an error, or {@linkcode PUBLISH_STALL_MS} without an acknowledgement, no new record
   * is sent and the rest count as failed (they stay in the outbox).
   */
  publish(batch: readonly { key: string; record: FleetRecord }[]): Promise<{ ok: number[]; failed: number[] }> {
    const nc = this.#nc;
    if (!nc || !this.#kv || !this.#ackSub || !this.#up || batch.length === 0) {
      return Promise.resolve({ ok: [], failed: batch.map((_, i) => i) });
    }
    // the live path first: the new bans in a few plain messages, ahead of their acknowledged KV puts
    try {
      for (const m of encodeLive(this.#o.node, Date.now(), batch)) nc.publish(liveSubject(this.#o.bucket), m);
    } catch { /* the KV puts below fail the same way and keep the records */ }
    const no = ++this.#batchNo;
    const w = new PublishWindow(batch.length, { window: PUBLISH_WINDOW, stallMs: PUBLISH_STALL_MS }, Date.now());
    const prefix = `$KV.${this.#o.bucket}.`, reply = `${this.#inbox}.${no}.`;
    const { promise, resolve } = Promise.withResolvers<{ ok: number[]; failed: number[] }>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      clearTimeout(timer);
      timer = undefined;
      if (this.#onAck?.no === no) this.#onAck = undefined;
      if (w.error) this.#o.log.debug("fleet publish broke off", { error: w.error });
      resolve(w.result());
    };
    const arm = () => {
      const at = w.deadline();
      if (at === undefined || timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        w.tick(Date.now());
        if (w.done) settle();
        else arm();
      }, Math.max(0, at - Date.now()));
    };
    const pump = () => {
      const now = Date.now();
      for (let i = w.next(now); i !== undefined; i = w.next(now)) {
        try {
          nc.publish(prefix + batch[i].key, encodeRecord(batch[i].record), { reply: reply + i });
        } catch (err) {
          w.sendFailed(i, (err as Error).message ?? String(err));
        }
      }
      if (w.done) settle();
      else arm();
    };
    this.#onAck = {
      no,
      fn: (i, m) => {
        const code = m.headers?.code;
        w.ack(i, parsePubAck(m.data, code ? code : undefined), Date.now());
        pump();
      },
    };
    pump();
    return promise;
  }

  /** Disconnect and stop retrying. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#nc?.close().catch(() => {});
    await this.#loop?.catch(() => {});
    removeEventListener("error", this.#onUncaught);
  }
}
