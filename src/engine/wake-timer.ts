/**
 * The engine's one timer. It is armed for a due time; it wakes the engine a warm-up period
 * before it (to spawn the run's process, held) and then again on time. Its delays are
 * capped, so that after a long sleep of the machine or a jump of the clock it reads the
 * clock again within a minute instead of trusting an old delay.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

/** The longest single delay; the engine re-checks the clock at least this often. */
const maxDelayMs = 60_000;

/** A single re-armable timer over a Clock. */
export class WakeTimer {
  private armed: { handle: TimerHandle; dueAt: number } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly warmupMs: number,
    private readonly onWake: () => void,
    /**
     * How long before a due time the last wake-up is (the firing loop fires ahead, see
     * FiringLoopOptions.fireAheadMs; further ahead for a burst).
     */
    private readonly aheadOf: (dueAt: number) => number = () => 0,
  ) {}

  /** The due time the timer is armed for, if it is armed. */
  get dueAt(): number | undefined {
    return this.armed?.dueAt;
  }

  /** Arms the timer for `dueAt`, replacing whatever it was armed for. */
  arm(dueAt: number): void {
    this.clear();
    const now = this.clock.now();
    // Woken first for the warm-up when there is time for one, then to fire (that far ahead).
    const aheadMs = this.aheadOf(dueAt);
    const warmAt = dueAt - this.warmupMs;
    const wakeAt = this.warmupMs > aheadMs && now < warmAt ? warmAt : dueAt - aheadMs;
    const delay = Math.min(Math.max(0, wakeAt - now), maxDelayMs);
    const handle = this.clock.setTimer(() => {
      this.armed = undefined;
      this.onWake();
    }, delay);
    this.armed = { handle, dueAt };
  }

  /** Arms the timer for `dueAt` unless it is armed for that time or earlier already. */
  armIfEarlier(dueAt: number): void {
    if (this.armed === undefined || dueAt < this.armed.dueAt) this.arm(dueAt);
  }

  /** Disarms the timer. */
  clear(): void {
    if (this.armed) this.clock.clearTimer(this.armed.handle);
    this.armed = undefined;
  }
}
