/**
 * `scheduler backup`: SQLite's online backup of the live database to a new file. It copies
 * the database a hundred pages per step, between which the daemon goes on serving; writes
 * the daemon makes meanwhile (on the same connection) are carried into the copy, so the
 * file is one consistent state of the store, with every change committed before it ended.
 * The copy is made under a temporary name beside the target and renamed into place once
 * complete: the target is never a partial file.
 */
import type Database from 'better-sqlite3';
import { chmodSync, linkSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { SchedulerError } from '../../core/errors.js';
import type { BackupParams } from '../task-store.js';

/** Copies `db` to `params.path`; resolves with the copy's size. */
export async function writeBackup(db: Database.Database, params: BackupParams): Promise<{ bytes: number }> {
  const { path, overwrite } = params;
  if (!isAbsolute(path)) {
    throw new SchedulerError('invalid_request', `path: "${path}" is not an absolute path (it is a path on the daemon's host)`);
  }
  if (!overwrite && exists(path)) throw alreadyThere(path);
  if (!exists(dirname(path))) throw notWritable(path, `no directory ${dirname(path)}`);
  const partial = join(dirname(path), `.${basename(path)}.partial-${process.pid}-${Date.now()}`);
  try {
    await db.backup(partial);
    chmodSync(partial, 0o600); // it holds every script and output
    if (overwrite) renameSync(partial, path);
    else linkSync(partial, path); // fails if a file appeared there meanwhile, where rename would replace it
  } catch (error) {
    throw describeBackupError(error, path);
  } finally {
    rmSync(partial, { force: true });
  }
  return { bytes: statSync(path).size };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function alreadyThere(path: string): SchedulerError {
  return new SchedulerError('already_exists', `${path} already exists; choose another file, or pass --force to replace it`);
}

function notWritable(path: string, detail: string): SchedulerError {
  return new SchedulerError(
    'invalid_request',
    `cannot write the backup to ${path} (${detail}): the path is on the daemon's host, and its directory must exist and be writable by the daemon`,
  );
}

/** What went wrong writing the copy, told in terms of the target (the daemon's store is not at fault). */
function describeBackupError(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'EEXIST') return alreadyThere(path);
  if (typeof code !== 'string') return error;
  const detail = (error as Error).message;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return new SchedulerError('store_unavailable', `cannot write the backup to ${path}: its disk is full`);
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'EACCES' || code === 'ENOENT' || code === 'EROFS') {
    return notWritable(path, detail);
  }
  return new SchedulerError('store_unavailable', `cannot write the backup to ${path}: ${detail} (${code})`);
}
