/**
 * What the HTTP layer asks of the rest of the daemon, declared here by the server so that it
 * depends on these few operations and not on the engine, the store or the runner that
 * provide them. The daemon's wiring hands it the real ones (they fit these shapes); tests
 * may hand it anything that does. Moving the engine behind a network hop, or the store to
 * another backend, changes nothing on this side.
 */
import type { AuditEntry, StoredSession, StoredToken } from '../core/access-records.js';
import type { NodeRecord } from '../core/node.js';
import type { Submission } from '../core/submission.js';
import type { LiveOutput, Run, RunOutcome, RunSummary, Task, TaskStatus } from '../core/task.js';
import type { StatusJson } from '../protocol/schemas.js';

/** A task together with its retained runs, oldest first. */
export interface TaskWithRuns {
  task: Task;
  runs: Run[];
}

/** The answer to a user's command: the task, and what did not happen as asked, if anything. */
export type CommandResult = TaskWithRuns & { warning: string | null };

/** One page of a list, and the cursor of the next page (null on the last). */
export interface TaskPage {
  tasks: Task[];
  nextCursor: string | null;
}

/** One page of a task's runs, newest first, and the cursor of the next page (null on the last). */
export interface RunPage {
  runs: Run[];
  nextCursor: string | null;
}

/** One page of the runs of every task, newest fire first, and the cursor of the next page (null on the last). */
export interface RunSummaryPage {
  runs: RunSummary[];
  nextCursor: string | null;
}

/**
 * The scheduler's operations the routes call. A command may name the versions of the task it
 * was meant for (If-Match); it fails with precondition_failed when the task is at another.
 */
export interface TaskOperations {
  /** Checks and stores a new task; committed when this resolves. */
  submit(input: Submission): Promise<Task>;
  /**
   * Stores a task exported by another daemon with its runs as they were; already_exists when
   * the id is taken. Runs in progress at the export are recorded as interrupted (how many: the answer).
   */
  importTask(task: Task, runs: readonly Run[]): Promise<{ interrupted: number }>;
  /** The task a submission would create now, checked, not stored. */
  dryRun(input: Submission): Task;
  stop(id: string, expectedVersions?: readonly number[]): Promise<CommandResult>;
  pause(id: string, expectedVersions?: readonly number[]): Promise<CommandResult>;
  resume(id: string, expectedVersions?: readonly number[]): Promise<CommandResult>;
  runNow(id: string, expectedVersions?: readonly number[]): Promise<CommandResult>;
  /** Ends the task's run in progress; resolves once it is recorded. */
  kill(id: string, expectedVersions?: readonly number[]): Promise<TaskWithRuns>;
  delete(id: string, expectedVersions?: readonly number[]): Promise<void>;
  /** The task; not_found when there is none. */
  getTask(id: string): Promise<Task>;
  /** The task with its runs; not_found when there is none. */
  get(id: string): Promise<TaskWithRuns>;
  /** The task's version as stored, read alone and cheaply; undefined when there is no such task. */
  taskVersion(id: string): Promise<number | undefined>;
  /** A page of tasks: in submission order, or in id order with a prefix (only the ids that start with it). */
  list(params: { limit: number; cursor?: string; status?: TaskStatus; prefix?: string }): Promise<TaskPage>;
  /** The outcomes of the last `count` runs of each task of `taskIds`, oldest first, read for them all at once. */
  recentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcome[]>>;
  /** A page of the runs of every task, newest fire first, of one outcome and with a fire in [since, until) if asked. */
  listAllRuns(params: { limit: number; cursor?: string; outcome?: RunOutcome; since?: number; until?: number }): Promise<RunSummaryPage>;
  listRuns(params: { id: string; limit: number; cursor?: string; outcome?: RunOutcome }): Promise<RunPage>;
  getRun(id: string, run: number): Promise<Run>;
  /** The output so far of the task's run in progress (of run `run`, when given), if there is one. */
  liveOutput(id: string, run?: number): LiveOutput | undefined;
  /** Runs executing now. */
  readonly runsInProgress: number;
  /** What is held in memory because the store refused to commit it (/healthz tells it). */
  readonly backlog: { readonly heldRunEnds: number };
}

