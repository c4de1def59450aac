// --metrics / [metrics] listen in the ban TOML config: accepted forms and one-line errors naming the key.
import { assertEquals, assertThrows } from "../_util/assert.ts";
import { parseConfigText, resolveConfig } from "../../lib/ban/mod.ts";

Deno.test("ban config: [metrics] listen, top-level metrics, flags override, bad values name the key", () => {
  const t = parseConfigText('[ban]\ninterface = "eth0"\n[metrics]\nlisten = "[::1]:9464"\n', "ban.toml");
  assertEquals(resolveConfig(t, {}).metrics, { hostname: "::1", port: 9464 });
  const top = parseConfigText('metrics = "127.0.0.1:9100"\n', "ban.toml");
  assertEquals(resolveConfig(top, {}).metrics, { hostname: "127.0.0.1", port: 9100 });
  assertEquals(resolveConfig(top, { metrics: "127.0.0.1:9200" }).metrics?.port, 9200);
  assertEquals(resolveConfig({}, {}).metrics, undefined);
  assertThrows(
    () => parseConfigText("[metrics]\nport = 1\n", "ban.toml"),
    Error,
    "ban.toml:2: 'metrics.port' is not a known key",
  );
  assertThrows(() => parseConfigText("[metrics]\nlisten = 9464\n", "ban.toml"), Error, "'metrics.listen' must be");
  assertThrows(
    () => parseConfigText('metrics = "a:1"\n[metrics]\nlisten = "b:2"\n', "ban.toml"),
    Error,
  );
  assertThrows(() => resolveConfig({ metrics: "9464" }, {}), Error, "--metrics: '9464' is not HOST:PORT");
});
