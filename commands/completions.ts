/**
 * `pbxkit completions`: print a shell completion script generated from the command tree. Options and printing only;
 * the generator is in `lib/cli/completions.ts`.
 *
 * @module
 */

import { Argument, type Command } from "@commander-js/extra-typings";
import {
  COMPLETION_SHELLS,
  completionScript,
  type CompletionShell,
  completionTree,
  globalFlags,
  newCommand,
} from "../lib/cli/mod.ts";
import { writeStdout } from "../lib/common/mod.ts";

/** Build the `completions` subcommand. */
export function completionsCommand(): Command {
  return newCommand("completions", {
    summary: "Print a bash, zsh or fish completion script (subcommands, options and their values)",
    description: "Prints a completion script generated from pbxkit's own command tree, so it always matches the " +
      "installed version. Load it in the shell or install it where the shell looks for completions.",
    examples: [
      "source <(pbxkit completions bash)",
      "pbxkit completions bash | sudo tee /etc/bash_completion.d/pbxkit",
      "pbxkit completions zsh > ~/.zfunc/_pbxkit",
      "pbxkit completions fish > ~/.config/fish/completions/pbxkit.fish",
    ],
  })
    .addArgument(new Argument("<shell>", "the shell").choices(COMPLETION_SHELLS))
    .action(function (shell: string) {
      globalFlags(this);
      let root = this as unknown as Command;
      while (root.parent) root = root.parent as Command;
      writeStdout(completionScript(shell as CompletionShell, completionTree(root)));
    }) as unknown as Command;
}
