/**
 * The task and its runs, as the rest of the system sees them. Times are milliseconds since
 * the Unix epoch; the protocol layer turns them into ISO 8601 strings.
 */
import type { ExecutionSettings, ResourceLimitName } from './execution.js';
import type { RunPolicy } from './policy.js';
import type { Schedule } from './schedule.js';

/**
 * `delay` runs once, a while after submission; `cron` runs again and again, every interval
 * (the spec's meaning) or on a cron expression; `at` runs once, at a given time.
 */
export const taskTypes = ['delay', 'cron', 'at'] as const;
export type TaskType = (typeof taskTypes)[number];

/** The five statuses of the spec, with the names it gives them. */
export const taskStatuses = [
  'ToBeExecuted',
  'Executing',
  'Executed',
  'WaitForNextExecution',
  'Stopped',
  /** A recurring task paused by `scheduler pause`: it fires again once resumed. */
  'Paused',
] as const;
export type TaskStatus = (typeof taskStatuses)[number];

/**
 * Where a task is in its life. Each status carries exactly the data it needs, so a waiting
 * task always knows its next fire time and an executing one always knows its run.
 */
export type TaskState =
  | { status: 'ToBeExecuted'; nextRunAt: number }
  | {
      status: 'Executing';
      /** The run in progress. */
      run: number;
      /** The next tick of a cron task (a tick that comes while this run goes on is skipped); null for delay tasks and once a stop was requested. */
      nextRunAt: number | null;
      /** A cron task stopped during its run: the run goes on, then the task ends Stopped. */
      stopRequested: boolean;
      /** A recurring task paused during its run (or run now while paused): after the run it is Paused. */
      pauseRequested?: true;
      /** The fire time this run serves (a retry serves the fire of the run it retries); absent: its start. */
      fire?: number;
      /** Which attempt at that fire this run is: 1, then 2 for the first retry; absent: 1. */
      attempt?: number;
      /** A fire that came during this run and waits for it to end (overlap rule `queue` or `replace`)... */
      queued?: number;
      /** ...or, when set, the next missed fire to catch up (catch-up rule `all`), planned again when it starts. */
      backlog?: true;
      /** Runs started beside `run` (overlap rule `allow`), oldest first, with the fire each serves. */
      parallel?: Array<{ run: number; fire: number }>;
    }
  | {
      status: 'WaitForNextExecution';
      nextRunAt: number;
      /**
       * Set when the run due at nextRunAt serves an earlier fire: a retry (attempt 2 and
       * more) or a fire queued during the last run (attempt 1). It starts as it is, outside
       * the catch-up rule; then the task waits for thenNextRunAt.
       */
      retry?: { fire: number; attempt: number; thenNextRunAt: number | null };
    }
  | { status: 'Executed' }
  | { status: 'Stopped' }
  /** No next fire while paused; `lastStatusUpdated` says since when. */
  | { status: 'Paused' };

/** What the user asked for: it never changes after submission. */
export interface TaskDefinition {
  id: string;
  type: TaskType;
  /** As the user wrote it: a duration ("1h30m"), a cron expression ("0 9 * * MON-FRI") or a time. */
  time: string;
  /** When it fires, computed from `time` (and the zone, start and end) at submission. */
  schedule: Schedule;
  /** The IANA zone its cron expression and local times were read in. */
  timezone: string;
  script: string;
  /** The script's language (see interpreters.ts). */
  lang: string;
  /** The longest each run may take, as written and in milliseconds; absent for no bound. */
  runTimeout?: { text: string; ms: number };
  /** What happens when runs overlap, and when they fail. */
  policy: RunPolicy;
  /** Where and how its runs execute: environment, directory, user, queue, sandbox, limits. */
  execution: ExecutionSettings;
}

