/**
 * The firing loop: the engine's one timer and what happens when it wakes. It fires every
 * task the store's due index says is due, letting other work in during a burst, then
 * spawns (held) the processes of the runs due within the warm-up time, and re-arms for the
 * earliest due task. No fire pending is kept here: the store's index is the queue, so this
 * holds only the timer, whether a pass is under way, and the runs being prepared. It is
 * apart from the engine so the engine's commands and its transitions do not mix with
 * timing, batching and warm-up.
 */
import type { Clock } from '../core/clock.js';
import { SchedulerError } from '../core/errors.js';
import { dueAt, type Task } from '../core/task.js';
import { IllegalTransition, type TaskEvent } from '../core/transition.js';
import type { TaskStore } from '../store/task-store.js';
import type { EngineLog } from './engine-log.js';
import type { FaultReporter } from './fault-log.js';
import { WakeTimer } from './wake-timer.js';
import { WarmUpQueue } from './warm-up-queue.js';

/** Due tasks claimed per store query; the loop goes on until none is due. */
const dueBatch = 500;
/**
 * In a burst, this many due tasks are fired at once: their writes share one commit (the
 * store batches writes that arrive together), and between two such groups the engine lets
 * other work in (requests, runs ending).
 */
export const firesPerCommit = 32;
/**
 * At most this many runs are prepared in one warm-up (the runner holds fewer on a small
 * machine), unless FiringLoopOptions.maxWarmups says less.
 */
const defaultMaxWarmups = 1024;
/**
 * A burst's fires begin this much further ahead per run due at its instant, so that their
 * commits are done by then (a fire costs the daemon about 0.1 ms of CPU): the scripts, not
 * the fires, then take the two cores after it.
 */
export const burstLeadPerRunMs = 0.15;
/** ... but never more than this ahead: a task shows Executing at most this long before it is due. */
export const maxBurstLeadMs = 250;
/** With claims, how soon the loop looks again at a due task another node holds. */
const lockedRetryMs = 25;
/** How long the loop waits before trying again when the store fails. */
const retryAfterErrorMs = 1000;

/** What the firing loop needs. */
export interface FiringLoopOptions {
  store: Pick<TaskStore, 'listDueTasks' | 'earliestDueAt'>;
  /**
   * Spawns, held, the process of run `run` of `task`, due soon; resolves once the process
   * exists (best effort; it may throw or reject).
   */
  prepare(task: Task, run: number): Promise<void>;
  clock: Clock;
  log: EngineLog;
  /** Where a failure that repeats at every retry (the store refusing writes) is logged, once per interval. */
  faults: FaultReporter;
  /** How long before a run is due its process is spawned, held; 0: no warm-up. */
  warmupMs: number;
  /**
   * At most this many runs are prepared in one warm-up; 1,024 when absent. With claims, a
   * node prepares only what it is likely to fire itself.
   */
  maxWarmups?: number;
  /**
   * How long before a task is due the loop fires it (as at its due time; the run's script is
   * then released on the dot, by the executor's timer where there is one). The loop's own
   * timer may wake a millisecond or more late, or later behind a garbage collection; firing
   * ahead takes that, and the write of the fire, out of the start's lateness. A burst is
   * fired further ahead (burstLeadPerRunMs). 0: at the due time.
   */
  fireAheadMs?: number;
  /**
   * The engine's apply (per-task mutex, compare-and-set write, then the run starts), so that
   * a fire goes through the same path as every other change of a task. `listed` is the task
   * as the due query read it: its first attempt may start from it instead of reading the
   * task again, since the compare-and-set refuses it if it has changed since.
   */
  apply(taskId: string, event: Extract<TaskEvent, { kind: 'fire' }>, listed?: Task): Promise<unknown>;
  /**
   * When several nodes share the store: fires due tasks by claiming them in the store (see
   * fire-claims.ts) instead of listing them and applying each; resolves with how many due
   * tasks it found, and how many of them it left for want of a free slot here.
   */
  claim?(limit: number): Promise<{ due: number; left: number }>;
  /**
   * With claims: the loop also wakes at least this often (ms), for the tasks other nodes
   * submitted or changed (their changes do not arm this node's timer) and for fires left
   * when no slot was free.
   */
  pollMs?: number;
}

/** Whether `task`'s next run, once due, will run: an executing task's next tick is skipped, not run. */
const willRun = (task: Task) => task.state.status !== 'Executing';

