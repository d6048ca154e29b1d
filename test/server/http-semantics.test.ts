/**
 * What HTTP itself promises, besides the routes' own work: a wrong method on an existing path
 * is 405 with Allow, a trailing slash is served, a body that is not JSON is 415, a body sent
 * to a route that takes none is refused, and parameters that only make sense together are
 * refused alone rather than ignored.
 */
import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, listAll, startHarness, submit, type Harness } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness;

beforeEach(async () => {
  harness = await startHarness({ launcher: new ManualLauncher() });
});

afterEach(async () => {
  await harness?.close();
});

const inject = (options: InjectOptions) => harness.app.inject(options);
const task = { id: 'sub', type: 'delay', time: '1h', script: 'echo hi' };

describe('a wrong method on an existing path', () => {
  it.each([
    ['PATCH', '/api/tasks/x', 'DELETE, GET, HEAD, PUT'],
    ['POST', '/api/tasks/x', 'DELETE, GET, HEAD, PUT'],
    ['DELETE', '/api/tasks', 'GET, HEAD, POST'],
    ['GET', '/api/tasks/x/kill', 'POST'],
    ['PUT', '/api/tasks/x/pause', 'POST'],
    ['POST', '/api/tasks/x/runs/3/output', 'GET, HEAD'],
    ['PUT', '/healthz', 'GET, HEAD'],
    ['OPTIONS', '/api/tasks/x/', 'DELETE, GET, HEAD, PUT'],
  ] as const)('%s %s answers 405 method_not_allowed with Allow: %s', async (method, url, allow) => {
    const response = await inject({ method, url });
    const message = expectError(response, 405, 'method_not_allowed');
    expect(response.headers.allow).toBe(allow);
    expect(message).toContain(method);
    expect(message).toContain(allow);
  });

  it('changes nothing', async () => {
    await submit(harness.app, task);
    expectError(await inject({ method: 'PATCH', url: '/api/tasks/sub', payload: { status: 'Stopped' } }), 405, 'method_not_allowed');
    expect(await getTask(harness.app, 'sub')).toMatchObject({ status: 'ToBeExecuted', version: 1 });
  });

  it('a path that does not exist stays 404', async () => {
    const response = await inject({ method: 'PATCH', url: '/api/nothing/here' });
    expectError(response, 404, 'not_found');
    expect(response.headers.allow).toBeUndefined();
  });

  it('still needs the token first (401 before 405)', async () => {
    await harness.close();
    harness = await startHarness({ token: 'secret' });
    expectError(await inject({ method: 'PATCH', url: '/api/tasks/x' }), 401, 'unauthorized');
    const response = await inject({ method: 'PATCH', url: '/api/tasks/x', headers: { authorization: 'Bearer secret' } });
    expectError(response, 405, 'method_not_allowed');
  });
});

describe('a trailing slash', () => {
  it('is served as the path without it', async () => {
    const created = await inject({ method: 'POST', url: '/api/tasks/', payload: task });
    expect(created.statusCode, created.body).toBe(201);
    const list = await inject({ method: 'GET', url: '/api/tasks/?limit=5' });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ tasks: TaskJson[] }>().tasks.map((t) => t.id)).toEqual(['sub']);
    const got = await inject({ method: 'GET', url: '/api/tasks/sub/' });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json<TaskJson>().id).toBe('sub');
    const runs = await inject({ method: 'GET', url: '/api/tasks/sub/runs/' });
    expect(runs.statusCode, runs.body).toBe(200);
    const stopped = await inject({ method: 'PUT', url: '/api/tasks/sub/' });
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(stopped.json<TaskJson>().status).toBe('Stopped');
  });
});

describe('a body that is not JSON', () => {
  it.each([
    ['text/plain (even when the text is JSON)', { 'content-type': 'text/plain' }, JSON.stringify(task)],
    ['application/x-www-form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }, 'id=sub&type=delay'],
    ['application/xml', { 'content-type': 'application/xml' }, '<task id="sub"/>'],
    ['no Content-Type at all', {}, JSON.stringify(task)],
  ])('sent as %s answers 415 unsupported_media_type, saying what to send, storing nothing', async (_label, headers, payload) => {
    const message = expectError(await inject({ method: 'POST', url: '/api/tasks', headers, payload }), 415, 'unsupported_media_type');
    expect(message).toContain('Content-Type: application/json');
    expect((await listAll(harness.app)).tasks).toEqual([]);
  });

  it('JSON with its type and a charset is accepted', async () => {
    const response = await inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: JSON.stringify(task) });
    expect(response.statusCode, response.body).toBe(201);
  });

  it('malformed JSON with the right type stays 400 invalid_request, with the parser\'s reason', async () => {
    const message = expectError(await inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload: '{"id": "x",' }), 400, 'invalid_request');
    expect(message).toMatch(/^the body is not valid JSON: \S/);
  });

  it('a JSON type with no body says a body is needed (400)', async () => {
    const message = expectError(await inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload: '' }), 400, 'invalid_request');
    expect(message).toContain('needs a body');
  });

  it('prototype poisoning is still refused (400)', async () => {
    const payload = `{"id":"p","type":"delay","time":"1h","script":"ls","__proto__":{"admin":true}}`;
    expectError(await inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload }), 400, 'invalid_request');
    expect((await listAll(harness.app)).tasks).toEqual([]);
  });
});

