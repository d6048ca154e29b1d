/**
 * The slots of runs in this daemon: how many are taken, in all and per queue, and the runs
 * waiting for one, in the order they arrived. The decisions (may a run start now, which
 * waiting runs start when a slot frees) are core/run-slots.ts; this holds the state they are
 * made over and carries them out. A run takes its slot before its start is recorded (so the
 * record says truly whether it starts or waits), and gives it back once its process ends.
 */
import { describeSlots, mayStart, runsToStart, slotLimitsProblem, type ConcurrencySnapshot, type SlotLimits } from '../core/run-slots.js';

/** A run waiting for a free slot. */
export interface SlotWaiter {
  readonly queue: string;
  /**
   * Its turn has come: it holds a slot of its queue now, and gives it back with release()
   * when it no longer needs it. Called once every run chosen at that moment holds its slot.
   */
  admit(): void;
}

/** The slots taken and the runs waiting for one. */
export class RunSlots {
  private total = 0;
  private readonly byQueue = new Map<string, number>();
  private readonly waiting: SlotWaiter[] = [];
  /** The queue of each run in the line, in the same order: what the policy reads, not copied at every turn. */
  private readonly waitingQueues: string[] = [];

  constructor(private readonly limits: SlotLimits) {
    const problem = slotLimitsProblem(limits);
    if (problem !== undefined) throw new RangeError(problem);
  }

  /** Whether a run of `queue` could take a slot now. */
  fits(queue: string): boolean {
    return mayStart(queue, this.counts(), this.limits);
  }

  /** Takes a slot of `queue` if one is free now; false when the run would have to wait. */
  tryTake(queue: string): boolean {
    if (!this.fits(queue)) return false;
    this.take(queue);
    return true;
  }

  /** Gives back a slot of `queue`, and admits the waiting runs that now fit. */
  release(queue: string): void {
    this.total--;
    const left = (this.byQueue.get(queue) ?? 1) - 1;
    if (left > 0) this.byQueue.set(queue, left);
    else this.byQueue.delete(queue);
    this.admitWaiting();
  }

  /** Puts `waiter` at the end of the line, and admits the waiting runs that fit (it may be one). */
  enqueue(waiter: SlotWaiter): void {
    this.waiting.push(waiter);
    this.waitingQueues.push(waiter.queue);
    this.admitWaiting();
  }

  /** Takes `waiter` out of the line; false when it was not in it (admitted already, or never queued). */
  withdraw(waiter: SlotWaiter): boolean {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return false;
    this.waiting.splice(index, 1);
    this.waitingQueues.splice(index, 1);
    return true;
  }

  /** How full the slots are. */
  snapshot(): ConcurrencySnapshot {
    return describeSlots(this.limits, this.counts(), this.waitingQueues);
  }

  private counts() {
    return { total: this.total, byQueue: this.byQueue };
  }

  private take(queue: string): void {
    this.total++;
    this.byQueue.set(queue, (this.byQueue.get(queue) ?? 0) + 1);
  }

  /** Admits, in arrival order, every waiting run that fits. */
  private admitWaiting(): void {
    // Every slot taken (all the time in a burst of fires past the cap): no one fits, and the
    // line, a thousand long then, is not copied to find it out.
    if (this.waiting.length === 0 || this.total >= this.limits.maxRuns) return;
    const chosen = runsToStart(this.waitingQueues, this.counts(), this.limits);
    if (chosen.length === 0) return;
    const admitted = chosen.map((index) => this.waiting[index]!);
    // Out of the line and holding their slots before any is told: an admit that gives its
    // slot back at once then finds the state it expects.
    for (const index of chosen.reverse()) {
      this.waiting.splice(index, 1);
      this.waitingQueues.splice(index, 1);
    }
    for (const waiter of admitted) this.take(waiter.queue);
    for (const waiter of admitted) waiter.admit();
  }
}
