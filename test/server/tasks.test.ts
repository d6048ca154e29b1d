/** GET /api/tasks, GET /api/tasks/{id}, PUT (stop) and DELETE, over a real engine and runner. */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunJson, RunPageJson, StopResponse, TaskJson, TaskPageJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, isoTime, listAll, startHarness, submit, waitForStatus, waitForTask, type Harness } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness;

afterEach(async () => {
  await harness?.close();
});

const summaryFields = [
  'catchUp', 'catchUpWindow', 'createdAt', 'cwd', 'end', 'env', 'id', 'jitter', 'lang', 'lastStatusUpdated', 'limits', 'maxParallel', 'network', 'nextRunAt', 'overlap', 'pauseRequested', 'queue',
  'retries', 'retryDelay', 'retryMaxDelay', 'retryOn', 'sandbox', 'script', 'start', 'status', 'stopRequested', 'time', 'timeout', 'timezone', 'type', 'user', 'version',
];

describe('GET /api/tasks', () => {
  beforeEach(async () => {
    harness = await startHarness();
  });

  async function list(query = ''): Promise<TaskPageJson> {
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks${query}` });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<TaskPageJson>();
  }

  const submissionOrder = ['m', 'c', 'x', 'a', 'q'];
  const submitAll = async () => {
    for (const id of submissionOrder) await submit(harness.app, { id, script: `echo ${id}` });
  };

  it('answers an empty page when there are no tasks', async () => {
    expect(await list()).toEqual({ tasks: [], nextCursor: null });
  });

  it('lists every task in submission order, without results', async () => {
    await submitAll();
    const page = await list();
    expect(page.nextCursor).toBeNull();
    expect(page.tasks.map((task) => task.id)).toEqual(submissionOrder);
    for (const task of page.tasks) {
      expect(Object.keys(task).sort()).toEqual(summaryFields);
      expect(task).toMatchObject({ type: 'delay', time: '1h', script: `echo ${task.id}`, status: 'ToBeExecuted', version: 1 });
      expect(task.lastStatusUpdated).toMatch(isoTime);
    }
  });

  it('pages with limit and cursor, with no cursor on the last page', async () => {
    await submitAll();
    const seen: string[] = [];
    const cursors: Array<string | null> = [];
    let page = await list('?limit=2');
    for (;;) {
      expect(page.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...page.tasks.map((task) => task.id));
      cursors.push(page.nextCursor);
      if (page.nextCursor === null) break;
      page = await list(`?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`);
    }
    expect(seen).toEqual(submissionOrder);
    expect(cursors).toHaveLength(3);
    expect(cursors.slice(0, 2).every((cursor) => typeof cursor === 'string')).toBe(true);
  });

  it('gives no cursor when the page takes exactly the tasks there are', async () => {
    await submitAll();
    const page = await list('?limit=5');
    expect(page.tasks).toHaveLength(5);
    expect(page.nextCursor).toBeNull();
  });

  it('filters by status, paging within the filter', async () => {
    await submitAll();
    for (const id of ['c', 'a', 'q']) {
      expect((await harness.app.inject({ method: 'PUT', url: `/api/tasks/${id}` })).statusCode).toBe(200);
    }
    const stopped = await list('?status=Stopped&limit=2');
    expect(stopped.tasks.map((task) => task.id)).toEqual(['c', 'a']);
    expect(stopped.tasks.every((task) => task.status === 'Stopped')).toBe(true);
    const rest = await list(`?status=Stopped&limit=2&cursor=${stopped.nextCursor}`);
    expect(rest).toMatchObject({ nextCursor: null });
    expect(rest.tasks.map((task) => task.id)).toEqual(['q']);
    expect((await list('?status=ToBeExecuted')).tasks.map((task) => task.id)).toEqual(['m', 'x']);
    expect(await list('?status=Executing')).toEqual({ tasks: [], nextCursor: null });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=-1', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['status=Bogus', 'status'],
    ['status=stopped', 'status'],
    ['cursor=garbage', 'cursor'],
    [`cursor=${'9'.repeat(40)}`, 'cursor'],
    ['sort=id', 'sort'],
  ])('refuses ?%s (400 invalid_request)', async (query, field) => {
    await submitAll();
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks?${query}` });
    expect(expectError(response, 400, 'invalid_request')).toContain(field);
  });
});

