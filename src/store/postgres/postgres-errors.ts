/**
 * Which failures of PostgreSQL mean "the store cannot serve now" (the server is down or
 * restarting, the connection was cut, the disk is full) rather than "this request is wrong".
 * The former leave the store as SchedulerError `store_unavailable` and show in health();
 * they pass once a query succeeds again (pg reconnects on the next query by itself).
 */
import { SchedulerError } from '../../core/errors.js';

/** Error codes of Node's sockets that mean the server cannot be reached. */
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATE classes that mean the server, not the request, failed: 08 connection exception,
 * 53 insufficient resources (disk full, out of memory, too many connections), 57 operator
 * intervention (shutdown, pg_terminate_backend, a recovery in progress), 58 system error
 * (I/O), XX internal error (data or index corruption).
 */
const serverClasses = new Set(['08', '53', '57', '58', 'XX']);

/** The store_unavailable error for `error` if it is a failure of the server, else undefined. */
export function classifyPostgresError(error: unknown, server: string): SchedulerError | undefined {
  if (error instanceof SchedulerError) return undefined;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const isServerFailure =
    (typeof code === 'string' && (socketCodes.has(code) || serverClasses.has(code.slice(0, 2)))) ||
    // pg reports a connection lost mid-query, or not opened in time, without a code.
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
  if (!isServerFailure) return undefined;
  const failure = new SchedulerError(
    'store_unavailable',
    `PostgreSQL at ${server} cannot serve: ${message}; the daemon reconnects by itself once the server answers again`,
  );
  failure.cause = error;
  return failure;
}

/** True for PostgreSQL's unique_violation on `constraint`. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const { code, constraint: violated } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && violated === constraint;
}
