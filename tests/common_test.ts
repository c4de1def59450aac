import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./_util/assert.ts";
import {
  barChart,
  formatBytes,
  formatError,
  formatTable,
  lineChart,
  Logger,
  openRead,
  parseDuration,
  parseHostPort,
  parseIntIn,
  parseList,
  parseSize,
  PbxError,
  Progress,
  runArgv,
  toJsonText,
  toPbxError,
  writeFileAtomic,
} from "../lib/common/mod.ts";

Deno.test("parseSize: units, hex, and one-line usage errors", () => {
  assertEquals(parseSize("4096"), 4096);
  assertEquals(parseSize("64KiB"), 65536);
  assertEquals(parseSize("1MB"), 1_000_000);
  assertEquals(parseSize("1.5k"), 1536);
  assertEquals(parseSize("0x1000"), 4096);
  const e = assertThrows(() => parseSize("12 parsecs", "--max-message"), PbxError) as PbxError;
  assertEquals(e.code, "E_USAGE");
  assertEquals(e.exitCode, 2);
  assertMatch(e.message, /^--max-message: /);
});

Deno.test("parseDuration: plain seconds, units and compounds", () => {
  assertEquals(parseDuration("30"), 30_000);
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("10m"), 600_000);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertThrows(() => parseDuration("10 minutes"), PbxError);
  assertThrows(() => parseDuration("m10"), PbxError);
  assertThrows(() => parseDuration(""), PbxError);
});

Deno.test("parseIntIn, parseList and parseHostPort", () => {
  assertEquals(parseIntIn("0x28000", "--apps-block", { min: 0, max: 2 ** 32 }), 0x28000);
  assertThrows(() => parseIntIn("70000", "--port", { min: 0, max: 65535 }), PbxError, "--port");
  assertThrows(() => parseIntIn("1e3", "--n", { min: 0, max: 5000 }), PbxError);
  assertEquals(parseList("lru, arc,,fifo"), ["lru", "arc", "fifo"]);
  assertEquals(parseHostPort("10.0.0.1:5060"), { host: "10.0.0.1", port: 5060 });
  assertEquals(parseHostPort("[fd00::1]:5061"), { host: "fd00::1", port: 5061 });
  assertEquals(parseHostPort("fd00::1"), { host: "fd00::1" });
  assertEquals(parseHostPort("pbx.example"), { host: "pbx.example", port: undefined });
  assertThrows(() => parseHostPort("10.0.0.1:99999"), PbxError);
});

Deno.test("errors: Deno I/O errors map to stable codes and print as one line", () => {
  let nf: unknown;
  try {
    Deno.readFileSync("/nonexistent/pbxkit/file");
  } catch (err) {
    nf = err;
  }
  const e = toPbxError(nf);
  assertEquals(e.code, "E_NOT_FOUND");
  const line = formatError(new PbxError("E_PARSE", "bad line 3\n  near 'x'"));
  assertEquals(line, "pbxkit: error: bad line 3; near 'x' [E_PARSE]");
  assertEquals(toPbxError(new Error("boom")).code, "E_INTERNAL");
  const isDir = toPbxError(new Deno.errors.IsADirectory("Is a directory (os error 21): writefile '/tmp/x'"));
  assertEquals([isDir.code, isDir.message], ["E_INVALID_INPUT", "cannot writefile '/tmp/x': is a directory"]);
  const sandbox = toPbxError(
    new Deno.errors.NotCapable('Requires write access to "/proc/x", run again with the --allow-all flag'),
  );
  assertEquals([sandbox.code, sandbox.message], ["E_PERMISSION", "access to '/proc/x' is not allowed"]);
});

Deno.test("logger: levels, scope, fields, and children share the level", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", sink: (l) => lines.push(l) });
  const child = log.child("ban");
  log.debug("hidden");
  child.info("banned", { addr: "10.0.0.9", reason: "10 failures" });
  log.level = "warn";
  child.info("also hidden");
  child.warn("careful");
  assertEquals(lines, ['[ban] banned addr=10.0.0.9 reason="10 failures"', "warn: [ban] careful"]);
});

