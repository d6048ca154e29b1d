/** Roles of tokens (src/server/roles.ts, auth.ts): who may call what, through the app. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { allowedRoles, mayCall, roles, type Role } from '../../src/server/roles.js';
import { startHarness, type Harness } from './harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const sha256 = (token: string) => createHash('sha256').update(token).digest();
const tokenOf: Record<Role, string> = { admin: 'admin-secret', operator: 'operator-secret', viewer: 'viewer-secret', metrics: 'metrics-secret' };
const tokens = roles.map((role) => ({ name: `the-${role}`, role, sha256: sha256(tokenOf[role]) }));

async function as(role: Role | 'nobody', method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  const headers = role === 'nobody' ? {} : { authorization: `Bearer ${tokenOf[role]}` };
  return harness!.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
}

const submission = (id: string) => ({ id, type: 'delay', time: '1h', script: 'true' });

describe('roles', () => {
  it('every route of the API has its roles in the table (a route left out is open to admins alone)', async () => {
    harness = await startHarness({ tokens });
    const document = (await as('admin', 'GET', '/api/openapi.json')).json() as { paths: Record<string, Record<string, { operationId: string }>> };
    const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId));
    expect(operations.length).toBeGreaterThan(15);
    expect(operations.filter((operationId) => !(operationId in allowedRoles))).toEqual([]);
  });

  it('a viewer reads and changes nothing: 403 forbidden, naming its token and role', async () => {
    harness = await startHarness({ tokens });
    expect((await as('operator', 'POST', '/api/tasks', submission('seen'))).statusCode).toBe(201);
    for (const url of ['/api/tasks', '/api/tasks/seen', '/api/tasks/seen/runs', '/api/status', '/api/nodes', '/api/tasks/seen/next']) {
      expect((await as('viewer', 'GET', url)).statusCode, url).toBe(200);
    }
    const refused = await as('viewer', 'POST', '/api/tasks', submission('not-mine'));
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toEqual({ code: 'forbidden', message: expect.stringMatching(/^the token "the-viewer" has the role viewer, which may not POST \/api\/tasks;/) });
    for (const [method, url] of [['PUT', '/api/tasks/seen'], ['POST', '/api/tasks/seen/run'], ['POST', '/api/tasks/seen/kill'], ['DELETE', '/api/tasks/seen']] as const) {
      expect((await as('viewer', method, url)).statusCode, `${method} ${url}`).toBe(403);
    }
    expect((await as('viewer', 'GET', '/api/tasks/not-mine')).statusCode).toBe(404);
  });

  it('an operator runs tasks but deletes nothing and imports nothing; an admin does', async () => {
    harness = await startHarness({ tokens });
    expect((await as('operator', 'POST', '/api/tasks', { ...submission('ops'), type: 'cron' })).statusCode).toBe(201);
    expect((await as('operator', 'POST', '/api/tasks/ops/run')).statusCode).toBe(200);
    expect((await as('operator', 'PUT', '/api/tasks/ops')).statusCode).toBe(200);
    expect((await as('operator', 'DELETE', '/api/tasks/ops')).statusCode).toBe(403);
    expect((await as('operator', 'POST', '/api/backup', { path: '/tmp/never-written.db' })).statusCode).toBe(403);
    expect((await as('admin', 'DELETE', '/api/tasks/ops')).statusCode).toBe(204);
  });

  it('a metrics token reads nothing of the API; no token at all is a 401, as before', async () => {
    harness = await startHarness({ tokens });
    expect((await as('metrics', 'GET', '/api/tasks')).statusCode).toBe(403);
    expect((await as('metrics', 'GET', '/api/status')).statusCode).toBe(403);
    expect((await as('nobody', 'GET', '/api/tasks')).statusCode).toBe(401);
    expect((await as('nobody', 'GET', '/healthz')).statusCode).toBe(200);
    expect(mayCall('metrics', 'getMetrics', { hideOutputFromViewers: false })).toBe(true);
  });

  it('with output hidden from viewers, a viewer lists tasks and runs but reads no task, run of a task or output', async () => {
    harness = await startHarness({ tokens, hideOutputFromViewers: true });
    expect((await as('operator', 'POST', '/api/tasks', submission('secret'))).statusCode).toBe(201);
    expect((await as('viewer', 'GET', '/api/tasks')).statusCode).toBe(200);
    // The runs of every task, without their output, and the tasks with their recent outcomes.
    expect((await as('viewer', 'GET', '/api/runs')).statusCode).toBe(200);
    expect((await as('viewer', 'GET', '/api/tasks?recent=10')).statusCode).toBe(200);
    for (const url of ['/api/tasks/secret', '/api/tasks/secret/runs', '/api/tasks/secret/events', '/api/export']) {
      expect((await as('viewer', 'GET', url)).statusCode, url).toBe(403);
    }
    expect((await as('operator', 'GET', '/api/tasks/secret')).statusCode).toBe(200);
  });
});
