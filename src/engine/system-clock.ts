/** The real clock: wall time, the host's zone (TZ, else the system's) and Node timers. Only the daemon's wiring uses it. */
import type { Clock, TimerHandle } from '../core/clock.js';

/**
 * The zone, asked of ICU again only when TZ changes: building a DateTimeFormat to ask costs
 * about a third of a submit's CPU (measured with bench/profile-summary.ts). Node resets its
 * zone when TZ is set while it runs, so a TZ set later is still taken; the system's zone
 * (/etc/localtime) is read once by ICU anyway.
 */
let zone: { tz: string | undefined; name: string } | undefined;

function hostTimeZone(): string {
  const tz = process.env.TZ;
  if (zone === undefined || zone.tz !== tz) zone = { tz, name: Intl.DateTimeFormat().resolvedOptions().timeZone };
  return zone.name;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  timeZone: hostTimeZone,
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs) as unknown as TimerHandle,
  clearTimer: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};
