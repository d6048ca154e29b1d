/** The SQLite store: the conformance suite over a temporary database file, and what only a file can show. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import type { Task } from '../../src/core/task.js';
import { migrations } from '../../src/store/sqlite/migrations.js';
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
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
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

  /**
   * A database as a daemon of schema 2 left it: task `old` (a cron task, Stopped) and the
   * given runs, each written with the columns of that schema.
   */
  function schema2Database(runs: Array<{ run: number; finishedAt: number | null; stdout: string; stdoutBytes: number; stdoutTruncated: boolean; stderr: string; stderrBytes: number }>): void {
    const db = new Database(path);
    for (const migration of migrations.slice(0, 2)) db.exec(migration);
    db.pragma('user_version = 2');
    const task = makeTask('old', { type: 'cron', state: { status: 'Stopped' }, lastRun: runs.length, version: 9 });
    db.prepare(`INSERT INTO tasks (id, type, time, interval_ms, script, created_at, status, current_run, stop_requested,
        next_run_at, last_status_updated, version, last_run) VALUES (?, ?, ?, ?, ?, ?, 'Stopped', NULL, 0, NULL, ?, ?, ?)`)
      .run(task.id, task.type, task.time, task.intervalMs, task.script, task.createdAt, task.lastStatusUpdated, task.version, task.lastRun);
    const insertRun = db.prepare(`INSERT INTO runs (task_id, run, scheduled_at, started_at, finished_at, outcome, exit_code,
        signal, error, stdout, stdout_bytes, stdout_truncated, stderr, stderr_bytes, stderr_truncated, output_cap)
      VALUES ('old', ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?, ?, ?, 0, 100)`);
    for (const run of runs) {
      const at = task.createdAt + run.run * 60_000;
      insertRun.run(run.run, at, at, run.finishedAt, run.finishedAt === null ? 'running' : 'succeeded', run.stdout, run.stdoutBytes, run.stdoutTruncated ? 1 : 0, run.stderr, run.stderrBytes);
    }
    db.close();
  }

  it('migrates a database of schema 2: a truncated run kept the head, so the rest was dropped after it', async () => {
    const t = makeTask('old').createdAt;
    const head = 'é'.repeat(50); // 100 bytes in 50 characters: the offsets are in bytes
    schema2Database([
      { run: 1, finishedAt: t + 61_000, stdout: head, stdoutBytes: 5_000, stdoutTruncated: true, stderr: 'oops\n', stderrBytes: 5 },
      { run: 2, finishedAt: t + 121_000, stdout: 'all kept\n', stdoutBytes: 9, stdoutTruncated: false, stderr: '', stderrBytes: 0 },
    ]);

    const store = openStore();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    db.close();
    const [first, second] = await store.listRuns('old');
    expect(first).toMatchObject({
      outcome: 'succeeded',
      stdout: { text: head, totalBytes: 5_000, droppedBytes: 4_900, droppedAt: 100 },
      stderr: { text: 'oops\n', totalBytes: 5, droppedBytes: 0, droppedAt: 0 },
    });
    expect(second).toMatchObject({
      stdout: { text: 'all kept\n', totalBytes: 9, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    });
    expect(await store.outputBytes()).toBe(100 + 5 + 9);

    // The usage the triggers keep goes on from there: bounding drops the old run first.
    expect(await store.boundOutput(9)).toBe(1);
    expect(await store.outputBytes()).toBe(9);
    expect((await store.listRuns('old'))[0]!.stdout).toEqual({ text: '', totalBytes: 5_000, droppedBytes: 5_000, droppedAt: 0 });
    await store.deleteTask('old');
    expect(await store.outputBytes()).toBe(0);
  });

  // The old capture stored bytes that are not UTF-8 as U+FFFD (3 bytes each), so a run that
  // printed the single byte 0xff has stdout_bytes 1 and a 3-byte text: only runs marked
  // truncated may count dropped bytes.
  it('migrates a run that printed bytes that are not UTF-8, all kept, as nothing dropped', async () => {
    const t = makeTask('old').createdAt;
    schema2Database([{ run: 1, finishedAt: t + 61_000, stdout: Buffer.from([0xff]).toString('utf8'), stdoutBytes: 1, stdoutTruncated: false, stderr: '', stderrBytes: 0 }]);
    const store = openStore();
    const [run] = await store.listRuns('old');
    expect(run!.stdout).toEqual({ text: '\ufffd', totalBytes: 1, droppedBytes: 0, droppedAt: 0 });
  });

  it('migrates a run still executing: it is counted, and not bounded until it ends', async () => {
    const t = makeTask('old').createdAt;
    schema2Database([
      { run: 1, finishedAt: t + 61_000, stdout: 'done\n', stdoutBytes: 5, stdoutTruncated: false, stderr: '', stderrBytes: 0 },
      { run: 2, finishedAt: null, stdout: 'so far\n', stdoutBytes: 7, stdoutTruncated: false, stderr: '', stderrBytes: 0 },
    ]);
    const store = openStore();
    expect(await store.outputBytes()).toBe(12);
    expect(await store.boundOutput(0)).toBe(1);
    expect(await store.outputBytes()).toBe(7);
    expect((await store.listRuns('old'))[1]).toMatchObject({ outcome: 'running', stdout: { text: 'so far\n', totalBytes: 7 } });
  });

  it('fails ping once closed, and closes twice without error', async () => {
    const store = openStore();
    await store.ping();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
