/**
 * Turns domain tasks and runs into their JSON form, in the one form per kind that
 * schemas.ts describes: epoch milliseconds become RFC 3339 UTC with milliseconds, durations
 * a task was given become canonical Go-style durations.
 */
import { formatDuration } from '../core/duration.js';
import { dueAt, type Run, type RunSummary, type Task } from '../core/task.js';
import type { RunJson, RunSummaryJson, TaskJson, TaskSummaryJson } from './schemas.js';
import { isoTime, isoTimeOrNull } from './iso-time.js';

/** A task without its results, as listed. */
export function taskSummaryJson(task: Task): TaskSummaryJson {
  const { limits } = task.execution;
  return {
    id: task.id,
    type: task.type,
    time: scheduleTime(task),
    script: task.script,
    lang: task.lang,
    timeout: task.runTimeout ? formatDuration(task.runTimeout.ms) : null,
    timezone: task.timezone,
    start: isoTimeOrNull(scheduleStart(task)),
    end: isoTimeOrNull(task.schedule.kind === 'once' ? null : task.schedule.end),
    status: task.state.status,
    lastStatusUpdated: isoTime(task.lastStatusUpdated),
    version: task.version,
    nextRunAt: isoTimeOrNull(dueAt(task.state)),
    createdAt: isoTime(task.createdAt),
    stopRequested: task.state.status === 'Executing' && task.state.stopRequested,
    jitter: task.schedule.jitter ? formatDuration(task.schedule.jitter.ms) : null,
    overlap: task.policy.overlap,
    maxParallel: task.policy.maxParallel ?? null,
    retries: task.policy.retry?.max ?? 0,
    retryDelay: task.policy.retry ? formatDuration(task.policy.retry.delayMs) : null,
    retryMaxDelay: task.policy.retry ? formatDuration(task.policy.retry.maxDelayMs) : null,
    retryOn: task.policy.retry?.onExitCodes ?? null,
    catchUp: task.policy.catchUp.mode,
    catchUpWindow: task.policy.catchUp.windowMs === null ? null : formatDuration(task.policy.catchUp.windowMs),
    pauseRequested: task.state.status === 'Executing' && task.state.pauseRequested === true,
    env: { ...task.execution.env },
    cwd: task.execution.cwd,
    user: task.execution.user,
    queue: task.execution.queue,
    sandbox: task.execution.sandbox,
    network: task.execution.network,
    limits: {
      cpuSeconds: limits.cpuSeconds ?? null,
      memoryBytes: limits.memoryBytes ?? null,
      processes: limits.processes ?? null,
      openFiles: limits.openFiles ?? null,
      outputBytes: limits.outputBytes ?? null,
    },
  };
}

/*
 * The forms that add fields to another (a task with its results, a run with its output)
 * add them with Object.assign, not by spreading the other into a new literal with the new
 * fields: such a literal gets a hidden class of its own each time (core/with-fields.ts),
 * which the answer's serialiser then reads slowly. A submit's answer took 6.7 µs to build
 * and serialise with the spread, 1.7 µs without. Key order does not matter: every answer is
 * serialised by its route's schema, in the schema's order.
 */

/** A task with its results, oldest first. */
export function taskJson(task: Task, runs: Run[]): TaskJson {
  return Object.assign(taskSummaryJson(task), { results: runs.map(runJson) });
}

/** One run. */
export function runJson(run: Run): RunJson {
  return Object.assign(runFieldsJson(run), { stdout: run.stdout.text, stderr: run.stderr.text });
}

/** A run in the history across tasks: with its task, without the text of its output. */
export function runSummaryJson(run: RunSummary): RunSummaryJson {
  return Object.assign(runFieldsJson(run), { taskId: run.taskId });
}

/** The fields of a run's JSON but the text of its output: what a run and its summary share. */
function runFieldsJson(run: Run | RunSummary): Omit<RunJson, 'stdout' | 'stderr'> {
  const fields: Omit<RunJson, 'stdout' | 'stderr'> = {
    run: run.run,
    scheduledAt: isoTime(run.scheduledAt),
    attempt: run.attempt,
    startedAt: isoTimeOrNull(run.startedAt),
    finishedAt: isoTimeOrNull(run.finishedAt),
    outcome: run.outcome,
    exitCode: run.exitCode,
    signal: run.signal,
    error: run.error,
    limit: run.limit ?? null,
    waitedMs: run.waitedMs ?? null,
    waiting: run.waiting === true,
    stdoutBytes: run.stdout.totalBytes,
    stderrBytes: run.stderr.totalBytes,
    stdoutTruncated: run.stdout.droppedBytes > 0,
    stderrTruncated: run.stderr.droppedBytes > 0,
    stdoutDroppedBytes: run.stdout.droppedBytes,
    stderrDroppedBytes: run.stderr.droppedBytes,
    stdoutDroppedAt: run.stdout.droppedAt,
    stderrDroppedAt: run.stderr.droppedAt,
    outputCap: run.outputCap,
  };
  // Only in a cluster: the node that ran it.
  if (run.node !== undefined) fields.node = run.node;
  return fields;
}

/**
 * A task's `time`: the spec shows a duration echoed as submitted ("1m"), and a cron
 * expression has no other form; an `at` time, which may have been given as a local time or
 * with an offset, is the instant it fires, in the form of every other time.
 */
function scheduleTime({ type, time, schedule }: Task): string {
  return type === 'at' && schedule.kind === 'once' ? isoTime(schedule.at) : time;
}

/** When a recurring schedule starts firing: its start bound, or an interval's first fire. */
function scheduleStart({ schedule }: Task): number | null {
  if (schedule.kind === 'calendar') return schedule.start;
  return schedule.kind === 'interval' ? schedule.first : null;
}
