/**
 * The PostgreSQL store: the same tables and the same compare-and-set writes as the SQLite
 * store, over a pg.Pool, so that several daemons can share one database. Each method is one
 * statement or one short transaction, committed when its promise resolves. A failure of the
 * server (down, restarting, the connection cut) leaves as `store_unavailable` and shows in
 * health() until a query succeeds again; pg opens a new connection on the next query, so the
 * store recovers by itself once the server answers.
 */
import type pg from 'pg';
import { SchedulerError } from '../../core/errors.js';
import { runKeyOf, type Run, type RunOutcome, type Task } from '../../core/task.js';
import { allRunsBefore, decodeCursor, decodeIdCursor, encodeRunCursor, prefixRange } from '../cursor.js';
import {
  rowToRun,
  rowToRunSummary,
  rowToTask,
  runColumns,
  runEndColumns,
  runEndToRow,
  runSummaryColumns,
  runToRow,
  taskInsertValues,
  taskStateToRow,
  taskWriteColumns,
  valuesOf,
  type RunRow,
  type RunSummaryRow,
  type TaskRow,
} from '../rows.js';
import { defaultQueue } from '../../core/execution.js';
import { queueOf } from '../../core/run-slots.js';
import type { ClaimedFire, ClaimOutcome, ClaimParams, FireClaims, QueueSlots } from '../fire-claims.js';
import type { ExpiredRun, KillRequest, LiveRun, RemoteRun, RunKey, RunLeases, RunRequests } from '../run-leases.js';
import type {
  BackupParams,
  RunChange,
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
} from '../task-store.js';
import { describeServer } from './connection.js';
import { openPostgresDatabase, type PostgresDatabaseOptions } from './open-database.js';
import { InsertBatcher } from './insert-batcher.js';
import { escapeNul, escapeRunRow, unescapeRunRow } from './nul-escape.js';
import { classifyPostgresError, isUniqueViolation } from './postgres-errors.js';
import { quotedSchemaName } from './schema-name.js';
import { PostgresNodeRegistry, type PostgresNodeRegistryOptions } from './postgres-node-registry.js';

/** What the store is built on: a pool to a migrated schema. */
export interface PostgresStoreOptions {
  pool: pg.Pool;
  /** The schema the store's tables are in (unquoted). */
  schema: string;
  /** The server's address, `host:port/database`, for messages. */
  server: string;
  /**
   * The node the store works for, when several share the database: the runs it records
   * are this node's, under a lease (run-leases.ts). Without it, runs have no owner and every
   * write about a run is taken, as in a store one daemon alone uses.
   */
  owner?: RunOwner;
}

/** The node a store works for. */
export interface RunOwner {
  /** The node's id (new at each start). */
  nodeId: string;
  /** The id of its data directory, the same across its restarts. */
  home: string;
  /** How long a run's lease holds after it is recorded or renewed, in ms. */
  leaseMs: number;
}

/** The columns a saveTask changes: the state, never the definition. */
const taskStateColumns = ['status', 'current_run', 'stop_requested', 'next_run_at', 'state_detail', 'last_status_updated', 'version', 'last_run'] as const;
/** The parameters of a task's compare-and-set write, in order: which task, at which version, then its new state. */
const taskUpdateParameters = ['id', 'expected_version', ...taskStateColumns] as const;
const taskSelect = `seq, ${taskWriteColumns.join(', ')}`;
/** The columns of a run's end but its start, which a finish sets by a rule of its own. */
const runEndRest = runEndColumns.filter((column) => column !== 'started_at');

/** `$first, $first+1, ...` for `count` parameters. */
/** Runs per INSERT statement: a statement has at most 65,535 parameters. */
const maxRunsPerInsert = 1000;

/** The run records a save inserts (the missed fires' record first), with their task. */
function insertedRuns(save: SaveTaskParams): Array<{ taskId: string; run: Run }> {
  const change = save.runChange;
  if (change?.kind !== 'insert') return [];
  const taskId = save.task.id;
  return [...(change.skipped ? [{ taskId, run: change.skipped }] : []), { taskId, run: change.run }];
}

function leaseLost(taskId: string, run: number, why: string): SchedulerError {
  return new SchedulerError('lease_lost', `run ${run} of task ${taskId} is no longer this node's (${why}); what this node says of it is not recorded`);
}

function placeholders(count: number, first = 1): string {
  return Array.from({ length: count }, (_, index) => `$${first + index}`).join(', ');
}

/** A run as read from its row: the text its script wrote unescaped (see nul-escape.ts). */
function readRun(row: RunRow): Run {
  return rowToRun(unescapeRunRow(row));
}

/** A TaskStore over a PostgreSQL schema; with an owner, also the leases of its runs. */
export class PostgresTaskStore implements TaskStore, RunLeases, RunRequests, FireClaims {
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly server: string;
  private readonly owner: RunOwner | undefined;
  /** Submits arriving together are committed together, in the order they came. */
  private readonly inserts = new InsertBatcher<Task>((tasks) => this.insertBatch(tasks));
  private state: StoreHealth = { ok: true };
  private readonly sql;

  /** Opens a pool to the server, migrates the schema, and returns the store over them. */
  static async open(options: PostgresDatabaseOptions & { owner?: RunOwner }): Promise<PostgresTaskStore> {
    // The node's connections name it: an operator (or a test) can tell them apart on the server.
    const database = await openPostgresDatabase({ ...options, applicationName: options.owner ? `scheduler ${options.owner.nodeId}` : 'scheduler' });
    return new PostgresTaskStore({
      pool: database.pool,
      schema: database.schema,
      server: describeServer(options.url),
      ...(options.owner ? { owner: options.owner } : {}),
    });
  }

