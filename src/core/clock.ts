/**
 * Time as a parameter. The engine reads the time, the zone and arms its one timer only
 * through a Clock, so tests drive it with a fake clock (in a zone of their choosing) and only
 * the daemon's wiring owns real timers and reads the host's zone.
 */

/** An armed timer, to be cancelled with Clock.clearTimer. */
export type TimerHandle = { readonly __timer: unique symbol };

/** The source of time and timers the engine runs on. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** The IANA zone local times are read in when a task names none: the host's, for the real clock. */
  timeZone(): string;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer that has not fired yet. */
  clearTimer(handle: TimerHandle): void;
}
