/** The real clock: wall time and Node timers. Only the daemon's wiring uses it. */
import type { Clock, TimerHandle } from '../core/clock.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs) as unknown as TimerHandle,
  clearTimer: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};
