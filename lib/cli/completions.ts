/**
 * Shell completion scripts for bash, zsh and fish, generated from the commander tree: subcommands, options (the
 * root's global options everywhere), option values with choices, positional arguments with choices, and file names
 * for other option values. The tree is read once into a plain {@linkcode CompletionTree} (sans-I/O), then printed.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";

/** One option of a command. */
export interface CompletionOption {
  /** `-i`, if any. */
  short?: string;
  /** `--interface`. */
  long?: string;
  /** Takes a value. */
  takesValue: boolean;
  /** The allowed values, if limited. */
  choices?: readonly string[];
  /** One-line help. */
  description: string;
}

/** One command with its subcommands. */
export interface CompletionNode {
  /** Name (`pbxkit` for the root). */
  name: string;
  /** One-line summary. */
  description: string;
  /** Options (the root's global options are added to every node by the generators). */
  options: CompletionOption[];
  /** Choices of each positional argument in order (undefined: free text or a file). */
  args: (readonly string[] | undefined)[];
  /** Subcommands. */
  subcommands: CompletionNode[];
}

/** The whole tree. */
export type CompletionTree = CompletionNode;

type AnyCommand = Command<unknown[], Record<string, unknown>, Record<string, unknown>>;

interface CommanderInternals {
  options: readonly {
    short?: string;
    long?: string;
    required: boolean;
    optional: boolean;
    argChoices?: string[];
    description: string;
    hidden: boolean;
  }[];
  registeredArguments?: readonly { argChoices?: string[] }[];
  commands: readonly AnyCommand[];
}

/** Read a commander command (and its subcommands) into a {@linkcode CompletionTree}. */
export function completionTree(cmd: AnyCommand): CompletionTree {
  const c = cmd as unknown as CommanderInternals;
  const options: CompletionOption[] = c.options.filter((o) => !o.hidden).map((o) => ({
    short: o.short,
    long: o.long,
    takesValue: o.required || o.optional,
    choices: o.argChoices,
    description: o.description,
  }));
  options.push({ short: "-h", long: "--help", takesValue: false, description: "display help for command" });
  return {
    name: cmd.name(),
    description: cmd.summary() || cmd.description().split("\n")[0],
    options,
    args: (c.registeredArguments ?? []).map((a) => a.argChoices),
    subcommands: c.commands.map((s) => completionTree(s as AnyCommand)),
  };
}

/** The shells {@linkcode completionScript} writes for. */
export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode COMPLETION_SHELLS}. */
export type CompletionShell = typeof COMPLETION_SHELLS[number];

interface Flat {
  path: string;
  node: CompletionNode;
}

function flatten(node: CompletionNode, prefix = ""): Flat[] {
  const path = prefix ? `${prefix} ${node.name}` : node.name;
  return [{ path, node }, ...node.subcommands.flatMap((s) => flatten(s, path))];
}

/** Only characters that are safe unquoted in every shell's word list; commander names and choices are such. */
function safe(word: string): string {
  if (!/^[A-Za-z0-9_.:/@+,=-]+$/.test(word)) throw new Error(`completion word '${word}' has unsafe characters`);
  return word;
}

function optionWords(o: CompletionOption): string[] {
  return [o.short, o.long].filter((x): x is string => !!x).map(safe);
}

/** The bash script (also used by zsh through bashcompinit). */
function bashScript(tree: CompletionTree): string {
  const prog = safe(tree.name);
  const fn = `_${prog.replace(/[^A-Za-z0-9_]/g, "_")}`;
  const global = tree.options;
  const nodes = flatten(tree);
  const withGlobal = (n: CompletionNode) => n === tree ? n.options : [...n.options, ...global];
  const cases = (body: (f: Flat) => string | undefined) =>
    nodes.map((f) => {
      const b = body(f);
      return b === undefined ? "" : `    "${f.path}") ${b} ;;\n`;
    }).join("");
  const choiceCases = nodes.flatMap((f) =>
    withGlobal(f.node).filter((o) => o.choices).flatMap((o) =>
      optionWords(o).map((w) => `    "${f.path}|${w}") echo "${o.choices!.map(safe).join(" ")}" ;;\n`)
    )
  ).join("");
  const argCases = nodes.flatMap((f) =>
    f.node.args.map((ch, i) => ch ? `    "${f.path}|${i}") echo "${ch.map(safe).join(" ")}" ;;\n` : "")
  ).join("");
  return `# ${prog} completion for bash, generated from the command tree: source it, or put it in
# /etc/bash_completion.d/${prog} (pbxkit completions bash > /etc/bash_completion.d/${prog})
${fn}_subs() {
  case "$1" in
${
    cases((f) =>
      f.node.subcommands.length ? `echo "${f.node.subcommands.map((s) => safe(s.name)).join(" ")}"` : undefined
    )
  }  esac
}
${fn}_opts() {
  case "$1" in
${cases((f) => `echo "${withGlobal(f.node).flatMap(optionWords).join(" ")}"`)}  esac
}
${fn}_valued() {
  case "$1" in
${cases((f) => `echo " ${withGlobal(f.node).filter((o) => o.takesValue).flatMap(optionWords).join(" ")} "`)}  esac
}
${fn}_choices() {
  case "$1|$2" in
${choiceCases}  esac
}
${fn}_argchoices() {
  case "$1|$2" in
${argCases}  esac
}
${fn}() {
  local cur prev path w i nargs=0 valued subs words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  [[ $COMP_CWORD -gt 0 ]] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # readline splits --opt=value at '=' (COMP_WORDBREAKS): complete the value of the option before it
  [[ "$prev" == "=" && $COMP_CWORD -gt 1 ]] && prev="\${COMP_WORDS[COMP_CWORD-2]}"
  path="${prog}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    valued="$(${fn}_valued "$path")"
    if [[ "$w" == -* ]]; then
      if [[ "$w" != *=* && "$valued" == *" $w "* ]]; then
        ((i++))
        [[ "\${COMP_WORDS[i]}" == "=" ]] && ((i++))
      fi
      continue
    fi
    subs=" $(${fn}_subs "$path") "
    if [[ "$subs" == *" $w "* ]]; then
      path="$path $w"
      nargs=0
    else
      ((nargs++))
    fi
  done
  COMPREPLY=()
  if [[ "$cur" == --*=* ]]; then
    words="$(${fn}_choices "$path" "\${cur%%=*}")"
    if [[ -n "$words" ]]; then
      local prefix="\${cur%%=*}="
      local v
      while IFS= read -r v; do COMPREPLY+=("$prefix$v"); done < <(compgen -W "$words" -- "\${cur#*=}")
    fi
    return 0
  fi
  valued="$(${fn}_valued "$path")"
  if [[ "$prev" == -* && "$prev" != *=* && "$valued" == *" $prev "* ]]; then
    words="$(${fn}_choices "$path" "$prev")"
    if [[ -n "$words" ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(${fn}_opts "$path")" -- "$cur")
    return 0
  fi
  words="$(${fn}_subs "$path")"
  if [[ -n "$words" ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    return 0
  fi
  words="$(${fn}_argchoices "$path" "$nargs")"
  if [[ -n "$words" ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}
complete -o filenames -F ${fn} ${prog}
`;
}