Deno.test("json: bigint, Map, Set and non-finite numbers serialize", () => {
  assertEquals(
    toJsonText({ a: 5n, b: new Map([["x", 1]]), c: new Set([1, 2]), d: Infinity }),
    '{"a":5,"b":{"x":1},"c":[1,2],"d":null}',
  );
});

Deno.test("table: aligned columns, numbers right-aligned", () => {
  const t = formatTable(["policy", "miss"], [["lru", 0.5], ["arc", 0.25]]);
  assertEquals(t.split("\n"), ["policy    miss", "------  ------", "lru     0.5000", "arc     0.2500"]);
});

Deno.test("svg charts are well-formed and escape labels", () => {
  const svg = lineChart([{ name: "a<b", points: [[1, 0.5], [10, 0.25], [100, 0.1]] }], {
    title: "MRC",
    xLabel: "size",
    yLabel: "miss ratio",
    logX: true,
  });
  assert(svg.startsWith("<svg") && svg.trim().endsWith("</svg>"));
  assert(svg.includes("a&lt;b"));
  assertEquals((svg.match(/<path /g) ?? []).length, 1);
  const bars = barChart([{ label: "32B", values: [3, 2] }], { title: "t", yLabel: "msg/s", seriesNames: ["x", "y"] });
  assertEquals((bars.match(/<rect x=/g) ?? []).length, 2 + 1 + 2); // 2 bars, frame, 2 legend swatches
});

Deno.test("progress renders counts, percent, rate; stays silent when disabled", () => {
  const p = new Progress("replay", { total: 1000, unit: "req", enabled: false });
  p.update(250);
  assertMatch(p.render(), /^replay \[#{6}\.{18}\] {2}25% 250\/1000 ETA \S+ req \S+\/s$/);
  assertEquals(formatBytes(1536), "1.5KiB");
});

Deno.test("runArgv: argv without a shell, missing tools and failures are PbxErrors", async () => {
  const r = await runArgv(["printf", "%s", "$(echo not-a-shell);"]);
  assertEquals(r.stdout, "$(echo not-a-shell);");
  const missing = await runArgv(["/nonexistent/tool"]).catch((e) => e);
  assertEquals((missing as PbxError).code, "E_TOOL_MISSING");
  const failed = await runArgv(["false"]).catch((e) => e);
  assertEquals((failed as PbxError).code, "E_EXTERNAL");
});

Deno.test("writeFileAtomic: replaces whole, zero-extends to size, sets mode, leaves no temp file on failure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-atomic-" });
  try {
    const path = `${dir}/out.bin`;
    await Deno.writeFile(path, new Uint8Array([9, 9, 9, 9, 9, 9]));
    await writeFileAtomic(path, [new Uint8Array([1, 2]), new Uint8Array([3])], { size: 5, mode: 0o600 });
    assertEquals([...await Deno.readFile(path)], [1, 2, 3, 0, 0]);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const failed = await writeFileAtomic(`${dir}/missing-dir/x`, new Uint8Array(1)).catch((e) => e);
    assert(failed instanceof Deno.errors.NotFound);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["out.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openRead: one-line errors naming the input; a regular file opens with its size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-openread-" });
  try {
    const missing = await assertRejects(() => openRead(`${dir}/nope`, { what: "--pcap" }));
    assertEquals((missing as PbxError).code, "E_NOT_FOUND");
    assertEquals((missing as Error).message, `--pcap '${dir}/nope' does not exist`);
    const directory = await assertRejects(() => openRead(dir, { what: "trace" }));
    assertEquals((directory as PbxError).code, "E_INVALID_INPUT");
    assertEquals((directory as Error).message, `trace '${dir}' is not a regular file`);
    await Deno.writeTextFile(`${dir}/f`, "12345");
    const { file, info } = await openRead(`${dir}/f`);
    file.close();
    assertEquals(info.size, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
