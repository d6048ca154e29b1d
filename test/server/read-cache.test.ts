/**
 * GET /api/tasks/{id} answers from a cache of serialised tasks (server/task-json-cache.ts):
 * whatever changed a task, the next GET shows the change, never the answer kept before it.
 * Each test reads the task twice first, so that its answer is kept when the change comes.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { waitFor } from '../support/wait.js';
import { expectError, startHarness, submit, waitForTask, type Harness, type HarnessOptions } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness;
let launcher: ManualLauncher;

async function start(options: HarnessOptions = {}): Promise<void> {
  launcher = new ManualLauncher();
  harness = await startHarness({ launcher, ...options });
}

afterEach(async () => {
  await harness?.close();
});

const get = (id: string, headers: Record<string, string> = {}) => harness.app.inject({ method: 'GET', url: `/api/tasks/${id}`, headers });
const post = (path: string) => harness.app.inject({ method: 'POST', url: path });

/** GETs the task twice (the second answer comes from the cache): both the same bytes and headers. */
async function readTwice(id: string): Promise<TaskJson> {
  const first = await get(id);
  const second = await get(id);
  expect(first.statusCode, first.body).toBe(200);
  expect(second.body).toBe(first.body);
  expect(headersOf(second)).toEqual(headersOf(first));
  return first.json<TaskJson>();
}

/** The headers of an answer but its date. */
function headersOf(response: LightMyRequestResponse): Record<string, unknown> {
  const { date: _date, ...rest } = response.headers;
  return rest;
}

/** Starts a run of `id` now, and waits until the launcher has it. */
async function runNow(id: string): Promise<void> {
  const before = launcher.runs.length;
  expect((await post(`/api/tasks/${id}/run`)).statusCode).toBe(200);
  await waitFor(`a run of ${id} to be launched`, () => launcher.runs.length > before);
}

const cron = (id: string, script = 'echo hi') => ({ id, type: 'cron', time: '1h', script });

describe('GET of a task through the cache', () => {
  it('answers what the route serialises, with its ETag and type, the same bytes every time', async () => {
    await start();
    const task = await submit(harness.app, cron('c'));
    const response = await get('c');
    expect(response.headers.etag).toBe('"v1"');
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.json()).toEqual(task);
    await readTwice('c');
  });

  it('answers 304 from the cache when If-None-Match names the kept version, 200 otherwise', async () => {
    await start();
    await submit(harness.app, cron('c'));
    await readTwice('c');
    const notModified = await get('c', { 'if-none-match': '"v1"' });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    expect(notModified.headers.etag).toBe('"v1"');
    const other = await get('c', { 'if-none-match': '"v0"' });
    expect(other.statusCode).toBe(200);
    expect(other.json<TaskJson>().version).toBe(1);
    expectError(await get('c', { 'if-none-match': 'v1' }), 400, 'invalid_request');
  });

  it('shows each command: pause, resume, stop', async () => {
    await start();
    await submit(harness.app, cron('c'));
    await readTwice('c');
    expect((await post('/api/tasks/c/pause')).statusCode).toBe(200);
    expect(await readTwice('c')).toMatchObject({ status: 'Paused', version: 2 });
    expect((await post('/api/tasks/c/resume')).statusCode).toBe(200);
    const resumed = await readTwice('c');
    expect(resumed.version).toBe(3);
    expect(resumed.status).not.toBe('Paused');
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/c' })).statusCode).toBe(200);
    expect(await readTwice('c')).toMatchObject({ status: 'Stopped', version: 4 });
  });

  it('shows a run start, its output as it comes (not kept while it executes), and its end', async () => {
    await start();
    await submit(harness.app, cron('c'));
    await readTwice('c');
    await runNow('c');
    const executing = await readTwice('c');
    expect(executing.status).toBe('Executing');
    expect(executing.results).toMatchObject([{ outcome: 'running', stdout: '' }]);
    launcher.runs[0]!.write('stdout', 'first\n');
    expect((await get('c')).json<TaskJson>().results[0]!.stdout).toBe('first\n');
    launcher.runs[0]!.write('stdout', 'second\n');
    expect((await get('c')).json<TaskJson>().results[0]!.stdout).toBe('first\nsecond\n');
    launcher.runs[0]!.finish();
    const ended = await waitForTask(harness.app, 'c', (task) => task.status !== 'Executing');
    expect(ended.results).toMatchObject([{ outcome: 'succeeded', stdout: 'first\nsecond\n' }]);
    expect(await readTwice('c')).toEqual(ended);
  });

  it('shows a kill', async () => {
    await start();
    await submit(harness.app, cron('c'));
    await runNow('c');
    await readTwice('c');
    expect((await post('/api/tasks/c/kill')).statusCode).toBe(200);
    const killed = await readTwice('c');
    expect(killed.status).toBe('WaitForNextExecution');
    expect(killed.results.at(-1)!.outcome).toBe('killed');
  });

  it('after a delete: 404, then a new task under the same id at the same version shows as itself', async () => {
    await start();
    await submit(harness.app, cron('c', 'echo old'));
    expect(await readTwice('c')).toMatchObject({ version: 1, script: 'echo old' });
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/c' })).statusCode).toBe(204);
    expectError(await get('c'), 404, 'not_found');
    await submit(harness.app, cron('c', 'echo new'));
    expect(await readTwice('c')).toMatchObject({ version: 1, script: 'echo new' });
  });

  it('shows output dropped to keep the bound on all output, which leaves the version as it is', async () => {
    await start({ maxOutputBytes: 50 });
    await submit(harness.app, cron('a'));
    await submit(harness.app, cron('b'));
    await runNow('a');
    launcher.runs[0]!.write('stdout', 'a'.repeat(30));
    launcher.runs[0]!.finish();
    const kept = await waitForTask(harness.app, 'a', (task) => task.status !== 'Executing');
    expect(kept.results[0]).toMatchObject({ stdout: 'a'.repeat(30), stdoutDroppedBytes: 0 });
    expect(await readTwice('a')).toEqual(kept);

    await runNow('b');
    launcher.runs[1]!.write('stdout', 'b'.repeat(40));
    launcher.runs[1]!.finish();
    await waitForTask(harness.app, 'b', (task) => task.status !== 'Executing');
    // b's 40 bytes are stored: 70 in all, over the bound until a's are dropped.
    await waitFor('the output of a to be dropped', async () => (await harness.store.outputBytes()) === 40);
    const dropped = await readTwice('a');
    expect(dropped.version).toBe(kept.version);
    expect(dropped.results[0]).toMatchObject({ stdout: '', stdoutBytes: 30, stdoutDroppedBytes: 30, stdoutTruncated: true });
  });

  it('shows a task imported under the id of one deleted, at the same version', async () => {
    await start();
    await submit(harness.app, cron('c', 'echo exported'));
    const exported = await harness.app.inject({ method: 'GET', url: '/api/export' });
    expect(exported.statusCode).toBe(200);
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/c' })).statusCode).toBe(204);
    await submit(harness.app, cron('c', 'echo between'));
    expect(await readTwice('c')).toMatchObject({ version: 1, script: 'echo between' });
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/c' })).statusCode).toBe(204);
    const imported = await harness.app.inject({ method: 'POST', url: '/api/import', headers: { 'content-type': 'application/x-ndjson' }, payload: exported.body });
    expect(imported.statusCode, imported.body).toBe(200);
    expect(await readTwice('c')).toMatchObject({ version: 1, script: 'echo exported' });
  });
});
