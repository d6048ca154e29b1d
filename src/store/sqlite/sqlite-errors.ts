/**
 * The store's boundary for failures of SQLite itself. better-sqlite3 throws a SqliteError
 * whose `code` names SQLite's result code ('SQLITE_CORRUPT', 'SQLITE_IOERR_WRITE', ...);
 * above the store nobody should need to know them. A damaged database becomes
 * `store_corrupt` (an operator must restore it: nothing the daemon retries will help), a
 * failure of the disk or the file system becomes `store_unavailable` (the request may be
 * retried later), each with a message naming the file and what to do. The original error
 * stays as `cause`, for the log.
 */
import { SchedulerError } from '../../core/errors.js';

/** What happened to the store, as health() reports it. */
export type StoreFailureCode = 'store_corrupt' | 'store_unavailable';

/** A SchedulerError raised by the store for a failure of its database. */
export class StoreFailure extends SchedulerError {
  constructor(
    override readonly code: StoreFailureCode,
    message: string,
    /** The failure alone, without the remedy: "the disk is full". */
    readonly reason: string,
    options: { cause: unknown },
  ) {
    super(code, message);
    this.cause = options.cause;
  }
}

/** What to do about a damaged database file, for every message that reports one. */
export function corruptionRemedy(file: string): string {
  return (
    `stop the daemon, then either restore a backup made with "scheduler backup" (copy it over ${file} and remove ${file}-wal and ${file}-shm), ` +
    `or move ${file} aside (with its -wal and -shm files) to start with an empty store; ` +
    `as a last resort, "sqlite3 ${file} .recover" may save what is readable (see docs/durability.md)`
  );
}

/**
 * The StoreFailure for `error` if it is a failure of the database (damage, disk, file
 * system, lock), else undefined: other errors (a version conflict, a bug) pass unchanged.
 */
export function classifySqliteError(error: unknown, file: string): StoreFailure | undefined {
  if (error instanceof StoreFailure) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const detail = (error as Error).message;
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    const reason = `the database ${file} is damaged (${detail})`;
    return new StoreFailure('store_corrupt', `${reason}: ${corruptionRemedy(file)}`, reason, { cause: error });
  }
  const reason = unavailableReason(code, detail);
  if (reason === undefined) return undefined;
  return new StoreFailure('store_unavailable', `cannot use the database ${file}: ${reason}`, reason, { cause: error });
}

/** Why the store cannot be used now, for the codes that mean it; undefined for the others. */
function unavailableReason(code: string, detail: string): string | undefined {
  if (code === 'SQLITE_FULL') return 'the disk is full; free some space (writes are accepted again as soon as there is room)';
  if (code.startsWith('SQLITE_IOERR')) {
    if (code === 'SQLITE_IOERR_NOMEM') return 'out of memory while reading or writing the database';
    return `an I/O error from the disk or file system (${code}: ${detail}); check the disk and the kernel log`;
  }
  if (code.startsWith('SQLITE_READONLY')) return `the database cannot be written (${code}: ${detail}); check the file's permissions and that its file system is mounted read-write`;
  if (code.startsWith('SQLITE_CANTOPEN')) return `the database file cannot be opened (${code}: ${detail}); check that its directory exists and is writable`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return `the database is locked by another process (${code}); is another program writing to it?`;
  if (code === 'SQLITE_NOMEM') return 'out of memory in SQLite';
  if (code === 'SQLITE_PROTOCOL' || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') return `${detail} (${code})`;
  return undefined;
}
