/**
 * The storage interface, cut around what the engine needs. Every backend (SQLite now,
 * PostgreSQL later) implements it and passes the same conformance suite
 * (test/store/conformance.ts). Writes of an existing task are compare-and-set on its
 * version: a lost race is a version_conflict error, never a silent overwrite.
 */
import type { AuditEntry, StoredSession, StoredToken } from '../core/access-records.js';
import type { RunResult } from '../core/transition.js';
import type { Run, RunOutcome, RunSummary, Task, TaskStatus, TaskType } from '../core/task.js';

/** A change to a task's runs, written atomically with the task. */
export type RunChange =
  /** A new run record (started, or a skipped tick), after `skipped` (fires missed before it) if given. */
  | { kind: 'insert'; run: Run; skipped?: Run }
  /** The real start of a run recorded earlier as waiting for a free slot: it is no longer waiting. */
  | { kind: 'start'; run: number; startedAt: number }
  /**
   * The end of a run recorded earlier as running. With `takeover` (stores shared by several
   * nodes, see run-leases.ts), the run is another node's whose lease expired: it is recorded
   * only if it is still that node's, at that fence, with its lease still expired; it then
   * belongs to no node's home any more (the late writes of its owner are refused). Otherwise
   * nothing is written and the write fails with lease_lost.
   */
  | { kind: 'finish'; run: number; result: RunResult; takeover?: Takeover };

/** What a takeover checks before it records another node's run (see RunChange's finish). */
export interface Takeover {
  ownerHome: string;
  fence: number;
}

/** Parameters of TaskStore.saveTask. */
export interface SaveTaskParams {
  /** The task as it must be after the write. */
  task: Task;
  /** The version the task must still have in the store for the write to happen. */
  expectedVersion: number;
  runChange?: RunChange;
  /** Keep at most this many runs of the task; older finished ones are pruned in the same write. */
  keepRuns: number;
  /**
   * The task as the caller read it, at `expectedVersion`, when it has it: a store may then
   * leave alone what the write does not change (SQLite rewrites an index entry whenever its
   * column is set, even to the value it had).
   */
  previous?: Task;
}

export type { AuditEntry, StoredSession, StoredToken } from '../core/access-records.js';

/** How many tasks of one type are in one status. */
export interface TaskCount {
  type: TaskType;
  status: TaskStatus;
  count: number;
}

/** Parameters of TaskStore.listTasks. */
export interface ListTasksParams {
  limit: number;
  /** An opaque cursor from a previous page's nextCursor. */
  cursor?: string;
  status?: TaskStatus;
  /**
   * Only the tasks whose id starts with this (case matters). The page is then in id order
   * (byte order, the same on every store), the order of the index that finds them, so that
   * a page costs the same however many tasks there are; its cursor is then the last id.
   */
  prefix?: string;
}

