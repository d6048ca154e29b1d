/**
 * What a daemon owns in its data directory besides the database: the lock that makes it the
 * only daemon there, and the directory's identity that marks the processes of its runs.
 *
 * One daemon per data directory. Two daemons on one SQLite file would each take the other's
 * runs for interrupted ones on restart, so the second is refused. The lock is a file holding
 * the owner's pid; a lock whose owner is gone (the daemon was killed) is taken over.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SchedulerError } from './core/errors.js';

/** Takes the lock of `dataDir`; returns a function that releases it. */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'daemon.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new SchedulerError(
          'invalid_request',
          `another scheduler daemon (pid ${owner}) is using ${dataDir}; stop it first, or pass another --data-dir`,
        );
      }
      rmSync(path, { force: true }); // its owner died without releasing it
    }
  }
  throw new SchedulerError('invalid_request', `cannot lock ${dataDir}: ${path} keeps reappearing`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The identity of a data directory, made on first use and kept in it. Runs carry it in
 * their environment, so that a daemon restarted after a crash recognises the processes its
 * predecessor left running, and never those of a daemon on another data directory.
 */
export function dataDirId(dataDir: string): string {
  const path = join(dataDir, 'daemon-id');
  if (!existsSync(path)) writeFileSync(path, `${randomUUID()}\n`, { mode: 0o600, flag: 'wx' });
  return readFileSync(path, 'utf8').trim();
}
