/**
 * The connection to PostgreSQL: one pg.Pool per store, opened from a `postgres://` URL.
 * Opening checks that the server answers, so that a wrong address fails the start with a
 * message naming the server and what to check, not later inside the first request. The
 * URL's password is never part of a message.
 */
import type pg from 'pg';
import { SchedulerError } from '../../core/errors.js';
import { bigintAsNumber, pgDriver } from './driver.js';

/** How long the server lets a session sit idle inside a transaction before it ends it. */
const idleInTransactionTimeoutMs = 5_000;

/** The default number of connections a node keeps to the server. */
export const defaultPoolSize = 10;

/** How to reach the server. */
export interface PostgresConnectionOptions {
  /** `postgres://user[:password]@host[:port]/database`. */
  url: string;
  /** The most connections the pool opens at once. */
  poolSize?: number;
  /** How long to wait for a connection before giving up, in ms. */
  connectTimeoutMs?: number;
  /** What the server shows of these connections (pg_stat_activity.application_name). */
  applicationName?: string;
}

/** A pool to the server, not yet used: the first query opens the first connection. */
export function createPool(options: PostgresConnectionOptions): pg.Pool {
  describeServer(options.url); // refuses what is not a postgres:// URL, before pg reads it
  const poolSize = options.poolSize ?? defaultPoolSize;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new SchedulerError('invalid_request', `the PostgreSQL pool size must be a positive whole number, not ${poolSize}`);
  }
  const pool = new (pgDriver().Pool)({
    connectionString: options.url,
    max: poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types: { getTypeParser: bigintAsNumber },
    application_name: options.applicationName ?? 'scheduler',
    // A node paused in the middle of a transaction (SIGSTOP, a long GC) would hold its row
    // locks, and every other node wanting those rows would wait on it; the server ends such a
    // session instead. The store's transactions take milliseconds.
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
  });
  // An idle connection the server drops (a restart, pg_terminate_backend) is reported on the
  // pool; without a listener that would be an uncaught 'error' event ending the process.
  pool.on('error', () => {});
  // So is one the server drops while it is handed out but runs no query: the pool listens
  // only to idle connections, the store only inside a transaction. A daemon was ended so in
  // CI (pg_terminate_backend); the error reaches the next query on it, as that query's failure.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** A pool whose server answered a first query. */
export async function openPool(options: PostgresConnectionOptions): Promise<pg.Pool> {
  const server = describeServer(options.url);
  const pool = createPool(options);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw connectionFailure(error, server);
  }
  return pool;
}

/** `host:port/database` of a URL, without user or password, for messages. */
export function describeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SchedulerError('invalid_request', 'the PostgreSQL address is not a URL: write it as postgres://user@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new SchedulerError('invalid_request', `the PostgreSQL address must start with postgres://, not ${parsed.protocol}//`);
  }
  const host = parsed.hostname || 'localhost';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return `${host}:${parsed.port || '5432'}${database ? `/${database}` : ''}`;
}

/** The SchedulerError for a failed first connection: what went wrong and what to check. */
export function connectionFailure(error: unknown, server: string): SchedulerError {
  const code = (error as { code?: unknown } | null)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  const failure = new SchedulerError('store_unavailable', `cannot reach PostgreSQL at ${server}: ${reasonFor(code, detail)}`);
  failure.cause = error;
  return failure;
}

function reasonFor(code: unknown, detail: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused; check that the server is running and listens on that host and port';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve; check the host in the address';
    case 'ETIMEDOUT':
      return 'the connection timed out; check the host, the port and any firewall between';
    // PostgreSQL's SQLSTATEs: invalid password, invalid authorization, unknown database.
    case '28P01':
    case '28000':
      return `the server refused the user (${detail}); check the user and password, and pg_hba.conf`;
    case '3D000':
      return `${detail}; create it (createdb) or name an existing database`;
    default:
      // pg reports a connect timeout as a plain Error without a code.
      if (/timeout/i.test(detail)) return 'the connection timed out; check the host, the port and any firewall between';
      return `${detail}; check that the server is running and the address is right`;
  }
}
