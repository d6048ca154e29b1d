/**
 * The scheduler. It keeps one timer, armed for the earliest time at which any task needs
 * it (read from the store's due index, so pending tasks cost no memory here), claims due
 * tasks when it fires, and hands their runs to the runner. Every change to a task goes
 * through the pure `transition` and a compare-and-set write, under a per-task mutex; then
 * watchers are told. The engine holds only what scheduling needs: the armed due time and
 * the handles of runs in progress.
 */
import type { Clock } from '../core/clock.js';
import { SchedulerError } from '../core/errors.js';
import { nextFireAfter } from '../core/schedule.js';
import { parseSubmission, type Submission, type SubmissionLimits } from '../core/submission.js';
import { dueAt, noOutput, type Run, type RunOutcome, type Task, type TaskStatus } from '../core/task.js';
import {
  IllegalTransition,
  transition,
  type Effect,
  type RunResult,
  type TaskEvent,
  type Transition,
} from '../core/transition.js';
import type { RunLauncher } from '../runner/run-launcher.js';
import type { RunChange, RunPage, TaskPage, TaskStore } from '../store/task-store.js';
import type { ChangeFeed } from './change-feed.js';
import { KeyedMutex } from './keyed-mutex.js';
import { RunSupervisor, runSpec } from './run-supervisor.js';
import { WakeTimer } from './wake-timer.js';

import type { EngineLog } from './engine-log.js';
import { ignoredActivity, type LiveOutput, type TaskActivity } from './task-activity.js';

export type { EngineLog };

/** The engine's collaborators and settings. */
export interface EngineOptions {
  store: TaskStore;
  runner: RunLauncher;
  clock: Clock;
  feed: ChangeFeed;
  /** Told of each change, output chunk and deletion as it happens (the live event stream); none if absent. */
  activity?: TaskActivity;
  log: EngineLog;
  /** Runs kept per task; older ones are pruned as new ones are recorded. */
  keepRuns: number;
  /** The per-stream output cap recorded on a run when it starts. */
  outputCap: number;
  /** The output kept by all runs together; the oldest runs' output is dropped beyond it. None if absent. */
  maxOutputBytes?: number;
  limits: SubmissionLimits;
  /**
   * How long before a run is due its process is spawned, held, so that it starts on time
   * (spawning takes milliseconds; releasing a held process does not). 0: no warm-up.
   */
  warmupMs?: number;
}

/** A task together with its retained runs, oldest first. */
export interface TaskWithRuns {
  task: Task;
  runs: Run[];
}

/** Due tasks claimed per store query; the loop goes on until none is due. */
const dueBatch = 500;
/** In a burst, the engine lets other work in (requests, runs ending) after this many fires. */
const firesBetweenYields = 8;
/** At most this many runs are warmed up per wake-up: a burst must not delay the runs already due. */
const warmupsPerWake = 4;
/** How long the engine waits before trying again when the store fails. */
const retryAfterErrorMs = 1000;
/** Compare-and-set retries before a write is given up as contended. */
const maxWriteAttempts = 5;

/** The task scheduler. */
export class Engine {
  private readonly mutex = new KeyedMutex();
  private readonly runs: RunSupervisor;
  private readonly timer: WakeTimer;
  private readonly activity: TaskActivity;
  private firing = false;
  private stopping = false;

  constructor(private readonly options: EngineOptions) {
    this.timer = new WakeTimer(options.clock, options.warmupMs ?? 0, () => void this.fireDue());
    this.activity = options.activity ?? ignoredActivity;
    this.runs = new RunSupervisor({
      runner: options.runner,
      clock: options.clock,
      log: options.log,
      activity: this.activity,
      outputCap: options.outputCap,
      onEnd: (id, run, result) => this.recordRunEnd(id, run, result),
    });
  }

  /** Recovers from an unclean stop, applies the bound on kept output, then starts the timer. */
  async start(): Promise<void> {
    await this.recoverInterruptedRuns();
    // The bound may have been lowered since the last start.
    await this.boundOutput();
    await this.arm();
  }

  /** Stops scheduling, ends the runs in progress (recorded as interrupted) and waits for them. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.timer.clear();
    this.options.runner.discardPrepared();
    await this.runs.shutdown();
  }

  /** Validates and stores a new task; it is committed when this resolves. */
  async submit(input: Submission): Promise<Task> {
    const task = this.dryRun(input);
    await this.options.store.insertTask(task);
    this.options.log.debug({ task: task.id, type: task.type, time: task.time, nextRunAt: dueAt(task.state) }, 'task submitted');
    this.armFor(task);
    return task;
  }

