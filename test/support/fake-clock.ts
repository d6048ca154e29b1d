/** A Clock whose time moves only when a test says so, in a zone the test chooses (UTC unless it says). */
import type { Clock, TimerHandle } from '../../src/core/clock.js';

interface PendingTimer {
  id: number;
  at: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  private timers: PendingTimer[] = [];
  private nextId = 1;

  constructor(
    private current = Date.parse('2026-11-25T10:00:00.000Z'),
    private readonly zone = 'UTC',
  ) {}

  now(): number {
    return this.current;
  }

  timeZone(): string {
    return this.zone;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, delayMs), callback };
    this.timers.push(timer);
    return timer.id as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.id !== (handle as unknown as number));
  }

  /** Timers armed and not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer that comes due, in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.current = Math.max(this.current, due.at);
      due.callback();
    }
    this.current = target;
  }

  /** Jumps to an absolute time without firing timers (a restart after downtime). */
  set(ms: number): void {
    this.current = ms;
  }
}
