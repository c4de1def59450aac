// `pbxkit completions bash|zsh|fish`: the bash script is sourced in a real bash and its completion function asked,
// as readline would, for words at the cursor; answers are checked against the commander tree itself (every command,
// every option, every choice) and the cases the issue names. zsh and fish scripts are syntax-checked when installed.
import { assert, assertEquals } from "./_util/assert.ts";
import { missing, ROOT, runCli, sh, testWith } from "./_util/mod.ts";
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
  const tree = completionTree((await buildProgram()) as never);
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
      console.error(`NOTE completions ${shell}: not syntax-checked, ${why} (tests/apt-packages.txt lists it)`);
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

// An interactive bash on a pseudo-terminal: readline itself completes the line when TAB is typed.
const PTY_DRIVER = `
import os, pty, sys, time, select
root = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, PATH=root + ":" + os.environ["PATH"], INPUTRC="/dev/null", TERM="dumb", PS1="$ ")
    os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
def read_until(marker, timeout=30):
    buf = b""
    end = time.time() + timeout
    while time.time() < end and marker not in buf:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf.decode(errors="replace")
read_until(b"$ ")
os.write(fd, b"bind 'set enable-bracketed-paste off'; source <(pbxkit completions bash); echo LOADED\\n")
read_until(b"LOADED\\r\\n$ ", 60)
os.write(fd, b"pbxkit ca\\t\\t")
print("CA " + repr(read_until(b"\\r\\n$ pbxkit ca", 20)))
os.write(fd, b"\\x15pbxkit ban --back\\t")
print("BACK " + repr(read_until(b"--backend ", 20)))
os.write(fd, b"\\x15exit\\n")
os.waitpid(pid, 0)
`;

testWith(
  "completions bash: source <(pbxkit completions bash) registers -F; TAB in an interactive bash completes ca, --back",
  { tools: ["bash", "python3"] },
  async () => {
    const env = { ...Deno.env.toObject(), PBXKIT_DENO: Deno.execPath(), PATH: `${ROOT}:${Deno.env.get("PATH")}` };
    // `complete -p` after loading it the documented way, then the registered function called as bash calls it:
    // $1 the command, $2 the word at the cursor, $3 the word before, with COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT
    const driver = `
source <(pbxkit completions bash)
spec="$(complete -p pbxkit)" || exit 3
printf 'SPEC %s\\n' "$spec"
fn="$(sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p' <<<"$spec")"
ask() {
  COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_TYPE=9; COMP_KEY=9
  COMPREPLY=()
  "$fn" "$1" "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
  printf 'REPLY'; printf ' %s' "\${COMPREPLY[@]}"; printf '\\n'
}
ask pbxkit ca
ask pbxkit ban --back
COMP_WORDS=(pbxkit ca); COMP_CWORD=1; COMP_LINE="pbxkit ca"; COMP_POINT=9
printf 'COMPGEN'; printf ' %s' $(compgen -F "$fn" -- ca 2>/dev/null); printf '\\n'
`;
    const run = async (argv: string[]) => {
      const out = await new Deno.Command(argv[0], { args: argv.slice(1), env, stdout: "piped", stderr: "piped" })
        .output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const r = await run(["bash", "--norc", "--noprofile", "-c", driver]);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assertEquals(lines[0], "SPEC complete -o filenames -F _pbxkit pbxkit", r.stdout);
    assertEquals(lines.slice(1), ["REPLY cache-sim call", "REPLY --backend", "COMPGEN cache-sim call"], r.stdout);

    const dir = await Deno.makeTempDir({ prefix: "pbxkit-compl-pty-" });
    try {
      await Deno.writeTextFile(`${dir}/tab_driver.py`, PTY_DRIVER);
      const p = await run(["timeout", "120", "python3", `${dir}/tab_driver.py`, ROOT]);
      assertEquals(p.code, 0, p.stderr);
      const ca = /^CA (.*)$/m.exec(p.stdout)?.[1] ?? "", back = /^BACK (.*)$/m.exec(p.stdout)?.[1] ?? "";
      // two TABs on an ambiguous prefix: readline lists both commands, then redraws the line
      assert(/cache-sim +call/.test(ca) && ca.endsWith("$ pbxkit ca'"), `pbxkit ca<TAB><TAB>: ${ca}`);
      // one TAB on a unique prefix: the option is completed on the line, followed by a space
      assert(back.includes("pbxkit ban --backend "), `pbxkit ban --back<TAB>: ${back}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
