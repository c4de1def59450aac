/**
 * pbxkit as a service on a PBX host: systemd units with least privilege for `ban`, `ws-serve` and `tftp-serve`,
 * their commented default configs in `/etc/pbxkit`, and `pbxkit service install`.
 *
 * @example
 * ```ts
 * import { applyInstall, installPlan } from "./lib/service/mod.ts";
 * const plan = installPlan("ban", { exec: "/opt/pbxkit/pbxkit" });
 * await applyInstall(plan, { root: "/tmp/root", dryRun: true });
 * ```
 *
 * @module
 */

export * from "./units.ts";
export * from "./install.ts";