  constructor(options: PostgresStoreOptions) {
    this.pool = options.pool;
    this.schema = options.schema;
    this.server = options.server;
    this.owner = options.owner;
    const s = quotedSchemaName(options.schema);
    const now = `${s}.now_ms()`;
    // The parameters of a finish: the run's key, its start, the other columns of its end, then what it checks.
    const finishChecks = 4 + runEndRest.length;
    const outcomeParameter = `$${4 + runEndRest.indexOf('outcome')}`;
    // As in the SQLite store: only an interrupted run's end may not know its start, and keeps the one recorded.
    const finishSet = `started_at = CASE WHEN ${outcomeParameter} = 'interrupted' THEN coalesce($3, started_at) ELSE $3 END,
      waiting = 0, ${runEndRest.map((column, index) => `${column} = $${index + 4}`).join(', ')}`;
    this.sql = {
      // Followed by the rows' placeholders (insertBatch).
      insertTasks: `INSERT INTO ${s}.tasks (${taskWriteColumns.join(', ')}) VALUES`,
      updateTask: `UPDATE ${s}.tasks SET ${taskStateColumns.map((column, index) => `${column} = $${index + 3}`).join(', ')}
        WHERE id = $1 AND version = $2`,
      getTask: `SELECT ${taskSelect} FROM ${s}.tasks WHERE id = $1`,
      taskVersion: `SELECT version FROM ${s}.tasks WHERE id = $1`,
      // One statement is one snapshot: the runs belong to the version of the task read.
      getTaskWithRuns: `SELECT ${taskSelect},
          (SELECT coalesce(json_agg(r ORDER BY r.run), '[]') FROM ${s}.runs r WHERE r.task_id = t.id) AS runs
        FROM ${s}.tasks t WHERE id = $1`,
      listTasks: `SELECT ${taskSelect} FROM ${s}.tasks WHERE seq > $1 ORDER BY seq LIMIT $2`,
      listTasksByStatus: `SELECT ${taskSelect} FROM ${s}.tasks WHERE status = $3 AND seq > $1 ORDER BY seq LIMIT $2`,
      // With a prefix: a range of the index on id in byte order (COLLATE "C", migration 8),
      // read in its order. The database's own collation may order ids otherwise (en_US puts
      // "a-b" between "ab" and "ac"), where a range is not a prefix. A cursor is the one lower
      // bound ($1), so that the range starts where the page does.
      listTasksByPrefix: (after: boolean, withStatus: boolean) => `SELECT ${taskSelect} FROM ${s}.tasks
        WHERE id COLLATE "C" ${after ? '>' : '>='} $1 AND id COLLATE "C" < $2${withStatus ? ' AND status = $4' : ''} ORDER BY id COLLATE "C" LIMIT $3`,
      // One statement, so atomic: the runs go with their task.
      deleteTask: `WITH gone_runs AS (DELETE FROM ${s}.runs WHERE task_id = $1) DELETE FROM ${s}.tasks WHERE id = $1`,
      earliestDue: `SELECT min(next_run_at) AS due FROM ${s}.tasks WHERE next_run_at IS NOT NULL`,
      // Counted when the metrics are scraped: the database does the work, the daemon waits for it without blocking.
      countTasks: `SELECT type, status, count(*)::int AS count FROM ${s}.tasks GROUP BY type, status ORDER BY type, status`,
      insertToken: `INSERT INTO ${s}.tokens (name, role, sha256, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      listTokens: `SELECT name, role, sha256, created_at AS "createdAt" FROM ${s}.tokens ORDER BY name`,
      deleteToken: `DELETE FROM ${s}.tokens WHERE name = $1`,
      insertAudit: `INSERT INTO ${s}.audit (at, token, role, method, path, operation, task_id, status, remote)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[])`,
      pruneAudit: `DELETE FROM ${s}.audit WHERE id <= (SELECT max(id) FROM ${s}.audit) - $1`,
      listAudit: `SELECT id, at, token, role, method, path, operation, task_id AS "taskId", status, remote FROM ${s}.audit
        WHERE id < $1 ORDER BY id DESC LIMIT $2`,
      insertSession: `INSERT INTO ${s}.sessions (sha256, name, role, token_check, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      findSession: `SELECT sha256, name, role, token_check AS "tokenCheck", created_at AS "createdAt", expires_at AS "expiresAt"
        FROM ${s}.sessions WHERE sha256 = $1`,
      deleteSession: `DELETE FROM ${s}.sessions WHERE sha256 = $1`,
      // Through the index on expires_at, at most $2 rows: a login never pays for a long backlog at once.
      deleteExpiredSessions: `DELETE FROM ${s}.sessions WHERE sha256 IN (SELECT sha256 FROM ${s}.sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`,
      countOverdue: `SELECT count(*)::int AS count FROM (SELECT 1 FROM ${s}.tasks WHERE next_run_at IS NOT NULL AND next_run_at < $1 LIMIT $2) AS overdue`,
      // Tasks due at the same instant in the order they were submitted, as SQLite reads them
      // from its index on next_run_at (whose entries end with the row id, seq); PostgreSQL
      // keeps no such order among equal keys unless asked.
      listDue: `SELECT ${taskSelect} FROM ${s}.tasks WHERE next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at, seq LIMIT $2`,
      listExecuting: `SELECT ${taskSelect} FROM ${s}.tasks WHERE status = 'Executing'`,
      // With several nodes, a node recovers only the runs of its own data directory.
      listExecutingOwn: `SELECT ${taskSelect} FROM ${s}.tasks t WHERE status = 'Executing'
        AND EXISTS (SELECT 1 FROM ${s}.runs r WHERE r.task_id = t.id AND r.outcome = 'running' AND r.owner_home = $1)`,
      listRuns: `SELECT * FROM ${s}.runs WHERE task_id = $1 ORDER BY run`,
      listRunsBefore: `SELECT * FROM ${s}.runs WHERE task_id = $1 AND run < $2 ORDER BY run DESC LIMIT $3`,
      listRunsBeforeByOutcome: `SELECT * FROM ${s}.runs WHERE task_id = $1 AND run < $2 AND outcome = $4 ORDER BY run DESC LIMIT $3`,
      getRun: `SELECT * FROM ${s}.runs WHERE task_id = $1 AND run = $2`,
      // Newest first through the index on (scheduled_at, task_id, run), or on (outcome,
      // scheduled_at, task_id, run) for one outcome (migration 8), task ids in byte order as
      // on SQLite; the cursor and \`until\` are one bound (allRunsBefore).
      listAllRuns: (byOutcome: boolean) => `SELECT ${[...runSummaryColumns, 'owner_node'].join(', ')} FROM ${s}.runs
        WHERE (scheduled_at, task_id COLLATE "C", run) < ($1, $2, $3) AND scheduled_at >= $4${byOutcome ? ' AND outcome = $6' : ''}
        ORDER BY scheduled_at DESC, task_id COLLATE "C" DESC, run DESC LIMIT $5`,
      // The last N runs of each task of a page, each through the primary key, in one statement.
      recentOutcomes: `SELECT p.task_id, r.run, r.outcome FROM unnest($1::text[]) WITH ORDINALITY AS p(task_id, ord)
        CROSS JOIN LATERAL (SELECT run, outcome FROM ${s}.runs WHERE task_id = p.task_id ORDER BY run DESC LIMIT $2) AS r
        ORDER BY p.ord, r.run`,
      // A run recorded again under its number replaces the record, as SQLite's INSERT OR REPLACE.
      // A run in progress is the owner's, its lease starting now (database clock); a skipped one is nobody's.
      insertRun: `INSERT INTO ${s}.runs (${runColumns.join(', ')}, owner_node, owner_home, lease_expires_at, fence)
        VALUES (${placeholders(runColumns.length)}, $${runColumns.length + 1}, $${runColumns.length + 2},
          CASE WHEN $${runColumns.length + 3}::bigint IS NULL THEN NULL ELSE ${now} + $${runColumns.length + 3} END, 1)
        ON CONFLICT (task_id, run) DO UPDATE SET ${[...runColumns, 'owner_node', 'owner_home', 'lease_expires_at', 'fence']
          .filter((column) => column !== 'task_id' && column !== 'run')
          .map((column) => `${column} = excluded.${column}`)
          .join(', ')}`,
      // A run that waited for a slot has started: only a run still recorded as waiting.
      startRun: `UPDATE ${s}.runs SET started_at = $3, waiting = 0
        WHERE task_id = $1 AND run = $2 AND waiting = 1 AND outcome = 'running' AND owner_home IS NOT DISTINCT FROM $4`,
      // As in the SQLite store: only an interrupted run's end may not know its start, and keeps the one recorded.
      // Only the owner's write is taken (the home is the fencing token; none without an owner).
      finishRun: `UPDATE ${s}.runs SET ${finishSet}, lease_expires_at = NULL
        WHERE task_id = $1 AND run = $2 AND owner_home IS NOT DISTINCT FROM $${finishChecks}`,
      // Another node's run: only if it is still that node's, at that fence, with its lease
      // expired on the database's clock (never a run whose owner renewed meanwhile). It then
      // belongs to no home, so its owner's late writes are refused; owner_node still names
      // the node that executed it.
      takeOverRun: `UPDATE ${s}.runs SET ${finishSet}, lease_expires_at = NULL, owner_home = NULL, fence = fence + 1
        WHERE task_id = $1 AND run = $2 AND outcome = 'running'
          AND owner_home = $${finishChecks} AND fence = $${finishChecks + 1} AND lease_expires_at < ${now}`,
      renewLeases: `UPDATE ${s}.runs r SET lease_expires_at = ${now} + $2,
          stdout = u.stdout, stdout_bytes = u.stdout_bytes, stdout_dropped = u.stdout_dropped, stdout_dropped_at = u.stdout_dropped_at,
          stdout_truncated = (u.stdout_dropped > 0)::integer,
          stderr = u.stderr, stderr_bytes = u.stderr_bytes, stderr_dropped = u.stderr_dropped, stderr_dropped_at = u.stderr_dropped_at,
          stderr_truncated = (u.stderr_dropped > 0)::integer, output_bytes = u.output_bytes
        FROM unnest($3::text[], $4::integer[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[],
          $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
          AS u(task_id, run, stdout, stdout_bytes, stdout_dropped, stdout_dropped_at, stderr, stderr_bytes, stderr_dropped, stderr_dropped_at, output_bytes)
        WHERE r.task_id = u.task_id AND r.run = u.run AND r.outcome = 'running' AND r.owner_home = $1
        RETURNING r.task_id, r.run`,
      listExpired: `SELECT * FROM ${s}.runs
        WHERE outcome = 'running' AND lease_expires_at < ${now}
        ORDER BY lease_expires_at LIMIT $1`,
      isOwn: `SELECT 1 FROM ${s}.runs WHERE task_id = $1 AND run = $2 AND owner_home = $3`,
      requestKill: `WITH target AS (
          SELECT task_id, run, owner_home, owner_node FROM ${s}.runs
          WHERE task_id = $1 AND ($2::integer IS NULL OR run = $2) AND outcome = 'running'
            AND owner_home IS NOT NULL AND owner_home != $3
        ), asked AS (
          INSERT INTO ${s}.run_requests (task_id, run, owner_home, kind, reason, requested_by, requested_at)
          SELECT task_id, run, owner_home, 'kill', $4, $5, ${now} FROM target
        )
        SELECT task_id, run, owner_node FROM target ORDER BY run`,
      takeRequests: `DELETE FROM ${s}.run_requests WHERE owner_home = $1 RETURNING task_id, run, reason, requested_by`,
      // One reading of the database's clock for the whole claim.
      claimDue: `WITH clock AS (SELECT ${now} AS now)
        SELECT ${taskWriteColumns.map((column) => `t.${column}`).join(', ')}, t.seq, clock.now AS db_now FROM ${s}.tasks t, clock
        WHERE t.next_run_at <= clock.now ORDER BY t.next_run_at, t.seq LIMIT $1 FOR UPDATE OF t SKIP LOCKED`,
      updateTasks: `UPDATE ${s}.tasks t SET ${taskStateColumns.map((column) => `${column} = u.${column}`).join(', ')}
        FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], $5::integer[], $6::bigint[], $7::text[], $8::bigint[], $9::integer[], $10::integer[])
          AS u(id, expected_version, ${taskStateColumns.join(', ')})
        WHERE t.id = u.id AND t.version = u.expected_version
        RETURNING t.id`,
      pruneRunsOf: `DELETE FROM ${s}.runs r USING unnest($1::text[], $2::integer[]) AS p(task_id, upto)
        WHERE r.task_id = p.task_id AND r.run <= p.upto AND r.outcome != 'running'`,
      // Followed by the rows' placeholders (insertRuns).
      insertRuns: `INSERT INTO ${s}.runs (${runColumns.join(', ')}, owner_node, owner_home, lease_expires_at, fence) VALUES`,
      nowMs: now,
      holdQueue: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
      // Runs executing (not waiting) on every node, by their task's queue.
      executingByQueue: `SELECT coalesce(t.execution::jsonb ->> 'queue', '${defaultQueue}') AS queue, count(*) AS executing
        FROM ${s}.runs r JOIN ${s}.tasks t ON t.id = r.task_id
        WHERE r.outcome = 'running' AND r.waiting = 0 AND coalesce(t.execution::jsonb ->> 'queue', '${defaultQueue}') = ANY($1)
        GROUP BY 1`,
      pruneRuns: `DELETE FROM ${s}.runs WHERE task_id = $1 AND run <= $2 AND outcome != 'running'`,
      outputUsage: `SELECT bytes FROM ${s}.output_usage WHERE id = 1`,
      // Taken by whoever bounds the output, so that two nodes do not drop the same runs' output twice over.
      lockOutputUsage: `SELECT bytes FROM ${s}.output_usage WHERE id = 1 FOR UPDATE`,
      oldestRunsWithOutput: `SELECT task_id, run, output_bytes FROM ${s}.runs
        WHERE output_bytes > 0 AND finished_at IS NOT NULL ORDER BY finished_at LIMIT $1`,
      dropRunOutput: `UPDATE ${s}.runs SET stdout = '', stdout_dropped = stdout_bytes, stdout_dropped_at = 0,
          stdout_truncated = (stdout_bytes > 0)::integer, stderr = '', stderr_dropped = stderr_bytes, stderr_dropped_at = 0,
          stderr_truncated = (stderr_bytes > 0)::integer, output_bytes = 0
        WHERE task_id = $1 AND run = $2`,
    };
  }