/** Fires due tasks when they are due, and warms up the runs due soon. */
export class FiringLoop {
  private readonly timer: WakeTimer;
  private firing = false;
  /** The runs due soon whose processes are being prepared (spawned, held). */
  private readonly warmUps: WarmUpQueue;
  /** A warm-up pass is listing the runs due soon. */
  private listing = false;
  /** The next burst's instant and how far ahead its fires begin, as the last warm-up listed it. */
  private burst: { dueAt: number; leadMs: number } | undefined;
  private stopped = false;
  /** When the last pass over the due tasks ended (ms since the epoch), if one has. */
  lastPassAt: number | undefined;

  constructor(private readonly options: FiringLoopOptions) {
    this.timer = new WakeTimer(options.clock, options.warmupMs, () => void this.fireDue(), (at) => this.leadFor(at));
    this.warmUps = new WarmUpQueue({
      prepare: options.prepare,
      // A run due within the fires' lead is being fired by now, and its fire starts it.
      stillAhead: (task) => (dueAt(task.state) ?? 0) > options.clock.now() + this.leadNow(),
      maxWaiting: this.maxWarmups,
      log: options.log,
    });
  }

  /**
   * Arms the timer for `task` if it is due before the timer now armed. A run due within the
   * warm-up time is prepared at once: no warm-up pass is left to come before its fire. (With
   * claims, not: another node may well fire it.)
   */
  armFor(task: Task): void {
    const at = dueAt(task.state);
    if (at !== null && this.options.warmupMs > 0 && !this.options.claim && willRun(task) && at - this.options.clock.now() <= this.options.warmupMs) this.warmUps.add([task]);
    // While firing, the loop re-arms from the store when it is done.
    if (at === null || this.stopped || this.firing) return;
    this.timer.armIfEarlier(at);
  }

  /** Arms the timer for the earliest due task in the store. */
  async armForEarliestDue(): Promise<void> {
    if (this.stopped) return;
    let at = await this.options.store.earliestDueAt();
    // With claims, a task due already is one another node holds right now: look again a
    // little later, not at once and again and again while it does.
    if (at !== undefined && this.options.claim) at = Math.max(at, this.options.clock.now() + lockedRetryMs);
    // A timer armed meanwhile for an earlier time (a submit during the read) stays.
    if (at !== undefined) this.timer.armIfEarlier(at);
  }

  /** Prepares none of the runs of `taskId` still waiting to be (its task will run no more). */
  forget(taskId: string): void {
    this.warmUps.forget(taskId);
  }

  /** Disarms the timer for good: nothing is fired, warmed up or armed from now on. */
  stop(): void {
    this.stopped = true;
    this.timer.clear();
    this.warmUps.stop();
  }

  /** Looks for due fires now (a slot was freed, or another node may have left some). */
  poke(): void {
    if (this.stopped || this.firing) return;
    this.timer.arm(this.options.clock.now());
  }

