/**
 * The live event stream of a task, GET /api/tasks/{id}/events (Server-Sent Events): the
 * name and JSON data of each event, and the pure functions that build them from what the
 * engine reports. Times are ISO 8601 strings in UTC, as everywhere in the API.
 */
import { dueAt, type OutputStream, type Run, type RunOutcome, type Task, type TaskStatus } from '../core/task.js';
import type { Effect } from '../core/transition.js';
import { taskSummaryJson } from './task-json.js';
import type { TaskSummaryJson } from './schemas.js';
import { isoTime } from './iso-time.js';

/** The first event of a fresh stream: the task as it is now, and its run in progress. */
export interface SnapshotEvent {
  task: TaskSummaryJson;
  /** The run executing now (its output so far follows as `output` events), or null. */
  run: number | null;
  /** Every run executing now, oldest first (more than one under overlap `allow`); their output so far follows. */
  runs: number[];
}

/** The task changed: its status, or what comes next. Sent on every change of its version. */
export interface StatusEvent {
  status: TaskStatus;
  previousStatus: TaskStatus;
  version: number;
  lastStatusUpdated: string;
  nextRunAt: string | null;
  stopRequested: boolean;
}

export interface RunStartedEvent {
  run: number;
  /** The fire time it serves. */
  scheduledAt: string;
  /**
   * When its script started; for a run that waits (`waiting`), when it was recorded, and a
   * second `run-started` of the same run, without `waiting`, follows when its script starts.
   */
  startedAt: string;
  /** 1, or more for a retry of the same fire. */
  attempt: number;
  /** The run waits for a free slot (the cap on runs at once, or its queue's): its output comes once it starts. */
  waiting?: true;
}

/** A tick that did not run (the previous run was still executing). */
export interface RunSkippedEvent {
  run: number;
  scheduledAt: string;
  reason: string;
}

export interface RunFinishedEvent {
  run: number;
  outcome: Exclude<RunOutcome, 'running' | 'skipped'>;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  finishedAt: string;
  stdoutBytes: number;
  stderrBytes: number;
}

/** A chunk of a run's output, whole UTF-8 characters, as the script wrote it. */
export interface OutputEvent {
  run: number;
  stream: OutputStream;
  /** Where the chunk begins in the stream, in bytes: a jump says bytes were skipped. */
  offset: number;
  /** The chunk's length in bytes. */
  bytes: number;
  at: string;
  text: string;
}

/** The stream could not resume where the client asked: what it missed is no longer retained. */
export interface PrunedEvent {
  lastEventId: string;
  reason: string;
}

/** Every event the stream sends, by name. */
export interface TaskEventData {
  snapshot: SnapshotEvent;
  status: StatusEvent;
  'run-started': RunStartedEvent;
  'run-skipped': RunSkippedEvent;
  'run-finished': RunFinishedEvent;
  output: OutputEvent;
  pruned: PrunedEvent;
  deleted: { id: string };
}
export type TaskEventName = keyof TaskEventData;

/** One event, by name, with its data. */
export type NamedEvent = { [Name in TaskEventName]: { name: Name; data: TaskEventData[Name] } }[TaskEventName];

/** The events of one committed change, in the order things happened: a run ends, the status moves, a run starts. */
export function changeEvents(task: Task, previous: Task, effect: Effect | null, runWaits = false): NamedEvent[] {
  const status = statusEvent(task, previous.state.status);
  switch (effect?.kind) {
    case undefined:
      return [status];
    case 'startRun': {
      const started: NamedEvent = {
        name: 'run-started',
        data: { run: effect.run, scheduledAt: isoTime(effect.scheduledAt), startedAt: isoTime(effect.startedAt), attempt: effect.attempt, ...(runWaits ? { waiting: true as const } : {}) },
      };
      const { missed } = effect;
      if (!missed) return [status, started];
      return [{ name: 'run-skipped', data: { run: missed.run, scheduledAt: isoTime(missed.scheduledAt), reason: missed.reason } }, status, started];
    }
    case 'recordStart':
      return [status, { name: 'run-started', data: { run: effect.run, scheduledAt: isoTime(effect.scheduledAt), startedAt: isoTime(effect.startedAt), attempt: effect.attempt } }];
    case 'killRun':
      return [status];
    case 'skipRun':
      return [{ name: 'run-skipped', data: { run: effect.run, scheduledAt: isoTime(effect.scheduledAt), reason: effect.reason } }, status];
    case 'finishRun': {
      const { result } = effect;
      return [runFinishedEvent(effect.run, result, result.finishedAt), status];
    }
  }
}

