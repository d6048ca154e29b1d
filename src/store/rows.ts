/**
 * Conversions between rows and domain types, both ways: the one place that knows which
 * column holds what. SQLite and PostgreSQL have the same columns (times in epoch
 * milliseconds, flags as 0/1 integers, structured fields as JSON text), so both stores use it.
 */
import { defaultExecution, type ExecutionSettings, type ResourceLimitName } from '../core/execution.js';
import { defaultRunPolicy, type RunPolicy } from '../core/policy.js';
import type { Schedule } from '../core/schedule.js';
import type { Run, RunOutcome, RunSummary, Task, TaskState, TaskStatus, TaskType } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import { withFields } from '../core/with-fields.js';

/** A row of the `tasks` table. */
export interface TaskRow {
  seq: number;
  id: string;
  type: string;
  time: string;
  interval_ms: number;
  script: string;
  timeout: string | null;
  timeout_ms: number | null;
  schedule: string | null;
  timezone: string | null;
  policy: string | null;
  state_detail: string | null;
  lang: string;
  execution: string | null;
  created_at: number;
  status: string;
  current_run: number | null;
  stop_requested: number;
  next_run_at: number | null;
  last_status_updated: number;
  version: number;
  last_run: number;
}

/** The columns a task is read from, in the order taskRowOfValues takes their values. */
export const taskColumnNames = [
  'seq', 'id', 'type', 'time', 'interval_ms', 'script', 'timeout', 'timeout_ms', 'schedule', 'timezone', 'policy', 'state_detail', 'lang', 'execution', 'created_at', 'status', 'current_run', 'stop_requested', 'next_run_at', 'last_status_updated', 'version', 'last_run',
] as const;

/** The columns a new task is written with: all but seq, which the database numbers. */
export const taskWriteColumns = taskColumnNames.filter((column): column is Exclude<typeof column, 'seq'> => column !== 'seq');

/**
 * The values of `row` in the order of `columns`, for statements with positional parameters:
 * binding them costs less than binding named ones (better-sqlite3 looks each name up on the
 * object, about 1 µs of a task's insert).
 */
export function valuesOf<Name extends string>(row: Record<Name, unknown>, columns: readonly Name[]): unknown[] {
  return columns.map((column) => row[column]);
}

/**
 * A task's row from the values of taskColumnNames, in that order: what a statement in
 * better-sqlite3's raw mode returns. Why raw: an object per row built by the driver a column
 * at a time took twice as long as reading the values (half of a page of 100 tasks' read,
 * bench figure 7b); a literal of one fixed shape is cheap to build.
 */
export function taskRowOfValues(values: readonly unknown[]): TaskRow {
  return {
    seq: values[0] as number,
    id: values[1] as string,
    type: values[2] as string,
    time: values[3] as string,
    interval_ms: values[4] as number,
    script: values[5] as string,
    timeout: values[6] as string | null,
    timeout_ms: values[7] as number | null,
    schedule: values[8] as string | null,
    timezone: values[9] as string | null,
    policy: values[10] as string | null,
    state_detail: values[11] as string | null,
    lang: values[12] as string,
    execution: values[13] as string | null,
    created_at: values[14] as number,
    status: values[15] as string,
    current_run: values[16] as number | null,
    stop_requested: values[17] as number,
    next_run_at: values[18] as number | null,
    last_status_updated: values[19] as number,
    version: values[20] as number,
    last_run: values[21] as number,
  };
}

/** A row of the `runs` table. */
export interface RunRow {
  run: number;
  scheduled_at: number;
  attempt: number;
  started_at: number | null;
  finished_at: number | null;
  outcome: string;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  stdout: string;
  stdout_bytes: number;
  stdout_dropped: number;
  stdout_dropped_at: number;
  stderr: string;
  stderr_bytes: number;
  stderr_dropped: number;
  stderr_dropped_at: number;
  output_cap: number;
  limit_hit: string | null;
  waited_ms: number | null;
  /** 1 while the run waits for a free slot (its script has not started), else 0. */
  waiting: number;
  /** The node executing the run (PostgreSQL only: a SQLite row has no such column). */
  owner_node?: string | null;
}

/** The columns that hold a task's state. */
export interface StateColumns {
  status: TaskStatus;
  current_run: number | null;
  stop_requested: number;
  next_run_at: number | null;
  /** JSON of what the state knows beyond these columns, or null. */
  state_detail: string | null;
}

