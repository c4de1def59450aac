/**
 * CPU priority for the ban daemon: on a busy machine the time between a packet and its ban is mostly time spent
 * waiting for a CPU, so the daemon raises its priority (a negative nice value, root only) for every thread it has.
 * Threads created later inherit it from the thread that creates them.
 *
 * @module
 */

const LIBC_PATHS = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6"];
const PRIO_PROCESS = 0;

/** Set the nice value of every thread of this process. Returns the number of threads changed, or throws. */
export function setNice(nice: number): number {
  let libc: Deno.DynamicLibrary<{ setpriority: { parameters: ["i32", "u32", "i32"]; result: "i32" } }> | undefined;
  for (const p of LIBC_PATHS) {
    try {
      libc = Deno.dlopen(p, { setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" } });
      break;
    } catch { /* next */ }
  }
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
