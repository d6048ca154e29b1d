/**
 * The scheduler. Every change to a task, whether a user's command, a fire or the end of a
 * run, goes through `apply`: the pure `transition` and a compare-and-set write, under a
 * per-task mutex; then its effect is carried out and watchers are told. Timing (the one
 * timer, due tasks fired, runs warmed up) lives in firing-loop.ts and the recovery after an
 * unclean stop in recovery.ts; both change tasks only through `apply`, so this file stays
 * the one place where a transition is written and acted on. The engine holds only what
 * scheduling needs: the armed due time (in the firing loop) and the runs in progress.
 */
import type { Clock } from '../core/clock.js';
import { SchedulerError } from '../core/errors.js';
import { nextFireAfter } from '../core/schedule.js';
import { parseSubmission, type Submission, type SubmissionLimits } from '../core/submission.js';
import { dueAt, noOutput, type Run, type RunOutcome, type Task, type TaskStatus } from '../core/task.js';
import { transition, type Effect, type RunResult, type TaskEvent, type Transition } from '../core/transition.js';
import type { RunLauncher } from '../runner/run-launcher.js';
import type { RunChange, RunPage, TaskPage, TaskStore } from '../store/task-store.js';
import type { ChangeFeed } from './change-feed.js';
import { FiringLoop } from './firing-loop.js';
import { KeyedMutex } from './keyed-mutex.js';
import { recoverInterruptedRuns } from './recovery.js';
import { RunSupervisor } from './run-supervisor.js';

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

/**
 * A user's command may name the versions of the task it was meant for (HTTP If-Match): it is
 * refused with precondition_failed, under the task's mutex, when the task is at another.
 */
export type ExpectedVersions = readonly number[];

/** Compare-and-set retries before a write is given up as contended. */
const maxWriteAttempts = 5;

/** The task scheduler. */
export class Engine {
  private readonly mutex = new KeyedMutex();
  private readonly runs: RunSupervisor;
  private readonly firingLoop: FiringLoop;
  private readonly activity: TaskActivity;

  constructor(private readonly options: EngineOptions) {
    this.firingLoop = new FiringLoop({
      store: options.store,
      runner: options.runner,
      clock: options.clock,
      log: options.log,
      warmupMs: options.warmupMs ?? 0,
      apply: (id, event) => this.apply(id, event),
    });
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
    const { store, runner, clock, log, outputCap } = this.options;
    await recoverInterruptedRuns({ store, runner, clock, log, outputCap, apply: (id, event) => this.apply(id, event) });
    // The bound may have been lowered since the last start.
    await this.boundOutput();
    await this.firingLoop.armForEarliestDue();
  }

  /** Stops scheduling, ends the runs in progress (recorded as interrupted) and waits for them. */
  async shutdown(): Promise<void> {
    this.firingLoop.stop();
    this.options.runner.discardPrepared();
    await this.runs.shutdown();
  }