function stateToColumns(state: TaskState): StateColumns {
  switch (state.status) {
    case 'ToBeExecuted':
      return { status: state.status, current_run: null, stop_requested: 0, next_run_at: state.nextRunAt, state_detail: null };
    case 'WaitForNextExecution':
      return { status: state.status, current_run: null, stop_requested: 0, next_run_at: state.nextRunAt, state_detail: state.retry ? JSON.stringify({ retry: state.retry }) : null };
    case 'Executing': {
      const { fire, attempt, queued, backlog, parallel } = state;
      return {
        status: state.status,
        current_run: state.run,
        stop_requested: state.stopRequested ? afterRun.stop : state.pauseRequested ? afterRun.pause : afterRun.goOn,
        next_run_at: state.nextRunAt,
        state_detail: JSON.stringify({ fire, attempt, queued, backlog, parallel }),
      };
    }
    case 'Executed':
    case 'Stopped':
    case 'Paused':
      return { status: state.status, current_run: null, stop_requested: 0, next_run_at: null, state_detail: null };
  }
}

/** What stop_requested holds for an executing task: what happens once its run ends. */
const afterRun = { goOn: 0, stop: 1, pause: 2 } as const;

function columnsToState(row: TaskRow): TaskState {
  const status = row.status as TaskStatus;
  switch (status) {
    case 'ToBeExecuted':
      return { status, nextRunAt: row.next_run_at! };
    case 'WaitForNextExecution': {
      const detail = parseDetail<{ retry?: Extract<TaskState, { status: 'WaitForNextExecution' }>['retry'] }>(row);
      return { status, nextRunAt: row.next_run_at!, ...(detail.retry ? { retry: detail.retry } : {}) };
    }
    case 'Executing': {
      const { fire, attempt, queued, backlog, parallel } = parseDetail<{
        fire?: number;
        attempt?: number;
        queued?: number;
        backlog?: true;
        parallel?: Array<{ run: number; fire: number }>;
      }>(row);
      return {
        status,
        run: row.current_run!,
        nextRunAt: row.next_run_at,
        stopRequested: row.stop_requested === afterRun.stop,
        ...(row.stop_requested === afterRun.pause ? { pauseRequested: true as const } : {}),
        ...(fire === undefined ? {} : { fire }),
        ...(attempt === undefined ? {} : { attempt }),
        ...(queued === undefined ? {} : { queued }),
        ...(backlog ? { backlog } : {}),
        ...(parallel && parallel.length > 0 ? { parallel } : {}),
      };
    }
    case 'Executed':
    case 'Stopped':
    case 'Paused':
      return { status };
  }
}

/**
 * Values parsed from JSON texts that many rows share, each distinct text parsed once. The
 * policy and execution settings of most tasks are a few texts (the defaults, a site's usual
 * limits): a page of 100 tasks parsed and spread 200 of them (bench figure 7b). The values
 * are frozen, since every task read with the text holds the same one; a task's parts are
 * never changed in place, and a frozen one would say so at once. Bounded: past `limit`
 * distinct texts it starts again empty, which costs parses, never a wrong value.
 */
class SharedParses<Value> {
  private readonly values = new Map<string, Value>();

  constructor(
    private readonly parse: (text: string) => Value,
    private readonly limit = 512,
  ) {}

  get(text: string): Value {
    let value = this.values.get(text);
    if (value === undefined) {
      value = deepFreeze(this.parse(text));
      if (this.values.size >= this.limit) this.values.clear();
      this.values.set(text, value);
    }
    return value;
  }
}

function deepFreeze<Value>(value: Value): Value {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const field of Object.values(value)) deepFreeze(field);
    Object.freeze(value);
  }
  return value;
}

// Fields added to the policy or the execution settings later take their defaults in rows written before them.
const policies = new SharedParses((text): RunPolicy => ({ ...defaultRunPolicy, ...(JSON.parse(text) as Partial<RunPolicy>) }));
const executions = new SharedParses((text): ExecutionSettings => ({ ...defaultExecution, ...(JSON.parse(text) as Partial<ExecutionSettings>) }));

export function rowToTask(row: TaskRow): Task {
  return {
    id: row.id,
    type: row.type as TaskType,
    time: row.time,
    schedule: row.schedule === null ? legacySchedule(row) : (JSON.parse(row.schedule) as Schedule),
    timezone: row.timezone ?? 'UTC',
    lang: row.lang,
    policy: row.policy === null ? defaultRunPolicy : policies.get(row.policy),
    execution: row.execution === null ? defaultExecution : executions.get(row.execution),
    script: row.script,
    ...(row.timeout !== null && row.timeout_ms !== null ? { runTimeout: { text: row.timeout, ms: row.timeout_ms } } : {}),
    createdAt: row.created_at,
    state: columnsToState(row),
    lastStatusUpdated: row.last_status_updated,
    version: row.version,
    lastRun: row.last_run,
  };
}

