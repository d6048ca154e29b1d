/**
 * What the dashboard reads (issue 14): GET /api/runs, the runs of every task newest fire
 * first without their output, by outcome and fire time; and GET /api/tasks with `prefix` and
 * `recent`. Over a real engine and store; histories with chosen times and outcomes are
 * imported into the store as they are, and one run is really executed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CapturedOutput, Run, Task } from '../../src/core/task.js';
import type { AllRunsPageJson, RunSummaryJson, TaskPageJson } from '../../src/protocol/schemas.js';
import { makeTask } from '../store/conformance.js';
import { expectError, startHarness, submit, waitForStatus, type Harness } from './harness.js';

let harness: Harness;

beforeEach(async () => {
  harness = await startHarness();
});

afterEach(async () => {
  await harness.close();
});

const t0 = Date.parse('2026-11-25T10:00:00.000Z');
const minute = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const text = (value: string, totalBytes = Buffer.byteLength(value)): CapturedOutput => ({
  text: value,
  totalBytes,
  droppedBytes: totalBytes - Buffer.byteLength(value),
  droppedAt: totalBytes > Buffer.byteLength(value) ? 3 : 0,
});

/** A run that ended `outcome`, for the fire at `scheduledAt`. */
function ended(run: number, scheduledAt: number, outcome: Run['outcome'], extra: Partial<Run> = {}): Run {
  return {
    run,
    scheduledAt,
    attempt: 1,
    startedAt: outcome === 'skipped' ? null : scheduledAt + 5,
    finishedAt: scheduledAt + 50,
    outcome,
    exitCode: outcome === 'succeeded' ? 0 : outcome === 'skipped' ? null : 1,
    signal: null,
    error: outcome === 'skipped' ? 'run 1 was still executing' : null,
    stdout: text(`${outcome} ${run}\n`),
    stderr: text(''),
    outputCap: 4096,
    ...extra,
  };
}

/** Stores `id`, stopped (the engine never fires it), with `runs` as they are. */
async function importHistory(id: string, runs: Run[], extra: Partial<Task> = {}): Promise<void> {
  await harness.store.importTask(makeTask(id, { type: 'cron', state: { status: 'Stopped' }, lastRun: runs.length, ...extra }), runs);
}

