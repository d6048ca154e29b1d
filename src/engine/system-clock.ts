/** The real clock: wall time, the host's zone (TZ, else the system's) and Node timers. Only the daemon's wiring uses it. */
import type { Clock, TimerHandle } from '../core/clock.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  // Read at each call, as before: a TZ set while the process runs is taken.
  timeZone: () => Intl.DateTimeFormat().resolvedOptions().timeZone,
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs) as unknown as TimerHandle,
  clearTimer: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};
