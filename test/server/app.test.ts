/** What the app does around the task routes: health, the OpenAPI document, unknown routes, auth, error shapes. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifySqliteError } from '../../src/store/sqlite/sqlite-errors.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { appVersion, expectError, listAll, startHarness, submit, type Harness } from './harness.js';

let harness: Harness;

afterEach(async () => {
  await harness?.close();
});

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok"}', async () => {
    harness = await startHarness();
    const response = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    // Which node answered, and its state; a store kind only where the daemon tells it (see the e2e tests).
    expect(response.json()).toEqual({ status: 'ok', node: { id: `test-host-${process.pid}-0badc0de`, state: 'alive' } });
  });

  it('answers 503 store_unavailable when the store cannot serve', async () => {
    harness = await startHarness();
    await harness.store.close();
    const response = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toMatchObject({ status: 'unavailable', code: 'store_unavailable', reason: expect.stringContaining('not usable'), heldRunEnds: 0 });
  });
});

/** The harness's store, with `overrides` in place of some of its methods. */
function storeWith(overrides: Partial<TaskStore>) {
  return (store: TaskStore) =>
    new Proxy(store, {
      get(target, property, receiver) {
        if (Object.hasOwn(overrides, property)) return overrides[property as keyof TaskStore];
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as TaskStore;
}

describe('a store that failed', () => {
  it('damaged: /healthz answers 503 store_corrupt with the reason', async () => {
    harness = await startHarness({
      wrapStore: storeWith({ recheck: async () => ({ ok: false, code: 'store_corrupt', reason: 'the database /d/scheduler.db is damaged', since: 0 }) }),
    });
    const health = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.headers['retry-after']).toBeUndefined(); // waiting does not repair a damaged file
    expect(health.json()).toMatchObject({ status: 'unavailable', code: 'store_corrupt', reason: 'the database /d/scheduler.db is damaged' });
  });

  it('unavailable: 503 store_unavailable with Retry-After, on /healthz and on a request', async () => {
    const full = classifySqliteError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), '/d/scheduler.db')!;
    harness = await startHarness({
      wrapStore: storeWith({
        health: () => ({ ok: false, code: 'store_unavailable', reason: full.reason, since: 0 }),
        recheck: async () => ({ ok: false, code: 'store_unavailable', reason: full.reason, since: 0 }),
        listTasks: () => Promise.reject(full),
      }),
    });
    const health = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({ status: 'unavailable', code: 'store_unavailable', reason: expect.stringMatching(/the disk is full/) });
    expect(health.headers['retry-after']).toBe('5');
    const list = await harness.app.inject({ method: 'GET', url: '/api/tasks' });
    expect(expectError(list, 503, 'store_unavailable')).toMatch(/the disk is full/);
    expect(list.headers['retry-after']).toBe('5');
  });
});

describe('POST /api/backup', () => {
  it('writes a copy the store can open, and refuses to replace it unless forced', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'kept', type: 'delay', time: '1h', script: 'true' });
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-backup-route-'));
    try {
      const path = join(dir, 'copy.db');
      const first = await harness.app.inject({ method: 'POST', url: '/api/backup', payload: { path } });
      expect(first.statusCode, first.body).toBe(201);
      expect(first.json()).toMatchObject({ path });
      expect((first.json() as { bytes: number }).bytes).toBeGreaterThan(0);
      expectError(await harness.app.inject({ method: 'POST', url: '/api/backup', payload: { path } }), 409, 'already_exists');
      expect((await harness.app.inject({ method: 'POST', url: '/api/backup', payload: { path, overwrite: true } })).statusCode).toBe(201);
      expectError(await harness.app.inject({ method: 'POST', url: '/api/backup', payload: { path: 'relative.db' } }), 400, 'invalid_request');
      const copy = new SqliteTaskStore({ path });
      expect((await copy.getTask('kept'))?.id).toBe('kept');
      await copy.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3 document listing the task routes', async () => {
    harness = await startHarness();
    const response = await harness.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = response.json<{ openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> }>();
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.version).toBe(appVersion);
    expect(Object.keys(document.paths['/api/tasks'] ?? {})).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(document.paths['/api/tasks/{id}'] ?? {})).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
    expect(Object.keys(document.paths['/api/tasks/{id}/next'] ?? {})).toEqual(['get']);
    expect(document.paths['/healthz']).toBeDefined();
  });
});

describe('the route table', () => {
  it('lists every route served, as the daemon prints them', async () => {
    harness = await startHarness();
    const routes = harness.app.routeTable.map((route) => `${route.method} ${route.path}`);
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /api/tasks',
        'POST /api/tasks',
        'GET /api/tasks/:id',
        'GET /api/tasks/:id/next',
        'PUT /api/tasks/:id',
        'DELETE /api/tasks/:id',
        'GET /api/tasks/:id/runs',
        'GET /api/tasks/:id/runs/:run',
        'GET /api/tasks/:id/runs/:run/output',
        'GET /api/tasks/:id/events',
        'POST /api/tasks/:id/kill',
        'GET /healthz',
        'GET /api/openapi.json',
      ]),
    );
    expect(routes.some((route) => route.startsWith('HEAD '))).toBe(false);
  });
});