/** A task with its current state. */
export interface Task extends TaskDefinition {
  createdAt: number;
  state: TaskState;
  /** When `state.status` last changed. */
  lastStatusUpdated: number;
  /** Goes up by one on every change; watchers and compare-and-set writes use it. */
  version: number;
  /** The highest run number given out so far (runs are numbered from 1). */
  lastRun: number;
}

/** How a run ended, or that it has not ended yet. */
export const runOutcomes = [
  'running',
  /** exit status 0 */
  'succeeded',
  /** non-zero exit status, killed by a signal, or the script could not be started */
  'failed',
  /** the daemon stopped or died while the run was executing */
  'interrupted',
  /** the tick came while the previous run was still executing, so it did not run */
  'skipped',
  /** a user ended the run (`scheduler kill`): its process group got TERM, then KILL */
  'killed',
  /** the run took longer than the task's timeout, and was ended the same way */
  'timed_out',
] as const;
export type RunOutcome = (typeof runOutcomes)[number];

/** The two output streams of a run, kept apart. */
export type OutputStream = 'stdout' | 'stderr';

/**
 * Captured output of one stream. At most the run's output cap is kept: all of it when it
 * fits, else its first and last bytes (half the cap each) with the middle dropped.
 */
export interface CapturedOutput {
  /** The kept bytes, as UTF-8 text: the head, then the tail when bytes were dropped between them. */
  text: string;
  /** Bytes the script wrote in all, kept or not. */
  totalBytes: number;
  /** Bytes dropped from the middle of the stream; 0 when everything was kept. */
  droppedBytes: number;
  /** The stream offset at which the dropped bytes began (the kept head's length); 0 when none were. */
  droppedAt: number;
}

/** A stream that printed nothing. */
export const noOutput: CapturedOutput = Object.freeze({ text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 });

/** Output of which `totalBytes` were written and nothing was kept (lost in a crash, or pruned to bound the disk). */
export function droppedOutput(totalBytes: number): CapturedOutput {
  return { text: '', totalBytes, droppedBytes: totalBytes, droppedAt: 0 };
}

/** The output a run in progress has written so far. */
export interface LiveOutput {
  run: number;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
}

/** One execution of a task (or a tick that was skipped), kept in the task's results. */
export interface Run {
  run: number;
  /** The fire time the run serves (a retry: the fire of the run it retries). */
  scheduledAt: number;
  /** 1, or 2 and more for retries of the same fire. */
  attempt: number;
  startedAt: number | null;
  finishedAt: number | null;
  outcome: RunOutcome;
  exitCode: number | null;
  signal: string | null;
  /** Why the run failed to start, was skipped or was interrupted. */
  error: string | null;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  /** The per-stream byte cap that applied to this run. */
  outputCap: number;
  /** The resource limit the run hit, which ended it; absent when it hit none. */
  limit?: ResourceLimitName;
  /** How long the run waited for a free slot (the daemon's or its queue's maximum) before it started; absent: it did not wait. */
  waitedMs?: number;
  /** Set while the run waits for a free slot: it is in progress, but its script has not started (startedAt is then null). */
  waiting?: true;
  /** The node executing the run, or that last did, when several share the store; absent on a store one daemon alone uses. */
  node?: string;
}

/** What a stream of a run wrote and what of it was dropped, without the text kept. */
export type OutputCounts = Omit<CapturedOutput, 'text'>;

/**
 * A run with the task it belongs to, without the text of its output (its byte counts kept):
 * what the history across tasks lists, where reading every run's output would cost up to
 * the output cap per run for text nobody shows.
 */
export interface RunSummary extends Omit<Run, 'stdout' | 'stderr'> {
  taskId: string;
  stdout: OutputCounts;
  stderr: OutputCounts;
}

/** The time the engine must next act on the task, if any. */
export function dueAt(state: TaskState): number | null {
  return 'nextRunAt' in state ? state.nextRunAt : null;
}

/** One string per run of a task, for sets and maps of runs (ids cannot hold a NUL). */
export function runKeyOf(taskId: string, run: number): string {
  return `${run}\u0000${taskId}`;
}