/**
 * What a store this daemon alone writes (SQLite) tells of its writes; the cache of serialised
 * tasks relies on it (task-json-cache.ts). Stores shared with other nodes cannot give it.
 */
export interface SoleWriter {
  /** A count that moves with every row written: while it stays, no task changed. No read of the database. */
  writeCount(): number;
  /**
   * Calls `listener` with the task's id within each write that changes what reading the task
   * returns without raising its version: the task deleted (a later task under the same id
   * starts again at version 1), or its runs' output dropped to keep the bound on all output.
   */
  onUnversionedChange(listener: (taskId: string) => void): void;
}

/** What a long poll learns: the task changed, was deleted, or nothing happened in time. */
export type ChangeNotice = 'changed' | 'deleted' | 'timeout';

/** Where long polls wait for a task to change, instead of polling the store. */
export interface ChangeSubscriptions {
  /**
   * Waits for the next change of `taskId`, at most `timeoutMs`; subscribe before reading
   * the task, so that a change in between is not missed. `cancel` ends the wait early.
   */
  subscribe(taskId: string, timeoutMs: number, knownVersion?: number): { next: Promise<ChangeNotice>; cancel: () => void };
}

/** Whether the store can serve, as the store reports it. */
export type StoreHealthReport =
  | { ok: true }
  | { ok: false; code: 'store_corrupt' | 'store_unavailable'; reason: string; since: number };

/** The store's health, for /healthz. */
export interface HealthProbe {
  /** The last failure of the store still in force, after trying a small write if it was refusing writes. */
  recheck(): Promise<StoreHealthReport>;
  /** Fails when the store cannot serve requests. */
  ping(): Promise<void>;
}

/** Writes a consistent copy of the store while it serves (POST /api/backup). */
export interface BackupWriter {
  /** Resolves with the copy's size once the file at `path` is complete. */
  backup(params: { path: string; overwrite: boolean }): Promise<{ bytes: number }>;
}

/** Where failures that repeat with every request are logged, once per interval. */
export interface FaultReporter {
  /** Logs `message` unless a failure of `kind` was logged within the interval; counts it otherwise. */
  report(kind: string, details: object, message: string): void;
}

/** How full the slots of runs are now (GET /api/status). */
export interface RunSlots {
  maxRuns: number;
  running: number;
  waiting: number;
  queues: StatusJson['queues'];
}

/** A daemon sharing the store, as GET /api/nodes lists it (see core/node.ts). */
export type NodeView = NodeRecord;

/** The daemons ("nodes") sharing the store: GET /api/nodes, and this one's state for /healthz. */
export interface NodeDirectory {
  /** Every node known, this one included. */
  list(): Promise<NodeView[]>;
  /** This node's id and state as it knows it, without asking the store. */
  self(): { id: string; state: NodeView['state'] };
}

/** The daemon's metrics, rendered for a scrape (GET /metrics). */
export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** Where the tokens made through the API are kept (the store): as their SHA-256 alone. */
export interface TokenStore {
  insertToken(token: StoredToken): Promise<void>;
  listTokens(): Promise<StoredToken[]>;
  deleteToken(name: string): Promise<boolean>;
}

/** Where browsers' sessions are kept (the store): by the SHA-256 of their id alone. */
export interface SessionStore {
  insertSession(session: StoredSession): Promise<void>;
  findSession(sha256: string): Promise<StoredSession | undefined>;
  deleteSession(sha256: string): Promise<boolean>;
  /** Deletes at most `limit` sessions expired at `now`; returns how many. */
  deleteExpiredSessions(now: number, limit: number): Promise<number>;
}

/** Where the audit log is kept (the store). */
export interface AuditReader {
  listAudit(params: { limit: number; before?: number }): Promise<Array<AuditEntry & { id: number }>>;
}