describe('a body on a route that takes none', () => {
  const cron = { id: 'c', type: 'cron', time: '1h', script: 'ls' };
  const routes = [
    ['PUT', '/api/tasks/c', 'PUT /api/tasks/{id}'],
    ['DELETE', '/api/tasks/c', 'DELETE /api/tasks/{id}'],
    ['POST', '/api/tasks/c/kill', 'POST /api/tasks/{id}/kill'],
    ['POST', '/api/tasks/c/pause', 'POST /api/tasks/{id}/pause'],
    ['POST', '/api/tasks/c/resume', 'POST /api/tasks/{id}/resume'],
    ['POST', '/api/tasks/c/run', 'POST /api/tasks/{id}/run'],
  ] as const;

  it.each(routes)('%s %s refuses a JSON body (400), changing nothing', async (method, url, route) => {
    await submit(harness.app, cron);
    const message = expectError(await inject({ method, url, payload: { force: true } }), 400, 'invalid_request');
    expect(message).toContain(`${route} takes no body`);
    expect(await getTask(harness.app, 'c')).toMatchObject({ status: 'ToBeExecuted', version: 1 });
    expect(harness.engine.runsInProgress).toBe(0);
  });

  it.each(routes)('%s %s refuses a text body too (400, not 415)', async (method, url, route) => {
    await submit(harness.app, cron);
    const message = expectError(await inject({ method, url, headers: { 'content-type': 'text/plain' }, payload: 'now' }), 400, 'invalid_request');
    expect(message).toContain(`${route} takes no body`);
    expect(await getTask(harness.app, 'c')).toMatchObject({ status: 'ToBeExecuted', version: 1 });
  });

  it('an empty body with a JSON type is no body: the stop goes ahead', async () => {
    await submit(harness.app, cron);
    const response = await inject({ method: 'PUT', url: '/api/tasks/c', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<TaskJson>().status).toBe('Stopped');
  });
});

describe('parameters that only make sense together', () => {
  it.each(['?next=5', '?dryRun=false&next=3'])('POST /api/tasks%s: next without dryRun=true is refused (400), storing nothing', async (query) => {
    const message = expectError(await inject({ method: 'POST', url: `/api/tasks${query}`, payload: task }), 400, 'invalid_request');
    expect(message).toContain('next: only with dryRun=true');
    expect((await listAll(harness.app)).tasks).toEqual([]);
  });

  it('a dry run with an id that exists answers 409 already_exists, as the submit would', async () => {
    const stored = await submit(harness.app, task);
    const dry = await inject({ method: 'POST', url: '/api/tasks?dryRun=true', payload: { ...task, time: '2h' } });
    const real = await inject({ method: 'POST', url: '/api/tasks', payload: { ...task, time: '2h' } });
    expect(expectError(dry, 409, 'already_exists')).toBe(expectError(real, 409, 'already_exists'));
    expect(await getTask(harness.app, 'sub')).toEqual(stored);
  });

  it('a dry run with a free id still answers 200', async () => {
    const dry = await inject({ method: 'POST', url: '/api/tasks?dryRun=true&next=2', payload: task });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json<{ nextRuns: string[] }>().nextRuns).toHaveLength(1);
  });
});

describe('a request that comes while the daemon closes', () => {
  it('answers 503 shutting_down, saying how to start it again, and changes nothing', async () => {
    const closing = harness.app.close();
    const [read, change] = await Promise.all([inject({ method: 'GET', url: '/api/tasks' }), inject({ method: 'POST', url: '/api/tasks', payload: task })]);
    expect(expectError(read, 503, 'shutting_down')).toMatch(/start it again with "scheduler daemon"/);
    expectError(change, 503, 'shutting_down');
    await closing;
    expect(await harness.store.getTask(task.id)).toBeUndefined();
  });
});