  insertTask(task: Task): Promise<void> {
    return this.inserts.write(task);
  }

  /** Inserts a batch of new tasks in one statement, in order; a taken id refuses that task alone. */
  private async insertBatch(tasks: Task[]): Promise<Array<Error | undefined>> {
    // A second task with an id the batch already has is refused without reaching the server.
    const first = new Map<string, number>();
    tasks.forEach((task, index) => first.has(task.id) || first.set(task.id, index));
    const unique = [...first.values()].map((index) => tasks[index]!);
    const rows = unique.map((task, row) => `(${placeholders(taskWriteColumns.length, row * taskWriteColumns.length + 1)})`);
    const { rows: inserted } = await this.query<{ id: string }>(
      `${this.sql.insertTasks} ${rows.join(', ')} ON CONFLICT (id) DO NOTHING RETURNING id`,
      unique.flatMap((task) => taskInsertValues(task)),
    );
    const written = new Set(inserted.map((row) => row.id));
    return tasks.map((task, index) =>
      written.has(task.id) && first.get(task.id) === index
        ? undefined
        : new SchedulerError('already_exists', `a task with id "${task.id}" already exists; choose another id, or delete that task first`),
    );
  }

  /** Inserts a task and its runs as they are, in one transaction (`scheduler import`). */
  async importTask(task: Task, runs: readonly Run[]): Promise<void> {
    await this.transaction(async (client) => {
      const inserted = await client.query(
        `${this.sql.insertTasks} (${placeholders(taskWriteColumns.length)}) ON CONFLICT (id) DO NOTHING`,
        taskInsertValues(task),
      );
      if (inserted.rowCount === 0) {
        throw new SchedulerError('already_exists', `a task with id "${task.id}" already exists; choose another id, or delete that task first`);
      }
      await this.insertRuns(client, runs.map((run) => ({ taskId: task.id, run })));
    });
  }

