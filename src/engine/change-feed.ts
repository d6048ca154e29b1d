/**
 * Tells watchers that a task changed. Long polls wait here instead of polling the store:
 * a waiter is one callback in a set, so a thousand watchers cost a thousand small objects,
 * and all of them are woken by the same publish.
 */

/** What a waiter learns: the task changed, was deleted, or nothing happened in time. */
export type ChangeNotice = 'changed' | 'deleted' | 'timeout';

import type { Clock } from '../core/clock.js';

type Waiter = ((notice: ChangeNotice) => void) & { knownVersion?: number };

/** An in-process feed of task changes. */
export class ChangeFeed {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private closed = false;

  constructor(private readonly clock: Clock) {}

  /**
   * Wakes everyone waiting on `taskId`. With `version` (a change another node made, learnt
   * from the store, perhaps after this node's engine told it already), a waiter that already
   * knows that version sleeps on.
   */
  publish(taskId: string, notice: 'changed' | 'deleted', version?: number): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    const woken = [...set].filter((wake) => notice === 'deleted' || version === undefined || wake.knownVersion !== version);
    for (const wake of woken) wake(notice);
  }

  /**
   * Waits for the next change of `taskId`, at most `timeoutMs`. Register before reading the
   * task, so that a change between the read and the wait is not missed. `cancel` drops the
   * waiter early (the client went away). `knownVersion`: the version the waiter has seen.
   */
  subscribe(taskId: string, timeoutMs: number, knownVersion?: number): { next: Promise<ChangeNotice>; cancel: () => void } {
    if (this.closed) return { next: Promise.resolve('timeout'), cancel: () => undefined };
    let wake!: Waiter;
    const next = new Promise<ChangeNotice>((resolve) => {
      wake = resolve;
    });
    const timer = this.clock.setTimer(() => finish('timeout'), timeoutMs);
    const finish: Waiter = (notice) => {
      this.clock.clearTimer(timer);
      this.remove(taskId, finish);
      wake(notice);
    };
    if (knownVersion !== undefined) finish.knownVersion = knownVersion;
    let set = this.waiters.get(taskId);
    if (!set) this.waiters.set(taskId, (set = new Set()));
    set.add(finish);
    return { next, cancel: () => finish('timeout') };
  }

  /** Ends every wait now (as if it timed out), so a shutting-down server need not wait for long polls. */
  close(): void {
    this.closed = true;
    const all = [...this.waiters.values()].flatMap((set) => [...set]);
    this.waiters.clear();
    for (const wake of all) wake('timeout');
  }

  /** How many watchers are waiting, for status and tests. */
  get waiting(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }

  private remove(taskId: string, waiter: Waiter): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.waiters.delete(taskId);
  }
}