export function rowToRun(row: RunRow): Run {
  return withFields(runFieldsOf(row), {
    stdout: { text: row.stdout, ...outputCountsOf(row, 'stdout') },
    stderr: { text: row.stderr, ...outputCountsOf(row, 'stderr') },
  });
}

/** The fields of a run read from its row but its output: what a run and its summary share. */
function runFieldsOf(row: RunSummaryRow | RunRow) {
  return {
    run: row.run,
    scheduledAt: row.scheduled_at,
    attempt: row.attempt,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome as RunOutcome,
    exitCode: row.exit_code,
    signal: row.signal,
    error: row.error,
    outputCap: row.output_cap,
    ...(row.limit_hit === null ? {} : { limit: row.limit_hit as ResourceLimitName }),
    ...(row.waited_ms === null ? {} : { waitedMs: row.waited_ms }),
    ...(row.waiting === 1 ? { waiting: true as const } : {}),
    ...(row.owner_node ? { node: row.owner_node } : {}),
  };
}

/** How many bytes of a stream its run wrote, and which were dropped. */
function outputCountsOf(row: RunSummaryRow | RunRow, stream: 'stdout' | 'stderr') {
  return stream === 'stdout'
    ? { totalBytes: row.stdout_bytes, droppedBytes: row.stdout_dropped, droppedAt: row.stdout_dropped_at }
    : { totalBytes: row.stderr_bytes, droppedBytes: row.stderr_dropped, droppedAt: row.stderr_dropped_at };
}

/**
 * The columns of `runs` a listing across tasks reads: all but the text of the output, which
 * can be up to the output cap per stream and lies after them in the row.
 */
export const runSummaryColumns = [
  'task_id', 'run', 'scheduled_at', 'attempt', 'started_at', 'finished_at', 'outcome', 'exit_code', 'signal', 'error',
  'limit_hit', 'waited_ms', 'waiting', 'stdout_bytes', 'stdout_dropped', 'stdout_dropped_at',
  'stderr_bytes', 'stderr_dropped', 'stderr_dropped_at', 'output_cap',
] as const;

/** A row of `runs` as a listing across tasks reads it (runSummaryColumns). */
export type RunSummaryRow = Omit<RunRow, 'stdout' | 'stderr'> & { task_id: string };

export function rowToRunSummary(row: RunSummaryRow): RunSummary {
  return { taskId: row.task_id, ...runFieldsOf(row), stdout: outputCountsOf(row, 'stdout'), stderr: outputCountsOf(row, 'stderr') };
}

const defaultPolicyJson = JSON.stringify(defaultRunPolicy);
const defaultExecutionJson = JSON.stringify(defaultExecution);

/**
 * The JSON of a task's policy or execution settings, or null when they are the defaults: a
 * null column reads back as the defaults (rowToTask), as the rows of the versions before these
 * columns always did. Most tasks have the defaults, and their rows are half as long without
 * them (about 150 bytes instead of 315): fewer pages to write per commit of submits, and a
 * smaller file.
 */
function jsonUnlessDefault(value: object, defaultJson: string): string | null {
  const json = JSON.stringify(value);
  return json === defaultJson ? null : json;
}

/**
 * A task as the parameters of its row in `tasks`. The state's columns are copied one by one,
 * not spread: a spread followed by fields makes an object of a hidden class of its own in
 * optimised code (with-fields.ts), 1-2 µs of every submit.
 */
export function taskToRow(task: Task) {
  const state = stateToColumns(task.state);
  return {
    id: task.id,
    type: task.type,
    time: task.time,
    interval_ms: intervalColumn(task),
    schedule: JSON.stringify(task.schedule),
    timezone: task.timezone,
    policy: jsonUnlessDefault(task.policy, defaultPolicyJson),
    lang: task.lang,
    execution: jsonUnlessDefault(task.execution, defaultExecutionJson),
    script: task.script,
    timeout: task.runTimeout?.text ?? null,
    timeout_ms: task.runTimeout?.ms ?? null,
    created_at: task.createdAt,
    status: state.status,
    current_run: state.current_run,
    stop_requested: state.stop_requested,
    next_run_at: state.next_run_at,
    state_detail: state.state_detail,
    last_status_updated: task.lastStatusUpdated,
    version: task.version,
    last_run: task.lastRun,
  };
}

/** A new task's row as the values of taskWriteColumns, in that order (an INSERT's positional parameters). */
export function taskInsertValues(task: Task): unknown[] {
  return valuesOf(taskToRow(task), taskWriteColumns);
}

/**
 * The columns of `tasks` a change of a task writes: its state, version and runs. What a task
 * was submitted with (script, schedule, policy, execution) never changes, so a write does not
 * serialise it again (three JSON.stringify per write, felt in a burst of fires).
 */