function zshScript(tree: CompletionTree): string {
  return `#compdef ${safe(tree.name)}
# ${tree.name} completion for zsh (the bash completion through bashcompinit): put it in a directory of $fpath
# as _${tree.name}, or source it from ~/.zshrc
autoload -U +X bashcompinit && bashcompinit
${bashScript(tree)}`;
}

/** Quote for fish single quotes. */
function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishScript(tree: CompletionTree): string {
  const prog = safe(tree.name);
  const fn = `__${prog.replace(/[^A-Za-z0-9_]/g, "_")}_path`;
  const nodes = flatten(tree);
  const lines: string[] = [
    `# ${prog} completion for fish, generated from the command tree: save as ~/.config/fish/completions/${prog}.fish`,
    `function ${fn} --description 'the ${prog} subcommand path on the command line'`,
    "    set -l words (commandline -opc)",
    `    set -l path ${prog}`,
    "    set -l skip 0",
    "    for w in $words[2..-1]",
    "        if test $skip -eq 1",
    "            set skip 0",
    "            continue",
    "        end",
    "        switch $w",
    "            case '-*'",
    `                if contains -- $w (${fn}_valued "$path")`,
    "                    set skip 1",
    "                end",
    "                continue",
    "        end",
    `        if contains -- $w (${fn}_subs "$path")`,
    '            set path "$path $w"',
    "        end",
    "    end",
    '    echo "$path"',
    "end",
    `function ${fn}_subs`,
    "    switch $argv[1]",
  ];
  const global = tree.options;
  const withGlobal = (n: CompletionNode) => n === tree ? n.options : [...n.options, ...global];
  for (const f of nodes) {
    if (!f.node.subcommands.length) continue;
    lines.push(
      `        case ${fishQuote(f.path)}`,
      `            printf '%s\\n' ${f.node.subcommands.map((s) => safe(s.name)).join(" ")}`,
    );
  }
  lines.push("    end", "end", `function ${fn}_valued`, "    switch $argv[1]");
  for (const f of nodes) {
    const v = withGlobal(f.node).filter((o) => o.takesValue).flatMap(optionWords);
    if (v.length) lines.push(`        case ${fishQuote(f.path)}`, `            printf '%s\\n' -- ${v.join(" ")}`);
  }
  lines.push("    end", "end", `complete -c ${prog} -f`);
  for (const f of nodes) {
    const cond = `test (${fn}) = ${fishQuote(f.path)}`;
    for (const s of f.node.subcommands) {
      lines.push(`complete -c ${prog} -n ${fishQuote(cond)} -a ${safe(s.name)} -d ${fishQuote(s.description)}`);
    }
    for (const o of withGlobal(f.node)) {
      const parts = [`complete -c ${prog} -n ${fishQuote(cond)}`];
      if (o.short) parts.push(`-s ${safe(o.short.slice(1))}`);
      if (o.long) parts.push(`-l ${safe(o.long.slice(2))}`);
      if (o.takesValue) parts.push(o.choices ? `-x -a ${fishQuote(o.choices.map(safe).join(" "))}` : "-r -F");
      parts.push(`-d ${fishQuote(o.description)}`);
      lines.push(parts.join(" "));
    }
    const first = f.node.args[0];
    if (first && !f.node.subcommands.length) {
      lines.push(`complete -c ${prog} -n ${fishQuote(cond)} -a ${fishQuote(first.map(safe).join(" "))}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** The completion script for a shell. */
export function completionScript(shell: CompletionShell, tree: CompletionTree): string {
  switch (shell) {
    case "bash":
      return bashScript(tree);
    case "zsh":
      return zshScript(tree);
    case "fish":
      return fishScript(tree);
  }
}