  /** Fires every task that is due, then re-arms for the next one. */
  private async fireDue(): Promise<void> {
    if (this.firing || this.stopped) return;
    this.firing = true;
    // Due fires left for want of a free slot: the next look is at the next poll or a poke, not at once.
    let leftForLater = false;
    try {
      for (;;) {
        if (this.options.claim) {
          const { due, left } = await this.options.claim(dueBatch);
          leftForLater ||= left > 0;
          if (due < dueBatch || left > 0) break;
          continue;
        }
        const aheadMs = this.leadNow();
        const due = await this.options.store.listDueTasks({ now: this.options.clock.now() + aheadMs, limit: dueBatch });
        for (let first = 0; first < due.length; first += firesPerCommit) {
          await this.fireTogether(due.slice(first, first + firesPerCommit), aheadMs);
          // A store that answers synchronously would otherwise hold the event loop until
          // every run of a burst has started: no request served, no run's end or output read.
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (due.length < dueBatch) break;
      }
    } catch (error) {
      // A failing store must not turn the timer into a busy loop: try again a little later.
      this.options.faults.report('firing', { error }, `could not fire due tasks; retrying every ${retryAfterErrorMs}ms`);
      this.firing = false;
      if (!this.stopped) this.timer.arm(this.options.clock.now() + retryAfterErrorMs);
      return;
    }
    this.firing = false;
    this.lastPassAt = this.options.clock.now();
    await this.warmUpSoonDue().catch((error) => this.options.log.warn({ error }, 'could not warm up the next runs'));
    const { pollMs } = this.options;
    if (this.options.claim && pollMs !== undefined && !this.stopped) {
      this.timer.armIfEarlier(this.options.clock.now() + pollMs);
      if (leftForLater) return;
    }
    await this.armForEarliestDue().catch((error) => {
      this.options.faults.report('re-arming', { error }, `could not re-arm the timer; retrying every ${retryAfterErrorMs}ms`);
      // Firing is over, so a submit may have armed the timer for an earlier task meanwhile: keep that.
      if (!this.stopped) this.timer.armIfEarlier(this.options.clock.now() + retryAfterErrorMs);
    });
  }

  /**
   * Spawns, held, the processes of the runs due within the warm-up time, so that what is
   * left for their due time is the script itself: a burst of a thousand runs due at one
   * instant spends its shells' start-up before it (docs/execution.md). Resolves once they
   * are listed; preparing them goes on after (WarmUpQueue), at the pace the processes come,
   * while the pass re-arms the timer: it must not hold up a fire.
   */
  private async warmUpSoonDue(): Promise<void> {
    const { warmupMs } = this.options;
    if (warmupMs <= 0 || this.stopped || this.listing) return;
    this.listing = true;
    try {
      const horizon = this.options.clock.now() + warmupMs;
      // Look a little further than needed, so that executing tasks do not crowd out the ones that will run.
      const soon = await this.options.store.listDueTasks({ now: horizon, limit: this.maxWarmups + 16 });
      const toRun = soon.filter(willRun).slice(0, this.maxWarmups);
      this.warmUps.add(toRun);
      this.burst = this.burstAmong(toRun);
    } finally {
      this.listing = false;
    }
  }

  /**
   * The burst at the first instant among `tasks` (listed in due order): the runs due then,
   * or within the usual lead after it, which one pass fires together. Its fires begin
   * burstLeadPerRunMs further ahead per run. Not with claims: a node fires only a share.
   */
  private burstAmong(tasks: readonly Task[]): { dueAt: number; leadMs: number } | undefined {
    const first = tasks.length > 0 ? dueAt(tasks[0]!.state) : null;
    if (first === null || this.aheadMs <= 0 || this.options.claim) return undefined;
    const runs = tasks.filter((task) => (dueAt(task.state) ?? Infinity) <= first + this.aheadMs).length;
    // Whole milliseconds, as the timer counts: a handful of runs keep the usual lead.
    const leadMs = Math.min(maxBurstLeadMs, this.aheadMs + Math.floor(runs * burstLeadPerRunMs));
    return leadMs > this.aheadMs ? { dueAt: first, leadMs } : undefined;
  }

  /** How far ahead of `at` the fires of the tasks due then begin. */
  private leadFor(at: number): number {
    return this.burst?.dueAt === at ? this.burst.leadMs : this.aheadMs;
  }

  /** How far ahead of now a pass fires: a burst's lead while its fires are under way (a burst past is forgotten). */
  private leadNow(): number {
    const now = this.options.clock.now();
    if (this.burst && this.burst.dueAt < now - this.aheadMs) this.burst = undefined;
    return this.burst && this.burst.dueAt - now <= this.burst.leadMs ? this.burst.leadMs : this.aheadMs;
  }

  private get maxWarmups(): number {
    return this.options.maxWarmups ?? defaultMaxWarmups;
  }

  /**
   * Fires `tasks` at once, so that their writes share a commit; each fire is still its own
   * compare-and-set. Every fire is settled before the first failure, if any, is thrown.
   */
  private async fireTogether(tasks: readonly Task[], aheadMs: number): Promise<void> {
    const fired = await Promise.allSettled(tasks.map((task) => this.fire(task, aheadMs)));
    const failed = fired.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private get aheadMs(): number {
    return this.options.fireAheadMs ?? 0;
  }

  private async fire(task: Task, aheadMs: number): Promise<void> {
    if (this.stopped) return;
    try {
      await this.options.apply(task.id, aheadMs > 0 ? { kind: 'fire', aheadMs } : { kind: 'fire' }, task);
    } catch (error) {
      // Stopped, deleted or fired by someone else since it was listed: nothing to do.
      if (error instanceof IllegalTransition) return;
      if (error instanceof SchedulerError && error.code === 'not_found') return;
      throw error;
    }
  }
}

/**
 * The time a fire happens at: now, or the task's due time when the fire was made ahead of it
 * (`aheadMs`) and the task is due within that. A task due later than that (changed since it
 * was listed) is not due: its fire is refused as any early fire is.
 */
export function fireInstant(task: Task, event: TaskEvent, now: number): number {
  if (event.kind !== 'fire' || !event.aheadMs) return now;
  const due = dueAt(task.state);
  return due !== null && due > now && due - now <= event.aheadMs ? due : now;
}
