/** What the app does around the task routes: health, the OpenAPI document, unknown routes, auth, error shapes. */
import { afterEach, describe, expect, it } from 'vitest';
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
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('answers 503 store_unavailable when the store cannot serve', async () => {
    harness = await startHarness();
    await harness.store.close();
    expectError(await harness.app.inject({ method: 'GET', url: '/healthz' }), 503, 'store_unavailable');
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

  it('leaves /healthz open', async () => {
    harness = await startHarness({ token });
    const response = await harness.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('is not required when no token is set', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'open' });
    expect((await listAll(harness.app)).tasks).toHaveLength(1);
  });
});
