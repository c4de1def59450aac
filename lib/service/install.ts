/**
 * `pbxkit service install`: the files a service needs (its unit, a commented default config, the sysusers.d entry
 * of the `pbxkit` user for ws) planned without I/O ({@linkcode installPlan}), then written
 * ({@linkcode applyInstall}) under a root directory (`/` on a real host, a temp directory in tests). An existing
 * config is never overwritten; an existing unit is replaced (it is generated).
 *
 * @module
 */

import { join } from "node:path";
import { osErrorReason, PbxError, toPbxError, writeFileAtomic } from "../common/mod.ts";
import { defaultConfigText, type ServiceName, serviceSpec, sysusersText, unitText } from "./units.ts";

/** Options for {@linkcode installPlan}. */
export interface InstallOptions {
  /** Absolute path of the `pbxkit` launcher the unit runs. */
  exec: string;
  /** Directory standing for `/` (default `/`). */
  root?: string;
  /** Extra global flags for the daemon, e.g. `["--log-format", "json"]`. */
  globalArgs?: readonly string[];
}

/** One file of an install. */
export interface InstallFile {
  /** Path on the target system (without the root prefix), e.g. `/etc/pbxkit/ban.toml`. */
  path: string;
  /** Content. */
  content: string;
  /** Permission bits. */
  mode: number;
  /** `replace`: written even when present (generated); `keep`: only when missing (the admin's file). */
  policy: "replace" | "keep";
}

/** What an install writes and what the admin runs next. */
export interface InstallPlan {
  /** The service. */
  name: ServiceName;
  /** Unit name, e.g. `pbxkit-ban.service`. */
  unit: string;
  /** Files to write. */
  files: InstallFile[];
  /** The `systemctl` (and `systemd-sysusers`) commands to run afterwards, in order. */
  commands: string[];
}

/** The files and commands of installing `name` (sans-I/O). */
export function installPlan(name: ServiceName, options: InstallOptions): InstallPlan {
  if (!options.exec.startsWith("/")) {
    throw new PbxError("E_USAGE", `--exec: '${options.exec}' must be an absolute path (systemd needs one)`);
  }
  const s = serviceSpec(name);
  const unit = `${s.unit}.service`;
  const files: InstallFile[] = [
    {
      path: `/etc/systemd/system/${unit}`,
      content: unitText(name, { exec: options.exec, globalArgs: options.globalArgs }),
      mode: 0o644,
      policy: "replace",
    },
    { path: s.config, content: defaultConfigText(name), mode: 0o644, policy: "keep" },
  ];
  const commands: string[] = [];
  if (s.user) {
    files.push({ path: "/etc/sysusers.d/pbxkit.conf", content: sysusersText(), mode: 0o644, policy: "replace" });
    commands.push("systemd-sysusers /etc/sysusers.d/pbxkit.conf");
  }
  commands.push("systemctl daemon-reload", `systemctl enable --now ${unit}`, `systemctl status ${unit}`);
  commands.push(`journalctl -u ${unit} -f`);
  return { name, unit, files, commands };
}

/** What {@linkcode applyInstall} did with each file. */
export interface InstallResult {
  /** Target path and `written`, `kept` (an existing config) or `would write`/`would keep` (dry run). */
  files: { path: string; written: string; action: "written" | "kept" | "would write" | "would keep" }[];
  /** The commands to run next. */
  commands: string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return false;
    throw new PbxError(toPbxError(err).code, `cannot check '${path}': ${osErrorReason(err)}`, { cause: err });
  }
}

/** Write a plan under `root` (default `/`); `dryRun` only reports. Never overwrites a `keep` file. */
export async function applyInstall(
  plan: InstallPlan,
  options: { root?: string; dryRun?: boolean } = {},
): Promise<InstallResult> {
  const root = options.root ?? "/";
  const out: InstallResult["files"] = [];
  for (const f of plan.files) {
    const target = join(root, f.path);
    const present = await exists(target);
    const keep = present && f.policy === "keep";
    if (options.dryRun) {
      out.push({ path: f.path, written: target, action: keep ? "would keep" : "would write" });
      continue;
    }
    if (keep) {
      out.push({ path: f.path, written: target, action: "kept" });
      continue;
    }
    const dir = target.replace(/\/[^/]*$/, "");
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new PbxError(toPbxError(err).code, `cannot create '${dir}': ${osErrorReason(err)}`, { cause: err });
    }
    try {
      await writeFileAtomic(target, new TextEncoder().encode(f.content), { mode: f.mode });
    } catch (err) {
      if (err instanceof PbxError) throw err;
      throw new PbxError(toPbxError(err).code, `cannot write '${target}': ${osErrorReason(err)}`, { cause: err });
    }
    out.push({ path: f.path, written: target, action: "written" });
  }
  return { files: out, commands: plan.commands };
}
