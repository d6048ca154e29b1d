/**
 * The API keeps HTTP's promises: 405 with Allow for a wrong method, trailing slashes served,
 * parameters that only make sense together refused rather than ignored, a body refused where
 * a route takes none, and conditional requests on a task (ETag, If-Match, If-None-Match).
 */
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, getTask, startHarness, submit, type Harness } from './harness.js';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.close();
});

const inject = (options: InjectOptions) => harness.app.inject(options);

describe('methods and paths', () => {
  it.each([
    ['POST', '/api/tasks/m1', 'DELETE, GET, HEAD, PUT'],
    ['PATCH', '/api/tasks/m1', 'DELETE, GET, HEAD, PUT'],
    ['DELETE', '/api/tasks', 'GET, HEAD, POST'],
    ['GET', '/api/tasks/m1/kill', 'POST'],
  ])('%s %s answers 405 with Allow: %s', async (method, url, allow) => {
    const response = await inject({ method: method as 'GET', url });
    expectError(response, 405, 'method_not_allowed');
    expect(response.headers.allow).toBe(allow);
  });

  it('a path that does not exist stays a 404', async () => {
    expectError(await inject({ method: 'GET', url: '/api/nothing/here' }), 404, 'not_found');
  });

  it('a trailing slash is served as the path without it', async () => {
    await submit(harness.app, { id: 'slash' });
    expect((await inject({ method: 'GET', url: '/api/tasks/' })).statusCode).toBe(200);
    const response = await inject({ method: 'GET', url: '/api/tasks/slash/' });
    expect(response.statusCode).toBe(200);
    expect(response.json().id).toBe('slash');
  });
});

describe('parameters that only make sense together', () => {
  it('next without dryRun is refused, and nothing is submitted', async () => {
    const response = await inject({ method: 'POST', url: '/api/tasks?next=3', payload: { id: 'lone-next', type: 'delay', time: '1h', script: 'ls' } });
    expect(expectError(response, 400, 'invalid_request')).toContain('dryRun');
    expectError(await inject({ method: 'GET', url: '/api/tasks/lone-next' }), 404, 'not_found');
  });

  it('a dry run with an id that exists answers 409, as the real submit would', async () => {
    await submit(harness.app, { id: 'taken' });
    const response = await inject({ method: 'POST', url: '/api/tasks?dryRun=true', payload: { id: 'taken', type: 'delay', time: '1h', script: 'ls' } });
    expectError(response, 409, 'already_exists');
  });

  it.each([
    ['PUT', '/api/tasks/bodyless'],
    ['POST', '/api/tasks/bodyless/kill'],
    ['POST', '/api/tasks/bodyless/pause'],
    ['POST', '/api/tasks/bodyless/resume'],
    ['POST', '/api/tasks/bodyless/run'],
  ])('%s %s with a body is refused, and the task is untouched', async (method, url) => {
    await inject({ method: 'POST', url: '/api/tasks', payload: { id: 'bodyless', type: 'cron', time: '1h', script: 'ls' } });
    const before = await getTask(harness.app, 'bodyless');
    const response = await inject({ method: method as 'PUT', url, payload: { force: true } });
    expect(expectError(response, 400, 'invalid_request')).toContain('takes no body');
    expect((await getTask(harness.app, 'bodyless')).version).toBe(before.version);
  });
});

describe('conditional requests', () => {
  it('a task carries its version as a strong ETag; If-None-Match with it answers 304 with no body', async () => {
    const submitted = await submit(harness.app, { id: 'tagged', type: 'cron', time: '1h' });
    const response = await inject({ method: 'GET', url: '/api/tasks/tagged' });
    expect(response.headers.etag).toBe(`"v${submitted.version}"`);
    for (const tag of [`"v${submitted.version}"`, `W/"v${submitted.version}"`, '*', `"v999", "v${submitted.version}"`]) {
      const cached = await inject({ method: 'GET', url: '/api/tasks/tagged', headers: { 'if-none-match': tag } });
      expect(cached.statusCode, tag).toBe(304);
      expect(cached.body).toBe('');
    }
    const stale = await inject({ method: 'GET', url: '/api/tasks/tagged', headers: { 'if-none-match': '"v999"' } });
    expect(stale.statusCode).toBe(200);
    expect(stale.json().id).toBe('tagged');
  });

  it('If-Match with the current ETag lets a change through; with an old one it is refused with 412 and nothing changes', async () => {
    const submitted = await submit(harness.app, { id: 'guarded', type: 'cron', time: '1h' });
    const etag = `"v${submitted.version}"`;
    const paused = await inject({ method: 'POST', url: '/api/tasks/guarded/pause', headers: { 'if-match': etag } });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().status).toBe('Paused');
    expect(paused.headers.etag).toBe(`"v${paused.json().version}"`);

    // The client still holds the first ETag: the task changed since, so each change is refused.
    for (const [method, url] of [['POST', '/api/tasks/guarded/resume'], ['PUT', '/api/tasks/guarded'], ['DELETE', '/api/tasks/guarded']] as const) {
      expectError(await inject({ method, url, headers: { 'if-match': etag } }), 412, 'precondition_failed');
    }
    const after = await getTask(harness.app, 'guarded');
    expect(after).toMatchObject({ status: 'Paused', version: paused.json().version });

    expect((await inject({ method: 'DELETE', url: '/api/tasks/guarded', headers: { 'if-match': '*' } })).statusCode).toBe(204);
  });

  it('two clients that read the same version race to change it: one wins, the other gets 412', async () => {
    const submitted = await submit(harness.app, { id: 'raced', type: 'cron', time: '1h' });
    const etag = `"v${submitted.version}"`;
    const [pause, stop] = await Promise.all([
      inject({ method: 'POST', url: '/api/tasks/raced/pause', headers: { 'if-match': etag } }),
      inject({ method: 'PUT', url: '/api/tasks/raced', headers: { 'if-match': etag } }),
    ]);
    expect([pause.statusCode, stop.statusCode].sort()).toEqual([200, 412]);
    const winner = pause.statusCode === 200 ? 'Paused' : 'Stopped';
    expect((await getTask(harness.app, 'raced')).status).toBe(winner);
  });

  it('a malformed If-Match is a 400 that shows the form', async () => {
    await submit(harness.app, { id: 'malformed' });
    const message = expectError(await inject({ method: 'PUT', url: '/api/tasks/malformed', headers: { 'if-match': 'v1' } }), 400, 'invalid_request');
    expect(message).toContain('"v7"');
  });
});