/** One page of tasks, in submission order (in id order with a prefix). */
export interface TaskPage {
  tasks: Task[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Parameters of TaskStore.listRunsPage. */
export interface ListRunsParams {
  taskId: string;
  limit: number;
  /** An opaque cursor from a previous page's nextCursor. */
  cursor?: string;
  outcome?: RunOutcome;
}

/** One page of runs, newest first. */
export interface RunPage {
  runs: Run[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** Parameters of TaskStore.listAllRunsPage. */
export interface ListAllRunsParams {
  limit: number;
  /** An opaque cursor from a previous page's nextCursor. */
  cursor?: string;
  outcome?: RunOutcome;
  /** Only runs whose fire (scheduledAt, ms since the epoch) is at or after this... */
  since?: number;
  /** ...and before this. */
  until?: number;
}

/** One page of the runs of every task, newest fire first, without their output's text. */
export interface RunSummaryPage {
  runs: RunSummary[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** A run's number and outcome, as the recent outcomes of a task list them. */
export interface RunOutcomeEntry {
  run: number;
  outcome: RunOutcome;
}

/**
 * Whether the store can serve requests. `store_corrupt` (the database is damaged) lasts
 * until the daemon is restarted on a repaired or restored file; `store_unavailable` (the
 * disk is full, an I/O error) lasts until a write succeeds again. `since` is when it began
 * (milliseconds since the epoch); `reason` says what failed, for /healthz and the log.
 */
export type StoreHealth =
  | { ok: true }
  | { ok: false; code: 'store_corrupt' | 'store_unavailable'; reason: string; since: number };

/** Parameters of TaskStore.backup. */
export interface BackupParams {
  /** Where the copy goes: an absolute path on the daemon's host. */
  path: string;
  /** Replace a file already there (refused otherwise). */
  overwrite: boolean;
}

/**
 * Durable storage of tasks and their runs. A failure of the storage itself comes out of any
 * method as a SchedulerError `store_corrupt` or `store_unavailable` (with the original
 * error as its cause), and is reflected by health().
 */
export interface TaskStore {
  /** Stores a new task; fails with already_exists when the id is taken. Committed on return. */
  insertTask(task: Task): Promise<void>;
  /**
   * Stores a task together with its runs exactly as given (state, version, run numbers,
   * outcomes and output), as one write: what `scheduler import` brings from another store.
   * Fails with already_exists, writing nothing, when the id is taken.
   */
  importTask(task: Task, runs: readonly Run[]): Promise<void>;
  /** Writes a task's new state (and a run change) if its version is still `expectedVersion`. */
  saveTask(params: SaveTaskParams): Promise<void>;
  getTask(id: string): Promise<Task | undefined>;
  /**
   * The task's version alone, undefined when there is no such task: one row read by one
   * statement, so that a cache of reads keyed by version can check an entry cheaply.
   */
  taskVersion(id: string): Promise<number | undefined>;
  /** The task's retained runs, oldest first. */
  listRuns(taskId: string): Promise<Run[]>;
  /** A page of a task's retained runs, newest first, optionally of one outcome only. */
  listRunsPage(params: ListRunsParams): Promise<RunPage>;
  /**
   * A page of the retained runs of every task, newest first by the fire each serves
   * (scheduledAt; ties by task id, then run number, both descending), optionally of one
   * outcome and within [since, until): without the text of their output, which is not read.
   */
  listAllRunsPage(params: ListAllRunsParams): Promise<RunSummaryPage>;
  /**
   * The last `count` retained runs (number and outcome) of each task of `taskIds`, oldest
   * first, in one read for them all; a task with no runs (or no such task) is left out.
   */
  listRecentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcomeEntry[]>>;
  /** One retained run of a task. */
  getRun(taskId: string, run: number): Promise<Run | undefined>;
  /** A task and its retained runs (oldest first), read as one consistent snapshot. */
  getTaskWithRuns(id: string): Promise<{ task: Task; runs: Run[] } | undefined>;
  listTasks(params: ListTasksParams): Promise<TaskPage>;
  /** Removes the task and its runs; false when there was no such task. */
  deleteTask(id: string): Promise<boolean>;
  /** The earliest time at which some task needs the engine, if any. */
  earliestDueAt(): Promise<number | undefined>;
  /** Stores a token made with `scheduler token create`; already_exists when its name (or its hash) is taken. */
  insertToken(token: StoredToken): Promise<void>;
  /** The tokens made with `scheduler token create`, by name. */
  listTokens(): Promise<StoredToken[]>;
  /** Forgets a made token; false when there was none of that name. */
  deleteToken(name: string): Promise<boolean>;
  /** Appends entries to the audit log, in one write, then drops the oldest beyond the newest `keep`. */
  appendAudit(entries: readonly AuditEntry[], keep: number): Promise<void>;
  /** The audit log, newest first: `limit` entries older than the entry `before` (its id), or the newest. */
  listAudit(params: { limit: number; before?: number }): Promise<Array<AuditEntry & { id: number }>>;
  /** Stores a browser's session (POST /api/session), by the SHA-256 of its id. */
  insertSession(session: StoredSession): Promise<void>;
  /** The session whose id has this SHA-256, expired or not; undefined when there is none. */
  findSession(sha256: string): Promise<StoredSession | undefined>;
  /** Ends a session; false when there was none. */
  deleteSession(sha256: string): Promise<boolean>;
  /** Deletes at most `limit` sessions expired at `now` (the earliest first); returns how many. */
  deleteExpiredSessions(now: number, limit: number): Promise<number>;
  /** How many tasks there are of each type in each status (pairs with none left out), for the metrics. */
  countTasks(): Promise<TaskCount[]>;
  /** How many tasks were due before `before` (ms since the epoch) and have not been fired yet, counting up to `cap`. */
  countOverdue(before: number, cap: number): Promise<number>;
  /** Tasks whose due time is at or before `now`, earliest first. */
  listDueTasks(params: { now: number; limit: number }): Promise<Task[]>;
  /** Tasks recorded as Executing: after a restart, their runs were interrupted. */
  listExecutingTasks(): Promise<Task[]>;
  /** The bytes of output kept by all runs together. */
  outputBytes(): Promise<number>;
  /**
   * Keeps the output of all runs within `maxBytes` by dropping the output of the runs that
   * finished first (the run records stay, marked as having all their output dropped).
   * Returns how many runs lost their output.
   */
  boundOutput(maxBytes: number): Promise<number>;
  /** Fails when the store cannot serve requests. */
  ping(): Promise<void>;
  /** The last failure of the storage still in force, or ok. */
  health(): StoreHealth;
  /**
   * health(), after trying a small write when the store was refusing writes, so that a
   * store whose disk has room again says so without waiting for the next real write.
   */
  recheck(): Promise<StoreHealth>;
  /**
   * Writes a consistent copy of the whole store to a new file while it keeps serving;
   * resolves with the copy's size once the file is complete (never a partial file at `path`).
   */
  backup(params: BackupParams): Promise<{ bytes: number }>;
  close(): Promise<void>;
}

/**
 * What a store written by this process alone (SQLite, behind the data directory's lock) can
 * tell of the writes, for a cache of reads keyed by version (server/task-json-cache.ts).
 */
export interface SoleWriter {
  /**
   * A count that moves with every row written, whatever the task: while it stays, nothing
   * changed. Costs no read of the database; fails like any read once the store is damaged.
   */
  writeCount(): number;
  /**
   * Calls `listener` with the task's id, synchronously, within each write that changes what
   * reading the task returns without raising its version: the task deleted (a task submitted
   * later under the same id starts again at version 1), or output of its finished runs
   * dropped to keep the bound on all output. `listener` must not throw.
   */
  onUnversionedChange(listener: (taskId: string) => void): void;
}