/**
 * The events of a change made on another node, which this node knows only as the task before
 * and after it and the runs recorded now (several changes may have passed between the two
 * versions). In the same order as changeEvents: runs skipped or ended, the status, runs started.
 */
export function catchUpEvents(task: Task, previous: TaskAsTold, runs: readonly Run[]): NamedEvent[] {
  const wasInProgress = new Set(previous.inProgress);
  const before: NamedEvent[] = [];
  const after: NamedEvent[] = [];
  for (const run of runs) {
    const isNew = run.run > previous.lastRun;
    if (!isNew && !wasInProgress.has(run.run)) continue;
    if (run.outcome === 'skipped') {
      if (isNew) before.push({ name: 'run-skipped', data: { run: run.run, scheduledAt: isoTime(run.scheduledAt), reason: run.error ?? 'skipped' } });
      continue;
    }
    if (isNew) {
      const started: NamedEvent = {
        name: 'run-started',
        data: { run: run.run, scheduledAt: isoTime(run.scheduledAt), startedAt: isoTime(run.startedAt ?? task.lastStatusUpdated), attempt: run.attempt, ...(run.waiting ? { waiting: true as const } : {}) },
      };
      // A run that started and ended between the two versions: it started before the status moved.
      (run.outcome === 'running' ? after : before).push(started);
    }
    if (run.outcome !== 'running') before.push(runFinishedEvent(run.run, run, run.finishedAt ?? task.lastStatusUpdated));
  }
  return [...before, statusEvent(task, previous.status), ...after];
}

/** What a client was told of a task: enough to tell it what changed since. */
export interface TaskAsTold {
  version: number;
  status: TaskStatus;
  lastRun: number;
  /** The runs in progress, oldest first. */
  inProgress: number[];
}

/** What a client told of `task` knows of it. */
export function asTold(task: Task): TaskAsTold {
  return { version: task.version, status: task.state.status, lastRun: task.lastRun, inProgress: inProgressRuns(task) };
}

/** The runs of `task` in progress, oldest first. */
export function inProgressRuns(task: Task): number[] {
  return task.state.status === 'Executing' ? [task.state.run, ...(task.state.parallel ?? []).map((other) => other.run)] : [];
}

function runFinishedEvent(
  run: number,
  result: Pick<Run, 'outcome' | 'exitCode' | 'signal' | 'error' | 'stdout' | 'stderr'>,
  finishedAt: number,
): NamedEvent {
  return {
    name: 'run-finished',
    data: {
      run,
      outcome: result.outcome as RunFinishedEvent['outcome'],
      exitCode: result.exitCode,
      signal: result.signal,
      error: result.error,
      finishedAt: isoTime(finishedAt),
      stdoutBytes: result.stdout.totalBytes,
      stderrBytes: result.stderr.totalBytes,
    },
  };
}

function statusEvent(task: Task, previousStatus: TaskStatus): NamedEvent {
  return {
    name: 'status',
    data: {
      status: task.state.status,
      previousStatus,
      version: task.version,
      lastStatusUpdated: isoTime(task.lastStatusUpdated),
      nextRunAt: dueAt(task.state) === null ? null : isoTime(dueAt(task.state)!),
      stopRequested: task.state.status === 'Executing' && task.state.stopRequested,
    },
  };
}

/** A chunk of output. */
export function outputEvent(run: number, stream: OutputStream, offset: number, chunk: Buffer | string, at: number): NamedEvent {
  const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  return { name: 'output', data: { run, stream, offset, bytes, at: isoTime(at), text } };
}

/** The first event of a fresh stream. */
export function snapshotEvent(task: Task): NamedEvent {
  const runs = inProgressRuns(task);
  return { name: 'snapshot', data: { task: taskSummaryJson(task), run: runs[0] ?? null, runs } };
}

/** Statuses after which nothing more happens to a task (but its deletion). */
export function isFinal(status: TaskStatus): boolean {
  return status === 'Executed' || status === 'Stopped';
}
