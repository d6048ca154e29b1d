/**
 * Conditional requests on a task: its ETag is its version ("v7"); If-None-Match on a GET
 * answers 304 when the client has that version; If-Match on stop, delete, pause, resume, run
 * and kill applies the change only to that version, else 412 — checked under the task's lock,
 * so that a change between the client's read and its command is always caught.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, startHarness, submit, waitForTask, type Harness } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness;
let launcher: ManualLauncher;

beforeEach(async () => {
  launcher = new ManualLauncher();
  harness = await startHarness({ launcher });
});

afterEach(async () => {
  await harness?.close();
});

const inject = (options: InjectOptions) => harness.app.inject(options);
const cron = { id: 'c', type: 'cron', time: '1h', script: 'ls' };

function expectTask(response: LightMyRequestResponse, version: number): TaskJson {
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers.etag).toBe(`"v${version}"`);
  const task = response.json<TaskJson>();
  expect(task.version).toBe(version);
  return task;
}

describe('ETag', () => {
  it('is the task\'s version, on its GET and on every answer that carries the task', async () => {
    const created = await inject({ method: 'POST', url: '/api/tasks', payload: cron });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"v1"');
    expectTask(await inject({ method: 'GET', url: '/api/tasks/c' }), 1);
    expect((await inject({ method: 'HEAD', url: '/api/tasks/c' })).headers.etag).toBe('"v1"');
    expectTask(await inject({ method: 'POST', url: '/api/tasks/c/pause' }), 2);
    expectTask(await inject({ method: 'POST', url: '/api/tasks/c/resume' }), 3);
    expectTask(await inject({ method: 'POST', url: '/api/tasks/c/run' }), 4);
    expectTask(await inject({ method: 'POST', url: '/api/tasks/c/kill' }), 5);
    expectTask(await inject({ method: 'PUT', url: '/api/tasks/c' }), 6);
    expectTask(await inject({ method: 'GET', url: '/api/tasks/c?watch=true&version=1' }), 6);
  });
});

describe('If-None-Match on GET /api/tasks/{id}', () => {
  it.each(['"v1"', 'W/"v1"', '"v0", "v1"', '*', '"other",W/"v1"'])('%s: 304 with no body and the ETag, while the task is at version 1', async (field) => {
    await submit(harness.app, cron);
    const response = await inject({ method: 'GET', url: '/api/tasks/c', headers: { 'if-none-match': field } });
    expect(response.statusCode).toBe(304);
    expect(response.body).toBe('');
    expect(response.headers.etag).toBe('"v1"');
  });

  it('answers the task once it has changed', async () => {
    await submit(harness.app, cron);
    await inject({ method: 'POST', url: '/api/tasks/c/pause' });
    const task = expectTask(await inject({ method: 'GET', url: '/api/tasks/c', headers: { 'if-none-match': '"v1"' } }), 2);
    expect(task.status).toBe('Paused');
  });

  it('the long poll answers 304 when the task it waited for is the version the client has', async () => {
    await submit(harness.app, cron);
    const response = await inject({ method: 'GET', url: '/api/tasks/c?watch=true&version=1&timeout=10ms', headers: { 'if-none-match': '"v1"' } });
    expect(response.statusCode).toBe(304);
    expect(response.body).toBe('');
  });

  it('a task that does not exist is 404, even with *', async () => {
    expectError(await inject({ method: 'GET', url: '/api/tasks/none', headers: { 'if-none-match': '*' } }), 404, 'not_found');
  });
});

describe('If-Match', () => {
  const changes = [
    ['PUT', '/api/tasks/c', { status: 'Stopped' }],
    ['POST', '/api/tasks/c/pause', { status: 'Paused' }],
    ['POST', '/api/tasks/c/run', { status: 'Executing' }],
  ] as const;

  it.each(changes)('%s %s applies with the current ETag, or *, or a list holding it', async (method, url, after) => {
    await submit(harness.app, cron);
    for (const field of ['"v1"']) {
      const response = await inject({ method, url, headers: { 'if-match': field } });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({ ...after, version: 2 });
      expect(response.headers.etag).toBe('"v2"');
    }
    await inject({ method: 'DELETE', url: '/api/tasks/c' });
    await submit(harness.app, cron);
    expect((await inject({ method, url, headers: { 'if-match': '*' } })).statusCode).toBe(200);
    await inject({ method: 'DELETE', url: '/api/tasks/c' });
    await submit(harness.app, cron);
    expect((await inject({ method, url, headers: { 'if-match': '"v7", "v1"' } })).statusCode).toBe(200);
  });

  it.each(changes)('%s %s answers 412 precondition_failed, changing nothing, when the task is at another version', async (method, url) => {
    await submit(harness.app, cron);
    for (const field of ['"v2"', 'W/"v1"', '"1"', '"v0", "v3"']) {
      const message = expectError(await inject({ method, url, headers: { 'if-match': field } }), 412, 'precondition_failed');
      expect(message).toContain('version 1');
    }
    expect(await getTask(harness.app, 'c')).toMatchObject({ status: 'ToBeExecuted', version: 1 });
    expect(launcher.runs).toHaveLength(0);
  });

  it('resume: 412 on a stale version, 200 on the current one', async () => {
    await submit(harness.app, cron);
    await inject({ method: 'POST', url: '/api/tasks/c/pause' });
    expectError(await inject({ method: 'POST', url: '/api/tasks/c/resume', headers: { 'if-match': '"v1"' } }), 412, 'precondition_failed');
    expect((await getTask(harness.app, 'c')).status).toBe('Paused');
    const resumed = expectTask(await inject({ method: 'POST', url: '/api/tasks/c/resume', headers: { 'if-match': '"v2"' } }), 3);
    expect(resumed.status).toBe('ToBeExecuted');
  });

  it('delete: 412 keeps the task; the current ETag deletes it', async () => {
    await submit(harness.app, cron);
    expectError(await inject({ method: 'DELETE', url: '/api/tasks/c', headers: { 'if-match': '"v2"' } }), 412, 'precondition_failed');
    expect((await getTask(harness.app, 'c')).version).toBe(1);
    expect((await inject({ method: 'DELETE', url: '/api/tasks/c', headers: { 'if-match': '"v1"' } })).statusCode).toBe(204);
    expectError(await inject({ method: 'GET', url: '/api/tasks/c' }), 404, 'not_found');
  });

  it('kill: 412 leaves the run going; the current ETag kills it', async () => {
    await submit(harness.app, cron);
    const started = expectTask(await inject({ method: 'POST', url: '/api/tasks/c/run' }), 2);
    expect(started.status).toBe('Executing');
    expectError(await inject({ method: 'POST', url: '/api/tasks/c/kill', headers: { 'if-match': '"v1"' } }), 412, 'precondition_failed');
    expect(launcher.runs[0]!.killed).toBe(false);
    const killed = await inject({ method: 'POST', url: '/api/tasks/c/kill', headers: { 'if-match': '"v2"' } });
    expect(killed.statusCode, killed.body).toBe(200);
    expect(launcher.runs[0]!.killed).toBe(true);
    expect(killed.headers.etag).toBe(`"v${killed.json<TaskJson>().version}"`);
  });

  it('a task that does not exist is 404, not 412', async () => {
    expectError(await inject({ method: 'PUT', url: '/api/tasks/none', headers: { 'if-match': '"v1"' } }), 404, 'not_found');
    expectError(await inject({ method: 'DELETE', url: '/api/tasks/none', headers: { 'if-match': '*' } }), 404, 'not_found');
  });

  it.each(['v1', '"v1', 'W/v1', '"v1" "v2"'])('a malformed field %s is 400, showing the form', async (field) => {
    await submit(harness.app, cron);
    const message = expectError(await inject({ method: 'PUT', url: '/api/tasks/c', headers: { 'if-match': field } }), 400, 'invalid_request');
    expect(message).toContain('If-Match: "v7"');
    expect((await getTask(harness.app, 'c')).version).toBe(1);
  });
});

describe('races', () => {
  it('a stop with the ETag read before the task changed (a run started) gets 412, and the task goes on', async () => {
    await submit(harness.app, cron);
    const read = await inject({ method: 'GET', url: '/api/tasks/c' });
    const etag = read.headers.etag as string;
    // Between the client's read and its stop, the task changes: a run starts.
    await inject({ method: 'POST', url: '/api/tasks/c/run' });
    const message = expectError(await inject({ method: 'PUT', url: '/api/tasks/c', headers: { 'if-match': etag } }), 412, 'precondition_failed');
    expect(message).toContain('version 2');
    launcher.runs[0]!.finish();
    const after = await waitForTask(harness.app, 'c', (task) => task.results.some((run) => run.outcome === 'succeeded'));
    expect(after).toMatchObject({ status: 'WaitForNextExecution', stopRequested: false });
  });

  it.each([0, 1, 2, 3])('of many changes sent at once with the same ETag, exactly one applies; the others get 412 (rotation %i)', async (rotation) => {
    await submit(harness.app, cron);
    const kinds = [
      { method: 'PUT', url: '/api/tasks/c' },
      { method: 'POST', url: '/api/tasks/c/pause' },
      { method: 'POST', url: '/api/tasks/c/run' },
      { method: 'DELETE', url: '/api/tasks/c' },
    ] as const;
    // Each rotation issues another kind of command first, so that each can be the winner.
    const commands = [...kinds.slice(rotation), ...kinds.slice(0, rotation)];
    const sent = Array.from({ length: 5 }, () => commands).flat();
    const answers = await Promise.all(sent.map((command) => inject({ ...command, headers: { 'if-match': '"v1"' } })));
    const applied = answers.flatMap((answer, index) => (answer.statusCode < 300 ? [index] : []));
    expect(applied, answers.map((answer) => answer.statusCode).join(' ')).toHaveLength(1);
    const winner = sent[applied[0]!]!;
    for (const answer of answers) {
      if (answer.statusCode < 300) continue;
      // Refused for the version; once the winner deleted the task, a later one finds none.
      if (winner.method === 'DELETE' && answer.statusCode === 404) expectError(answer, 404, 'not_found');
      else expectError(answer, 412, 'precondition_failed');
    }
    // The task is what the one applied command made of version 1, and nothing of the others.
    const after = await inject({ method: 'GET', url: '/api/tasks/c' });
    if (winner.method === 'DELETE') {
      expect(answers[applied[0]!]!.statusCode).toBe(204);
      expectError(after, 404, 'not_found');
      expect(launcher.runs).toHaveLength(0);
      return;
    }
    const task = after.json<TaskJson>();
    expect(task.version).toBe(2);
    if (winner.url.endsWith('/run')) {
      expect(task).toMatchObject({ status: 'Executing', pauseRequested: false, stopRequested: false });
      expect(launcher.runs).toHaveLength(1);
    } else {
      expect(task.status).toBe(winner.method === 'PUT' ? 'Stopped' : 'Paused');
      expect(launcher.runs).toHaveLength(0);
    }
  });
});
