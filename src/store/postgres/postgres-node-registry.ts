/**
 * The nodes sharing a PostgreSQL schema, in its `nodes` table, on the store's pool. Every
 * time in a heartbeat is the database's clock: whether a node is alive is decided against
 * one clock whichever node asks, so a node whose clock is off cannot make another look dead
 * (or itself look alive). Each heartbeat also prunes the nodes gone for longer than the
 * retention, so the table stays small without a janitor of its own.
 */
import type pg from 'pg';
import type { NodeIdentity } from '../../core/node.js';
import { SchedulerError } from '../../core/errors.js';
import {
  byStateThenStart,
  nodeRetentionMs,
  nodeState,
  staleAfterHeartbeats,
  type NodeRecord,
  type NodeRegistry,
  type NodeState,
} from '../node-registry.js';
import { classifyPostgresError } from './postgres-errors.js';
import { quotedSchemaName } from './schema-name.js';

/** The database's clock, in epoch milliseconds like every time the store keeps. */
const databaseNow = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export interface PostgresNodeRegistryOptions {
  pool: pg.Pool;
  /** The schema of the store's tables (unquoted). */
  schema: string;
  /** The server's address, `host:port/database`, for messages. */
  server: string;
  /** How often this node beats; it is stale after a few intervals without one. */
  heartbeatIntervalMs: number;
  /** This process's clock, only to tell /healthz how long ago its own last heartbeat succeeded. */
  now: () => number;
  /** How long stopped and stale nodes stay listed (an hour by default). */
  retentionMs?: number;
}

interface NodeRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  started_at: number;
  heartbeat_at: number;
  heartbeat_interval_ms: number;
  runs_executing: number;
  stopped_at: number | null;
  /** The database's clock when the row was read. */
  now: number;
}

export class PostgresNodeRegistry implements NodeRegistry {
  private readonly sql;
  private identity: NodeIdentity | undefined;
  /** When, by this process's clock, the store last took this node's heartbeat. */
  private lastBeatAt = 0;
  private isStopped = false;

  constructor(private readonly options: PostgresNodeRegistryOptions) {
    const s = quotedSchemaName(options.schema);
    const columns = 'id, host, pid, version, started_at, heartbeat_at, heartbeat_interval_ms, runs_executing';
    this.sql = {
      // An upsert, so that a node whose row was pruned (it was paused for longer than the
      // retention) or never written (the database was down when it registered) reappears.
      // A node that stopped is not revived by a heartbeat that was already under way.
      beat: `INSERT INTO ${s}.nodes (${columns}) VALUES ($1, $2, $3, $4, $5, ${databaseNow}, $6, $7)
        ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, runs_executing = excluded.runs_executing
        WHERE ${s}.nodes.stopped_at IS NULL`,
      // The last sign of life of each other node: a heartbeat, or its clean stop.
      prune: `DELETE FROM ${s}.nodes WHERE id <> $1 AND coalesce(stopped_at, heartbeat_at) < ${databaseNow} - $2`,
      list: `SELECT ${columns}, stopped_at, ${databaseNow} AS now FROM ${s}.nodes`,
      stop: `UPDATE ${s}.nodes SET stopped_at = ${databaseNow}, runs_executing = 0 WHERE id = $1`,
    };
  }

  async register(identity: NodeIdentity): Promise<void> {
    this.identity = identity;
    await this.beat(0);
  }

  async heartbeat(runsExecuting: number): Promise<void> {
    if (this.isStopped) return;
    await this.beat(runsExecuting);
    const retention = this.options.retentionMs ?? nodeRetentionMs;
    await this.query(this.sql.prune, [this.registered().id, retention]);
  }

  async list(): Promise<NodeRecord[]> {
    const selfId = this.registered().id;
    const { rows } = await this.query<NodeRow>(this.sql.list, []);
    return rows
      .map((row): NodeRecord => ({
        id: row.id,
        host: row.host,
        pid: row.pid,
        version: row.version,
        startedAt: row.started_at,
        heartbeatAt: row.heartbeat_at,
        runsExecuting: row.runs_executing,
        state: nodeState({ heartbeatAt: row.heartbeat_at, heartbeatIntervalMs: row.heartbeat_interval_ms, stoppedAt: row.stopped_at, now: row.now }),
        stoppedAt: row.stopped_at,
        self: row.id === selfId,
      }))
      .sort(byStateThenStart);
  }

  async stopped(): Promise<void> {
    this.isStopped = true;
    await this.query(this.sql.stop, [this.registered().id]);
  }

  self(): { id: string; state: NodeState } {
    const id = this.registered().id;
    if (this.isStopped) return { id, state: 'stopped' };
    // As the other nodes will see it: stale once its heartbeats have failed for as long.
    const fresh = this.options.now() - this.lastBeatAt <= staleAfterHeartbeats * this.options.heartbeatIntervalMs;
    return { id, state: fresh ? 'alive' : 'stale' };
  }

  private async beat(runsExecuting: number): Promise<void> {
    const { id, host, pid, version, startedAt } = this.registered();
    await this.query(this.sql.beat, [id, host, pid, version, startedAt, this.options.heartbeatIntervalMs, runsExecuting]);
    // When it landed, not when it was sent: the database stamps the beat when it runs it, and
    // a beat sent while the database was away may land seconds later (the pool waits to
    // connect). Counting from the send would call the node stale while the others see it alive.
    this.lastBeatAt = this.options.now();
  }

  private registered(): NodeIdentity {
    if (!this.identity) throw new SchedulerError('internal', 'the node registry was used before the node registered');
    return this.identity;
  }

  /** One statement; a failure of the server leaves as store_unavailable, saying what to check. */
  private async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.options.pool.query<Row>(text, values);
    } catch (error) {
      throw classifyPostgresError(error, this.options.server) ?? error;
    }
  }
}
