/**
 * The daemon's control socket: a Unix stream socket where each connection sends one JSON request line
 * (`{"cmd":"status"}`, `{"cmd":"list"}`, `{"cmd":"unban","address":"..."}`,
 * `{"cmd":"import","bans":[["203.0.113.7",1767225600000],...],"reason":"..."}`,
 * `{"cmd":"ban","bans":[{"address":"...","banTimeMs":3600000,"reason":"..."}]}`) and gets one JSON response line.
 *
 * @module
 */

import { concatBytes, PbxError } from "../common/mod.ts";

/** A control request. */
export interface ControlRequest {
  /** `status`, `list`, `unban` or `import`. */
  cmd: string;
  /** For `unban`. */
  address?: string;
  /**
   * For `import`: `[address, expiresAt]` pairs (expiresAt in ms since the epoch, 0 = permanent); for `ban`: objects
   * with an address, an optional ban time (ms, 0 = permanent) and reason.
   */
  bans?: ([string, number] | { address: string; banTimeMs?: number; reason?: string })[];
  /** For `import`: the reason recorded with each ban. */
  reason?: string;
  /** For `import`: the widest networks accepted, `[v4, v6]`. */
  maxPrefix?: [number, number];
}

/** A request line may be this long at most (an import of 100,000 bans is about 4 MB). */
export const CONTROL_MAX_LINE = 64 * 1024 * 1024;

/** Handles a request; the result is sent back as JSON (`{"ok":true,...}` or `{"ok":false,"error":...}`). */
export type ControlHandler = (req: ControlRequest) => Promise<Record<string, unknown>>;

/** Serve the control socket until `close()`. A stale socket file (no listener) is replaced. */
export class ControlServer {
  #listener: Deno.UnixListener;
  #path: string;
  #done: Promise<void>;

  private constructor(listener: Deno.UnixListener, path: string, handler: ControlHandler) {
    this.#listener = listener;
    this.#path = path;
    this.#done = this.#serve(handler);
  }

  /** Listen on `path`. Throws `E_EXISTS` when another daemon answers there. */
  static async listen(path: string, handler: ControlHandler): Promise<ControlServer> {
    try {
      const st = await Deno.lstat(path);
      if (!st.isSocket) throw new PbxError("E_EXISTS", `${path} exists and is not a socket; not replacing it`);
      if (await ping(path)) throw new PbxError("E_EXISTS", `a pbxkit ban daemon is already running (${path})`);
      await Deno.remove(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) await Deno.mkdir(dir, { recursive: true });
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, 0o600);
    return new ControlServer(listener, path, handler);
  }

  async #serve(handler: ControlHandler): Promise<void> {
    for await (const conn of this.#listener) {
      this.#handle(conn, handler).catch(() => {});
    }
  }

  async #handle(conn: Deno.UnixConn, handler: ControlHandler): Promise<void> {
    try {
      const line = await readLine(conn, 30_000, CONTROL_MAX_LINE);
      let res: Record<string, unknown>;
      try {
        const req = JSON.parse(line) as ControlRequest;
        res = { ok: true, ...(await handler(req)) };
      } catch (err) {
        res = { ok: false, error: (err as Error).message, code: (err as PbxError).code ?? "E_INTERNAL" };
      }
      const data = new TextEncoder().encode(JSON.stringify(res) + "\n");
      let o = 0;
      while (o < data.length) o += await conn.write(data.subarray(o));
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  /** Stop listening and remove the socket file. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    await this.#done.catch(() => {});
    await Deno.remove(this.#path).catch(() => {});
  }
}

async function readLine(conn: Deno.Conn, timeoutMs: number, maxBytes = 65536): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  let total = 0;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (buf.subarray(0, n).includes(10)) break;
      if (total > maxBytes) throw new PbxError("E_LIMIT", `control request longer than ${maxBytes} bytes`);
    }
  } finally {
    clearTimeout(timer);
  }
  return new TextDecoder().decode(concatBytes(chunks, total)).split("\n")[0];
}

/** Options for {@linkcode controlRequest}. */
export interface ControlRequestOptions {
  /** How long to wait for the daemon's answer line, in ms (default 5000). */
  timeoutMs?: number;
}

/** Send a request to the daemon; undefined when no daemon listens at `path`. */
export async function controlRequest(
  path: string,
  req: ControlRequest,
  options: ControlRequestOptions = {},
): Promise<Record<string, unknown> | undefined> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return undefined;
  }
  try {
    const data = new TextEncoder().encode(JSON.stringify(req) + "\n");
    let o = 0;
    while (o < data.length) o += await conn.write(data.subarray(o));
    const line = await readLine(conn, timeoutMs, CONTROL_MAX_LINE);
    if (!line) throw new PbxError("E_PROTOCOL", `no answer from the daemon on ${path}`);
    const res = JSON.parse(line) as Record<string, unknown>;
    if (res.ok === false) throw new PbxError((res.code as "E_INTERNAL") ?? "E_INTERNAL", String(res.error));
    return res;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function ping(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}
