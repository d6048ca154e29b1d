/** The SQLite store: the conformance suite over a temporary database file, and what only a file can show. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import type { Task } from '../../src/core/task.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeTaskStoreConformance, makeTask } from './conformance.js';

describeTaskStoreConformance('SqliteTaskStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-store-'));
  const store = new SqliteTaskStore({ path: join(dir, 'scheduler.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteTaskStore on a file', () => {
  let dir: string;
  let path: string;
  const open: SqliteTaskStore[] = [];
  const openStore = (options: { durability?: 'normal' | 'full' } = {}) => {
    const store = new SqliteTaskStore({ path, ...options });
    open.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scheduler-store-'));
    path = join(dir, 'scheduler.db');
  });

  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps tasks, runs and the cursor order across close and reopen', async () => {
    const first = openStore({ durability: 'full' });
    const a = makeTask('a', { type: 'cron' });
    await first.insertTask(a);
    await first.insertTask(makeTask('b'));
    const executing: Task = { ...a, state: { status: 'Executing', run: 1, nextRunAt: a.createdAt + 120_000, stopRequested: false }, version: 2, lastRun: 1 };
    const run = {
      run: 1,
      scheduledAt: a.createdAt + 60_000,
      startedAt: a.createdAt + 60_001,
      finishedAt: null,
      outcome: 'running' as const,
      exitCode: null,
      signal: null,
      error: null,
      stdout: { text: '', totalBytes: 0, truncated: false },
      stderr: { text: '', totalBytes: 0, truncated: false },
      outputCap: 1024,
    };
    await first.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run }, keepRuns: 5 });
    const page = await first.listTasks({ limit: 1 });
    await first.close();

    const second = openStore();
    expect(await second.getTask('a')).toEqual(executing);
    expect(await second.getTask('b')).toEqual(makeTask('b'));
    expect(await second.listRuns('a')).toEqual([run]);
    expect(await second.listExecutingTasks()).toEqual([executing]);
    expect(await second.earliestDueAt()).toBe(a.createdAt + 60_000);
    // A cursor given out before the restart still works after it.
    const rest = await second.listTasks({ limit: 10, cursor: page.nextCursor! });
    expect(rest.tasks.map((task) => task.id)).toEqual(['b']);
    // Ids stay taken, and new tasks come after the old ones.
    await expect(second.insertTask(makeTask('b'))).rejects.toMatchObject({ code: 'already_exists' });
    await second.insertTask(makeTask('c'));
    expect((await second.listTasks({ limit: 10 })).tasks.map((task) => task.id)).toEqual(['a', 'b', 'c']);
  });

  it('sees the writes of another connection to the same file', async () => {
    const writer = openStore();
    const reader = openStore();
    await writer.insertTask(makeTask('shared'));
    expect(await reader.getTask('shared')).toEqual(makeTask('shared'));
    // The compare-and-set holds across connections too.
    await reader.saveTask({ task: { ...makeTask('shared'), version: 2, state: { status: 'Stopped' } }, expectedVersion: 1, keepRuns: 5 });
    await expect(
      writer.saveTask({ task: { ...makeTask('shared'), version: 2, state: { status: 'Executed' } }, expectedVersion: 1, keepRuns: 5 }),
    ).rejects.toMatchObject({ code: 'version_conflict' });
    expect((await writer.getTask('shared'))?.state).toEqual({ status: 'Stopped' });
  });

  it('refuses a database written by a newer schema (store_unavailable)', async () => {
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    let error: unknown;
    try {
      openStore();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('store_unavailable');
  });

  it('fails ping once closed, and closes twice without error', async () => {
    const store = openStore();
    await store.ping();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
