// `pbxkit completions bash|zsh|fish`: the bash script is sourced in a real bash and its completion function asked,
// as readline would, for words at the cursor; answers are checked against the commander tree itself (every command,
// every option, every choice) and the cases the issue names. zsh and fish scripts are syntax-checked when installed.
import { assert, assertEquals } from "./_util/assert.ts";
import { missing, runCli, sh, testWith } from "./_util/mod.ts";
import { buildProgram } from "../cli.ts";
import { completionTree } from "../lib/cli/mod.ts";
import type { CompletionNode } from "../lib/cli/mod.ts";
import { BACKENDS } from "../lib/ban/mod.ts";

/** Ask bash for completions: each query is the words on the line, the last one being completed. */
async function bashComplete(script: string, queries: string[][]): Promise<string[][]> {
  const dir = await Deno.makeTempDir({ prefix: "pbxkit-compl-" });
  try {
    await Deno.writeTextFile(`${dir}/pbxkit.bash`, script);
    // the queries go in as data (one word a line, a blank line between queries), never through a shell string
    const input = queries.map((q) => q.join("\n") + "\n").join("\x1e\n");
    await Deno.writeTextFile(`${dir}/queries`, input);
    const driver = `
source "$1"
words=()
ask() {
  COMP_WORDS=("\${words[@]}"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMP_LINE="\${words[*]}"; COMPREPLY=()
  _pbxkit
  printf '%s\\x1f' "\${COMPREPLY[@]}"; printf '\\n'
  words=()
}
while IFS= read -r line; do
  if [[ "$line" == $'\\x1e' ]]; then ask; else words+=("$line"); fi
done < "$2"
ask
`;
    await Deno.writeTextFile(`${dir}/driver.sh`, driver);
    const r = await sh(["bash", "--norc", "--noprofile", `${dir}/driver.sh`, `${dir}/pbxkit.bash`, `${dir}/queries`]);
    const lines = r.stdout.split("\n").slice(0, queries.length);
    assertEquals(lines.length, queries.length, r.stdout + r.stderr);
    return lines.map((l) => l.split("\x1f").filter((w) => w !== "").sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function walk(node: CompletionNode, path: string[] = []): { path: string[]; node: CompletionNode }[] {
  const here = [...path, node.name];
  return [{ path: here, node }, ...node.subcommands.flatMap((s) => walk(s, here))];
}

Deno.test("completions bash: pbxkit ca<TAB>, ban --back<TAB>, choice values, and every command and option of the tree", async () => {
  const r = await runCli(["completions", "bash"]);
  assertEquals(r.code, 0, r.stderr);
  const tree = completionTree(buildProgram() as never);
  const nodes = walk(tree);
  const global = tree.options;
  const queries: string[][] = [
    ["pbxkit", "ca"],
    ["pbxkit", "ban", "--back"],
    ["pbxkit", "ban", "--backend", ""],
    ["pbxkit", "ban", "--backend", "ip"],
    ["pbxkit", "ban", "--backend", "=", ""], // readline splits --backend= at '='
    ["pbxkit", "ban", "--config", "/etc/pbxkit/ban.toml", "--scope", ""],
    ["pbxkit", "-v", "ban", "st"],
    ["pbxkit", "ban", "status", "--js"],
    ["pbxkit", "--log-format", "j"],
    ["pbxkit", "service", "install", ""],
    ["pbxkit", "completions", ""],
    ["pbxkit", "nosuch", "--back"],
  ];
  const expected: string[][] = [
    ["cache-sim", "call"],
    ["--backend"],
    [...BACKENDS].sort(),
    ["iptables"],
    [...BACKENDS].sort(),
    ["all", "ports"],
    ["status"],
    ["--json"],
    ["json"],
    ["ban", "tftp", "ws"],
    ["bash", "fish", "zsh"],
    [],
  ];
  // the whole tree: each subcommand by its first two letters, each option by its full name, each choice
  for (const { path, node } of nodes) {
    for (const s of node.subcommands) {
      const prefix = s.name.slice(0, 2);
      queries.push([...path, prefix]);
      expected.push(node.subcommands.map((x) => x.name).filter((n) => n.startsWith(prefix)).sort());
    }
    const opts = node === tree ? node.options : [...node.options, ...global];
    const longs = opts.map((o) => o.long).filter((l): l is string => !!l);
    for (const l of longs) {
      queries.push([...path, l]);
      expected.push(longs.filter((x) => x.startsWith(l)).sort());
    }
    for (const o of opts.filter((o) => o.choices)) {
      queries.push([...path, o.long!, ""]);
      expected.push([...o.choices!].sort());
    }
  }
  assert(queries.length > 150, `only ${queries.length} queries: the tree looks too small`);
  const got = await bashComplete(r.stdout, queries);
  for (let i = 0; i < queries.length; i++) assertEquals(got[i], expected[i], `completing: ${queries[i].join(" ")}`);
});

Deno.test("completions: zsh and fish scripts pass their shell's syntax check (when installed); bad shell is exit 2", async () => {
  for (const shell of ["zsh", "fish"] as const) {
    const r = await runCli(["completions", shell]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes("cache-sim") && r.stdout.includes("--backend") && r.stdout.includes("dry-run"));
    const why = missing({ tools: [shell] });
    if (why) {
      console.error(`NOTE completions ${shell}: not syntax-checked, ${why} (not in tests/apt-packages.txt)`);
      continue;
    }
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/c`, r.stdout);
      const check = await sh(shell === "zsh" ? ["zsh", "-n", `${dir}/c`] : ["fish", "--no-execute", `${dir}/c`], {
        check: false,
      });
      assertEquals(check.code, 0, check.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const bad = await runCli(["completions", "powershell"]);
  assertEquals(bad.code, 2);
  assertEquals(bad.stderr.trim().split("\n").length, 1);
});

testWith("completions bash: the script is valid bash (bash -n)", { tools: ["bash"] }, async () => {
  const r = await runCli(["completions", "bash"]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c`, r.stdout);
    await sh(["bash", "-n", `${dir}/c`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