  /** Validates and stores a new task; it is committed when this resolves. */
  async submit(input: Submission): Promise<Task> {
    const task = this.dryRun(input);
    await this.options.store.insertTask(task);
    this.options.log.debug({ task: task.id, type: task.type, time: task.time, nextRunAt: dueAt(task.state) }, 'task submitted');
    this.firingLoop.armFor(task);
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
  stop(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'stop' }, expectedVersions);
  }

  /** Pauses a recurring task: no fire until it is resumed (a run executing goes on). */
  pause(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'pause' }, expectedVersions);
  }

  /** Resumes a paused task: its next fire is computed from now, missed fires run once. */
  resume(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'resume' }, expectedVersions);
  }

  /** Starts a run now, besides the schedule; skipped (and said so) while a run executes. */
  runNow(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'trigger' }, expectedVersions);
  }

  /** Applies a user's event and returns the task with its runs, and a warning if any. */
  private command(
    id: string,
    event: Extract<TaskEvent, { kind: 'stop' | 'pause' | 'resume' | 'trigger' }>,
    expectedVersions?: ExpectedVersions,
  ): Promise<TaskWithRuns & { warning: string | null }> {
    return this.mutex.run(id, async () => {
      const { task, warning } = await this.applyLocked(id, event, expectedVersions);
      return { task, runs: await this.options.store.listRuns(id), warning };
    });
  }

  /**
   * Ends the run in progress of a task (its whole process group: TERM, then KILL after the
   * grace period) and returns the task once the run is recorded as killed. The schedule goes
   * on: a cron task waits for its next tick. not_running when no run is executing.
   */
  async kill(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns> {
    if (!(await this.killAt(id, expectedVersions))) {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      throw new SchedulerError('not_running', `task "${id}" has no run executing (status ${task.state.status}); nothing to kill`);
    }
    // The end of the run is recorded under the task's mutex: queue behind it.
    await this.mutex.run(id, async () => undefined);
    return this.get(id);
  }

  /** Starts ending the task's runs in progress, if the task is at one of `expectedVersions` (when given); false when there were none. */
  private async killAt(id: string, expectedVersions: ExpectedVersions | undefined): Promise<boolean> {
    if (expectedVersions === undefined) return this.runs.kill(id);
    // Checked and started under the mutex, but not awaited there: the run's end is recorded under it.
    const { killing } = await this.mutex.run(id, async () => {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      requireVersion(task, expectedVersions);
      return { killing: this.runs.kill(id) };
    });
    return killing;
  }

  /** Stops a task, kills its run if one is in progress, and removes it with its runs. */
  async delete(id: string, expectedVersions?: ExpectedVersions): Promise<void> {
    await this.mutex.run(id, async () => {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      requireVersion(task, expectedVersions);
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
    return { task: found.task, runs: found.runs.map((run) => this.asNow(id, run)) };
  }

  /** A page of a task's runs, newest first; not_found when there is no such task. */
  async listRuns(params: { id: string; limit: number; cursor?: string; outcome?: RunOutcome }): Promise<RunPage> {
    const page = await this.options.store.listRunsPage({ taskId: params.id, limit: params.limit, cursor: params.cursor, outcome: params.outcome });
    // An empty page may mean no such task: say so rather than answer an empty list.
    if (page.runs.length === 0 && !(await this.options.store.getTask(params.id))) throw notFound(params.id);
    return { ...page, runs: page.runs.map((run) => this.asNow(params.id, run)) };
  }

  /** One run of a task; not_found when there is no such task or run (pruned, or not yet). */
  async getRun(id: string, run: number): Promise<Run> {
    const found = await this.options.store.getRun(id, run);
    if (found) return this.asNow(id, found);
    const task = await this.options.store.getTask(id);
    if (!task) throw notFound(id);
    const why = run > task.lastRun ? `it has had ${task.lastRun} so far` : `it was pruned (the daemon keeps the last ${this.options.keepRuns})`;
    throw new SchedulerError('not_found', `task "${id}" has no run ${run}: ${why}`);
  }

  /**
   * A run as it is now: one recorded as started but waiting for a free slot (the cap on runs
   * at once, or its queue's) is shown waiting, not started; the store learns its real start
   * when it ends.
   */
  private asNow(taskId: string, run: Run): Run {
    if (run.outcome !== 'running' || !this.runs.isWaiting(taskId, run.run)) return run;
    return { ...run, startedAt: null, waiting: true };
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

  /** apply, for a caller that holds the task's mutex already; with `expectedVersions`, only to a task at one of them. */
  private async applyLocked(id: string, event: TaskEvent, expectedVersions?: ExpectedVersions): Promise<Transition> {
    for (let attempt = 1; ; attempt++) {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      // Checked on the read the compare-and-set write is based on: nothing can change between.
      requireVersion(task, expectedVersions);
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
    this.firingLoop.armFor(task);
    this.options.feed.publish(task.id, 'changed');
    const runWaits = effect?.kind === 'startRun' && this.runs.isWaiting(task.id, effect.run);
    this.activity.changed(task, previous, effect, runWaits);
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
}

function notFound(id: string): SchedulerError {
  return new SchedulerError('not_found', `no task with id "${id}"; "scheduler list" shows the tasks there are`);
}

function requireVersion(task: Task, expectedVersions: ExpectedVersions | undefined): void {
  if (expectedVersions === undefined || expectedVersions.includes(task.version)) return;
  const why =
    expectedVersions.length === 0
      ? `the request's condition names no version (the ETag of this one is "v${task.version}")`
      : `not ${expectedVersions.join(' or ')} as the request expected: it changed since it was read; get it again and decide`;
  throw new SchedulerError('precondition_failed', `task "${task.id}" is at version ${task.version}, ${why}`);
}

function isVersionConflict(error: unknown): boolean {
  return error instanceof SchedulerError && error.code === 'version_conflict';
}
