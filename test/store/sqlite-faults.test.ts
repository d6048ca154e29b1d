/**
 * The SQLite store under failures of its database: damage found at start and while serving,
 * a full "disk", the errors leaving the store as store_corrupt / store_unavailable with the
 * file and the remedy, health(), and the online backup.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { classifySqliteError, StoreFailure } from '../../src/store/sqlite/sqlite-errors.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { damageHeader, damageMiddleLeaf } from '../support/damage-database.js';
import { makeTask } from './conformance.js';

let dir: string;
let path: string;
const open: SqliteTaskStore[] = [];
function openStore(options: { backgroundCheck?: boolean; file?: string } = {}): SqliteTaskStore {
  const store = new SqliteTaskStore({ path: options.file ?? path, backgroundCheck: options.backgroundCheck });
  open.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scheduler-store-faults-'));
  path = join(dir, 'scheduler.db');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** A store file with `count` tasks whose scripts fill a few pages each, closed cleanly. */
async function filledFile(count: number): Promise<string[]> {
  const store = new SqliteTaskStore({ path });
  const ids = Array.from({ length: count }, (_, index) => `task-${String(index).padStart(5, '0')}`);
  await Promise.all(ids.map((id) => store.insertTask(makeTask(id, { script: `echo ${id}; ${'x'.repeat(600)}` }))));
  await store.close();
  return ids;
}

/** The rejection of `promise`, which must reject. */
async function failure(promise: Promise<unknown>): Promise<SchedulerError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(SchedulerError);
  return error as SchedulerError;
}

describe('classifySqliteError', () => {
  const sqliteError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('names the file and the remedy for damage, and keeps the original error', () => {
    for (const code of ['SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_NOTADB']) {
      const original = sqliteError(code, 'database disk image is malformed');
      const failure = classifySqliteError(original, '/data/scheduler.db')!;
      expect(failure.code).toBe('store_corrupt');
      expect(failure.httpStatus).toBe(503);
      expect(failure.cause).toBe(original);
      expect(failure.message).toContain('/data/scheduler.db');
      expect(failure.message).toContain('scheduler backup');
      expect(failure.message).toContain('sqlite3 /data/scheduler.db .recover');
    }
  });

  it('says why the store is unavailable for failures of the disk or file system', () => {
    const cases: Array<[string, RegExp]> = [
      ['SQLITE_FULL', /the disk is full/],
      ['SQLITE_IOERR_WRITE', /I\/O error.*SQLITE_IOERR_WRITE/],
      ['SQLITE_IOERR_FSYNC', /I\/O error/],
      ['SQLITE_READONLY_DBMOVED', /cannot be written/],
      ['SQLITE_CANTOPEN', /cannot be opened/],
      ['SQLITE_BUSY', /locked by another process/],
    ];
    for (const [code, reason] of cases) {
      const failure = classifySqliteError(sqliteError(code, 'detail'), '/data/scheduler.db')!;
      expect(failure.code, code).toBe('store_unavailable');
      expect(failure.reason, code).toMatch(reason);
      expect(failure.message, code).toContain('/data/scheduler.db');
    }
  });

  it('leaves other errors alone', () => {
    expect(classifySqliteError(new Error('a bug'), '/x')).toBeUndefined();
    expect(classifySqliteError(new SchedulerError('version_conflict', 'retry'), '/x')).toBeUndefined();
    expect(classifySqliteError(sqliteError('SQLITE_CONSTRAINT_UNIQUE', 'dup'), '/x')).toBeUndefined();
  });
});