describe('GET /api/tasks/{id}', () => {
  beforeEach(async () => {
    harness = await startHarness();
  });

  it('answers a waiting task with its fields and no results', async () => {
    const submitted = await submit(harness.app, { id: 'waiting', type: 'cron', time: '1h', script: 'ls' });
    const task = await getTask(harness.app, 'waiting');
    expect(task).toEqual(submitted);
    expect(task).toMatchObject({ id: 'waiting', type: 'cron', time: '1h', script: 'ls', status: 'ToBeExecuted', version: 1, results: [] });
  });

  it('answers a delay task that ran with its result (version 3, Executed)', async () => {
    await submit(harness.app, { id: 'calc', type: 'delay', time: '10ms', script: 'echo $((1+2))' });
    const task = await waitForStatus(harness.app, 'calc', 'Executed');
    expect(task).toMatchObject({ status: 'Executed', version: 3, nextRunAt: null, stopRequested: false });
    expect(task.results).toHaveLength(1);
    const [run] = task.results;
    expect(run).toMatchObject({ run: 1, outcome: 'succeeded', exitCode: 0, signal: null, error: null, stdout: '3\n', stderr: '', stdoutBytes: 2, stdoutTruncated: false });
    for (const time of [run!.scheduledAt, run!.startedAt, run!.finishedAt]) expect(time).toMatch(isoTime);
    expect(Date.parse(run!.scheduledAt)).toBe(Date.parse(task.createdAt) + 10);
    expect(Date.parse(run!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(run!.scheduledAt));
    expect(Date.parse(run!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(run!.startedAt!));
    expect(Date.parse(task.lastStatusUpdated)).toBeGreaterThanOrEqual(Date.parse(run!.finishedAt!) - 1000);
  });

  it('records a failing script as failed, with its exit status and stderr', async () => {
    await submit(harness.app, { id: 'fails', type: 'delay', time: '10ms', script: 'echo oops >&2; exit 3' });
    const task = await waitForStatus(harness.app, 'fails', 'Executed');
    expect(task.results).toEqual([expect.objectContaining({ outcome: 'failed', exitCode: 3, stdout: '', stderr: 'oops\n' })]);
  });

  it('drops the spooled output of a run once its result is recorded', async () => {
    await submit(harness.app, { id: 'spooled', type: 'delay', time: '10ms', script: 'echo out; echo err >&2' });
    await waitForStatus(harness.app, 'spooled', 'Executed');
    const spoolDir = join(harness.dir, 'spool');
    await vi.waitFor(() => expect(readdirSync(spoolDir).filter((name) => name.startsWith('spooled.'))).toEqual([]), { timeout: 5000 });
  });

  it('answers 404 not_found for an unknown id', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/api/tasks/nobody' });
    expect(expectError(response, 404, 'not_found')).toContain('nobody');
  });

  it('answers 400 for an id that cannot exist', async () => {
    expectError(await harness.app.inject({ method: 'GET', url: `/api/tasks/${'i'.repeat(129)}` }), 400, 'invalid_request');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/semi%3Bcolon' }), 400, 'invalid_request');
  });

  it('serves a task whose id has the full 128 characters: get, stop, delete', async () => {
    const id = `${'a'.repeat(100)}.${'b'.repeat(27)}`;
    expect(id).toHaveLength(128);
    await submit(harness.app, { id });
    expect((await getTask(harness.app, id)).id).toBe(id);
    const stopped = await harness.app.inject({ method: 'PUT', url: `/api/tasks/${id}` });
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(stopped.json()).toMatchObject({ id, status: 'Stopped' });
    const watched = await harness.app.inject({ method: 'GET', url: `/api/tasks/${id}?watch=true&version=1` });
    expect(watched.json()).toMatchObject({ id, version: 2 });
    expect((await harness.app.inject({ method: 'DELETE', url: `/api/tasks/${id}` })).statusCode).toBe(204);
    expectError(await harness.app.inject({ method: 'GET', url: `/api/tasks/${id}` }), 404, 'not_found');
  });

  it('refuses an unknown query parameter (400)', async () => {
    await submit(harness.app, { id: 'q' });
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/q?verbose=1' }), 400, 'invalid_request');
  });
});

describe('GET /api/tasks/{id}/runs and /runs/{run}', () => {
  beforeEach(async () => {
    harness = await startHarness();
  });

  /** A cron task whose even runs fail, stopped once it has had at least `count` finished runs. */
  async function history(count: number): Promise<RunJson[]> {
    // Every second execution fails. Counted in a file, not by run number: on a loaded machine a
    // fire that comes during a run is skipped and takes a number, and then every run could be odd.
    const counter = join(mkdtempSync(join(tmpdir(), 'scheduler-hist-')), 'executions');
    const script = `c=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $c > ${counter}; echo "run $SCHEDULER_RUN"; [ $((c % 2)) = 1 ]`;
    await submit(harness.app, { id: 'hist', type: 'cron', time: '100ms', script });
    await waitForTask(harness.app, 'hist', (task) =>
      task.results.filter((run) => run.finishedAt !== null).length >= count && task.results.some((run) => run.outcome === 'failed'));
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/hist' })).statusCode).toBe(200);
    const task = await waitForStatus(harness.app, 'hist', 'Stopped');
    return task.results;
  }

  it('pages through the history newest first, and filters by outcome', async () => {
    const all = await history(4);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/tasks/hist/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await harness.app.inject({ method: 'GET', url });
      expect(response.statusCode, response.body).toBe(200);
      const page: RunPageJson = response.json<RunPageJson>();
      expect(page.runs.length).toBeLessThanOrEqual(2);
      seen.push(...page.runs.map((run) => run.run));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(all.map((run) => run.run).reverse());

    const failed = (await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs?outcome=failed' })).json<RunPageJson>();
    expect(failed.runs.length).toBeGreaterThan(0);
    for (const run of failed.runs) expect(run).toMatchObject({ outcome: 'failed', exitCode: 1 });
    expect(failed.runs.map((run) => run.run)).toEqual(all.filter((run) => run.outcome === 'failed').map((run) => run.run).reverse());
  });

  it('answers one run with its output', async () => {
    const all = await history(2);
    const first = all[0]!;
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/hist/runs/${first.run}` });
    expect(response.statusCode).toBe(200);
    expect(response.json<RunJson>()).toEqual(first);
    expect(first.stdout).toBe(`run ${first.run}\n`);
  });

  it('answers 404 for an unknown task or run, and 400 for impossible parameters', async () => {
    await history(1);
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/nobody/runs' }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/nobody/runs/1' }), 404, 'not_found');
    const message = expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs/9999' }), 404, 'not_found');
    expect(message).toMatch(/no run 9999/);
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs/zero' }), 400, 'invalid_request');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs/0' }), 400, 'invalid_request');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs?outcome=great' }), 400, 'invalid_request');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs?limit=0' }), 400, 'invalid_request');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/hist/runs?cursor=x' }), 400, 'invalid_request');
  });
});

describe('POST /api/tasks/{id}/kill', () => {
  beforeEach(async () => {
    harness = await startHarness();
  });

  it('ends the run in progress: 200 with the run recorded as killed', async () => {
    await submit(harness.app, { id: 'long', type: 'delay', time: '10ms', script: 'echo begun; sleep 30' });
    await waitForTask(harness.app, 'long', (task) => task.status === 'Executing');
    const response = await harness.app.inject({ method: 'POST', url: '/api/tasks/long/kill' });
    expect(response.statusCode, response.body).toBe(200);
    const task = response.json<TaskJson>();
    expect(task.status).toBe('Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'killed', signal: 'SIGTERM', exitCode: null }]);
  });

  it('answers 409 not_running for a task with no run executing, 404 for an unknown one', async () => {
    await submit(harness.app, { id: 'idle' });
    expectError(await harness.app.inject({ method: 'POST', url: '/api/tasks/idle/kill' }), 409, 'not_running');
    expectError(await harness.app.inject({ method: 'POST', url: '/api/tasks/nobody/kill' }), 404, 'not_found');
    expect((await getTask(harness.app, 'idle')).version).toBe(1);
  });
});

describe('PUT /api/tasks/{id} (stop)', () => {
  it('stops a waiting delay task: 200, Stopped, and it never runs', async () => {
    harness = await startHarness();
    const submitted = await submit(harness.app, { id: 'pending', type: 'delay', time: '1h' });
    const response = await harness.app.inject({ method: 'PUT', url: '/api/tasks/pending' });
    expect(response.statusCode, response.body).toBe(200);
    const stopped = response.json<StopResponse>();
    expect(stopped).toMatchObject({ id: 'pending', status: 'Stopped', version: 2, nextRunAt: null, results: [] });
    expect(stopped.warning).toBeUndefined();
    expect(Date.parse(stopped.lastStatusUpdated)).toBeGreaterThanOrEqual(Date.parse(submitted.lastStatusUpdated));
    const { warning: _warning, ...withoutWarning } = stopped;
    expect(await getTask(harness.app, 'pending')).toEqual(withoutWarning);
  });

  it('stops a waiting cron task, and a second stop changes nothing', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'every', type: 'cron', time: '1h' });
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/every' })).json()).toMatchObject({ status: 'Stopped', version: 2 });
    const again = await harness.app.inject({ method: 'PUT', url: '/api/tasks/every' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'Stopped', version: 2 });
  });

  it('refuses to stop a delay task that already ran (409 stop_refused); it stays Executed', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'ran', type: 'delay', time: '10ms', script: 'echo hi' });
    const executed = await waitForStatus(harness.app, 'ran', 'Executed');
    const response = await harness.app.inject({ method: 'PUT', url: '/api/tasks/ran' });
    expect(expectError(response, 409, 'stop_refused')).toContain('ran');
    expect(await getTask(harness.app, 'ran')).toEqual(executed);
  });

  it('refuses to stop a delay task whose run is executing (409 stop_refused); the run goes on', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'busy', type: 'delay', time: '10ms' });
    const executing = await waitForStatus(harness.app, 'busy', 'Executing');
    expectError(await harness.app.inject({ method: 'PUT', url: '/api/tasks/busy' }), 409, 'stop_refused');
    expect(await getTask(harness.app, 'busy')).toEqual(executing);
    launcher.runs[0]!.finish();
    const executed = await waitForStatus(harness.app, 'busy', 'Executed');
    expect(executed.results).toEqual([expect.objectContaining({ run: 1, outcome: 'succeeded' })]);
    expect(launcher.runs[0]!.killed).toBe(false);
  });

  it('stops a cron task while it executes: 200 with a warning, the run finishes and is kept, then Stopped', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'cron', type: 'cron', time: '100ms' });
    await waitForStatus(harness.app, 'cron', 'Executing');
    const response = await harness.app.inject({ method: 'PUT', url: '/api/tasks/cron' });
    expect(response.statusCode, response.body).toBe(200);
    const answer = response.json<StopResponse>();
    expect(answer).toMatchObject({ status: 'Executing', stopRequested: true, nextRunAt: null });
    expect(answer.warning).toEqual(expect.stringContaining('run 1'));
    expect(launcher.runs[0]!.killed).toBe(false);

    launcher.runs[0]!.finish({ stdout: { text: 'kept\n', totalBytes: 5, droppedBytes: 0, droppedAt: 0 } });
    const stopped = await waitForStatus(harness.app, 'cron', 'Stopped');
    expect(stopped).toMatchObject({ nextRunAt: null, stopRequested: false });
    expect(stopped.results.find((run) => run.run === 1)).toMatchObject({ outcome: 'succeeded', stdout: 'kept\n' });
    // Only run 1 ever started; any later ticks while it ran were recorded as skipped.
    expect(launcher.runs).toHaveLength(1);
    expect(stopped.results.filter((run) => run.run !== 1).every((run) => run.outcome === 'skipped')).toBe(true);
  });

  it('answers 404 not_found for an unknown id, and 400 for an impossible one', async () => {
    harness = await startHarness();
    expectError(await harness.app.inject({ method: 'PUT', url: '/api/tasks/nobody' }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'PUT', url: `/api/tasks/${'i'.repeat(129)}` }), 400, 'invalid_request');
  });
});

describe('DELETE /api/tasks/{id}', () => {
  it('deletes a task: 204 with no body, then 404 everywhere', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'keep' });
    await submit(harness.app, { id: 'doomed' });
    const response = await harness.app.inject({ method: 'DELETE', url: '/api/tasks/doomed' });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/doomed' }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'PUT', url: '/api/tasks/doomed' }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'DELETE', url: '/api/tasks/doomed' }), 404, 'not_found');
    expect((await listAll(harness.app)).tasks.map((task) => task.id)).toEqual(['keep']);
  });

  it('deletes a task with its results, and the id can be used again', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'reuse', type: 'delay', time: '10ms', script: 'echo first' });
    await waitForStatus(harness.app, 'reuse', 'Executed');
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/reuse' })).statusCode).toBe(204);
    const again = await submit(harness.app, { id: 'reuse', type: 'delay', time: '1h', script: 'echo second' });
    expect(again).toMatchObject({ version: 1, status: 'ToBeExecuted', results: [] });
    expect((await getTask(harness.app, 'reuse')).results).toEqual([]);
  });

  it('stops a running task first: its process is killed', async () => {
    harness = await startHarness();
    const pidFile = join(harness.dir, 'pid');
    const slept = join(harness.dir, 'slept');
    await submit(harness.app, { id: 'sleeper', type: 'delay', time: '10ms', script: `echo $$ > ${pidFile}; sleep 30; touch ${slept}` });
    await waitForStatus(harness.app, 'sleeper', 'Executing');
    await vi.waitFor(() => expect(readFileSync(pidFile, 'utf8')).toMatch(/^\d+\n$/), { timeout: 5000 });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(isAlive(pid)).toBe(true);
    const response = await harness.app.inject({ method: 'DELETE', url: '/api/tasks/sleeper' });
    expect(response.statusCode).toBe(204);
    await vi.waitFor(() => expect(isAlive(pid)).toBe(false), { timeout: 5000 });
    // Killed, not waited for: the script never got past its sleep.
    expect(existsSync(slept)).toBe(false);
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/sleeper' }), 404, 'not_found');
    expect(harness.engine.runsInProgress).toBe(0);
    // The spool of the killed run is gone too.
    expect(existsSync(join(harness.dir, 'spool', 'sleeper.1.stdout'))).toBe(false);
  });

  it('answers 404 not_found for an unknown id, and 400 for an impossible one', async () => {
    harness = await startHarness();
    expectError(await harness.app.inject({ method: 'DELETE', url: '/api/tasks/nobody' }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'DELETE', url: '/api/tasks/a%20b' }), 400, 'invalid_request');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

