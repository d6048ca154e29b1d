/**
 * Logs a failure that repeats (the disk is full, and every write and every retry fails)
 * once per kind and interval, then how many more times it happened. A daemon whose store
 * is down for an hour must not fill the disk it is waiting for with the same stack trace:
 * the first occurrence is logged in full, the others are counted, and when the interval
 * closes one line says how many there were.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { EngineLog } from './engine-log.js';

/** How long the repeats of one kind are counted before their count is logged. */
export const defaultFaultIntervalMs = 60_000;

interface Window {
  /** Repeats since the first occurrence, not logged yet. */
  repeats: number;
  /** The message of the first occurrence, repeated in the count line. */
  message: string;
  timer: TimerHandle;
}

/** Where repeated failures are reported. */
export interface FaultReporter {
  /** Logs `message` if no failure of `kind` was logged within the interval; counts it otherwise. */
  report(kind: string, details: object, message: string): void;
}

export class FaultLog implements FaultReporter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly log: Pick<EngineLog, 'error'>,
    private readonly clock: Clock,
    private readonly intervalMs = defaultFaultIntervalMs,
  ) {}

  report(kind: string, details: object, message: string): void {
    const open = this.windows.get(kind);
    if (open) {
      open.repeats++;
      return;
    }
    this.log.error({ ...details, fault: kind }, message);
    const timer = this.clock.setTimer(() => this.closeWindow(kind), this.intervalMs);
    this.windows.set(kind, { repeats: 0, message, timer });
  }

  /** Logs the counts still open and forgets them (the daemon is stopping). */
  close(): void {
    for (const [kind, window] of [...this.windows]) {
      this.clock.clearTimer(window.timer);
      this.closeWindow(kind);
    }
  }

  private closeWindow(kind: string): void {
    const window = this.windows.get(kind);
    if (!window) return;
    this.windows.delete(kind);
    if (window.repeats === 0) return;
    const seconds = Math.round(this.intervalMs / 1000);
    this.log.error(
      { fault: kind, repeats: window.repeats, intervalMs: this.intervalMs },
      `${window.message} (${window.repeats} more time${window.repeats === 1 ? '' : 's'} in the last ${seconds}s; logged once per ${seconds}s)`,
    );
  }
}

/** A reporter that logs nothing (tests that do not look at faults). */
export const silentFaults: FaultReporter = { report: () => undefined };
