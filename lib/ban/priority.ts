/**
 * CPU priority for the ban daemon: on a busy machine the time between a packet and its ban is mostly time spent
 * waiting for a CPU, so the daemon raises its priority (a negative nice value, root only) for every thread it has.
 * Threads created later inherit it from the thread that creates them.
 *
 * @module
 */

import { openLibc } from "../common/mod.ts";

const PRIO_PROCESS = 0;

/** Set the nice value of every thread of this process. Returns the number of threads changed, or throws. */
export function setNice(nice: number): number {
  const libc = openLibc({ setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" } } as const);
  if (!libc) throw new Error("cannot load libc");
  try {
    let changed = 0;
    const tids: number[] = [];
    try {
      for (const e of Deno.readDirSync("/proc/self/task")) tids.push(Number(e.name));
    } catch {
      tids.push(0); // no /proc: at least this thread
    }
    for (const tid of tids) {
      if (libc.symbols.setpriority(PRIO_PROCESS, tid, nice) === 0) changed++;
    }
    if (changed === 0) throw new Error("setpriority refused (needs root or CAP_SYS_NICE)");
    return changed;
  } finally {
    libc.close();
  }
}
