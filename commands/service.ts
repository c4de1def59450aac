/**
 * `pbxkit service`: install pbxkit's daemons as systemd services. Options and printing only; the logic is in
 * `lib/service/`.
 *
 * @module
 */

import { Argument, type Command, Option } from "@commander-js/extra-typings";
import { globalFlags, newCommand } from "../lib/cli/mod.ts";
import { printJson, usageError, writeStdout } from "../lib/common/mod.ts";
import { applyInstall, installPlan, SERVICE_NAMES, type ServiceName } from "../lib/service/mod.ts";

/** The launcher next to cli.ts: the repository's `pbxkit` script. */
function defaultExec(): string {
  return new URL("../pbxkit", import.meta.url).pathname;
}

/** Build the `service` subcommand. */
export function serviceCommand(): Command {
  const cmd = newCommand("service", {
    summary: "Install pbxkit's daemons (ban, ws, tftp) as systemd services",
    examples: ["sudo pbxkit service install ban", "pbxkit service install ws --dry-run"],
  });
  const install = newCommand("install", {
    summary: "Write a systemd unit and a commented default config (never overwritten), print the systemctl commands",
    description: "Writes /etc/systemd/system/pbxkit-NAME.service (least privilege: only the capabilities the daemon " +
      "uses, DynamicUser or the pbxkit user, ProtectSystem=strict, reload = SIGHUP, restart on failure) and " +
      "/etc/pbxkit/NAME.toml when it does not exist yet, then prints what to run. See docs/service.md.",
    examples: [
      "sudo pbxkit service install ban",
      "pbxkit service install ws --dry-run",
      "pbxkit service install tftp --root /tmp/root --json",
    ],
  })
    .addArgument(new Argument("<name>", "the service").choices(SERVICE_NAMES))
    .option("--dry-run", "only show what would be written")
    .option("--root <dir>", "write under DIR instead of / (packaging, tests)")
    .option("--exec <path>", "the pbxkit launcher the unit runs (default: this checkout's ./pbxkit)")
    .addOption(new Option("--daemon-log-format <format>", "the daemon's --log-format").choices(["text", "json"]))
    .option("--json", "print the result as JSON")
    .action(async function (name: string, opts) {
      globalFlags(this);
      const o = opts as { dryRun?: boolean; root?: string; exec?: string; daemonLogFormat?: string; json?: boolean };
      if (!(SERVICE_NAMES as readonly string[]).includes(name)) {
        throw usageError(`service: '${name}' is not one of ${SERVICE_NAMES.join(", ")}`);
      }
      if (o.root !== undefined && !o.root.trim()) throw usageError("--root: give a directory");
      const plan = installPlan(name as ServiceName, {
        exec: o.exec ?? defaultExec(),
        globalArgs: o.daemonLogFormat ? ["--log-format", o.daemonLogFormat] : undefined,
      });
      const r = await applyInstall(plan, { root: o.root, dryRun: o.dryRun });
      if (o.json) return printJson({ unit: plan.unit, dryRun: !!o.dryRun, ...r });
      const lines = r.files.map((f) => `${f.action.padEnd(11)} ${f.written}`);
      if (o.dryRun) {
        for (const f of plan.files) lines.push("", `--- ${f.path}`, f.content.trimEnd());
      }
      lines.push("", o.dryRun ? "then run:" : "now run:", ...r.commands.map((c) => `  ${c}`));
      writeStdout(lines.join("\n") + "\n");
    });
  cmd.addCommand(install as unknown as Command);
  return cmd as unknown as Command;
}