export function taskStateToRow(task: Task, expectedVersion: number) {
  const state = stateToColumns(task.state);
  return {
    id: task.id,
    status: state.status,
    current_run: state.current_run,
    stop_requested: state.stop_requested,
    next_run_at: state.next_run_at,
    state_detail: state.state_detail,
    last_status_updated: task.lastStatusUpdated,
    version: task.version,
    last_run: task.lastRun,
    // The version the write requires the row to be at (a compare-and-set).
    expected_version: expectedVersion,
  };
}

/**
 * Whether two states of a task have the same values in the columns of `tasks` that its
 * indexes hold (status, next_run_at): a write from one to the other can leave the indexes
 * alone.
 */
export function sameIndexedColumns(before: TaskState, after: TaskState): boolean {
  const a = stateToColumns(before);
  const b = stateToColumns(after);
  return a.status === b.status && a.next_run_at === b.next_run_at;
}

/** The columns of `runs` that a run's end sets: how it ended, and its output. */
export const runEndColumns = [
  'started_at', 'finished_at', 'outcome', 'exit_code', 'signal', 'error', 'limit_hit', 'waited_ms',
  'stdout', 'stdout_bytes', 'stdout_truncated', 'stdout_dropped', 'stdout_dropped_at',
  'stderr', 'stderr_bytes', 'stderr_truncated', 'stderr_dropped', 'stderr_dropped_at',
  'output_cap', 'output_bytes',
] as const;

/** Every column of `runs` written when a run is recorded. */
export const runColumns = ['task_id', 'run', 'scheduled_at', 'attempt', 'waiting', ...runEndColumns] as const;

type ColumnValues<Names extends readonly string[]> = Record<Names[number], string | number | null>;

/** What a run's end is made of; a whole run has it too. */
type RunEnd = Pick<Run, 'startedAt' | 'finishedAt' | 'outcome' | 'exitCode' | 'signal' | 'error' | 'limit' | 'waitedMs' | 'stdout' | 'stderr' | 'outputCap'>;

function endToColumns(end: RunEnd): ColumnValues<typeof runEndColumns> {
  return {
    started_at: end.startedAt,
    finished_at: end.finishedAt,
    outcome: end.outcome,
    exit_code: end.exitCode,
    signal: end.signal,
    error: end.error,
    limit_hit: end.limit ?? null,
    waited_ms: end.waitedMs ?? null,
    stdout: end.stdout.text,
    stdout_bytes: end.stdout.totalBytes,
    stdout_truncated: end.stdout.droppedBytes > 0 ? 1 : 0,
    stdout_dropped: end.stdout.droppedBytes,
    stdout_dropped_at: end.stdout.droppedAt,
    stderr: end.stderr.text,
    stderr_bytes: end.stderr.totalBytes,
    stderr_truncated: end.stderr.droppedBytes > 0 ? 1 : 0,
    stderr_dropped: end.stderr.droppedBytes,
    stderr_dropped_at: end.stderr.droppedAt,
    output_cap: end.outputCap,
    // What the output kept costs on disk, summed by the triggers that bound all output.
    output_bytes: Buffer.byteLength(end.stdout.text) + Buffer.byteLength(end.stderr.text),
  };
}

/** A run as the parameters of its row in `runs` (runColumns). */
export function runToRow(taskId: string, run: Run): ColumnValues<typeof runColumns> {
  return { task_id: taskId, run: run.run, scheduled_at: run.scheduledAt, attempt: run.attempt, waiting: run.waiting ? 1 : 0, ...endToColumns(run) };
}

/** The end of run `run` as the parameters that update its row (runEndColumns, and the row's key). */
export function runEndToRow(taskId: string, run: number, result: RunResult): ColumnValues<typeof runEndColumns> & { task_id: string; run: number } {
  return { task_id: taskId, run, ...endToColumns(result) };
}

/** The schedule of a task stored before schedules were: the spec's delay or fixed interval. */
function legacySchedule(row: TaskRow): Schedule {
  const at = row.created_at + row.interval_ms;
  return row.type === 'delay' ? { kind: 'once', at } : { kind: 'interval', everyMs: row.interval_ms, first: at, end: null };
}

/** interval_ms, kept for readers of older versions: the delay or interval, else 0. */
function intervalColumn(task: Pick<Task, 'schedule' | 'createdAt'>): number {
  const { schedule } = task;
  if (schedule.kind === 'interval') return schedule.everyMs;
  return schedule.kind === 'once' ? Math.max(0, schedule.at - task.createdAt) : 0;
}

function parseDetail<T extends object>(row: TaskRow): Partial<T> {
  return row.state_detail === null ? {} : (JSON.parse(row.state_detail) as Partial<T>);
}
