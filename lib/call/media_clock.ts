/**
 * Shared frame clocks for the media bridges: every call of the process that sends frames every `periodMs` joins
 * one timer of that period, so a load run of N calls costs one timer callback per tick instead of N. A member
 * still decides from its own start time how many frames are due, so a late tick is caught up call by call.
 *
 * @module
 */

const clocks = new Map<number, { members: Set<() => void>; timer: ReturnType<typeof setInterval> }>();

/** Call `tick` every `periodMs` (on the shared timer of that period) until {@linkcode leaveMediaClock}. */
export function joinMediaClock(periodMs: number, tick: () => void): void {
  let c = clocks.get(periodMs);
  if (!c) {
    const members = new Set<() => void>();
    c = {
      members,
      timer: setInterval(() => {
        for (const f of members) f();
      }, periodMs),
    };
    clocks.set(periodMs, c);
  }
  c.members.add(tick);
}

/** Stop calling `tick`; the timer ends with its last member. */
export function leaveMediaClock(periodMs: number, tick: () => void): void {
  const c = clocks.get(periodMs);
  if (!c || !c.members.delete(tick) || c.members.size > 0) return;
  clearInterval(c.timer);
  clocks.delete(periodMs);
}
