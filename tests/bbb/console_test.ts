// The u-boot console state machine, fed with console text shaped like Debian's u-boot 2023.01 prints it (taken
// from the QEMU runs of uboot_test.ts), split at awkward chunk boundaries. CRCs come from lib/bbb/crc32 over the
// same bytes (checked against u-boot's own crc32 in uboot_test.ts).
import { assert, assertEquals, assertStringIncludes } from "../_util/assert.ts";
import { splitCommands, UbootDriver, uenvSteps } from "../../lib/bbb/console.ts";
import type { ConsoleEvent } from "../../lib/bbb/console.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

/** Feed `text` in 7-byte chunks at time `t`; returns the sent text and the events. */
function feed(d: UbootDriver, text: string, t: number): { sent: string; events: ConsoleEvent[] } {
  const b = enc.encode(text);
  let sent = "";
  const events: ConsoleEvent[] = [];
  for (let i = 0; i < b.length; i += 7) {
    const o = d.feed(b.subarray(i, i + 7), t);
    sent += o.send.map((x) => dec.decode(x)).join("");
    events.push(...o.events);
  }
  return { sent, events };
}

Deno.test("console: stops autoboot, runs each step at its prompt, checks a tftp download's size and CRC", () => {
  const expect = new Map([["os.bin", { size: 1500003, crc32: 0x8dbe4830 }]]);
  const d = new UbootDriver(["setenv ipaddr 10.0.2.15", "tftp 0x40200000 os.bin", "go 0x40200000"], 0, { expect });
  assertEquals(dec.decode(d.start().send[0]), "\x03");
  let r = feed(d, "U-Boot 2023.01+dfsg-2+deb12u3\r\nHit any key to stop autoboot:  2 ", 100);
  assertEquals(r.sent, " ");
  assertEquals(r.events.map((e) => e.kind), ["autoboot-stopped"]);
  r = feed(d, "\b\b\b 0 \r\n=> ", 200);
  assertEquals(r.sent, "setenv ipaddr 10.0.2.15\n");
  r = feed(d, "setenv ipaddr 10.0.2.15\r\n=> ", 250);
  assertEquals(r.sent, "tftp 0x40200000 os.bin\n");
  r = feed(
    d,
    "tftp 0x40200000 os.bin\r\nUsing virtio-net#31 device\r\nLoading: ####\r\ndone\r\n" +
      "Bytes transferred = 1500003 (16e363 hex)\r\n=> ",
    1250,
  );
  assertEquals(r.sent, "crc32 0x40200000 16e363\n");
  const step = r.events.find((e) => e.kind === "step-done");
  assert(step?.kind === "step-done");
  assertEquals([step.ms, step.note], [1000, "1500003 bytes"]);
  r = feed(d, "crc32 0x40200000 16e363\r\ncrc32 for 40200000 ... 4036e362 ==> 8dbe4830\r\n=> ", 1300);
  assertEquals(r.sent, "go 0x40200000\n");
  assertEquals(r.events.map((e) => e.kind), ["step-done", "step-start", "kernel-started"]);
  assert(d.finished);
});

Deno.test("console: u-boot's errors fail the run with the reason and the step", () => {
  const cases: [string, string][] = [
    ["Unknown command 'mmc' - try 'help'", "Unknown command 'mmc'"],
    ["T T T T T T T T T T \r\nRetry count exceeded; starting again", "Retry count exceeded"],
    ["TFTP error: 'File not found' (1)\r\nNot retrying...", "TFTP error 'File not found'"],
  ];
  for (const [line, reason] of cases) {
    const d = new UbootDriver(["mmc dev 1", "echo never"], 0);
    feed(d, "\r\n=> ", 10);
    const r = feed(d, `mmc dev 1\r\n${line}\r\n=> `, 20);
    const f = r.events.at(-1);
    assert(f?.kind === "failed", JSON.stringify(r.events));
    assertStringIncludes(f.reason, reason);
    assertEquals(f.command, "mmc dev 1");
    assertEquals(r.sent, "", "nothing more is typed after a failure");
  }
  // a CRC that differs from the local file's
  const d = new UbootDriver(["tftp 0x40200000 os.bin"], 0, { expect: new Map([["os.bin", { size: 4, crc32: 1 }]]) });
  feed(d, "\r\n=> ", 1);
  feed(d, "tftp 0x40200000 os.bin\r\nBytes transferred = 4 (4 hex)\r\n=> ", 2);
  const r = feed(d, "crc32 0x40200000 4\r\ncrc32 for 40200000 ... 40200003 ==> deadbeef\r\n=> ", 3);
  const f = r.events.at(-1);
  assert(f?.kind === "failed");
  assertStringIncludes(f.reason, "CRC mismatch: os.bin at 0x40200000 has crc32 deadbeef on the board, 00000001 here");
});

Deno.test("console: a board that never prompts times out with a clear error; a hung step too", () => {
  const d = new UbootDriver(["version"], 0, { promptTimeoutMs: 5000 });
  assertEquals(d.tick(4999).events, []);
  const f = d.tick(5000).events[0];
  assert(f?.kind === "failed");
  assertStringIncludes(f.reason, "no u-boot prompt within 5 s");
  const h = new UbootDriver(["tftp 0x40200000 os.bin"], 0, { stepTimeoutMs: 3000 });
  feed(h, "=> ", 10);
  const g = h.tick(3011).events[0];
  assert(g?.kind === "failed");
  assertStringIncludes(g.reason, "no prompt after 'tftp 0x40200000 os.bin' within 3 s");
});

Deno.test("console: steps from --run and from a uEnv.txt", () => {
  assertEquals(splitCommands("tftp 0x80000000 os.bin; crc32 0x80000000 10 ;; echo 'a;b'"), [
    "tftp 0x80000000 os.bin",
    "crc32 0x80000000 10",
    "echo 'a;b'",
  ]);
  assertEquals(splitCommands("if tftp 1 x; then echo y; else echo n; fi; echo z"), [
    "if tftp 1 x; then echo y; else echo n; fi",
    "echo z",
  ]);
  assertEquals(uenvSteps("pbx_kind=dev\npbx_up=echo ${x}; echo y\nuenvcmd=setenv ipaddr 1.2.3.4; run pbx_up\n"), [
    "setenv pbx_kind 'dev'",
    "setenv pbx_up 'echo ${x}; echo y'",
    "setenv ipaddr 1.2.3.4",
    "run pbx_up",
  ]);
});

Deno.test("console: a key echoed after the prompt (Ctrl-C stopped the countdown, then our space came) still counts", () => {
  // seen on QEMU: the Ctrl-C sent at start stopped autoboot, the space sent at "Hit any key" was echoed at the prompt
  const d = new UbootDriver(["version"], 0);
  d.start();
  let r = feed(d, "Hit any key to stop autoboot:  2 ", 10);
  assertEquals(r.sent, " ");
  r = feed(d, "\b\b\b 0 \r\n=>  ", 20);
  assertEquals(r.sent, "version\n");
  r = feed(d, " version\r\nU-Boot 2023.01+dfsg-2+deb12u3\r\n=> ", 30);
  assertEquals(r.events.map((e) => e.kind), ["step-done", "done"]);
  // but text after a "=> " that is not a prompt is not one
  const e = new UbootDriver(["version"], 0);
  assertEquals(feed(e, "cmd => x\r\nstill booting", 5).sent, "");
});
