/**
 * Load for tests/ws/reload_test.ts: `CONCURRENCY` loops each opening TLS connections to 127.0.0.1:PORT back to
 * back (a full handshake, then close) for `MS` milliseconds; says `load started` on stderr when it begins, then prints `{"ok":N,"failed":M,"errors":{...}}`.
 *
 * @module
 */
import tls from "node:tls";

const [port, concurrency, ms] = Deno.args.map(Number);
let ok = 0, failed = 0;
const errors: Record<string, number> = {};
function once(): Promise<void> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    const timer = setTimeout(() => done("timeout"), 5000);
    const done = (err?: string) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) {
        failed++;
        errors[err] = (errors[err] ?? 0) + 1;
      } else ok++;
      resolve();
    };
    sock.once("error", (e: Error & { code?: string }) => done(e.code ?? e.message));
    sock.once("secureConnect", () => done());
  });
}
console.error("load started");
const until = performance.now() + ms;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < until) await once();
}));
console.log(JSON.stringify({ ok, failed, errors }));