async function get<T>(url: string): Promise<T> {
  const response = await harness.app.inject({ method: 'GET', url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<T>();
}

/** Every page of `url` (which has a query string), following nextCursor; also how many pages there were. */
async function allPages<T>(url: string, items: (page: T & { nextCursor: string | null }) => unknown[]): Promise<{ items: unknown[]; pages: number }> {
  const seen: unknown[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const page: T & { nextCursor: string | null } = await get(cursor === null ? url : `${url}&cursor=${encodeURIComponent(cursor)}`);
    pages++;
    seen.push(...items(page));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return { items: seen, pages };
}

describe('GET /api/runs', () => {
  /** Three tasks whose runs interleave in time; at +3m four fires at once (alpha's run 4 retries its run 2). */
  async function importAll(): Promise<void> {
    await importHistory('alpha', [
      ended(1, t0 + minute, 'succeeded'),
      ended(2, t0 + 3 * minute, 'failed', { stderr: text('no\n') }),
      ended(3, t0 + 5 * minute, 'killed', { signal: 'SIGTERM', exitCode: null }),
      ended(4, t0 + 3 * minute, 'failed', { attempt: 2, limit: 'memory', waitedMs: 12 }),
    ]);
    await importHistory('beta', [
      ended(1, t0 + minute, 'skipped'),
      ended(2, t0 + 2 * minute, 'succeeded'),
      ended(3, t0 + 3 * minute, 'succeeded', { stdout: text('head...tail', 9000) }),
    ]);
    await importHistory('gamma', [ended(1, t0 + 3 * minute, 'timed_out', { signal: 'SIGKILL', exitCode: null }), ended(2, t0 + 4 * minute, 'failed')]);
  }
  /** Newest fire first; at the same instant by task id, then run number, both descending. */
  const newestFirst = ['alpha 3', 'gamma 2', 'gamma 1', 'beta 3', 'alpha 4', 'alpha 2', 'beta 2', 'beta 1', 'alpha 1'];
  const names = (runs: RunSummaryJson[]) => runs.map((run) => `${run.taskId} ${run.run}`);
  const runsOf = (page: AllRunsPageJson) => page.runs;

  /** The fields of a Run but the text of its output, with the task's id. */
  const summaryFields = [
    'attempt', 'error', 'exitCode', 'finishedAt', 'limit', 'outcome', 'outputCap', 'run', 'scheduledAt', 'signal', 'startedAt',
    'stderrBytes', 'stderrDroppedAt', 'stderrDroppedBytes', 'stderrTruncated', 'stdoutBytes', 'stdoutDroppedAt', 'stdoutDroppedBytes',
    'stdoutTruncated', 'taskId', 'waitedMs', 'waiting',
  ];

  it('pages through the runs of every task, newest fire first, each without its output but with its byte counts', async () => {
    await importAll();
    const { items, pages } = await allPages<AllRunsPageJson>('/api/runs?limit=4', runsOf);
    expect(pages).toBe(3);
    const runs = items as RunSummaryJson[];
    expect(names(runs)).toEqual(newestFirst);
    for (const run of runs) expect(Object.keys(run).sort()).toEqual(summaryFields);
    expect(runs.find((run) => run.taskId === 'beta' && run.run === 3)).toMatchObject({
      scheduledAt: iso(t0 + 3 * minute), startedAt: iso(t0 + 3 * minute + 5), finishedAt: iso(t0 + 3 * minute + 50), outcome: 'succeeded', exitCode: 0,
      stdoutBytes: 9000, stdoutTruncated: true, stdoutDroppedBytes: 9000 - 11, stdoutDroppedAt: 3, stderrBytes: 0, stderrTruncated: false,
    });
    expect(runs.find((run) => run.taskId === 'alpha' && run.run === 4)).toMatchObject({ attempt: 2, limit: 'memory', waitedMs: 12, outcome: 'failed' });
    expect(runs.find((run) => run.taskId === 'beta' && run.run === 1)).toMatchObject({ outcome: 'skipped', startedAt: null, error: 'run 1 was still executing' });

    // The default page holds them all; a page exactly full has no next.
    expect(names((await get<AllRunsPageJson>('/api/runs')).runs)).toEqual(newestFirst);
    expect((await get<AllRunsPageJson>('/api/runs?limit=9')).nextCursor).toBeNull();
    expect(await get<AllRunsPageJson>('/api/runs?outcome=interrupted')).toEqual({ runs: [], nextCursor: null });
  });

  it('filters by outcome, paging within it', async () => {
    await importAll();
    const failed = await allPages<AllRunsPageJson>('/api/runs?outcome=failed&limit=2', runsOf);
    expect(failed.pages).toBe(2);
    expect(names(failed.items as RunSummaryJson[])).toEqual(['gamma 2', 'alpha 4', 'alpha 2']);
    expect(names((await get<AllRunsPageJson>('/api/runs?outcome=succeeded')).runs)).toEqual(['beta 3', 'beta 2', 'alpha 1']);
    expect(names((await get<AllRunsPageJson>('/api/runs?outcome=timed_out')).runs)).toEqual(['gamma 1']);
  });

  it('keeps the runs whose fire is at or after `since` and before `until`, in any offset, with an outcome and paging too', async () => {
    await importAll();
    // +2m and +4m, written in UTC and at +01:00.
    const since = encodeURIComponent(iso(t0 + 2 * minute));
    const until = encodeURIComponent('2026-11-25T11:04:00+01:00');
    const window = await allPages<AllRunsPageJson>(`/api/runs?since=${since}&until=${until}&limit=2`, runsOf);
    expect(names(window.items as RunSummaryJson[])).toEqual(['gamma 1', 'beta 3', 'alpha 4', 'alpha 2', 'beta 2']);
    expect(window.pages).toBe(3);
    expect(names((await get<AllRunsPageJson>(`/api/runs?since=${encodeURIComponent(iso(t0 + 4 * minute))}`)).runs)).toEqual(['alpha 3', 'gamma 2']);
    expect(names((await get<AllRunsPageJson>(`/api/runs?until=${since}`)).runs)).toEqual(['beta 1', 'alpha 1']);
    expect(names((await get<AllRunsPageJson>(`/api/runs?since=${since}&until=${until}&outcome=failed`)).runs)).toEqual(['alpha 4', 'alpha 2']);
    expect(await get<AllRunsPageJson>(`/api/runs?since=${since}&until=${since}`)).toEqual({ runs: [], nextCursor: null });
  });

  it('lists a run the engine executed, with its byte counts and without its text', async () => {
    await submit(harness.app, { id: 'real', type: 'delay', time: '10ms', script: 'echo hello; echo oops >&2' });
    await waitForStatus(harness.app, 'real', 'Executed');
    const [run, ...rest] = (await get<AllRunsPageJson>('/api/runs')).runs;
    expect(rest).toEqual([]);
    expect(run).toMatchObject({ taskId: 'real', run: 1, outcome: 'succeeded', exitCode: 0, stdoutBytes: 6, stderrBytes: 5, waiting: false });
    expect(run).not.toHaveProperty('stdout');
    expect(run).not.toHaveProperty('stderr');
  });

  it.each([
    ['outcome=great', 'outcome'],
    ['since=yesterday', 'since'],
    ['since=2026-11-25', 'since'],
    ['since=2026-11-25T10:00:00', 'since'],
    ['until=2026-13-01T00:00:00Z', 'until'],
    ['until=2026-02-30T00:00:00Z', 'until'],
    [`since=${encodeURIComponent('2026-11-25T10:05:00Z')}&until=${encodeURIComponent('2026-11-25T10:00:00Z')}`, 'since'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['cursor=garbage', 'cursor'],
    ['cursor=1.2', 'cursor'],
    ['cursor=' + '9'.repeat(200), 'cursor'],
    ['status=Stopped', 'status'],
  ])('refuses ?%s (400 invalid_request naming %s)', async (query, field) => {
    await importAll();
    const response = await harness.app.inject({ method: 'GET', url: `/api/runs?${query}` });
    expect(expectError(response, 400, 'invalid_request')).toContain(field);
  });
});

describe('GET /api/tasks with prefix and recent', () => {
  const ids = (page: TaskPageJson) => page.tasks.map((task) => task.id);
  const tasksOf = (page: TaskPageJson) => page.tasks;

  /** Submitted in an order that is not the ids' order. */
  const submitted = ['backup-home', 'deploy-1', 'backup-db', 'Backup-x', 'backup-', 'backups', 'backup-Z', 'backup-a.1'];

  async function submitAll(): Promise<void> {
    for (const id of submitted) await submit(harness.app, { id });
  }

  it('keeps the tasks whose id starts with the prefix (case matters), in id order, a page at a time', async () => {
    await submitAll();
    const backups = await allPages<TaskPageJson>('/api/tasks?prefix=backup-&limit=2', tasksOf);
    expect(backups.pages).toBe(3);
    expect((backups.items as TaskPageJson['tasks']).map((task) => task.id)).toEqual(['backup-', 'backup-Z', 'backup-a.1', 'backup-db', 'backup-home']);
    expect(ids(await get('/api/tasks?prefix=B'))).toEqual(['Backup-x']);
    expect(ids(await get('/api/tasks?prefix=backup'))).toEqual(['backup-', 'backup-Z', 'backup-a.1', 'backup-db', 'backup-home', 'backups']);
    expect(await get('/api/tasks?prefix=nothing-here')).toEqual({ tasks: [], nextCursor: null });
    // Without a prefix, submission order as ever.
    expect(ids(await get('/api/tasks'))).toEqual(submitted);
  });

  it('combines the prefix with a status, paging within both', async () => {
    await submitAll();
    for (const id of ['backup-db', 'backup-', 'deploy-1']) expect((await harness.app.inject({ method: 'PUT', url: `/api/tasks/${id}` })).statusCode).toBe(200);
    const stopped = await allPages<TaskPageJson>('/api/tasks?prefix=backup-&status=Stopped&limit=1', tasksOf);
    expect((stopped.items as TaskPageJson['tasks']).map((task) => [task.id, task.status])).toEqual([['backup-', 'Stopped'], ['backup-db', 'Stopped']]);
    expect(ids(await get('/api/tasks?prefix=backup-&status=ToBeExecuted'))).toEqual(['backup-Z', 'backup-a.1', 'backup-home']);
  });

  it('adds the outcomes of each task\'s last `recent` runs, oldest first, only when asked', async () => {
    await importHistory('hist-a', [
      ended(1, t0 + minute, 'succeeded'),
      ended(2, t0 + 2 * minute, 'failed'),
      ended(3, t0 + 3 * minute, 'skipped'),
      ended(4, t0 + 4 * minute, 'timed_out'),
    ]);
    await importHistory('hist-b', [ended(1, t0 + minute, 'failed'), ended(2, t0 + 2 * minute, 'succeeded')]);
    await submit(harness.app, { id: 'hist-none' });
    await submit(harness.app, { id: 'other' });

    const three = await get<TaskPageJson>('/api/tasks?recent=3');
    expect(three.tasks.map((task) => [task.id, task.recentOutcomes])).toEqual([
      ['hist-a', ['failed', 'skipped', 'timed_out']],
      ['hist-b', ['failed', 'succeeded']],
      ['hist-none', []],
      ['other', []],
    ]);
    const last = await get<TaskPageJson>('/api/tasks?recent=1&prefix=hist-');
    expect(last.tasks.map((task) => [task.id, task.recentOutcomes])).toEqual([['hist-a', ['timed_out']], ['hist-b', ['succeeded']], ['hist-none', []]]);
    // Every page gets them.
    const paged = await allPages<TaskPageJson>('/api/tasks?recent=10&limit=1', tasksOf);
    expect((paged.items as TaskPageJson['tasks']).map((task) => task.recentOutcomes)).toEqual([
      ['succeeded', 'failed', 'skipped', 'timed_out'], ['failed', 'succeeded'], [], [],
    ]);
    for (const query of ['', '?recent=0', '?prefix=hist-']) {
      for (const task of (await get<TaskPageJson>(`/api/tasks${query}`)).tasks) expect(task).not.toHaveProperty('recentOutcomes');
    }
  });

  it('counts a run in progress as running', async () => {
    await submit(harness.app, { id: 'busy', type: 'delay', time: '10ms', script: 'sleep 30' });
    await waitForStatus(harness.app, 'busy', 'Executing');
    expect((await get<TaskPageJson>('/api/tasks?recent=2')).tasks.map((task) => task.recentOutcomes)).toEqual([['running']]);
    expect((await harness.app.inject({ method: 'POST', url: '/api/tasks/busy/kill' })).statusCode).toBe(200);
    expect((await get<TaskPageJson>('/api/tasks?recent=2')).tasks.map((task) => task.recentOutcomes)).toEqual([['killed']]);
  });

  it.each([
    ['recent=11', 'recent'],
    ['recent=-1', 'recent'],
    ['recent=two', 'recent'],
    ['prefix=', 'prefix'],
    ['prefix=a%20b', 'prefix'],
    [`prefix=${'a'.repeat(129)}`, 'prefix'],
    ['prefix=backup-&cursor=deploy-1', 'cursor'],
    ['prefix=backup-&cursor=3', 'cursor'],
  ])('refuses ?%s (400 invalid_request naming %s)', async (query, field) => {
    await submitAll();
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks?${query}` });
    expect(expectError(response, 400, 'invalid_request')).toContain(field);
  });
});
