/** The SQLite store keeps a task's language (schema migration 6) and execution settings (7), and reads older tasks with the defaults. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import { noOutput, type Task } from '../../src/core/task.js';
import { migrations } from '../../src/store/sqlite/migrations.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { makeTask } from './conformance.js';

/**
 * Takes a database back before migration 9 (the counts of tasks by type and status), 10 (tokens), 11 (the audit log), 12 (sessions),
 * 13 (the indexes of runs by fire and by outcome, and of tasks by status and id) and 14 (new tasks counted without a trigger).
 */
const undoTaskCounts =
  'DROP TRIGGER task_counts_delete; DROP TRIGGER task_counts_status; DROP TABLE task_counts; DROP TABLE tokens; DROP TABLE audit; DROP TABLE sessions;' +
  ' DROP INDEX runs_by_fire; DROP INDEX runs_by_outcome; DROP INDEX tasks_by_status_id;';

describe('SqliteTaskStore: lang', () => {
  let dir: string;
  let path: string;
  const open: SqliteTaskStore[] = [];
  const openStore = () => {
    const store = new SqliteTaskStore({ path });
    open.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scheduler-store-lang-'));
    path = join(dir, 'scheduler.db');
  });

  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips each language, through get, list, due and a reopen', async () => {
    const store = openStore();
    const langs = ['bash', 'sh', 'node', 'python', 'my.lang_2-x'];
    for (const lang of langs) await store.insertTask(makeTask(`t-${lang}`, { lang, script: `script in ${lang}` }));
    for (const lang of langs) expect((await store.getTask(`t-${lang}`))?.lang).toBe(lang);
    expect((await store.listTasks({ limit: 10 })).tasks.map((task) => task.lang)).toEqual(langs);
    const due = await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 10 });
    expect(due.map((task) => [task.id, task.lang])).toEqual(langs.map((lang) => [`t-${lang}`, lang]));

    await open.splice(0)[0]!.close();
    const reopened = openStore();
    for (const lang of langs) expect((await reopened.getTask(`t-${lang}`))?.lang).toBe(lang);
    expect((await reopened.getTaskWithRuns('t-python'))?.task.lang).toBe('python');
  });

  it('keeps the language across saves', async () => {
    const store = openStore();
    const task = makeTask('saved', { lang: 'python' });
    await store.insertTask(task);
    const next: Task = { ...task, state: { status: 'Executed' }, version: 2, lastStatusUpdated: task.createdAt + 1 };
    await store.saveTask({ task: next, expectedVersion: 1, keepRuns: 10 });
    expect(await store.getTask('saved')).toEqual(next);
  });

  it('reads a task stored before migration 6 as bash', async () => {
    const before = openStore();
    await before.insertTask(makeTask('older', { lang: 'python' }));
    await open.splice(0)[0]!.close();
    // Take the database back to schema 5: the lang column did not exist then.
    const db = new Database(path);
    db.exec('ALTER TABLE tasks DROP COLUMN lang');
    // ...and what came after it.
    db.exec('ALTER TABLE tasks DROP COLUMN execution; ALTER TABLE runs DROP COLUMN limit_hit; ALTER TABLE runs DROP COLUMN waited_ms');
    db.exec('ALTER TABLE runs DROP COLUMN waiting');
    db.exec(undoTaskCounts);
    db.pragma('user_version = 5');
    db.close();
    expect(migrations.length).toBe(14);

    const store = openStore();
    expect((await store.getTask('older'))?.lang).toBe('bash');
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length);
    check.close();
  });

  it('reads a task and runs stored before migration 7 with the default execution settings, no limit and no wait', async () => {
    const before = openStore();
    await before.insertTask(makeTask('older'));
    await open.splice(0)[0]!.close();
    const db = new Database(path);
    db.exec('ALTER TABLE tasks DROP COLUMN execution; ALTER TABLE runs DROP COLUMN limit_hit; ALTER TABLE runs DROP COLUMN waited_ms');
    db.exec('ALTER TABLE runs DROP COLUMN waiting');
    db.exec(undoTaskCounts);
    db.pragma('user_version = 6');
    db.close();

    const store = openStore();
    expect((await store.getTask('older'))?.execution).toEqual(defaultExecution);
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length);
    check.close();
  });

  it('reads a run stored before migration 8 (a run that waited was never recorded so) as started', async () => {
    const before = openStore();
    const task = makeTask('older');
    await before.insertTask(task);
    const executing: Task = { ...task, state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, lastRun: 1, version: 2 };
    const run = { run: 1, scheduledAt: task.createdAt, attempt: 1, startedAt: task.createdAt + 5, finishedAt: null, outcome: 'running' as const, exitCode: null, signal: null, error: null, stdout: noOutput, stderr: noOutput, outputCap: 64 };
    await before.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run }, keepRuns: 10 });
    await open.splice(0)[0]!.close();
    const db = new Database(path);
    db.exec('ALTER TABLE runs DROP COLUMN waiting');
    db.exec(undoTaskCounts);
    db.pragma('user_version = 7');
    db.close();

    const store = openStore();
    expect(await store.getRun('older', 1)).toEqual(run);
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length);
    check.close();
  });
});
