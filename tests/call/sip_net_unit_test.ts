/**
 * `SipNetSocket` over TLS against a real TLS server on loopback (Deno's, with a throw-away certificate for
 * `IP:127.0.0.1,DNS:localhost`): the certificate is checked against the host name when one is given, else against
 * the IP address; an untrusted or misnamed certificate is a one-line E_NETWORK error, exit 7.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../_util/assert.ts";
import { selfSignedCert, testWith } from "../_util/mod.ts";
import { SipNetSocket } from "../../lib/call/sip_net_socket.ts";
import { PbxError } from "../../lib/common/mod.ts";

testWith("SipNetSocket TLS: certificate checked by host name or IP; untrusted and misnamed refused (exit 7)", {
  tools: ["openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-sipnet-" });
  const { cert, key } = await selfSignedCert(dir, { san: "IP:127.0.0.1,DNS:localhost" });
  const pem = await Deno.readTextFile(cert);
  const server = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: pem, key: await Deno.readTextFile(key) });
  const conns: Deno.TlsConn[] = [];
  const serving = (async () => {
    for await (const c of server) {
      conns.push(c);
      c.handshake().catch(() => {}); // the client may refuse the certificate
    }
  })();
  const port = server.addr.port;
  const open = (o: { hostname?: string; ca?: string }) =>
    SipNetSocket.open({ transport: "tls", ip: "127.0.0.1", port, keepAliveMs: 0, ...o });
  try {
    for (const hostname of ["localhost", undefined]) {
      const s = await open({ hostname, ca: pem });
      assert(s.isConnected(), `hostname ${hostname}`);
      assertEquals(s.url, `tls://127.0.0.1:${port}`);
      assertEquals(s.via_transport, "TLS");
      s.disconnect();
    }
    const misnamed = await assertRejects(() => open({ hostname: "other.test", ca: pem }), PbxError);
    assertMatch(misnamed.message, /^TLS certificate of 127\.0\.0\.1:\d+ is not for other\.test \(/);
    assertEquals((misnamed as PbxError).exitCode, 7);
    const untrusted = await assertRejects(() => open({ hostname: "localhost" }), PbxError);
    assertMatch(untrusted.message, /^TLS certificate of localhost not trusted .*pass --ca FILE/);
    assertEquals((untrusted as PbxError).exitCode, 7);
    assert(!untrusted.message.includes("\n"));
  } finally {
    server.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await serving.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
