/**
 * The listener of the cluster's changes against a real server (each test in a schema of its
 * own): every insert, new version and deletion of a task is delivered once, in order; an id
 * committed after a greater one is still delivered; the connection ended by the server
 * (pg_terminate_backend) is opened again and what was committed meanwhile is delivered.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Task } from '../../src/core/task.js';
import type { ClusterChange } from '../../src/store/cluster-changes.js';
import { listenerApplicationName, PostgresChangeListener } from '../../src/store/postgres/change-listener.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-store.js';
import { connectForTests, testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { makeTask } from '../support/task-fixtures.js';
import { waitFor } from '../support/wait.js';

/** A migrated schema, its store and a started listener that records what it delivers; all closed when the test ends. */
async function listening(pollMs = 60_000, prune?: { retainMs: number; pruneEveryMs: number }): Promise<{ schema: string; store: PostgresTaskStore; listener: PostgresChangeListener; seen: ClusterChange[] }> {
  const schema = await useTestSchema();
  const store = await PostgresTaskStore.open({ url: testPostgresUrl, schema, poolSize: 3 });
  onTestFinished(() => store.close());
  const listener = new PostgresChangeListener({ url: testPostgresUrl, schema, pollMs, ...prune });
  onTestFinished(() => listener.close());
  const seen: ClusterChange[] = [];
  await listener.start((changes) => seen.push(...changes));
  return { schema, store, listener, seen };
}

function task(id: string): Task {
  return makeTask('delay', { status: 'ToBeExecuted', nextRunAt: Date.now() + 3_600_000 }, { id, version: 1 });
}

/** The task one version on (paused), saved. */
async function bump(store: PostgresTaskStore, previous: Task): Promise<Task> {
  const next: Task = { ...previous, version: previous.version + 1, state: { status: 'Paused' } };
  await store.saveTask({ task: next, expectedVersion: previous.version, keepRuns: 10 });
  return next;
}

const brief = (changes: readonly ClusterChange[]) => changes.map(({ taskId, kind, version }) => `${kind} ${taskId} v${version}`);

describe('PostgresChangeListener', () => {
  it('delivers each change of a task once, in order, woken by the notification (the poll is a minute away)', async () => {
    const { store, seen } = await listening();
    const a = task('a');
    await store.insertTask(a);
    const a2 = await bump(store, a);
    await store.insertTask(task('b'));
    await bump(store, a2);
    await store.deleteTask('b');
    await waitFor('five changes', () => seen.length >= 5);
    expect(brief(seen)).toEqual(['changed a v1', 'changed a v2', 'changed b v1', 'changed a v3', 'deleted b v1']);
    expect(seen.map((change) => change.id)).toEqual([...seen.map((change) => change.id)].sort((x, y) => x - y));
    expect(new Set(seen.map((change) => change.id)).size).toBe(5);
  });

  it('delivers a change whose id was taken before a greater one that committed first', async () => {
    const { schema, store, seen } = await listening(100);
    const slow = task('slow');
    await store.insertTask(slow);
    await waitFor('the insert', () => seen.length === 1);
    const admin = await connectForTests();
    onTestFinished(() => admin.end());
    // The slow transaction takes its event id first and commits last.
    await admin.query('BEGIN');
    await admin.query(`UPDATE "${schema}".tasks SET version = version + 1 WHERE id = 'slow'`);
    await store.insertTask(task('fast'));
    await waitFor('the fast change', () => seen.some((change) => change.taskId === 'fast'));
    await admin.query('COMMIT');
    await waitFor('the slow change too', () => seen.some((change) => change.taskId === 'slow' && change.version === 2));
    expect(brief(seen)).toEqual(['changed slow v1', 'changed fast v1', 'changed slow v2']);
  });

  it('reconnects after pg_terminate_backend of its connection and delivers what was committed meanwhile', async () => {
    const { schema, store, listener, seen } = await listening(200);
    const admin = await connectForTests();
    onTestFinished(() => admin.end());
    const { rows } = await admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [listenerApplicationName(schema)],
    );
    expect(rows).toEqual([{ terminated: true }]);
    // Committed while the listener may be away: no notification reaches it, the table does.
    await store.insertTask(task('meanwhile'));
    await waitFor('a new connection', () => listener.connections >= 2);
    await waitFor('the change made meanwhile', () => seen.some((change) => change.taskId === 'meanwhile'));
    // And it listens again: a change after the reconnect arrives too.
    await store.insertTask(task('after'));
    await waitFor('the change made after', () => seen.some((change) => change.taskId === 'after'));
    expect(brief(seen)).toEqual(['changed meanwhile v1', 'changed after v1']);
  });

  it('deletes, as it reads, the events older than the retention', async () => {
    // The read that delivers a change prunes too: a retention shorter than that read can be
    // late under load would delete the event as it is delivered (a CI run saw it with 50 ms).
    const { schema, store, seen } = await listening(60_000, { retainMs: 2000, pruneEveryMs: 10 });
    const admin = await connectForTests();
    onTestFinished(() => admin.end());
    await store.insertTask(task('old'));
    await waitFor('the first change', () => seen.length === 1);
    const count = async () => (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".events`)).rows[0]!.n;
    expect(await count()).toBe('1');
    // Pruning comes with a read (at most once a minute by default).
    await waitFor('the retention to pass', async () => (await admin.query(`SELECT 1 FROM "${schema}".events WHERE at < "${schema}".now_ms() - 2000`)).rowCount === 1);
    await store.insertTask(task('new'));
    await waitFor('the second change', () => seen.length === 2);
    await waitFor('the old event to be deleted', async () => (await admin.query(`SELECT 1 FROM "${schema}".events WHERE task_id = 'old'`)).rowCount === 0);
  });
});