  async saveTask(params: SaveTaskParams): Promise<void> {
    const { task, expectedVersion, runChange, keepRuns } = params;
    await this.transaction(async (client) => {
      const updated = await client.query(this.sql.updateTask, valuesOf(taskStateToRow(task, expectedVersion), taskUpdateParameters));
      if (updated.rowCount === 0) {
        throw new SchedulerError('version_conflict', `task ${task.id} changed meanwhile (expected version ${expectedVersion}); retry`);
      }
      if (!runChange) return;
      if (runChange.kind === 'insert') {
        if (runChange.skipped) await this.insertRun(client, task.id, runChange.skipped);
        await this.insertRun(client, task.id, runChange.run);
      } else if (runChange.kind === 'start') {
        await client.query(this.sql.startRun, [task.id, runChange.run, runChange.startedAt, this.owner?.home ?? null]);
      } else {
        await this.finishRun(client, task.id, runChange);
      }
      await client.query(this.sql.pruneRuns, [task.id, task.lastRun - keepRuns]);
    });
  }

  /** Records the end of a run: the owner's own, or another node's taken over (lease_lost when refused). */
  private async finishRun(client: pg.PoolClient, taskId: string, change: Extract<RunChange, { kind: 'finish' }>): Promise<void> {
    const row = escapeRunRow(runEndToRow(taskId, change.run, change.result));
    const end = [taskId, change.run, row.started_at, ...valuesOf(row, runEndRest)];
    const { takeover } = change;
    if (takeover) {
      this.requireOwner('take over a run');
      const taken = await client.query(this.sql.takeOverRun, [...end, takeover.ownerHome, takeover.fence]);
      if (taken.rowCount === 0) throw leaseLost(taskId, change.run, 'its owner renewed its lease, ended it, or another node took it over first');
      return;
    }
    const finished = await client.query(this.sql.finishRun, [...end, this.owner?.home ?? null]);
    if (finished.rowCount === 0 && this.owner) {
      throw leaseLost(taskId, change.run, 'its lease expired and another node recorded it');
    }
  }