  /** The task a submission would create now, checked, without storing it. */
  dryRun(input: Submission): Task {
    const now = this.options.clock.now();
    const definition = parseSubmission(input, this.options.limits, now);
    return {
      ...definition,
      createdAt: now,
      // parseSubmission refuses a schedule that never fires.
      state: { status: 'ToBeExecuted', nextRunAt: nextFireAfter(definition.schedule, now - 1)! },
      lastStatusUpdated: now,
      version: 1,
      lastRun: 0,
    };
  }

  /** Stops a task by the spec's rules, and returns it with its runs; `warning` says when a run goes on. */
  stop(id: string): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'stop' });
  }

  /** Pauses a recurring task: no fire until it is resumed (a run executing goes on). */
  pause(id: string): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'pause' });
  }

  /** Resumes a paused task: its next fire is computed from now, missed fires run once. */
  resume(id: string): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'resume' });
  }

  /** Starts a run now, besides the schedule; skipped (and said so) while a run executes. */
  runNow(id: string): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'trigger' });
  }

  /** Applies a user's event and returns the task with its runs, and a warning if any. */
  private command(id: string, event: Extract<TaskEvent, { kind: 'stop' | 'pause' | 'resume' | 'trigger' }>): Promise<TaskWithRuns & { warning: string | null }> {
    return this.mutex.run(id, async () => {
      const { task, warning } = await this.applyLocked(id, event);
      return { task, runs: await this.options.store.listRuns(id), warning };
    });
  }

  /**
   * Ends the run in progress of a task (its whole process group: TERM, then KILL after the
   * grace period) and returns the task once the run is recorded as killed. The schedule goes
   * on: a cron task waits for its next tick. not_running when no run is executing.
   */
  async kill(id: string): Promise<TaskWithRuns> {
    if (!(await this.runs.kill(id))) {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      throw new SchedulerError('not_running', `task "${id}" has no run executing (status ${task.state.status}); nothing to kill`);
    }
    // The end of the run is recorded under the task's mutex: queue behind it.
    await this.mutex.run(id, async () => undefined);
    return this.get(id);
  }

  /** Stops a task, kills its run if one is in progress, and removes it with its runs. */
  async delete(id: string): Promise<void> {
    await this.mutex.run(id, async () => {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      await this.runs.end(id);
      await this.options.store.deleteTask(id);
      this.options.log.info({ task: id }, 'task deleted');
      this.options.feed.publish(id, 'deleted');
      this.activity.deleted(id);
    });
  }

  /** A task without its runs; not_found when there is no such task. */
  async getTask(id: string): Promise<Task> {
    const task = await this.options.store.getTask(id);
    if (!task) throw notFound(id);
    return task;
  }

  /** The output so far of run `run` of the task (by default its first run in progress); undefined when it is not executing here. */
  liveOutput(id: string, run?: number): LiveOutput | undefined {
    return this.runs.liveOutput(id, run);
  }

  /** A task and its runs; not_found when there is no such task. */
  async get(id: string): Promise<TaskWithRuns> {
    const found = await this.options.store.getTaskWithRuns(id);
    if (!found) throw notFound(id);
    return found;
  }

  /** A page of a task's runs, newest first; not_found when there is no such task. */
  async listRuns(params: { id: string; limit: number; cursor?: string; outcome?: RunOutcome }): Promise<RunPage> {
    const page = await this.options.store.listRunsPage({ taskId: params.id, limit: params.limit, cursor: params.cursor, outcome: params.outcome });
    // An empty page may mean no such task: say so rather than answer an empty list.
    if (page.runs.length === 0 && !(await this.options.store.getTask(params.id))) throw notFound(params.id);
    return page;
  }

  /** One run of a task; not_found when there is no such task or run (pruned, or not yet). */
  async getRun(id: string, run: number): Promise<Run> {
    const found = await this.options.store.getRun(id, run);
    if (found) return found;
    const task = await this.options.store.getTask(id);
    if (!task) throw notFound(id);
    const why = run > task.lastRun ? `it has had ${task.lastRun} so far` : `it was pruned (the daemon keeps the last ${this.options.keepRuns})`;
    throw new SchedulerError('not_found', `task "${id}" has no run ${run}: ${why}`);
  }

  /** A page of tasks, in submission order. */
  list(params: { limit: number; cursor?: string; status?: TaskStatus }): Promise<TaskPage> {
    return this.options.store.listTasks(params);
  }

  /** How many runs are executing now. */
  get runsInProgress(): number {
    return this.runs.size;
  }

  /**
   * Applies one event to a task under its mutex: read, transition, compare-and-set write,
   * then carry out the effect and tell watchers. A write that loses a race with another
   * daemon is retried from a fresh read, so the event lands on whatever state won.
   */
  private apply(id: string, event: TaskEvent): Promise<Transition> {
    return this.mutex.run(id, () => this.applyLocked(id, event));
  }

  /** apply, for a caller that holds the task's mutex already. */
  private async applyLocked(id: string, event: TaskEvent): Promise<Transition> {
    for (let attempt = 1; ; attempt++) {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      const now = this.options.clock.now();
      const result = transition(task, event, now);
      if (!result.changed) return result;
      try {
        await this.options.store.saveTask({
          task: result.task,
          expectedVersion: task.version,
          runChange: this.runChangeFor(result.effect),
          keepRuns: this.options.keepRuns,
        });
      } catch (error) {
        if (isVersionConflict(error) && attempt < maxWriteAttempts) continue;
        throw error;
      }
      this.afterSave(result, task);
      return result;
    }
  }

  private runChangeFor(effect: Effect | null): RunChange | undefined {
    if (!effect) return undefined;
    const blank = { exitCode: null, signal: null, stdout: noOutput, stderr: noOutput, outputCap: this.options.outputCap };
    switch (effect.kind) {
      case 'startRun': {
        const { missed } = effect;
        return {
          kind: 'insert',
          run: { ...blank, run: effect.run, scheduledAt: effect.scheduledAt, attempt: effect.attempt, startedAt: effect.startedAt, finishedAt: null, outcome: 'running', error: null },
          ...(missed ? { skipped: { ...blank, ...missed, attempt: 1, startedAt: null, finishedAt: effect.startedAt, outcome: 'skipped' as const, error: missed.reason } } : {}),
        };
      }
      case 'skipRun':
        return {
          kind: 'insert',
          run: { ...blank, run: effect.run, scheduledAt: effect.scheduledAt, attempt: 1, startedAt: null, finishedAt: effect.at, outcome: 'skipped', error: effect.reason },
        };
      case 'finishRun':
        return { kind: 'finish', run: effect.run, result: effect.result };
      case 'killRun':
        return undefined; // its end is recorded when the run ends
    }
  }

  /** What follows a committed write: start the run it asked for, re-arm, tell watchers. */
  private afterSave({ task, effect }: Transition, previous: Task): void {
    if (effect?.kind === 'startRun') this.runs.start(task, effect.run);
    // Not awaited: the run's end is recorded (as killed) under this task's mutex, held now.
    if (effect?.kind === 'killRun') void this.runs.kill(task.id, effect.reason, effect.run);
    if (effect?.kind === 'skipRun') {
      this.options.log.warn({ task: task.id, run: effect.run }, `tick skipped: ${effect.reason}`);
    }
    this.armFor(task);
    this.options.feed.publish(task.id, 'changed');
    this.activity.changed(task, previous, effect);
  }

  /** Records how a run ended (the supervisor calls this once per run). */
  private async recordRunEnd(id: string, run: number, result: RunResult): Promise<void> {
    try {
      await this.apply(id, { kind: 'runFinished', run, result });
      this.options.log.info({ task: id, run, outcome: result.outcome, exitCode: result.exitCode }, 'run finished');
      await this.boundOutput().catch((error) => this.options.log.error({ error }, 'could not bound the output kept on disk'));
    } catch (error) {
      // The task was deleted while its run went on: there is nothing left to record.
      if (!(error instanceof SchedulerError && error.code === 'not_found')) {
        this.options.log.error({ task: id, run, error }, 'could not record the end of a run');
      }
    } finally {
      // Recorded (or the task is gone): the spool, kept in case the daemon died first, is done.
      this.options.runner.removeSpool(id, run);
    }
  }

  /** Drops the output of the oldest runs while all kept output is over its bound. */
  private async boundOutput(): Promise<void> {
    const { maxOutputBytes, store, log } = this.options;
    if (maxOutputBytes === undefined) return;
    const runs = await store.boundOutput(maxOutputBytes);
    if (runs > 0) log.info({ runs, maxOutputBytes }, 'dropped the output of the oldest runs to keep all output within its bound');
  }

  /**
   * A run recorded as executing when the daemon starts was interrupted by the last stop:
   * kill what is left of the processes of such runs, and record each with the output it had
   * spooled.
   */
  private async recoverInterruptedRuns(): Promise<void> {
    const { store, runner, log } = this.options;
    const interrupted = await store.listExecutingTasks();
    if (interrupted.length === 0) return; // the last stop was clean
    const orphans = runner.killOrphans();
    if (orphans > 0) log.warn({ processGroups: orphans }, 'killed the processes that interrupted runs left behind');
    for (const found of interrupted) {
      // A task running several runs at once (overlap allow) has each one recorded in turn.
      for (let task: Task | undefined = found; task?.state.status === 'Executing'; task = await store.getTask(found.id)) {
        await this.recordInterrupted(task, task.state.run);
      }
    }
  }

  /** Records run `run` of `task` as interrupted, with the output it had spooled. */
  private async recordInterrupted(task: Task, run: number): Promise<void> {
    const { runner, clock, log } = this.options;
    const output = runner.recoverOutput(task.id, run);
    await this.apply(task.id, {
      kind: 'runFinished',
      run,
      result: {
        outcome: 'interrupted',
        startedAt: null,
        finishedAt: clock.now(),
        exitCode: null,
        signal: null,
        error: 'the daemon stopped while the run was executing',
        outputCap: this.options.outputCap,
        ...output,
      },
    });
    runner.removeSpool(task.id, run);
    log.warn({ task: task.id, run }, 'recorded an interrupted run');
  }

  /** Arms the timer for `task` if it is due before the timer now armed. */
  private armFor(task: Task): void {
    const at = dueAt(task.state);
    // While firing, the loop re-arms from the store when it is done.
    if (at === null || this.stopping || this.firing) return;
    this.timer.armIfEarlier(at);
  }

  /** Arms the timer for the earliest due task in the store. */
  private async arm(): Promise<void> {
    if (this.stopping) return;
    const at = await this.options.store.earliestDueAt();
    // A timer armed meanwhile for an earlier time (a submit during the read) stays.
    if (at !== undefined) this.timer.armIfEarlier(at);
  }

  /** Fires every task that is due, then re-arms for the next one. */
  private async fireDue(): Promise<void> {
    if (this.firing || this.stopping) return;
    this.firing = true;
    try {
      for (;;) {
        const due = await this.options.store.listDueTasks({ now: this.options.clock.now(), limit: dueBatch });
        for (const [index, task] of due.entries()) {
          await this.fire(task.id);
          // The store answers synchronously, so a burst would otherwise hold the event loop
          // until every run has started: no request served, no run's end or output read.
          if (index % firesBetweenYields === firesBetweenYields - 1) await new Promise((resolve) => setImmediate(resolve));
        }
        if (due.length < dueBatch) break;
      }
    } catch (error) {
      // A failing store must not turn the timer into a busy loop: try again a little later.
      this.options.log.error({ error }, `could not fire due tasks; retrying in ${retryAfterErrorMs}ms`);
      this.firing = false;
      if (!this.stopping) this.timer.arm(this.options.clock.now() + retryAfterErrorMs);
      return;
    }
    this.firing = false;
    await this.warmUpSoonDue().catch((error) => this.options.log.warn({ error }, 'could not warm up the next runs'));
    await this.arm().catch((error) => {
      this.options.log.error({ error }, `could not re-arm the timer; retrying in ${retryAfterErrorMs}ms`);
      if (!this.stopping) this.timer.arm(this.options.clock.now() + retryAfterErrorMs);
    });
  }

  /** Spawns, held, the processes of the next runs due within the warm-up time. */
  private async warmUpSoonDue(): Promise<void> {
    const warmupMs = this.options.warmupMs ?? 0;
    if (warmupMs <= 0 || this.stopping) return;
    const horizon = this.options.clock.now() + warmupMs;
    // An executing task's next tick is skipped, not run: nothing to warm up. Look a little
    // further than needed, so that such tasks do not crowd out the ones that will run.
    const soon = await this.options.store.listDueTasks({ now: horizon, limit: warmupsPerWake * 4 });
    const willRun = soon.filter((task) => task.state.status !== 'Executing').slice(0, warmupsPerWake);
    for (const task of willRun) {
      // Best effort, one task at a time: a task that cannot be prepared (its language is no
      // longer configured) starts cold, or fails to start, without holding up the others.
      try {
        this.options.runner.prepare(runSpec(task, task.lastRun + 1));
      } catch (error) {
        this.options.log.warn({ task: task.id, error }, 'could not prepare a run ahead of time');
      }
    }
  }

  private async fire(id: string): Promise<void> {
    if (this.stopping) return;
    try {
      await this.apply(id, { kind: 'fire' });
    } catch (error) {
      // Stopped, deleted or fired by someone else since it was listed: nothing to do.
      if (error instanceof IllegalTransition) return;
      if (error instanceof SchedulerError && error.code === 'not_found') return;
      throw error;
    }
  }
}

function notFound(id: string): SchedulerError {
  return new SchedulerError('not_found', `no task with id "${id}"; "scheduler list" shows the tasks there are`);
}

function isVersionConflict(error: unknown): boolean {
  return error instanceof SchedulerError && error.code === 'version_conflict';
}
