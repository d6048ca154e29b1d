/**
 * The runs waiting to be prepared ahead of their time (their processes spawned, held, see
 * RunLauncher.prepare), and the pace at which they are: at most warmupsUnderWay processes
 * asked for and not yet there, the next asked for as one comes. A run due meanwhile then
 * waits behind at most that many spawns in the executor, and the event loop serves requests
 * and runs' ends in between. The firing loop fills it two ways: a warm-up pass lists the runs
 * due within the warm-up time, and a task changed within that time (submitted, or re-armed by
 * its run's end) is added on its own, since no warm-up pass is left to come before its fire.
 */
import type { Task } from '../core/task.js';
import type { EngineLog } from './engine-log.js';

/** Processes asked for and not yet there, at most. */
export const warmupsUnderWay = 32;

export interface WarmUpQueueOptions {
  /** Spawns, held, the process of run `run` of `task`; resolves once the process exists (it may reject). */
  prepare(task: Task, run: number): Promise<void>;
  /** Whether `task`'s run is still worth preparing as its turn comes (not being fired by now). */
  stillAhead(task: Task): boolean;
  /** Runs waiting at most; beyond, a run added starts cold (the runner holds no more than about this many anyway). */
  maxWaiting: number;
  log: EngineLog;
}

const keyOf = (task: Task) => `${task.id}\u0000${task.lastRun + 1}`;

export class WarmUpQueue {
  private waiting: Task[] = [];
  /** Index of the next run to prepare in `waiting`. */
  private next = 0;
  /** The runs waiting or under way: a run listed again meanwhile is not queued twice. */
  private readonly queued = new Set<string>();
  private underWay = 0;
  private stopped = false;
  /** Runs still waiting whose task has gone, or will run no more: skipped when their turn comes. */
  private readonly forgotten = new WeakSet<Task>();

  constructor(private readonly options: WarmUpQueueOptions) {}

  /** Queues the runs of `tasks` (each task's next run), in order, and starts preparing. */
  add(tasks: readonly Task[]): void {
    if (this.stopped) return;
    // What was prepared is dropped from the front, not kept until the queue drains.
    if (this.next > 1024 && this.next * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.next);
      this.next = 0;
    }
    for (const task of tasks) {
      if (this.waiting.length - this.next >= this.options.maxWaiting) break;
      const key = keyOf(task);
      if (this.queued.has(key)) continue;
      this.queued.add(key);
      this.waiting.push(task);
    }
    this.pump();
  }

  /**
   * Prepares none of the runs of `taskId` still waiting: the task was deleted, stopped or
   * paused. (A run already being prepared is the runner's to discard.) A task submitted
   * again under the same id afterwards is queued afresh.
   */
  forget(taskId: string): void {
    for (let index = this.next; index < this.waiting.length; index++) {
      const task = this.waiting[index]!;
      if (task.id !== taskId || this.forgotten.has(task)) continue;
      this.forgotten.add(task);
      // Not a duplicate of the one that may be queued next under the same id and run.
      this.queued.delete(keyOf(task));
    }
  }

  /** Prepares nothing more. */
  stop(): void {
    this.stopped = true;
    this.waiting = [];
    this.next = 0;
    this.queued.clear();
  }

  private pump(): void {
    // Drained: the tasks prepared are let go.
    if (this.next === this.waiting.length && this.next > 0) {
      this.waiting = [];
      this.next = 0;
    }
    while (!this.stopped && this.underWay < warmupsUnderWay && this.next < this.waiting.length) {
      const task = this.waiting[this.next++]!;
      if (this.forgotten.has(task)) continue;
      if (!this.options.stillAhead(task)) {
        this.queued.delete(keyOf(task));
        continue;
      }
      this.underWay++;
      void this.prepare(task).finally(() => {
        this.underWay--;
        this.queued.delete(keyOf(task));
        this.pump();
      });
    }
  }

  /**
   * Best effort: a task that cannot be prepared (its language is no longer configured)
   * starts cold, or fails to start, without holding up the others.
   */
  private async prepare(task: Task): Promise<void> {
    try {
      await this.options.prepare(task, task.lastRun + 1);
    } catch (error) {
      this.options.log.warn({ task: task.id, error }, 'could not prepare a run ahead of time');
    }
  }
}
