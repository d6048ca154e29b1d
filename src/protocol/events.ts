/**
 * The live event stream of a task, GET /api/tasks/{id}/events (Server-Sent Events): the
 * name and JSON data of each event, and the pure functions that build them from what the
 * engine reports. Times are ISO 8601 strings in UTC, as everywhere in the API.
 */
import { dueAt, type OutputStream, type RunOutcome, type Task, type TaskStatus } from '../core/task.js';
import type { Effect } from '../core/transition.js';
import { taskSummaryJson } from './task-json.js';
import type { TaskSummaryJson } from './schemas.js';

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

const iso = (ms: number): string => new Date(ms).toISOString();

/** The events of one committed change, in the order things happened: a run ends, the status moves, a run starts. */
export function changeEvents(task: Task, previous: Task, effect: Effect | null, runWaits = false): NamedEvent[] {
  const status: NamedEvent = {
    name: 'status',
    data: {
      status: task.state.status,
      previousStatus: previous.state.status,
      version: task.version,
      lastStatusUpdated: iso(task.lastStatusUpdated),
      nextRunAt: dueAt(task.state) === null ? null : iso(dueAt(task.state)!),
      stopRequested: task.state.status === 'Executing' && task.state.stopRequested,
    },
  };
  switch (effect?.kind) {
    case undefined:
      return [status];
    case 'startRun': {
      const started: NamedEvent = {
        name: 'run-started',
        data: { run: effect.run, scheduledAt: iso(effect.scheduledAt), startedAt: iso(effect.startedAt), attempt: effect.attempt, ...(runWaits ? { waiting: true as const } : {}) },
      };
      const { missed } = effect;
      if (!missed) return [status, started];
      return [{ name: 'run-skipped', data: { run: missed.run, scheduledAt: iso(missed.scheduledAt), reason: missed.reason } }, status, started];
    }
    case 'recordStart':
      return [status, { name: 'run-started', data: { run: effect.run, scheduledAt: iso(effect.scheduledAt), startedAt: iso(effect.startedAt), attempt: effect.attempt } }];
    case 'killRun':
      return [status];
    case 'skipRun':
      return [{ name: 'run-skipped', data: { run: effect.run, scheduledAt: iso(effect.scheduledAt), reason: effect.reason } }, status];
    case 'finishRun': {
      const { result } = effect;
      const finished: NamedEvent = {
        name: 'run-finished',
        data: {
          run: effect.run,
          outcome: result.outcome,
          exitCode: result.exitCode,
          signal: result.signal,
          error: result.error,
          finishedAt: iso(result.finishedAt),
          stdoutBytes: result.stdout.totalBytes,
          stderrBytes: result.stderr.totalBytes,
        },
      };
      return [finished, status];
    }
  }
}

/** A chunk of output. */
export function outputEvent(run: number, stream: OutputStream, offset: number, chunk: Buffer | string, at: number): NamedEvent {
  const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  return { name: 'output', data: { run, stream, offset, bytes, at: iso(at), text } };
}

/** The first event of a fresh stream. */
export function snapshotEvent(task: Task): NamedEvent {
  const runs = task.state.status === 'Executing' ? [task.state.run, ...(task.state.parallel ?? []).map((other) => other.run)] : [];
  return { name: 'snapshot', data: { task: taskSummaryJson(task), run: runs[0] ?? null, runs } };
}

/** Statuses after which nothing more happens to a task (but its deletion). */
export function isFinal(status: TaskStatus): boolean {
  return status === 'Executed' || status === 'Stopped';
}
