/**
 * The embedded default store: one SQLite database file in WAL mode. better-sqlite3 is
 * synchronous, so each method is one short transaction that has committed when the promise
 * resolves (new tasks are committed in groups, see GroupCommit); with WAL and synchronous=NORMAL a commit survives a crash of the daemon
 * (kill -9) and only the last commits can be lost to a power cut (synchronous=FULL, the
 * `durability: 'full'` option, closes that window at the cost of an fsync per commit).
 *
 * Every public method passes through guard(): a failure of the database (damage, a full
 * disk, an I/O error) leaves as a StoreFailure naming the file and what to do, and sets
 * health(). Once the file is known to be damaged, every later call is refused with the same
 * store_corrupt error: writing on into a damaged b-tree can spread the damage.
 */
import Database from 'better-sqlite3';
import { SchedulerError } from '../../core/errors.js';
import type { Run, RunOutcome, Task } from '../../core/task.js';
import type {
  BackupParams,
  ListAllRunsParams,
  ListRunsParams,
  ListTasksParams,
  RunOutcomeEntry,
  RunPage,
  RunSummaryPage,
  SaveTaskParams,
  StoreHealth,
  AuditEntry,
  StoredSession,
  StoredToken,
  TaskCount,
  TaskPage,
  TaskStore,
  SoleWriter,
} from '../task-store.js';
import { allRunsBefore, decodeCursor, decodeIdCursor, encodeRunCursor, prefixRange } from '../cursor.js';
import { writeBackup } from './backup.js';
import { GroupCommit } from './group-commit.js';
import { startQuickCheck, type QuickCheck } from './quick-check.js';
import { classifySqliteError, corruptionRemedy, StoreFailure } from './sqlite-errors.js';
import { checkDatabaseAtStart } from './start-check.js';
import { migrations } from './migrations.js';
import {
  rowToRun,
  rowToRunSummary,
  rowToTask,
  runColumns,
  runEndColumns,
  runEndToRow,
  runSummaryColumns,
  runToRow,
  sameIndexedColumns,
  taskColumnNames,
  taskInsertValues,
  taskRowOfValues,
  taskStateToRow,
  taskWriteColumns,
  type RunRow,
  type RunSummaryRow,
  type TaskRow,
} from '../rows.js';

/** How long after a refused write recheck() tries a write of its own. */
const recheckAfterMs = 5_000;

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** The database file; ':memory:' for a throwaway store. */
  path: string;
  /** 'normal' survives a daemon crash; 'full' also survives a power cut. */
  durability?: 'normal' | 'full';
  /**
   * After opening, run a full `PRAGMA quick_check` in a worker thread (off the event loop,
   * on its own read-only connection); damage it finds turns the store corrupt. A check that
   * reads the whole file is too slow to make the start wait for it. The daemon starts it
   * itself once it serves (startBackgroundCheck), so that what it finds always meets a
   * serving daemon, which answers 503 saying so, whatever the race with the start.
   */
  backgroundCheck?: boolean;
}

/** Statements reading whole tasks select these, in raw mode (see taskRowOfValues). */
const taskColumns = taskColumnNames.join(', ');

/** The rows a raw statement over taskColumns returned. */
const taskRowsOf = (values: unknown): TaskRow[] => (values as unknown[][]).map(taskRowOfValues);

function tokenTaken(name: string): SchedulerError {
  return new SchedulerError('already_exists', `a token named "${name}" exists already (or one with the same value): revoke it first, or choose another name`);
}

function alreadyExists(id: string): SchedulerError {
  return new SchedulerError('already_exists', `a task with id "${id}" already exists; choose another id, or delete that task first`);
}

type PrefixStatementName = `listByPrefix${'' | 'After'}${'' | 'WithStatus'}`;

function prefixStatementName(after: boolean, withStatus: boolean): PrefixStatementName {
  return `listByPrefix${after ? 'After' : ''}${withStatus ? 'WithStatus' : ''}`;
}

/**
 * The four listings by prefix: from the prefix or after a cursor (one lower bound each, so
 * that it is the bound of the index range), with or without a status.
 */
