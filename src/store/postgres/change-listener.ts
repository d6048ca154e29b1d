/**
 * The cluster's changes (cluster-changes.ts) from PostgreSQL: the `events` table, filled by a
 * trigger on `tasks` (migration 4), and the notification the trigger sends on the schema's
 * channel at commit. One dedicated connection LISTENs there: a notification is the doorbell,
 * and the listener then reads the rows after the last id it delivered. It also reads them
 * every `pollMs` whatever happens, the backstop for notifications lost while its connection
 * was down (the server restarted, the session was terminated): then it reconnects with
 * backoff and catches up from the table.
 *
 * Ids are taken from a sequence when a transaction writes, but transactions commit in another
 * order: id 11 may be visible before id 10. A skipped id is therefore looked for again at
 * every read for `gapWaitMs` (longer than any transaction of the store lasts), and delivered
 * when it shows up; an id that never does belonged to a transaction rolled back.
 *
 * Whoever polls also prunes: once a minute it deletes the events older than `retainMs`.
 */
import type pg from 'pg';
import type { ClusterChange, ClusterChanges } from '../cluster-changes.js';
import { bigintAsNumber, pgDriver } from './driver.js';
import { quotedSchemaName } from './schema-name.js';

/** What the listener needs. */
export interface ChangeListenerOptions {
  /** `postgres://...` of the server. */
  url: string;
  /** The schema (unquoted): its events table, and the channel of the same name. */
  schema: string;
  /** Between two reads of the table when no notification comes, in ms. */
  pollMs?: number;
  /** How long events are kept before any node deletes them, in ms. */
  retainMs?: number;
  /** Between two prunings of the table, at most, in ms (they come with reads). */
  pruneEveryMs?: number;
  /** How long a skipped id is looked for before it counts as rolled back, in ms. */
  gapWaitMs?: number;
  /** The host's clock, for the gaps' and the pruning's timing. */
  now?: () => number;
}

/** Events read at most per query: a longer backlog is read in several. */
const batchSize = 1000;
/** Skipped ids looked for at most: beyond, the oldest are given up. */
const maxGaps = 1000;
/** The reconnect backoff: from the first delay, doubling up to the last. */
const firstReconnectMs = 100;
const maxReconnectMs = 5_000;

interface EventRow {
  id: number;
  task_id: string;
  kind: 'changed' | 'deleted';
  version: number;
}

/** Listens to a schema's events and delivers them once each, in order. */
export class PostgresChangeListener implements ClusterChanges {
  private readonly pollMs: number;
  private readonly retainMs: number;
  private readonly gapWaitMs: number;
  private readonly pruneEveryMs: number;
  private readonly now: () => number;
  private readonly sql;
  private readonly channel: string;
  private client: pg.Client | undefined;
  private deliver: ((changes: readonly ClusterChange[]) => void) | undefined;
  private report: (error: unknown, message: string) => void = () => {};
  /** The greatest id delivered (or the last one before the start). */
  private lastId = 0;
  /** Ids skipped so far, with when they were first missed. */
  private readonly gaps = new Map<number, number>();
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = firstReconnectMs;
  private lastPrune = 0;
  private closed = false;
  /** Connections made, for tests: the first, then one per reconnect. */
  connections = 0;

  constructor(private readonly options: ChangeListenerOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.retainMs = options.retainMs ?? 10 * 60_000;
    this.gapWaitMs = options.gapWaitMs ?? 10_000;
    this.pruneEveryMs = options.pruneEveryMs ?? 60_000;
    this.now = options.now ?? Date.now;
    const s = quotedSchemaName(options.schema);
    this.channel = quotedSchemaName(options.schema);
    this.sql = {
      latest: `SELECT coalesce(max(id), 0) AS id FROM ${s}.events`,
      after: `SELECT id, task_id, kind, version FROM ${s}.events WHERE id > $1 OR id = ANY($2::bigint[]) ORDER BY id LIMIT ${batchSize}`,
      prune: `DELETE FROM ${s}.events WHERE at < ${s}.now_ms() - $1`,
    };
  }

  async start(deliver: (changes: readonly ClusterChange[]) => void, report?: (error: unknown, message: string) => void): Promise<void> {
    this.deliver = deliver;
    if (report) this.report = report;
    await this.connect();
    // Changes before the start are not this node's business: nobody here watched them.
    this.lastId = (await this.client!.query<{ id: number }>(this.sql.latest)).rows[0]!.id;
    this.pollTimer = setInterval(() => this.read(), this.pollMs);
    this.pollTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    await this.reading?.catch(() => {});
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** Opens the connection and LISTENs; on failure the caller decides whether to retry. */
  private async connect(): Promise<void> {
    const client = new (pgDriver().Client)({
      connectionString: this.options.url,
      types: { getTypeParser: bigintAsNumber },
      // Names the session in pg_stat_activity, for whoever looks at the server's connections.
      application_name: listenerApplicationName(this.options.schema),
    });
    client.on('notification', () => this.read());
    // A connection lost (the server restarted, pg_terminate_backend) is reported here, then 'end'.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
    this.connections++;
    this.client = client;
    this.reconnectDelay = firstReconnectMs;
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    client.removeAllListeners('end');
    client.on('error', () => {});
    client.end().catch(() => {});
    this.report(error, 'lost the connection that listens for changes made on other nodes; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, maxReconnectMs);
    this.reconnectTimer = setTimeout(() => {
      this.connect().then(
        // What was committed while the connection was down is in the table: read it now.
        () => (this.closed ? this.close() : this.read()),
        (error) => {
          this.report(error, 'could not reconnect to listen for changes made on other nodes; trying again');
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Reads the events after the last delivered; one read at a time, another after it if asked meanwhile. */
  private read(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readAll()
      .catch((error) => this.report(error, 'could not read the changes made on other nodes; reading again at the next poll'))
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain && !this.closed) {
          this.readAgain = false;
          this.read();
        }
      });
  }

  private async readAll(): Promise<void> {
    for (;;) {
      const client = this.client;
      if (!client || this.closed) return;
      const { rows } = await client.query<EventRow>(this.sql.after, [this.lastId, [...this.gaps.keys()]]);
      const changes = this.accept(rows);
      if (changes.length > 0) this.deliver?.(changes);
      if (this.now() - this.lastPrune >= this.pruneEveryMs) {
        this.lastPrune = this.now();
        await client.query(this.sql.prune, [this.retainMs]);
      }
      if (rows.length < batchSize) return;
    }
  }

  /** The rows as changes, noting the ids skipped and forgetting those looked for long enough. */
  private accept(rows: readonly EventRow[]): ClusterChange[] {
    const now = this.now();
    for (const row of rows) {
      if (this.gaps.delete(row.id)) continue;
      for (let skipped = this.lastId + 1; skipped < row.id && this.gaps.size < maxGaps; skipped++) this.gaps.set(skipped, now);
      this.lastId = Math.max(this.lastId, row.id);
    }
    for (const [id, since] of this.gaps) if (now - since > this.gapWaitMs) this.gaps.delete(id);
    return rows.map((row) => ({ id: row.id, taskId: row.task_id, kind: row.kind, version: row.version }));
  }
}

/** The application_name of a listener's session on `schema` (PostgreSQL keeps 63 bytes of it). */
export function listenerApplicationName(schema: string): string {
  return `scheduler changes ${schema}`.slice(0, 63);
}
