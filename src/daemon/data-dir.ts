/**
 * What a daemon owns in its data directory besides the database: the lock that makes it the
 * only daemon there, and the directory's identity that marks the processes of its runs.
 *
 * One daemon per data directory. Two daemons on one SQLite file would each take the other's
 * runs for interrupted ones on restart, so the second is refused. The lock must be one the
 * kernel releases when its owner dies, however it dies: a pid file cannot be (a stale one
 * lets two daemons started at once both take over, and a pid reused by another process
 * blocks every start). Node has no flock(), so the lock is SQLite's own: `daemon.lock` is
 * an (empty) SQLite database held in an exclusive transaction for the daemon's life, i.e.
 * an fcntl() write lock on the file. Another process's attempt fails at once (busy timeout
 * 0); the kernel drops the lock when the owner exits or is killed, and fcntl locks are not
 * inherited by the runs the daemon forks. `daemon.owner` says who holds the lock (pid,
 * address), for the message a second daemon prints: it is never read to decide anything.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SchedulerError } from '../core/errors.js';

/** The lock of a data directory, held until released (or the process ends). */
export interface DataDirLock {
  /** Records the address the owner listens on, for the message a second daemon prints. */
  announce(address: string): void;
  release(): void;
}

/** Who holds the lock, as its owner wrote it down. */
interface Owner {
  pid: number;
  address: string | null;
}

/** How long a refused daemon waits for the owner to write down its address, for the message. */
const ownerWaitMs = 2_000;

/** Takes the lock of `dataDir`, or fails at once naming the daemon that holds it. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const ownerPath = join(dataDir, 'daemon.owner');
  const db = new Database(join(dataDir, 'daemon.lock'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE'); // never committed: held until the connection closes
  } catch (error) {
    db.close();
    if (!String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) throw error;
    throw refusal(dataDir, await currentOwner(ownerPath));
  }
  const writeOwner = (owner: Owner) => {
    const partial = `${ownerPath}.${process.pid}`;
    // Best effort: the record only feeds a message, and must not keep a daemon from
    // starting on a full disk (where it is needed most, to commit what it holds).
    try {
      writeFileSync(partial, `${JSON.stringify(owner)}\n`, { mode: 0o600 });
      renameSync(partial, ownerPath); // a reader sees the old record or the new one, never half of one
    } catch {
      rmSync(partial, { force: true });
    }
  };
  writeOwner({ pid: process.pid, address: null });
  return {
    announce: (address) => writeOwner({ pid: process.pid, address }),
    release: () => {
      if (!db.open) return;
      rmSync(ownerPath, { force: true });
      db.close();
    },
  };
}

/**
 * The owner as written down, once it names a live process with an address, or whatever is
 * known after a short wait (the owner may have taken the lock a moment ago and not written
 * its record yet, or not be listening yet).
 */
async function currentOwner(ownerPath: string): Promise<Owner | undefined> {
  const deadline = Date.now() + ownerWaitMs;
  for (;;) {
    const owner = readOwner(ownerPath);
    const alive = owner !== undefined && isAlive(owner.pid);
    if ((alive && owner.address !== null) || Date.now() >= deadline) return alive ? owner : undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function readOwner(path: string): Owner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    return typeof owner.pid === 'number' ? { pid: owner.pid, address: typeof owner.address === 'string' ? owner.address : null } : undefined;
  } catch {
    return undefined;
  }
}

function refusal(dataDir: string, owner: Owner | undefined): SchedulerError {
  const who = owner === undefined
    ? 'another scheduler daemon (just starting: its pid is not written down yet)'
    : `another scheduler daemon (pid ${owner.pid}, ${owner.address === null ? 'not listening yet' : `listening on ${owner.address}`})`;
  return new SchedulerError('invalid_request', `${who} is using the data directory ${dataDir}; stop it first, or pass another --data-dir`);
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
