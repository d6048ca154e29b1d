/**
 * The parts of the API's answers the dashboard reads (the whole shapes are in
 * src/protocol/schemas.ts and GET /api/openapi.json). Written out here rather than imported,
 * so that the browser's code does not pull the server's schema library into its types.
 */
/** As src/core/task.ts lists them (test/dashboard/views.test.ts checks that they agree). */
export const taskStatuses = ['ToBeExecuted', 'Executing', 'Executed', 'WaitForNextExecution', 'Stopped', 'Paused'] as const;
export type TaskStatus = (typeof taskStatuses)[number];
export const runOutcomes = ['running', 'succeeded', 'failed', 'interrupted', 'skipped', 'killed', 'timed_out'] as const;

export interface TaskSummaryView {
  id: string;
  type: 'delay' | 'cron' | 'at';
  time: string;
  script: string;
  lang: string;
  timezone: string;
  timeout: string | null;
  status: TaskStatus;
  version: number;
  nextRunAt: string | null;
  createdAt: string;
  lastStatusUpdated: string;
  stopRequested: boolean;
  pauseRequested: boolean;
  overlap: string;
  retries: number;
  queue: string;
  user: string | null;
  sandbox: boolean;
  start: string | null;
  end: string | null;
  /** The outcomes of its last runs, oldest first, when the list was asked for them (`recent`). */
  recentOutcomes?: string[];
}

export interface TaskView extends TaskSummaryView {
  results: RunView[];
}

export interface RunView {
  run: number;
  scheduledAt: string;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  limit: string | null;
  waiting: boolean;
  node?: string;
  stdout?: string;
  stderr?: string;
  stdoutBytes?: number;
  stderrBytes?: number;
  stdoutDroppedBytes?: number;
  stderrDroppedBytes?: number;
  stdoutDroppedAt?: number;
  stderrDroppedAt?: number;
}

export interface HistoryRunView extends RunView {
  taskId: string;
}

export interface TaskPage {
  tasks: TaskSummaryView[];
  nextCursor: string | null;
}

export interface HistoryPage {
  runs: HistoryRunView[];
  nextCursor: string | null;
}

export interface NodeView {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  heartbeatAt: string;
  runsExecuting: number;
  state: 'alive' | 'stale' | 'stopped';
  self: boolean;
}

export type Role = 'admin' | 'operator' | 'viewer' | 'metrics';

/** Who the dashboard acts as (GET /api/session). */
export interface SessionView {
  name: string;
  role: Role;
  expiresAt: string | null;
  /** false when the daemon asks for no token: there is nothing to log in to. */
  tokenRequired: boolean;
}
