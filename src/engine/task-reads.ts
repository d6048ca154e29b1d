/**
 * The engine's reads: tasks and runs from the store, each run shown as it is now rather than
 * as last recorded. A run recorded `running` may have ended while the store refused its
 * record (the end is held, run-end-backlog.ts): it shows how it ended. One in progress here
 * shows the output it has written so far (the store gets its output when it ends).
 */
import { SchedulerError } from '../core/errors.js';
import type { CapturedOutput, OutputCounts, Run, RunOutcome, RunSummary, Task, TaskStatus } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import type { ListAllRunsParams, RunPage, RunSummaryPage, TaskPage, TaskStore } from '../store/task-store.js';
import type { LiveOutput } from './task-activity.js';
import { withFields } from '../core/with-fields.js';

/** What the reads need besides the store. */
export interface TaskReadsDeps {
  store: TaskStore;
  /** Runs kept per task (a run older than these was pruned). */
  keepRuns: number;
  /** How a run ended whose end the store has not recorded yet, if it is held. */
  heldEnd(taskId: string, run: number): RunResult | undefined;
  /** The output so far of a run in progress here. */
  liveOutput(taskId: string, run: number): LiveOutput | undefined;
}

export function notFound(id: string): SchedulerError {
  return new SchedulerError('not_found', `no task with id "${id}"; "scheduler list" shows the tasks there are`);
}

export class TaskReads {
  constructor(private readonly deps: TaskReadsDeps) {}

  /** A task without its runs; not_found when there is no such task. */
  async getTask(id: string): Promise<Task> {
    const task = await this.deps.store.getTask(id);
    if (!task) throw notFound(id);
    return task;
  }

  /** A task and its runs; not_found when there is no such task. */
  async get(id: string): Promise<{ task: Task; runs: Run[] }> {
    const found = await this.deps.store.getTaskWithRuns(id);
    if (!found) throw notFound(id);
    return { task: found.task, runs: found.runs.map((run) => this.asNow(id, run)) };
  }

  /** A page of a task's runs, newest first; not_found when there is no such task. */
  async listRuns(params: { id: string; limit: number; cursor?: string; outcome?: RunOutcome }): Promise<RunPage> {
    const { store } = this.deps;
    const page = await store.listRunsPage({ taskId: params.id, limit: params.limit, cursor: params.cursor, outcome: params.outcome });
    // An empty page may mean no such task: say so rather than answer an empty list.
    if (page.runs.length === 0 && !(await store.getTask(params.id))) throw notFound(params.id);
    return { ...page, runs: page.runs.map((run) => this.asNow(params.id, run)) };
  }

  /** One run of a task; not_found when there is no such task or run (pruned, or not yet). */
  async getRun(id: string, run: number): Promise<Run> {
    const found = await this.deps.store.getRun(id, run);
    if (found) return this.asNow(id, found);
    const task = await this.deps.store.getTask(id);
    if (!task) throw notFound(id);
    const why = run > task.lastRun ? `it has had ${task.lastRun} so far` : `it was pruned (the daemon keeps the last ${this.deps.keepRuns})`;
    throw new SchedulerError('not_found', `task "${id}" has no run ${run}: ${why}`);
  }

  /** A page of tasks: in submission order, or in id order with a prefix. */
  list(params: { limit: number; cursor?: string; status?: TaskStatus; prefix?: string }): Promise<TaskPage> {
    return this.deps.store.listTasks(params);
  }

  /** The outcomes of the last `count` runs of each task of `taskIds`, oldest first, as they are now (one read of the store). */
  async recentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcome[]>> {
    const recent = await this.deps.store.listRecentOutcomes(taskIds, count);
    const outcomes = new Map<string, RunOutcome[]>();
    for (const [taskId, entries] of recent) {
      outcomes.set(taskId, entries.map(({ run, outcome }) => (outcome === 'running' ? (this.deps.heldEnd(taskId, run)?.outcome ?? outcome) : outcome)));
    }
    return outcomes;
  }

  /** A page of the runs of every task, newest fire first, without the text of their output. */
  async listAllRuns(params: ListAllRunsParams): Promise<RunSummaryPage> {
    const page = await this.deps.store.listAllRunsPage(params);
    return { ...page, runs: page.runs.map((run) => this.summaryAsNow(run)) };
  }

  /** A run as it is now (see the top of this file). */
  private asNow(taskId: string, run: Run): Run {
    if (run.outcome !== 'running') return run;
    const ended = this.deps.heldEnd(taskId, run.run);
    if (ended) return withFields(run, withFields(endOf(run, ended), { stdout: ended.stdout, stderr: ended.stderr }));
    const live = this.deps.liveOutput(taskId, run.run);
    return live ? withFields(run, { stdout: live.stdout, stderr: live.stderr }) : run;
  }

  /** asNow for a run listed without its output: its output's counts instead of its text. */
  private summaryAsNow(run: RunSummary): RunSummary {
    if (run.outcome !== 'running') return run;
    const ended = this.deps.heldEnd(run.taskId, run.run);
    if (ended) return withFields(run, withFields(endOf(run, ended), { stdout: countsOf(ended.stdout), stderr: countsOf(ended.stderr) }));
    const live = this.deps.liveOutput(run.taskId, run.run);
    return live ? withFields(run, { stdout: countsOf(live.stdout), stderr: countsOf(live.stderr) }) : run;
  }
}

/** The fields of a held end that a run shows, but its output. */
function endOf(run: { startedAt: number | null }, ended: RunResult) {
  const { outcome, startedAt, finishedAt, exitCode, signal, error, limit, waitedMs } = ended;
  return {
    outcome,
    startedAt: startedAt ?? run.startedAt,
    finishedAt,
    exitCode,
    signal,
    error,
    ...(limit === undefined ? {} : { limit }),
    ...(waitedMs === undefined ? {} : { waitedMs }),
  };
}

/** An output's counts, without its text. */
function countsOf({ totalBytes, droppedBytes, droppedAt }: CapturedOutput): OutputCounts {
  return { totalBytes, droppedBytes, droppedAt };
}