function prefixStatements(db: Database.Database): Record<PrefixStatementName, Database.Statement> {
  const statements = {} as Record<PrefixStatementName, Database.Statement>;
  for (const after of [false, true]) {
    for (const withStatus of [false, true]) {
      statements[prefixStatementName(after, withStatus)] = db.prepare(`SELECT ${taskColumns} FROM tasks
        WHERE ${withStatus ? 'status = @status AND ' : ''}id ${after ? '>' : '>='} @from AND id < @below ORDER BY id LIMIT @limit`).raw(true);
    }
  }
  return statements;
}

/**
 * A TaskStore over a SQLite database file. The daemon holding the data directory's lock is
 * the file's only writer, so the store can tell when anything was written, and every change
 * that does not raise a task's version (SoleWriter).
 */
export class SqliteTaskStore implements TaskStore, SoleWriter {
  private readonly db: Database.Database;
  private readonly path: string;
  private state: StoreHealth = { ok: true };
  /** The damage found, refused again on every later call. */
  private corruption: StoreFailure | undefined;
  private backgroundCheck: QuickCheck | undefined;
  private readonly statements;
  private readonly deleteInTransaction: (id: string) => boolean;
  private readonly importInTransaction: (task: Task, runs: readonly Run[]) => void;
  private readonly readTaskWithRuns: (id: string) => { task: Task; runs: Run[] } | undefined;
  private readonly boundOutputInTransaction: (maxBytes: number) => number;
  /** Submits arriving together are committed together (see GroupCommit). */
  private readonly inserts: GroupCommit<Task>;
  /**
   * So are the changes of tasks: the fires of a burst (the firing loop fires several at
   * once) and the ends of runs that finish together share one commit.
   */
  private readonly saves: GroupCommit<SaveTaskParams>;
  private readonly unversionedListeners: Array<(taskId: string) => void> = [];

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    try {
      this.db = new Database(options.path);
    } catch (error) {
      throw classifySqliteError(error, options.path) ?? error;
    }
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('busy_timeout = 5000');
      // A row replaced by INSERT OR REPLACE must fire the delete triggers that keep
      // output_usage right; SQLite fires them only with recursive triggers on.
      this.db.pragma('recursive_triggers = ON');
      checkDatabaseAtStart(this.db);
      this.migrate();
      this.statements = this.prepare();
    } catch (error) {
      // Closed here: the caller never gets a store to close.
      this.db.close();
      throw classifySqliteError(error, options.path) ?? error;
    }
    const insertInTransaction = this.db.transaction((tasks: Task[]) => this.insertBatch(tasks));
    this.inserts = new GroupCommit((tasks: Task[]) => this.guard('write', () => insertInTransaction(tasks)));
    if (options.backgroundCheck) this.startBackgroundCheck();
    // Inside the batch's transaction each save is a transaction of its own, which
    // better-sqlite3 makes a savepoint: a save refused (a version conflict) is rolled back
    // alone and refused alone; a failure of the database itself fails the whole batch.
    const saveOne = this.db.transaction((params: SaveTaskParams) => this.writeTask(params));
    const saveBatch = this.db.transaction((batch: SaveTaskParams[]) =>
      batch.map((params) => {
        try {
          saveOne(params);
          return undefined;
        } catch (error) {
          if (classifySqliteError(error, this.path)) throw error;
          return error instanceof Error ? error : new Error(String(error));
        }
      }),
    );
    this.saves = new GroupCommit((batch: SaveTaskParams[]) => this.guard('write', () => saveBatch(batch)));
    // One read transaction, so that the runs belong to the version of the task read.
    this.readTaskWithRuns = this.db.transaction((id: string) => {
      const values = this.statements.getTask.get(id) as unknown[] | undefined;
      if (!values) return undefined;
      return { task: rowToTask(taskRowOfValues(values)), runs: (this.statements.listRuns.all(id) as RunRow[]).map(rowToRun) };
    });
    this.boundOutputInTransaction = this.db.transaction((maxBytes: number) => this.dropOldestOutput(maxBytes));
    this.importInTransaction = this.db.transaction((task: Task, runs: readonly Run[]) => {
      if (this.statements.insertTask.run(taskInsertValues(task)).changes === 0) throw alreadyExists(task.id);
      this.statements.countInserted.run(task.type, task.state.status, 1);
      for (const run of runs) this.statements.insertRun.run(runToRow(task.id, run));
    });
    this.deleteInTransaction = this.db.transaction((id: string) => {
      this.statements.deleteRuns.run(id);
      const deleted = this.statements.deleteTask.run(id).changes > 0;
      if (deleted) this.unversionedChange(id);
      return deleted;
    });
  }

  private migrate(): void {
    const applied = this.db.pragma('user_version', { simple: true }) as number;
    if (applied > migrations.length) {
      throw new SchedulerError(
        'store_unavailable',
        `the database was written by a newer version of scheduler (schema ${applied}, this one knows ${migrations.length}); upgrade scheduler`,
      );
    }
    for (let index = applied; index < migrations.length; index++) {
      this.db.transaction(() => {
        this.db.exec(migrations[index]!);
        this.db.pragma(`user_version = ${index + 1}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      // Positional parameters: taskInsertValues(task).
      insertTask: db.prepare(`INSERT INTO tasks (${taskWriteColumns.join(', ')}) VALUES (${taskWriteColumns.map(() => '?').join(', ')})
        ON CONFLICT (id) DO NOTHING`),
      updateTask: db.prepare(`UPDATE tasks SET status = @status, current_run = @current_run,
          stop_requested = @stop_requested, next_run_at = @next_run_at, state_detail = @state_detail,
          last_status_updated = @last_status_updated, version = @version, last_run = @last_run
        WHERE id = @id AND version = @expected_version`),
      // The same write for a state whose indexed columns (status, next_run_at) stay as they
      // are, such as the start of a run that waited: SQLite rewrites an index entry whenever
      // its column is set, even to its own value, and three indexes hold these two.
      updateTaskKeepingIndexes: db.prepare(`UPDATE tasks SET current_run = @current_run,
          stop_requested = @stop_requested, state_detail = @state_detail,
          last_status_updated = @last_status_updated, version = @version, last_run = @last_run
        WHERE id = @id AND version = @expected_version`),
      getTask: db.prepare(`SELECT ${taskColumns} FROM tasks WHERE id = ?`).raw(true),
      taskVersion: db.prepare('SELECT version FROM tasks WHERE id = ?').pluck(),
      // Rows changed by this connection since it opened: no table is read.
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      listTasks: db.prepare(`SELECT ${taskColumns} FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?`).raw(true),
      listTasksByStatus: db.prepare(`SELECT ${taskColumns} FROM tasks WHERE status = ? AND seq > ? ORDER BY seq LIMIT ?`).raw(true),
      // With a prefix: a range of the unique index on id, or of the index on (status, id)
      // with a status (migration 13), read in its order, so that a page reads about as many
      // rows as it holds.
      ...prefixStatements(db),
      deleteTask: db.prepare('DELETE FROM tasks WHERE id = ?'),
      deleteRuns: db.prepare('DELETE FROM runs WHERE task_id = ?'),
      earliestDue: db.prepare(
        'SELECT MIN(next_run_at) AS due FROM tasks WHERE next_run_at IS NOT NULL',
      ),
      countTasks: db.prepare('SELECT type, status, count FROM task_counts WHERE count > 0 ORDER BY type, status'),
      // Inserts count their tasks themselves (migration 14); status changes and deletes by trigger.
      countInserted: db.prepare(`INSERT INTO task_counts (type, status, count) VALUES (?, ?, ?)
        ON CONFLICT (type, status) DO UPDATE SET count = count + excluded.count`),
      insertToken: db.prepare('INSERT INTO tokens (name, role, sha256, created_at) VALUES (@name, @role, @sha256, @createdAt) ON CONFLICT DO NOTHING'),
      listTokens: db.prepare('SELECT name, role, sha256, created_at AS createdAt FROM tokens ORDER BY name'),
      deleteToken: db.prepare('DELETE FROM tokens WHERE name = ?'),
      // Positional parameters, bound by appendAudit (a name is looked up on the object per parameter).
      insertAudit: db.prepare('INSERT INTO audit (at, token, role, method, path, operation, task_id, status, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      pruneAudit: db.prepare('DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?'),
      listAudit: db.prepare(`SELECT id, at, token, role, method, path, operation, task_id AS taskId, status, remote FROM audit
        WHERE id < ? ORDER BY id DESC LIMIT ?`),
      insertSession: db.prepare(`INSERT INTO sessions (sha256, name, role, token_check, created_at, expires_at)
        VALUES (@sha256, @name, @role, @tokenCheck, @createdAt, @expiresAt)`),
      findSession: db.prepare(`SELECT sha256, name, role, token_check AS tokenCheck, created_at AS createdAt, expires_at AS expiresAt
        FROM sessions WHERE sha256 = ?`),
      deleteSession: db.prepare('DELETE FROM sessions WHERE sha256 = ?'),
      // Through the index on expires_at, at most `limit` rows: a login never pays for a long backlog at once.
      deleteExpiredSessions: db.prepare('DELETE FROM sessions WHERE sha256 IN (SELECT sha256 FROM sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)'),
      // Through the due index, stopping at the cap: cheap when few are overdue, bounded when many are.
      countOverdue: db.prepare(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE next_run_at IS NOT NULL AND next_run_at < ? LIMIT ?)",
      ).pluck(),
      // Ties in submission order (seq is the row id, which ends each entry of the index on
      // next_run_at, so this needs no sort).
      listDue: db.prepare(`SELECT ${taskColumns} FROM tasks
        WHERE next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, seq LIMIT ?`).raw(true),
      listExecuting: db.prepare(`SELECT ${taskColumns} FROM tasks WHERE status = 'Executing'`).raw(true),
      listRuns: db.prepare('SELECT * FROM runs WHERE task_id = ? ORDER BY run'),
      listRunsBefore: db.prepare('SELECT * FROM runs WHERE task_id = ? AND run < ? ORDER BY run DESC LIMIT ?'),
      listRunsBeforeByOutcome: db.prepare(
        'SELECT * FROM runs WHERE task_id = ? AND run < ? AND outcome = ? ORDER BY run DESC LIMIT ?',
      ),
      getRun: db.prepare('SELECT * FROM runs WHERE task_id = ? AND run = ?'),
      // Newest first through the index on (scheduled_at, task_id, run), or on (outcome,
      // scheduled_at, task_id, run) for one outcome (migration 13): a page reads its rows and
      // no more. The cursor and `until` are one bound (see allRunsBefore), so that the index
      // range starts where the page does.
      listAllRuns: db.prepare(`SELECT ${runSummaryColumns.join(', ')} FROM runs
        WHERE (scheduled_at, task_id, run) < (@at, @task, @run) AND scheduled_at >= @since
        ORDER BY scheduled_at DESC, task_id DESC, run DESC LIMIT @limit`),
      listAllRunsByOutcome: db.prepare(`SELECT ${runSummaryColumns.join(', ')} FROM runs
        WHERE outcome = @outcome AND (scheduled_at, task_id, run) < (@at, @task, @run) AND scheduled_at >= @since
        ORDER BY scheduled_at DESC, task_id DESC, run DESC LIMIT @limit`),
      // The last N runs of each task of a page: per task, the run N back is found through the
      // primary key (the subquery depends on the task alone, so it runs once per task), then
      // the runs from it on are read. One statement for the whole page.
      recentOutcomes: db.prepare(`SELECT p.value AS task_id, r.run, r.outcome FROM json_each(@ids) AS p
        JOIN runs AS r ON r.task_id = p.value AND r.run >= coalesce(
          (SELECT r2.run FROM runs AS r2 WHERE r2.task_id = p.value ORDER BY r2.run DESC LIMIT 1 OFFSET @back), 0)
        ORDER BY p.key, r.run`),
      insertRun: db.prepare(`INSERT OR REPLACE INTO runs (${runColumns.join(', ')})
        VALUES (${runColumns.map((column) => `@${column}`).join(', ')})`),
      // A run that waited for a slot has started: only a run still recorded as waiting.
      startRun: db.prepare(`UPDATE runs SET started_at = @started_at, waiting = 0
        WHERE task_id = @task_id AND run = @run AND waiting = 1 AND outcome = 'running'`),
      // A run started when the runner says: never, if it could not start or was ended while
      // waiting for a slot. Only an interrupted run's end (found after a crash) may not know
      // its start, and keeps the one recorded.
      finishRun: db.prepare(`UPDATE runs SET
          started_at = CASE WHEN @outcome = 'interrupted' THEN COALESCE(@started_at, started_at) ELSE @started_at END,
          waiting = 0,
          ${runEndColumns.filter((column) => column !== 'started_at').map((column) => `${column} = @${column}`).join(', ')}
        WHERE task_id = @task_id AND run = @run`),
      outputUsage: db.prepare('SELECT bytes FROM output_usage WHERE id = 1'),
      oldestRunsWithOutput: db.prepare(`SELECT task_id, run, output_bytes, stdout_bytes, stderr_bytes FROM runs
        WHERE output_bytes > 0 AND finished_at IS NOT NULL ORDER BY finished_at LIMIT ?`),
      dropRunOutput: db.prepare(`UPDATE runs SET stdout = '', stdout_dropped = stdout_bytes, stdout_dropped_at = 0,
          stdout_truncated = stdout_bytes > 0, stderr = '', stderr_dropped = stderr_bytes, stderr_dropped_at = 0,
          stderr_truncated = stderr_bytes > 0, output_bytes = 0
        WHERE task_id = ? AND run = ?`),
      pruneRuns: db.prepare(
        `DELETE FROM runs WHERE task_id = ? AND run <= ? AND outcome != 'running'`,
      ),
      ping: db.prepare('SELECT 1'),
    };
  }

  insertTask(task: Task): Promise<void> {
    return this.inserts.write(task);
  }

  /** Inserts a batch of new tasks in one transaction; a taken id refuses that task alone. */
  private insertBatch(tasks: Task[]): Array<Error | undefined> {
    // New tasks by type and status (a submit's status is always ToBeExecuted): one count each.
    const inserted = new Map<string, { type: string; status: string; count: number }>();
    const outcomes = tasks.map((task) => {
      if (this.statements.insertTask.run(taskInsertValues(task)).changes === 0) return alreadyExists(task.id);
      const key = `${task.type} ${task.state.status}`;
      const counted = inserted.get(key);
      if (counted) counted.count++;
      else inserted.set(key, { type: task.type, status: task.state.status, count: 1 });
      return undefined;
    });
    for (const { type, status, count } of inserted.values()) this.statements.countInserted.run(type, status, count);
    return outcomes;
  }

  async importTask(task: Task, runs: readonly Run[]): Promise<void> {
    this.guard('write', () => this.importInTransaction(task, runs));
  }

  saveTask(params: SaveTaskParams): Promise<void> {
    return this.saves.write(params);
  }

  /** The body of saveTask, as one transaction. */
  private writeTask(params: SaveTaskParams): void {
    const { task, expectedVersion, runChange, keepRuns, previous } = params;
    // `previous` is the row at expectedVersion, which the write requires: if its indexed
    // columns are the new ones, they need not be written.
    const update = previous && sameIndexedColumns(previous.state, task.state) ? this.statements.updateTaskKeepingIndexes : this.statements.updateTask;
    const updated = update.run(taskStateToRow(task, expectedVersion));
    if (updated.changes === 0) {
      throw new SchedulerError(
        'version_conflict',
        `task ${task.id} changed meanwhile (expected version ${expectedVersion}); retry`,
      );
    }
    if (!runChange) return;
    if (runChange.kind === 'insert') {
      if (runChange.skipped) this.statements.insertRun.run(runToRow(task.id, runChange.skipped));
      this.statements.insertRun.run(runToRow(task.id, runChange.run));
    } else if (runChange.kind === 'start') {
      this.statements.startRun.run({ task_id: task.id, run: runChange.run, started_at: runChange.startedAt });
    } else {
      this.statements.finishRun.run(runEndToRow(task.id, runChange.run, runChange.result));
    }
    // Only an insert or an end can leave a finished run older than the last `keepRuns` (a
    // start cannot), and none can while the task has not had more runs than that: the delete
    // would look for nothing.
    if (runChange.kind !== 'start' && task.lastRun > keepRuns) this.statements.pruneRuns.run(task.id, task.lastRun - keepRuns);
  }

  async getTask(id: string): Promise<Task | undefined> {
    return this.guard('read', () => {
      const values = this.statements.getTask.get(id) as unknown[] | undefined;
      return values && rowToTask(taskRowOfValues(values));
    });
  }

  async taskVersion(id: string): Promise<number | undefined> {
    // One statement: atomic on its own, so no transaction around it.
    return this.guard('read', () => this.statements.taskVersion.get(id) as number | undefined);
  }

  writeCount(): number {
    // This connection is the file's only writer (the data directory's lock), so its count of
    // changed rows moves with every change of the data.
    return this.guard('read', () => this.statements.totalChanges.get() as number);
  }

  onUnversionedChange(listener: (taskId: string) => void): void {
    this.unversionedListeners.push(listener);
  }

  private unversionedChange(taskId: string): void {
    for (const listener of this.unversionedListeners) listener(taskId);
  }

  async getTaskWithRuns(id: string): Promise<{ task: Task; runs: Run[] } | undefined> {
    return this.guard('read', () => this.readTaskWithRuns(id));
  }

  async listRuns(taskId: string): Promise<Run[]> {
    return this.guard('read', () => (this.statements.listRuns.all(taskId) as RunRow[]).map(rowToRun));
  }

  async listRunsPage(params: ListRunsParams): Promise<RunPage> {
    return this.guard('read', () => this.readRunsPage(params));
  }

  private readRunsPage(params: ListRunsParams): RunPage {
    const before = params.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(params.cursor);
    // One row more than asked tells whether there is a next page.
    const rows = (
      params.outcome === undefined
        ? this.statements.listRunsBefore.all(params.taskId, before, params.limit + 1)
        : this.statements.listRunsBeforeByOutcome.all(params.taskId, before, params.outcome, params.limit + 1)
    ) as RunRow[];
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return { runs: page.map(rowToRun), nextCursor: rows.length > params.limit && last ? String(last.run) : null };
  }

  async listAllRunsPage(params: ListAllRunsParams): Promise<RunSummaryPage> {
    return this.guard('read', () => {
      const before = allRunsBefore(params);
      const bounds = { at: before.scheduledAt, task: before.taskId, run: before.run, since: params.since ?? Number.MIN_SAFE_INTEGER, limit: params.limit + 1 };
      // One row more than asked tells whether there is a next page.
      const rows = (
        params.outcome === undefined ? this.statements.listAllRuns.all(bounds) : this.statements.listAllRunsByOutcome.all({ ...bounds, outcome: params.outcome })
      ) as RunSummaryRow[];
      const page = rows.slice(0, params.limit).map(rowToRunSummary);
      const last = page.at(-1);
      return { runs: page, nextCursor: rows.length > params.limit && last ? encodeRunCursor(last) : null };
    });
  }

  async listRecentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcomeEntry[]>> {
    const recent = new Map<string, RunOutcomeEntry[]>();
    if (taskIds.length === 0 || count <= 0) return recent;
    const rows = this.guard('read', () => this.statements.recentOutcomes.all({ ids: JSON.stringify(taskIds), back: count - 1 })) as Array<
      { task_id: string; run: number; outcome: RunOutcome }
    >;
    for (const row of rows) {
      const entries = recent.get(row.task_id) ?? [];
      if (entries.length === 0) recent.set(row.task_id, entries);
      entries.push({ run: row.run, outcome: row.outcome });
    }
    return recent;
  }

  async getRun(taskId: string, run: number): Promise<Run | undefined> {
    return this.guard('read', () => {
      const row = this.statements.getRun.get(taskId, run) as RunRow | undefined;
      return row && rowToRun(row);
    });
  }

  async listTasks(params: ListTasksParams): Promise<TaskPage> {
    return this.guard('read', () => this.readTasksPage(params));
  }

  private readTasksPage(params: ListTasksParams): TaskPage {
    if (params.prefix !== undefined) return this.readTasksByPrefix(params, params.prefix);
    const after = params.cursor === undefined ? 0 : decodeCursor(params.cursor);
    // One row more than asked tells whether there is a next page.
    const rows = (
      params.status === undefined
        ? taskRowsOf(this.statements.listTasks.all(after, params.limit + 1))
        : taskRowsOf(this.statements.listTasksByStatus.all(params.status, after, params.limit + 1))
    );
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return {
      tasks: page.map(rowToTask),
      nextCursor: rows.length > params.limit && last ? String(last.seq) : null,
    };
  }

  private readTasksByPrefix(params: ListTasksParams, prefix: string): TaskPage {
    const { from, below } = prefixRange(prefix);
    const after = params.cursor === undefined ? undefined : decodeIdCursor(params.cursor, prefix);
    const statement = this.statements[prefixStatementName(after !== undefined, params.status !== undefined)];
    // One row more than asked tells whether there is a next page.
    const rows = taskRowsOf(statement.all({ from: after ?? from, below, status: params.status, limit: params.limit + 1 }));
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return { tasks: page.map(rowToTask), nextCursor: rows.length > params.limit && last ? last.id : null };
  }

  async deleteTask(id: string): Promise<boolean> {
    return this.guard('write', () => this.deleteInTransaction(id));
  }

  async earliestDueAt(): Promise<number | undefined> {
    return this.guard('read', () => (this.statements.earliestDue.get() as { due: number | null }).due ?? undefined);
  }

  async listDueTasks(params: { now: number; limit: number }): Promise<Task[]> {
    return this.guard('read', () => taskRowsOf(this.statements.listDue.all(params.now, params.limit)).map(rowToTask));
  }

  async insertToken(token: StoredToken): Promise<void> {
    return this.guard('write', () => {
      if (this.statements.insertToken.run(token).changes === 0) throw tokenTaken(token.name);
    });
  }

  async listTokens(): Promise<StoredToken[]> {
    return this.guard('read', () => this.statements.listTokens.all() as StoredToken[]);
  }

  async deleteToken(name: string): Promise<boolean> {
    return this.guard('write', () => this.statements.deleteToken.run(name).changes > 0);
  }

  async appendAudit(entries: readonly AuditEntry[], keep: number): Promise<void> {
    return this.guard('write', () =>
      this.db.transaction(() => {
        for (const { at, token, role, method, path, operation, taskId, status, remote } of entries) {
          this.statements.insertAudit.run(at, token, role, method, path, operation, taskId, status, remote);
        }
        this.statements.pruneAudit.run(keep);
      })(),
    );
  }

  async listAudit(params: { limit: number; before?: number }): Promise<Array<AuditEntry & { id: number }>> {
    return this.guard('read', () => this.statements.listAudit.all(params.before ?? Number.MAX_SAFE_INTEGER, params.limit) as Array<AuditEntry & { id: number }>);
  }

  async insertSession(session: StoredSession): Promise<void> {
    return this.guard('write', () => {
      this.statements.insertSession.run(session);
    });
  }

  async findSession(sha256: string): Promise<StoredSession | undefined> {
    return this.guard('read', () => this.statements.findSession.get(sha256) as StoredSession | undefined);
  }

  async deleteSession(sha256: string): Promise<boolean> {
    return this.guard('write', () => this.statements.deleteSession.run(sha256).changes > 0);
  }

  async deleteExpiredSessions(now: number, limit: number): Promise<number> {
    return this.guard('write', () => this.statements.deleteExpiredSessions.run(now, limit).changes);
  }

  async countTasks(): Promise<TaskCount[]> {
    return this.guard('read', () => this.statements.countTasks.all() as TaskCount[]);
  }

  async countOverdue(before: number, cap: number): Promise<number> {
    return this.guard('read', () => this.statements.countOverdue.get(before, cap) as number);
  }

  async listExecutingTasks(): Promise<Task[]> {
    return this.guard('read', () => taskRowsOf(this.statements.listExecuting.all()).map(rowToTask));
  }

  async outputBytes(): Promise<number> {
    return this.guard('read', () => (this.statements.outputUsage.get() as { bytes: number }).bytes);
  }

  async boundOutput(maxBytes: number): Promise<number> {
    // Most calls find the total within the bound: one row read, no write transaction.
    if ((await this.outputBytes()) <= maxBytes) return 0;
    return this.guard('write', () => this.boundOutputInTransaction(maxBytes));
  }

  /** The body of boundOutput: drops the output of the oldest finished runs until the total fits. */
  private dropOldestOutput(maxBytes: number): number {
    let usage = (this.statements.outputUsage.get() as { bytes: number }).bytes;
    let dropped = 0;
    while (usage > maxBytes) {
      const oldest = this.statements.oldestRunsWithOutput.all(100) as Array<{ task_id: string; run: number; output_bytes: number }>;
      if (oldest.length === 0) break; // what is left belongs to runs still executing
      for (const row of oldest) {
        if (usage <= maxBytes) break;
        this.statements.dropRunOutput.run(row.task_id, row.run);
        this.unversionedChange(row.task_id);
        usage -= row.output_bytes;
        dropped++;
      }
    }
    return dropped;
  }

  async ping(): Promise<void> {
    this.guard('read', () => this.statements.ping.get());
  }

  /** Starts the full check of the file in a worker thread, once (see SqliteStoreOptions.backgroundCheck). */
  startBackgroundCheck(): void {
    if (this.backgroundCheck || this.path === ':memory:') return;
    this.backgroundCheck = startQuickCheck(this.path, (problem) => {
      this.failed(Object.assign(new Error(`PRAGMA quick_check: ${problem}`), { code: 'SQLITE_CORRUPT' }));
    });
  }

  /** Settles once the background check (if any) has ended; its findings are then in health(). */
  async backgroundCheckDone(): Promise<void> {
    await this.backgroundCheck?.done;
  }

  health(): StoreHealth {
    return this.state;
  }

  /** When a write was last refused for want of room or an I/O error (0: never). */
  private lastRefusalAt = 0;

  async recheck(): Promise<StoreHealth> {
    // Not at once after a refusal: a small write may fit where the refused one did not, and
    // health would flap between two requests that see the same full disk.
    const quiet = Date.now() - this.lastRefusalAt >= recheckAfterMs;
    if (!this.state.ok && this.state.code === 'store_unavailable' && quiet) {
      // Rewrites a row as it is: a real write, which needs room in the log like any other.
      try {
        this.guard('write', () => this.db.prepare('UPDATE output_usage SET bytes = bytes WHERE id = 1').run());
      } catch {
        // Still refused: health() says why.
      }
    }
    return this.state;
  }

  async backup(params: BackupParams): Promise<{ bytes: number }> {
    // A copy of a damaged file is damaged too, and could replace a good backup.
    if (this.corruption) {
      throw new SchedulerError('store_corrupt', `${this.corruption.reason}: a backup of it would be damaged too; ${corruptionRemedy(this.path)}`);
    }
    return writeBackup(this.db, params);
  }

  async close(): Promise<void> {
    this.backgroundCheck?.stop();
    if (!this.db.open) return;
    this.inserts.flush();
    this.saves.flush();
    this.db.close();
  }

  /**
   * Runs one call of the store: a failure of the database leaves as a StoreFailure and is
   * recorded in health(); a write that succeeds ends a `store_unavailable` spell (the disk
   * has room again). Once the file is known to be damaged, nothing reaches it any more.
   */
  private guard<T>(kind: 'read' | 'write', work: () => T): T {
    if (this.corruption) throw this.corruption;
    let result: T;
    try {
      result = work();
    } catch (error) {
      throw this.failed(error);
    }
    if (kind === 'write' && !this.state.ok && this.state.code === 'store_unavailable') this.state = { ok: true };
    return result;
  }

  /** The error to throw for `error`, recording a failure of the database in health(). */
  private failed(error: unknown): unknown {
    const failure = classifySqliteError(error, this.path);
    if (!failure) return error;
    if (failure.code === 'store_corrupt') {
      this.corruption ??= failure;
      if (this.state.ok || this.state.code !== 'store_corrupt') {
        this.state = { ok: false, code: 'store_corrupt', reason: failure.reason, since: Date.now() };
      }
    } else {
      this.lastRefusalAt = Date.now();
      if (this.state.ok) this.state = { ok: false, code: 'store_unavailable', reason: failure.reason, since: Date.now() };
    }
    return failure;
  }
}
