/** The SQLite store: the conformance suite over a temporary database file, and what only a file can show. */
import { defaultExecution } from '../../src/core/execution.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import type { Run, Task } from '../../src/core/task.js';
import { migrations } from '../../src/store/sqlite/migrations.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeTaskStoreConformance, makeTask } from './conformance.js';

describeTaskStoreConformance('SqliteTaskStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-store-'));
  const path = join(dir, 'scheduler.db');
  const store = new SqliteTaskStore({ path });
  const others: SqliteTaskStore[] = [];
  return {
    store,
    connect: () => {
      const other = new SqliteTaskStore({ path });
      others.push(other);
      return other;
    },
    cleanup: async () => {
      for (const other of others) await other.close();
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

  it('writes no indexed column of a task whose status and next fire a write keeps, given the task as it was', async () => {
    const store = openStore();
    const executing: Task = makeTask('probed', { type: 'cron', state: { status: 'Executing', run: 1, nextRunAt: Date.now() + 60_000, stopRequested: false }, lastRun: 1, version: 2 });
    await store.insertTask(executing);
    // A trigger on the file fires whenever an UPDATE sets status or next_run_at, to any value:
    // it counts the writes that would rewrite their index entries.
    const probe = new Database(path);
    probe.exec(`CREATE TABLE probe (n INTEGER);
      CREATE TRIGGER probe_indexed AFTER UPDATE OF status, next_run_at ON tasks BEGIN INSERT INTO probe VALUES (1); END;`);
    const indexedWrites = () => (probe.prepare('SELECT count(*) AS n FROM probe').get() as { n: number }).n;
    const stopping: Task = { ...executing, state: { ...executing.state, stopRequested: true } as Task['state'], version: 3 };
    await store.saveTask({ task: stopping, expectedVersion: 2, keepRuns: 10, previous: executing });
    expect(indexedWrites()).toBe(0);
    expect(await store.getTask('probed')).toEqual(stopping);
    // Without the task as it was, the write sets them all, as it must.
    const again: Task = { ...stopping, lastStatusUpdated: stopping.lastStatusUpdated + 1, version: 4 };
    await store.saveTask({ task: again, expectedVersion: 3, keepRuns: 10 });
    expect(indexedWrites()).toBe(1);
    const stopped: Task = { ...again, state: { status: 'Stopped' }, version: 5 };
    await store.saveTask({ task: stopped, expectedVersion: 4, keepRuns: 10, previous: again });
    expect(indexedWrites()).toBe(2);
    expect((await store.listTasks({ limit: 10, status: 'Stopped' })).tasks).toEqual([stopped]);
    probe.close();
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
      attempt: 1,
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
      .run(task.id, task.type, task.time, 60_000, task.script, task.createdAt, task.lastStatusUpdated, task.version, task.lastRun);
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

  const created = Date.parse('2026-11-25T10:00:00.000Z');

  /** A database as a daemon of schema 3 left it: tasks stored before schedules were. */
  function schema3Database(): void {
    const db = new Database(path);
    for (const migration of migrations.slice(0, 3)) db.exec(migration);
    db.pragma('user_version = 3');
    const insert = db.prepare(`INSERT INTO tasks (id, type, time, interval_ms, script, timeout, timeout_ms, created_at, status, current_run,
        stop_requested, next_run_at, last_status_updated, version, last_run)
      VALUES (@id, @type, @time, @interval_ms, 'echo old', @timeout, @timeout_ms, @created_at, @status, @current_run, @stop_requested,
        @next_run_at, @last_status_updated, @version, @last_run)`);
    // A delay task of 1m30s, waiting.
    insert.run({ id: 'old-delay', type: 'delay', time: '1m30s', interval_ms: 90_000, timeout: null, timeout_ms: null, created_at: created, status: 'ToBeExecuted', current_run: null, stop_requested: 0, next_run_at: created + 90_000, last_status_updated: created, version: 1, last_run: 0 });
    // A cron task every 10s with a timeout, after 3 runs.
    insert.run({ id: 'old-cron', type: 'cron', time: '10s', interval_ms: 10_000, timeout: '5s', timeout_ms: 5_000, created_at: created + 7, status: 'WaitForNextExecution', current_run: null, stop_requested: 0, next_run_at: created + 7 + 40_000, last_status_updated: created + 7 + 31_000, version: 7, last_run: 3 });
    // A cron task executing, with a stop requested, when that daemon stopped.
    insert.run({ id: 'old-running', type: 'cron', time: '1m', interval_ms: 60_000, timeout: null, timeout_ms: null, created_at: created, status: 'Executing', current_run: 2, stop_requested: 1, next_run_at: null, last_status_updated: created + 120_000, version: 5, last_run: 2 });
    db.close();
  }

  it('migrates a database of schema 3: the counts of tasks by type and status start from the tasks it holds', async () => {
    schema3Database();
    const store = openStore();
    expect(await store.countTasks()).toEqual([
      { type: 'cron', status: 'Executing', count: 1 },
      { type: 'cron', status: 'WaitForNextExecution', count: 1 },
      { type: 'delay', status: 'ToBeExecuted', count: 1 },
    ]);
  });

  it('migrates a database of schema 3: tasks stored before schedules read back with the schedule their type and interval gave, in UTC', async () => {
    schema3Database();
    const store = openStore();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(db.prepare(`SELECT id, schedule, timezone FROM tasks ORDER BY seq`).all()).toEqual([
      { id: 'old-delay', schedule: null, timezone: null },
      { id: 'old-cron', schedule: null, timezone: null },
      { id: 'old-running', schedule: null, timezone: null },
    ]);
    db.close();

    expect(await store.getTask('old-delay')).toEqual({
      id: 'old-delay',
      type: 'delay',
      time: '1m30s',
      schedule: { kind: 'once', at: created + 90_000 },
      timezone: 'UTC',
      policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
      script: 'echo old',
      lang: 'bash',
      execution: defaultExecution,
      createdAt: created,
      state: { status: 'ToBeExecuted', nextRunAt: created + 90_000 },
      lastStatusUpdated: created,
      version: 1,
      lastRun: 0,
    });
    expect(await store.getTask('old-cron')).toEqual({
      id: 'old-cron',
      type: 'cron',
      time: '10s',
      schedule: { kind: 'interval', everyMs: 10_000, first: created + 7 + 10_000, end: null },
      timezone: 'UTC',
      policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
      script: 'echo old',
      lang: 'bash',
      execution: defaultExecution,
      runTimeout: { text: '5s', ms: 5_000 },
      createdAt: created + 7,
      state: { status: 'WaitForNextExecution', nextRunAt: created + 7 + 40_000 },
      lastStatusUpdated: created + 7 + 31_000,
      version: 7,
      lastRun: 3,
    });
    expect(await store.getTask('old-running')).toMatchObject({
      schedule: { kind: 'interval', everyMs: 60_000, first: created + 60_000, end: null },
      timezone: 'UTC',
      state: { status: 'Executing', run: 2, nextRunAt: null, stopRequested: true },
    });
    // Listing and the due index read them the same way.
    const listed = (await store.listTasks({ limit: 10 })).tasks;
    expect(listed.map((task) => [task.id, task.schedule.kind, task.timezone])).toEqual([
      ['old-delay', 'once', 'UTC'],
      ['old-cron', 'interval', 'UTC'],
      ['old-running', 'interval', 'UTC'],
    ]);
    expect((await store.listDueTasks({ now: created + 90_000, limit: 10 })).map((task) => [task.id, task.schedule])).toEqual([
      ['old-cron', { kind: 'interval', everyMs: 10_000, first: created + 10_007, end: null }],
      ['old-delay', { kind: 'once', at: created + 90_000 }],
    ]);

    // A state change keeps the derived schedule; new tasks are stored with theirs beside the old ones.
    const old = (await store.getTask('old-cron'))!;
    const stopped: Task = { ...old, state: { status: 'Stopped' }, version: 8 };
    await store.saveTask({ task: stopped, expectedVersion: 7, keepRuns: 5 });
    expect(await store.getTask('old-cron')).toEqual(stopped);
    const fresh = makeTask('new', { type: 'cron', time: '@hourly', schedule: { kind: 'calendar', expression: '@hourly', timezone: 'Europe/Berlin', start: null, end: null }, timezone: 'Europe/Berlin' });
    await store.insertTask(fresh);
    expect(await store.getTask('new')).toEqual(fresh);
  });

  it('keeps interval_ms for readers of older versions: the delay, the interval, else 0', async () => {
    const store = openStore();
    const t0 = makeTask('x').createdAt;
    await store.insertTask(makeTask('delay', { schedule: { kind: 'once', at: t0 + 90_000 } }));
    await store.insertTask(makeTask('at', { type: 'at', time: '2026-11-25T12:00:00Z', schedule: { kind: 'once', at: t0 + 2 * 3_600_000 } }));
    await store.insertTask(makeTask('every', { type: 'cron', schedule: { kind: 'interval', everyMs: 10_000, first: t0 + 3_600_000, end: null } }));
    await store.insertTask(makeTask('calendar', { type: 'cron', time: '@daily', schedule: { kind: 'calendar', expression: '@daily', timezone: 'UTC', start: null, end: null } }));
    const db = new Database(path, { readonly: true });
    expect(db.prepare(`SELECT id, interval_ms, timezone, json(schedule) AS schedule FROM tasks ORDER BY seq`).all()).toEqual([
      { id: 'delay', interval_ms: 90_000, timezone: 'UTC', schedule: JSON.stringify({ kind: 'once', at: t0 + 90_000 }) },
      { id: 'at', interval_ms: 2 * 3_600_000, timezone: 'UTC', schedule: JSON.stringify({ kind: 'once', at: t0 + 2 * 3_600_000 }) },
      { id: 'every', interval_ms: 10_000, timezone: 'UTC', schedule: JSON.stringify({ kind: 'interval', everyMs: 10_000, first: t0 + 3_600_000, end: null }) },
      { id: 'calendar', interval_ms: 0, timezone: 'UTC', schedule: JSON.stringify({ kind: 'calendar', expression: '@daily', timezone: 'UTC', start: null, end: null }) },
    ]);
    db.close();
  });

  it('fails ping once closed, and closes twice without error', async () => {
    const store = openStore();
    await store.ping();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.close()).resolves.toBeUndefined();
  });
});

describe('SqliteTaskStore: the changes that do not raise a version (for caches of reads)', () => {
  let dir: string;
  let store: SqliteTaskStore;
  let told: string[];
  const t0 = Date.parse('2026-11-25T10:00:00.000Z');

  /** A finished run of `text` on stdout, finished at `finishedAt`. */
  const finishedRun = (run: number, finishedAt: number, text: string): Run => ({
    run,
    scheduledAt: finishedAt - 10,
    attempt: 1,
    startedAt: finishedAt - 5,
    finishedAt,
    outcome: 'succeeded',
    exitCode: 0,
    signal: null,
    error: null,
    stdout: { text, totalBytes: text.length, droppedBytes: 0, droppedAt: 0 },
    stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    outputCap: 4096,
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scheduler-store-'));
    store = new SqliteTaskStore({ path: join(dir, 'scheduler.db') });
    told = [];
    store.onUnversionedChange((id) => told.push(id));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves its write count with every write, and not with reads', async () => {
    const counts = [store.writeCount()];
    const moved = async (write: Promise<unknown>) => {
      await write;
      counts.push(store.writeCount());
      return counts.at(-1)! > counts.at(-2)!;
    };
    const task = makeTask('a');
    expect(await moved(store.insertTask(task))).toBe(true);
    expect(await moved(store.saveTask({ task: { ...task, state: { status: 'Stopped' }, version: 2 }, expectedVersion: 1, keepRuns: 10 }))).toBe(true);
    expect(await moved(store.importTask(makeTask('b', { state: { status: 'Executed' }, version: 3, lastRun: 1 }), [finishedRun(1, t0, 'out')]))).toBe(true);
    expect(await moved(store.boundOutput(0))).toBe(true);
    expect(await moved(store.deleteTask('b'))).toBe(true);
    expect(await moved(Promise.all([store.getTask('a'), store.getTaskWithRuns('a'), store.taskVersion('a'), store.listTasks({ limit: 10 })]))).toBe(false);
  });

  it('tells nothing of writes that raise the version: insert, import, save', async () => {
    const task = makeTask('a');
    await store.insertTask(task);
    await store.importTask(makeTask('b', { state: { status: 'Executed' }, version: 3, lastRun: 1 }), [finishedRun(1, t0, 'out')]);
    await store.saveTask({ task: { ...task, state: { status: 'Stopped' }, version: 2 }, expectedVersion: 1, keepRuns: 10 });
    expect(told).toEqual([]);
  });

  it('tells each delete, by id, and not a delete of no task', async () => {
    await store.insertTask(makeTask('a'));
    await store.insertTask(makeTask('b'));
    expect(await store.deleteTask('b')).toBe(true);
    expect(await store.deleteTask('b')).toBe(false);
    expect(await store.deleteTask('never')).toBe(false);
    expect(told).toEqual(['b']);
  });

  it('tells the tasks whose output boundOutput dropped, and only those', async () => {
    const executed = (id: string) => makeTask(id, { state: { status: 'Executed' }, version: 3, lastRun: 1 });
    await store.importTask(executed('first'), [finishedRun(1, t0 + 1, 'x'.repeat(10))]);
    await store.importTask(executed('second'), [finishedRun(1, t0 + 2, 'y'.repeat(10))]);
    await store.importTask(executed('third'), [finishedRun(1, t0 + 3, 'z'.repeat(10))]);
    expect(await store.boundOutput(30)).toBe(0);
    expect(told).toEqual([]);
    expect(await store.boundOutput(10)).toBe(2);
    expect(told).toEqual(['first', 'second']);
    // The version stays: only the listener knows that these tasks read differently now.
    expect(await store.taskVersion('first')).toBe(3);
  });
});