describe('a damaged database', () => {
  it('with a damaged header is refused at open, naming the file and the remedy', async () => {
    await filledFile(3);
    damageHeader(path);
    let error: unknown;
    try {
      openStore();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(StoreFailure);
    expect((error as StoreFailure).code).toBe('store_corrupt');
    expect((error as StoreFailure).message).toContain(path);
    expect((error as StoreFailure).message).toMatch(/scheduler backup/);
  });

  it('damaged in the middle: the read that hits it fails store_corrupt, and then every call does', async () => {
    const ids = await filledFile(2000);
    damageMiddleLeaf(path, 'tasks');
    // The start check reads the edges of each table: the middle goes unnoticed until read.
    const store = openStore();
    expect(store.health()).toEqual({ ok: true });
    expect((await store.getTask(ids[0]!))?.id).toBe(ids[0]);

    const error = await failure(store.listTasks({ limit: 5000 }));
    expect(error.code).toBe('store_corrupt');
    expect(error.message).toContain(path);
    const health = store.health();
    expect(health).toMatchObject({ ok: false, code: 'store_corrupt' });
    expect(health.ok === false && health.reason).toContain(path);

    // Sticky: nothing reaches the damaged file any more, reads of sound pages included.
    expect((await failure(store.getTask(ids[0]!))).code).toBe('store_corrupt');
    expect((await failure(store.insertTask(makeTask('late-arrival')))).code).toBe('store_corrupt');
    expect((await failure(store.backup({ path: join(dir, 'copy.db'), overwrite: false }))).code).toBe('store_corrupt');
    // The write count too, though it reads no page: a cached read of a task fails as the store does.
    expect(() => store.writeCount()).toThrow(expect.objectContaining({ code: 'store_corrupt' }));
    expect(store.health()).toMatchObject({ ok: false, code: 'store_corrupt' });
  });

  it('damaged in the middle: the background quick_check finds it without a request', async () => {
    await filledFile(2000);
    damageMiddleLeaf(path, 'tasks');
    const store = openStore({ backgroundCheck: true });
    await store.backgroundCheckDone();
    const health = store.health();
    expect(health).toMatchObject({ ok: false, code: 'store_corrupt' });
    expect(health.ok === false && health.reason).toContain(path);
  });

  it('sound: the background quick_check leaves the store healthy', async () => {
    await filledFile(50);
    const store = openStore({ backgroundCheck: true });
    await store.backgroundCheckDone();
    await store.insertTask(makeTask('after'));
    expect(store.health()).toEqual({ ok: true });
  });
});

describe('a full disk', () => {
  it('writes fail store_unavailable, reads go on, and the first write that succeeds clears it', async () => {
    const store = openStore();
    await store.insertTask(makeTask('before'));
    // SQLite's own size cap fails writes with SQLITE_FULL, exactly as a full disk does.
    const raw = new Database(path);
    const pages = raw.pragma('page_count', { simple: true }) as number;
    raw.close();
    const db = (store as unknown as { db: Database.Database }).db;
    db.pragma(`max_page_count = ${pages}`);

    const big = Array.from({ length: 20 }, (_, index) => makeTask(`big-${index}`, { script: 'y'.repeat(8000) }));
    const errors = await Promise.all(big.map((task) => failure(store.insertTask(task))));
    for (const error of errors) {
      expect(error.code).toBe('store_unavailable');
      expect(error.message).toMatch(/the disk is full/);
    }
    const health = store.health();
    expect(health).toMatchObject({ ok: false, code: 'store_unavailable' });
    expect(health.ok === false && health.reason).toMatch(/the disk is full/);
    expect((await store.getTask('before'))?.id).toBe('before');
    expect(store.health().ok).toBe(false); // a read does not say the disk has room again

    db.pragma('max_page_count = 1073741823');
    await store.insertTask(big[0]!);
    expect(store.health()).toEqual({ ok: true });
    // Nothing acknowledged is lost: the task acknowledged before, and the one after.
    expect((await store.listTasks({ limit: 10 })).tasks.map((task) => task.id)).toEqual(['before', 'big-0']);
  });
});

describe('backup', () => {
  it('copies every acknowledged task while writes go on, into a file a store opens', async () => {
    const store = openStore();
    const acknowledged: string[] = [];
    for (let index = 0; index < 300; index++) {
      const id = `before-${index}`;
      await store.insertTask(makeTask(id, { script: `echo ${'z'.repeat(500)}` }));
      acknowledged.push(id);
    }
    const target = join(dir, 'backup.db');
    const backup = store.backup({ path: target, overwrite: false });
    // Submits arriving during the copy: committed, and in the copy too if they were acknowledged before it ended.
    const during: Array<Promise<void>> = [];
    for (let index = 0; index < 100; index++) during.push(store.insertTask(makeTask(`during-${index}`)));
    const { bytes } = await backup;
    await Promise.all(during);
    expect(bytes).toBeGreaterThan(300 * 500);
    expect(existsSync(target)).toBe(true);

    const copy = openStore({ file: target });
    const copied = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await copy.listTasks({ limit: 200, cursor });
      for (const task of page.tasks) copied.add(task.id);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    for (const id of acknowledged) expect(copied.has(id), id).toBe(true);
    expect(copy.health()).toEqual({ ok: true });
  });

  it('refuses a file already there unless told to replace it, and a relative path', async () => {
    const store = openStore();
    await store.insertTask(makeTask('one'));
    const target = join(dir, 'taken.db');
    writeFileSync(target, 'something precious\n');
    expect((await failure(store.backup({ path: target, overwrite: false }))).code).toBe('already_exists');
    expect((await failure(store.backup({ path: 'relative.db', overwrite: false }))).code).toBe('invalid_request');
    expect((await failure(store.backup({ path: join(dir, 'no-such-dir', 'x.db'), overwrite: false }))).message).toMatch(/directory must exist/);
    await store.backup({ path: target, overwrite: true });
    const copy = openStore({ file: target });
    expect((await copy.getTask('one'))?.id).toBe('one');
  });
});