  private async insertRun(client: pg.PoolClient, taskId: string, run: Run): Promise<void> {
    const owned = run.outcome === 'running' && this.owner ? this.owner : undefined;
    try {
      await client.query(this.sql.insertRun, [...valuesOf(escapeRunRow(runToRow(taskId, run)), runColumns), owned?.nodeId ?? null, owned?.home ?? null, owned?.leaseMs ?? null]);
    } catch (error) {
      if (!isUniqueViolation(error, 'runs_one_per_fire_attempt')) throw error;
      // The backstop: whatever the code above does, one fire's attempt is recorded once.
      throw new SchedulerError(
        'version_conflict',
        `task ${taskId} already has a run for the fire due at ${new Date(run.scheduledAt).toISOString()} (attempt ${run.attempt}); it is not recorded twice`,
      );
    }
  }

  async claimDue(params: ClaimParams): Promise<ClaimOutcome> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<TaskRow & { db_now: number }>(this.sql.claimDue, [params.limit]);
      const tasks = rows.map((row) => ({ task: rowToTask(row), now: row.db_now }));
      const queues = await this.queueSlots(client, params.queueLimits ?? {}, tasks.map(({ task }) => queueOf(task.execution)));
      const fires: ClaimedFire[] = [];
      for (const { task: previous, now } of tasks) {
        const saved = params.fire(previous, now, queues);
        if (saved) fires.push({ previous, saved });
      }
      if (fires.length === 0) return { due: rows.length, fires };
      await this.updateTasks(client, fires.map((fire) => fire.saved));
      await this.insertRuns(client, fires.flatMap(({ saved }) => insertedRuns(saved)));
      await client.query(this.sql.pruneRunsOf, [fires.map((fire) => fire.saved.task.id), fires.map(({ saved }) => saved.task.lastRun - saved.keepRuns)]);
      return { due: rows.length, fires };
    });
  }

  /**
   * The slots of the bounded queues among `wanted` for one claim: each such queue is held
   * (a transaction-scoped advisory lock, taken in name order so that claims never wait on
   * each other in a cycle) and its runs executing on every node counted.
   */
  private async queueSlots(client: pg.PoolClient, limits: Readonly<Record<string, number>>, wanted: readonly string[]): Promise<QueueSlots> {
    const bounded = [...new Set(wanted)].filter((queue) => Object.hasOwn(limits, queue)).sort();
    if (bounded.length === 0) return { take: () => true };
    for (const queue of bounded) await client.query(this.sql.holdQueue, [`${this.schema}/queue/${queue}`]);
    const { rows } = await client.query<{ queue: string; executing: number }>(this.sql.executingByQueue, [bounded]);
    const executing = new Map(rows.map((row) => [row.queue, Number(row.executing)]));
    return {
      take: (queue) => {
        if (!Object.hasOwn(limits, queue)) return true;
        const now = executing.get(queue) ?? 0;
        if (now >= limits[queue]!) return false;
        executing.set(queue, now + 1);
        return true;
      },
    };
  }

  /** Writes the new state of several tasks in one statement, each only at its expected version. */
  private async updateTasks(client: pg.PoolClient, saves: readonly SaveTaskParams[]): Promise<void> {
    // The state's columns alone: what the task was submitted with is not serialised again.
    const rows = saves.map((save) => taskStateToRow(save.task, save.expectedVersion));
    const { rows: updated } = await client.query<{ id: string }>(
      this.sql.updateTasks,
      taskUpdateParameters.map((column) => rows.map((row) => row[column])),
    );
    if (updated.length === saves.length) return;
    const written = new Set(updated.map((row) => row.id));
    const lost = saves.find((save) => !written.has(save.task.id))!;
    throw new SchedulerError('version_conflict', `task ${lost.task.id} changed meanwhile (expected version ${lost.expectedVersion}); retry`);
  }

  /** Records new runs (of several tasks) in one statement; a run in progress becomes the owner's. */
  private async insertRuns(client: pg.PoolClient, runs: ReadonlyArray<{ taskId: string; run: Run }>): Promise<void> {
    const perRow = runColumns.length + 3;
    for (let from = 0; from < runs.length; from += maxRunsPerInsert) {
      const chunk = runs.slice(from, from + maxRunsPerInsert);
      const values: unknown[] = [];
      const rows = chunk.map(({ taskId, run }, index) => {
        const owned = run.outcome === 'running' && this.owner ? this.owner : undefined;
        values.push(...valuesOf(escapeRunRow(runToRow(taskId, run)), runColumns), owned?.nodeId ?? null, owned?.home ?? null, owned?.leaseMs ?? null);
        const first = index * perRow + 1;
        const lease = `$${first + perRow - 1}`;
        return `(${placeholders(perRow - 1, first)}, CASE WHEN ${lease}::bigint IS NULL THEN NULL ELSE ${this.sql.nowMs} + ${lease} END, 1)`;
      });
      try {
        await client.query(`${this.sql.insertRuns} ${rows.join(', ')}`, values);
      } catch (error) {
        if (!isUniqueViolation(error, 'runs_one_per_fire_attempt')) throw error;
        throw new SchedulerError('version_conflict', `a fire was already recorded (${(error as Error).message}); it is not recorded twice`);
      }
    }
  }

  async getTask(id: string): Promise<Task | undefined> {
    const found = await this.query<TaskRow>(this.sql.getTask, [id]);
    const row = found.rows[0];
    return row && rowToTask(row);
  }

  async taskVersion(id: string): Promise<number | undefined> {
    return (await this.query<{ version: number }>(this.sql.taskVersion, [id])).rows[0]?.version;
  }

  async getTaskWithRuns(id: string): Promise<{ task: Task; runs: Run[] } | undefined> {
    const found = await this.query<TaskRow & { runs: RunRow[] }>(this.sql.getTaskWithRuns, [id]);
    const row = found.rows[0];
    return row && { task: rowToTask(row), runs: row.runs.map(readRun) };
  }

  async listRuns(taskId: string): Promise<Run[]> {
    return (await this.query<RunRow>(this.sql.listRuns, [taskId])).rows.map(readRun);
  }

  async listRunsPage(params: ListRunsParams): Promise<RunPage> {
    const before = params.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(params.cursor);
    // One row more than asked tells whether there is a next page.
    const { rows } =
      params.outcome === undefined
        ? await this.query<RunRow>(this.sql.listRunsBefore, [params.taskId, Math.min(before, 2 ** 31 - 1), params.limit + 1])
        : await this.query<RunRow>(this.sql.listRunsBeforeByOutcome, [params.taskId, Math.min(before, 2 ** 31 - 1), params.limit + 1, params.outcome]);
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return { runs: page.map(readRun), nextCursor: rows.length > params.limit && last ? String(last.run) : null };
  }

  async listAllRunsPage(params: ListAllRunsParams): Promise<RunSummaryPage> {
    const before = allRunsBefore(params);
    // One row more than asked tells whether there is a next page.
    const bounds = [before.scheduledAt, before.taskId, before.run, params.since ?? Number.MIN_SAFE_INTEGER, params.limit + 1];
    const { rows } =
      params.outcome === undefined
        ? await this.query<RunSummaryRow>(this.sql.listAllRuns(false), bounds)
        : await this.query<RunSummaryRow>(this.sql.listAllRuns(true), [...bounds, params.outcome]);
    const page = rows.slice(0, params.limit).map((row) => rowToRunSummary(unescapeRunRow(row)));
    const last = page.at(-1);
    return { runs: page, nextCursor: rows.length > params.limit && last ? encodeRunCursor(last) : null };
  }

  async listRecentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcomeEntry[]>> {
    const recent = new Map<string, RunOutcomeEntry[]>();
    if (taskIds.length === 0 || count <= 0) return recent;
    const { rows } = await this.query<{ task_id: string; run: number; outcome: RunOutcome }>(this.sql.recentOutcomes, [taskIds, count]);
    for (const row of rows) {
      const entries = recent.get(row.task_id) ?? [];
      if (entries.length === 0) recent.set(row.task_id, entries);
      entries.push({ run: row.run, outcome: row.outcome });
    }
    return recent;
  }

  async getRun(taskId: string, run: number): Promise<Run | undefined> {
    // Run numbers are `integer`: a larger one names no run (and would not fit the parameter).
    if (!Number.isSafeInteger(run) || run > 2 ** 31 - 1 || run < -(2 ** 31)) return undefined;
    const row = (await this.query<RunRow>(this.sql.getRun, [taskId, run])).rows[0];
    return row && readRun(row);
  }

  /** A run as recorded, with the home of the node that executes (or executed) it: null when none. */
  async getRunWithOwner(taskId: string, run: number): Promise<{ run: Run; ownerHome: string | null } | undefined> {
    if (!Number.isSafeInteger(run) || run > 2 ** 31 - 1 || run < -(2 ** 31)) return undefined;
    const row = (await this.query<RunRow & { owner_home: string | null }>(this.sql.getRun, [taskId, run])).rows[0];
    return row && { run: readRun(row), ownerHome: row.owner_home };
  }

  async listTasks(params: ListTasksParams): Promise<TaskPage> {
    if (params.prefix !== undefined) return this.listTasksByPrefix(params, params.prefix);
    const after = params.cursor === undefined ? 0 : decodeCursor(params.cursor);
    const { rows } =
      params.status === undefined
        ? await this.query<TaskRow>(this.sql.listTasks, [after, params.limit + 1])
        : await this.query<TaskRow>(this.sql.listTasksByStatus, [after, params.limit + 1, params.status]);
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return { tasks: page.map(rowToTask), nextCursor: rows.length > params.limit && last ? String(last.seq) : null };
  }

  private async listTasksByPrefix(params: ListTasksParams, prefix: string): Promise<TaskPage> {
    const { from, below } = prefixRange(prefix);
    const after = params.cursor === undefined ? undefined : decodeIdCursor(params.cursor, prefix);
    const bounds = [after ?? from, below, params.limit + 1];
    const { rows } = await this.query<TaskRow>(
      this.sql.listTasksByPrefix(after !== undefined, params.status !== undefined),
      params.status === undefined ? bounds : [...bounds, params.status],
    );
    const page = rows.slice(0, params.limit);
    const last = page.at(-1);
    return { tasks: page.map(rowToTask), nextCursor: rows.length > params.limit && last ? last.id : null };
  }

  async deleteTask(id: string): Promise<boolean> {
    return ((await this.query(this.sql.deleteTask, [id])).rowCount ?? 0) > 0;
  }

  async earliestDueAt(): Promise<number | undefined> {
    return (await this.query<{ due: number | null }>(this.sql.earliestDue, [])).rows[0]?.due ?? undefined;
  }

  async listDueTasks(params: { now: number; limit: number }): Promise<Task[]> {
    return (await this.query<TaskRow>(this.sql.listDue, [params.now, params.limit])).rows.map(rowToTask);
  }

  async insertToken(token: StoredToken): Promise<void> {
    const inserted = await this.query(this.sql.insertToken, [token.name, token.role, token.sha256, token.createdAt]);
    if ((inserted.rowCount ?? 0) === 0) {
      throw new SchedulerError('already_exists', `a token named "${token.name}" exists already (or one with the same value): revoke it first, or choose another name`);
    }
  }

  async listTokens(): Promise<StoredToken[]> {
    return (await this.query<StoredToken>(this.sql.listTokens, [])).rows.map((row) => ({ ...row, createdAt: Number(row.createdAt) }));
  }

  async deleteToken(name: string): Promise<boolean> {
    return ((await this.query(this.sql.deleteToken, [name])).rowCount ?? 0) > 0;
  }

  async appendAudit(entries: readonly AuditEntry[], keep: number): Promise<void> {
    const column = <K extends keyof AuditEntry>(key: K) => entries.map((entry) => entry[key]);
    await this.query(this.sql.insertAudit, [
      column('at'), column('token'), column('role'), column('method'), column('path'), column('operation'), column('taskId'), column('status'), column('remote'),
    ]);
    await this.query(this.sql.pruneAudit, [keep]);
  }

  async listAudit(params: { limit: number; before?: number }): Promise<Array<AuditEntry & { id: number }>> {
    const rows = (await this.query<AuditEntry & { id: number }>(this.sql.listAudit, [params.before ?? Number.MAX_SAFE_INTEGER, params.limit])).rows;
    return rows.map((row) => ({ ...row, id: Number(row.id), at: Number(row.at) }));
  }

  async insertSession(session: StoredSession): Promise<void> {
    await this.query(this.sql.insertSession, [session.sha256, session.name, session.role, session.tokenCheck, session.createdAt, session.expiresAt]);
  }

  async findSession(sha256: string): Promise<StoredSession | undefined> {
    const row = (await this.query<StoredSession>(this.sql.findSession, [sha256])).rows[0];
    // bigint columns arrive as strings.
    return row && { ...row, createdAt: Number(row.createdAt), expiresAt: Number(row.expiresAt) };
  }

  async deleteSession(sha256: string): Promise<boolean> {
    return ((await this.query(this.sql.deleteSession, [sha256])).rowCount ?? 0) > 0;
  }

  async deleteExpiredSessions(now: number, limit: number): Promise<number> {
    return (await this.query(this.sql.deleteExpiredSessions, [now, limit])).rowCount ?? 0;
  }

  async countTasks(): Promise<TaskCount[]> {
    return (await this.query<TaskCount>(this.sql.countTasks, [])).rows;
  }

  async countOverdue(before: number, cap: number): Promise<number> {
    return (await this.query<{ count: number }>(this.sql.countOverdue, [before, cap])).rows[0]?.count ?? 0;
  }

  async listExecutingTasks(): Promise<Task[]> {
    const { rows } = this.owner
      ? await this.query<TaskRow>(this.sql.listExecutingOwn, [this.owner.home])
      : await this.query<TaskRow>(this.sql.listExecuting, []);
    return rows.map(rowToTask);
  }

  async renew(runs: readonly LiveRun[]): Promise<RunKey[]> {
    const owner = this.requireOwner('renew leases');
    if (runs.length === 0) return [];
    const column = <T>(pick: (run: LiveRun) => T) => runs.map(pick);
    const { rows } = await this.query<{ task_id: string; run: number }>(this.sql.renewLeases, [
      owner.home,
      owner.leaseMs,
      column((r) => r.taskId),
      column((r) => r.run),
      column((r) => escapeNul(r.stdout.text)),
      column((r) => r.stdout.totalBytes),
      column((r) => r.stdout.droppedBytes),
      column((r) => r.stdout.droppedAt),
      column((r) => escapeNul(r.stderr.text)),
      column((r) => r.stderr.totalBytes),
      column((r) => r.stderr.droppedBytes),
      column((r) => r.stderr.droppedAt),
      column((r) => Buffer.byteLength(r.stdout.text) + Buffer.byteLength(r.stderr.text)),
    ]);
    const renewed = new Set(rows.map((row) => runKeyOf(row.task_id, row.run)));
    return runs.filter((r) => !renewed.has(runKeyOf(r.taskId, r.run))).map(({ taskId, run }) => ({ taskId, run }));
  }

  async listExpired(limit: number): Promise<ExpiredRun[]> {
    this.requireOwner('look for expired leases');
    const { rows } = await this.query<RunRow & { task_id: string; owner_node: string | null; owner_home: string; fence: number; lease_expires_at: number }>(
      this.sql.listExpired,
      [limit],
    );
    return rows.map((row) => ({
      taskId: row.task_id,
      run: row.run,
      record: readRun(row),
      ownerNode: row.owner_node,
      ownerHome: row.owner_home,
      fence: row.fence,
      leaseExpiredAt: row.lease_expires_at,
    }));
  }

  async isOwn(key: RunKey): Promise<boolean> {
    const owner = this.requireOwner('tell whose a run is');
    return ((await this.query(this.sql.isOwn, [key.taskId, key.run, owner.home])).rowCount ?? 0) > 0;
  }

  async requestKill(params: { taskId: string; run?: number; reason: string }): Promise<RemoteRun[]> {
    const owner = this.requireOwner('ask another node to end a run');
    const { rows } = await this.query<{ task_id: string; run: number; owner_node: string | null }>(this.sql.requestKill, [
      params.taskId,
      params.run ?? null,
      owner.home,
      params.reason,
      owner.nodeId,
    ]);
    return rows.map((row) => ({ taskId: row.task_id, run: row.run, node: row.owner_node }));
  }

  async takeRequests(): Promise<KillRequest[]> {
    const owner = this.requireOwner('take the requests for its runs');
    const { rows } = await this.query<{ task_id: string; run: number; reason: string; requested_by: string }>(this.sql.takeRequests, [owner.home]);
    return rows.map((row) => ({ taskId: row.task_id, run: row.run, reason: row.reason, requestedBy: row.requested_by }));
  }

  private requireOwner(what: string): RunOwner {
    if (!this.owner) throw new Error(`a PostgreSQL store opened without an owner node cannot ${what}`);
    return this.owner;
  }

  async outputBytes(): Promise<number> {
    return (await this.query<{ bytes: number }>(this.sql.outputUsage, [])).rows[0]!.bytes;
  }

  async boundOutput(maxBytes: number): Promise<number> {
    // Most calls find the total within the bound: one row read, no write transaction.
    if ((await this.outputBytes()) <= maxBytes) return 0;
    return this.transaction(async (client) => {
      let usage = (await client.query<{ bytes: number }>(this.sql.lockOutputUsage)).rows[0]!.bytes;
      let dropped = 0;
      while (usage > maxBytes) {
        const oldest = (await client.query<{ task_id: string; run: number; output_bytes: number }>(this.sql.oldestRunsWithOutput, [100])).rows;
        if (oldest.length === 0) break; // what is left belongs to runs still executing
        for (const row of oldest) {
          if (usage <= maxBytes) break;
          await client.query(this.sql.dropRunOutput, [row.task_id, row.run]);
          usage -= row.output_bytes;
          dropped++;
        }
      }
      return dropped;
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1', []);
  }

  health(): StoreHealth {
    return this.state;
  }

  async recheck(): Promise<StoreHealth> {
    if (!this.state.ok) await this.ping().catch(() => {});
    return this.state;
  }

  async backup(_params: BackupParams): Promise<{ bytes: number }> {
    throw new SchedulerError(
      'invalid_request',
      `the store is PostgreSQL at ${this.server}: back it up with PostgreSQL's own tools (pg_dump, or continuous archiving), not scheduler backup`,
    );
  }

  /** The registry of the nodes sharing this schema, on this store's pool (closed with the store). */
  nodeRegistry(options: Pick<PostgresNodeRegistryOptions, 'heartbeatIntervalMs' | 'now' | 'retentionMs'>): PostgresNodeRegistry {
    return new PostgresNodeRegistry({ ...options, pool: this.pool, schema: this.schema, server: this.server });
  }

  async close(): Promise<void> {
    await this.inserts.settled();
    await this.pool.end();
  }

  /** One statement on a connection of the pool (a transaction of its own). */
  private async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    return this.guard(() => this.pool.query<Row>(text, values));
  }

  /** `work` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.guard(async () => {
      const client = await this.pool.connect();
      // A connection the server ends between two statements of the transaction reports it as
      // an 'error' event on the client: without a listener that would end the daemon. The next
      // statement fails with the same error, which is what the caller sees.
      let lost: unknown;
      const onError = (error: unknown) => (lost = error);
      client.on('error', onError);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw error;
      } finally {
        client.off('error', onError);
        // A connection that was lost, or could not even roll back, is not given to the next caller.
        client.release(broken || lost !== undefined);
      }
    });
  }

  /**
   * Runs one call of the store: a failure of the server leaves as store_unavailable and is
   * recorded in health(); a call that succeeds ends such a spell.
   */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      const failure = classifyPostgresError(error, this.server);
      if (!failure) throw error;
      if (this.state.ok) this.state = { ok: false, code: 'store_unavailable', reason: failure.message, since: Date.now() };
      throw failure;
    }
    if (!this.state.ok) this.state = { ok: true };
    return result;
  }
}