describe('unknown routes and bad URLs', () => {
  it.each([
    ['GET', '/nope'],
    ['GET', '/api'],
    ['GET', '/api/tasks/x/runs/1/stdout'],
  ] as const)('%s %s answers 404 not_found in the JSON error shape', async (method, url) => {
    harness = await startHarness();
    const message = expectError(await harness.app.inject({ method, url }), 404, 'not_found');
    expect(message).toContain(url);
  });

  it('answers a malformed URL escape in the JSON error shape (400)', async () => {
    harness = await startHarness();
    expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks/%E0%A4%A' }), 400, 'invalid_request');
  });

  it('answers an absurdly long id in the JSON error shape (4xx)', async () => {
    harness = await startHarness();
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/${'x'.repeat(5000)}` });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expectError(response, response.statusCode, 'invalid_request');
  });
});

describe('an unexpected failure', () => {
  it('answers 500 internal without the details', async () => {
    harness = await startHarness({
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, property, receiver) {
            if (property === 'listTasks') return () => Promise.reject(new Error('disk on fire at /secret/path'));
            const value = Reflect.get(target, property, receiver) as unknown;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        }) as TaskStore,
    });
    const message = expectError(await harness.app.inject({ method: 'GET', url: '/api/tasks' }), 500, 'internal');
    expect(message).not.toContain('/secret/path');
    expect(message).not.toContain('disk on fire');
  });
});

describe('bearer token', () => {
  const token = 's3cret-token';
  const withToken = { authorization: `Bearer ${token}` };

  it.each([
    ['no authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['a token that is a prefix of the right one', { authorization: `Bearer ${token.slice(0, -1)}` }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
    ['the token without the Bearer scheme', { authorization: token }],
    ['basic authentication', { authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` }],
  ])('refuses %s (401 unauthorized) on every task route', async (_label, headers: Record<string, string>) => {
    harness = await startHarness({ token });
    const seed = await harness.app.inject({ method: 'POST', url: '/api/tasks', headers: withToken, payload: { id: 'guarded', type: 'delay', time: '1h', script: 'echo hi' } });
    expect(seed.statusCode).toBe(201);
    for (const [method, url] of [
      ['GET', '/api/tasks'],
      ['GET', '/api/tasks/guarded'],
      ['GET', '/api/tasks/guarded/next'],
      ['GET', '/api/tasks/guarded?watch=true&version=1'],
      ['PUT', '/api/tasks/guarded'],
      ['DELETE', '/api/tasks/guarded'],
      ['GET', '/api/openapi.json'],
    ] as const) {
      expectError(await harness.app.inject({ method, url, headers }), 401, 'unauthorized');
    }
    expectError(
      await harness.app.inject({ method: 'POST', url: '/api/tasks', headers, payload: { id: 'sneaky', type: 'delay', time: '1h', script: 'echo hi' } }),
      401,
      'unauthorized',
    );
    expectError(
      await harness.app.inject({ method: 'POST', url: '/api/tasks?dryRun=true', headers, payload: { id: 'peek', type: 'cron', time: '@hourly', script: 'echo hi' } }),
      401,
      'unauthorized',
    );
    // Nothing the refused requests asked for happened.
    const task = await harness.app.inject({ method: 'GET', url: '/api/tasks/guarded', headers: withToken });
    expect(task.json()).toMatchObject({ id: 'guarded', status: 'ToBeExecuted', version: 1 });
    const list = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: withToken });
    expect(list.json<{ tasks: Array<{ id: string }> }>().tasks.map((t) => t.id)).toEqual(['guarded']);
  });

  it('admits requests with the token', async () => {
    harness = await startHarness({ token });
    const created = await harness.app.inject({ method: 'POST', url: '/api/tasks', headers: withToken, payload: { id: 'ok', type: 'delay', time: '1h', script: 'echo hi' } });
    expect(created.statusCode).toBe(201);
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: withToken })).statusCode).toBe(200);
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks/ok', headers: withToken })).statusCode).toBe(200);
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/ok', headers: withToken })).json()).toMatchObject({ status: 'Stopped' });
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/ok', headers: withToken })).statusCode).toBe(204);
    expect((await harness.app.inject({ method: 'GET', url: '/api/openapi.json', headers: withToken })).statusCode).toBe(200);
  });

  it('answers 401 with a Bearer challenge: the realm without credentials, also invalid_token with wrong ones', async () => {
    harness = await startHarness({ token });
    for (const [headers, challenge] of [
      [{}, 'Bearer realm="scheduler"'],
      [{ authorization: 'Basic dXNlcjpwYXNz' }, 'Bearer realm="scheduler"'],
      [{ authorization: 'Bearer ' }, 'Bearer realm="scheduler"'],
      [{ authorization: 'Bearer wrong-token' }, 'Bearer realm="scheduler", error="invalid_token"'],
    ] as const) {
      const response = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers });
      expectError(response, 401, 'unauthorized');
      expect(response.headers['www-authenticate'], JSON.stringify(headers)).toBe(challenge);
    }
    // An admitted request carries no challenge.
    const admitted = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: withToken });
    expect(admitted.statusCode).toBe(200);
    expect(admitted.headers['www-authenticate']).toBeUndefined();
  });

  it.each(['bearer', 'BEARER', 'bEaReR'])('takes the scheme name in any case: "%s TOKEN" is admitted', async (scheme) => {
    harness = await startHarness({ token });
    const response = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: { authorization: `${scheme} ${token}` } });
    expect(response.statusCode, response.body).toBe(200);
    // ...but the token itself is compared exactly.
    const wrongCase = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: { authorization: `${scheme} ${token.toUpperCase()}` } });
    expectError(wrongCase, 401, 'unauthorized');
  });

  it('leaves /healthz open', async () => {
    harness = await startHarness({ token });
    const response = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    // Which node answered, and its state; a store kind only where the daemon tells it (see the e2e tests).
    expect(response.json()).toEqual({ status: 'ok', node: { id: `test-host-${process.pid}-0badc0de`, state: 'alive' } });
  });

  it('is not required when no token is set', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'open' });
    expect((await listAll(harness.app)).tasks).toHaveLength(1);
  });
});
