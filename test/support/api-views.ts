/** The task and run of the HTTP API as the end-to-end tests read them, and its times. */

/** A run as the API returns it (the fields the tests read). */
export interface RunView {
  run: number;
  scheduledAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  error?: string | null;
  /** The kept output: all of it, or its head then its tail when bytes were dropped between. */
  stdout: string;
  stderr: string;
  /** Everything the script wrote, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutDroppedBytes: number;
  stderrDroppedBytes: number;
  /** Where the dropped bytes begin (the length of the kept head). */
  stdoutDroppedAt: number;
  stderrDroppedAt: number;
  outputCap: number;
}

/** A task as the API returns it (the fields the tests read). */
export interface TaskView {
  id: string;
  type: string;
  time: string;
  script: string;
  /** The IANA zone its cron expression and local times are read in. */
  timezone: string;
  /** A recurring task's first fire bound (an interval's first fire); null for one-time tasks and unbounded cron expressions. */
  start: string | null;
  /** A recurring task's last fire bound; null for none. */
  end: string | null;
  status: string;
  lastStatusUpdated: string;
  version: number;
  nextRunAt: string | null;
  createdAt: string;
  stopRequested: boolean;
  results: RunView[];
  warning?: string;
}

/** Milliseconds since the epoch of an ISO time, failing on null. */
export function ms(iso: string | null | undefined): number {
  if (iso == null) throw new Error('expected a time, got null');
  return Date.parse(iso);
}
