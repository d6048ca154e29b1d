/** The audit log through the app (src/server/audit-log.ts, GET /api/audit): what is recorded, by whom, and what is not. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntryJson } from '../../src/protocol/schemas.js';
import { waitFor } from '../support/wait.js';
import { startHarness, type Harness } from './harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const sha256 = (token: string) => createHash('sha256').update(token).digest();
const tokens = [{ name: 'ci', role: 'operator' as const, sha256: sha256('ci-secret') }];
const as = (token: string | undefined, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  harness!.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) });

type Entry = AuditEntryJson;

/**
 * The page of the audit log GET /api/audit?QUERY answers, once it holds `count` entries: they
 * are written in groups, within 100 ms. (waitFor's pauses are real timers: injected requests
 * alone never leave the microtasks, and the timer that writes the entries would never run.)
 */
function auditPage(query: string, count: number): Promise<{ entries: Entry[]; nextBefore: number | null }> {
  return waitFor(`${count} audit entries`, async () => {
    const page = (await as('admin-secret', 'GET', `/api/audit?${query}`)).json() as { entries: Entry[]; nextBefore: number | null };
    return page.entries.length >= count ? page : undefined;
  }, { intervalMs: 20 });
}

describe('the audit log', () => {
  it('records each change with its token, role, route, task, status and address; reads are not recorded; refusals are', async () => {
    harness = await startHarness({ token: 'admin-secret', tokens });
    expect((await as('ci-secret', 'POST', '/api/tasks', { id: 'audited', type: 'cron', time: '1h', script: 'true' })).statusCode).toBe(201);
    expect((await as('ci-secret', 'GET', '/api/tasks/audited')).statusCode).toBe(200);
    expect((await as('ci-secret', 'DELETE', '/api/tasks/audited')).statusCode).toBe(403);
    expect((await as('wrong', 'PUT', '/api/tasks/audited')).statusCode).toBe(401);
    expect((await as('admin-secret', 'DELETE', '/api/tasks/audited')).statusCode).toBe(204);
    const { entries } = await auditPage('limit=100', 4);
    expect(entries.map(({ at: _at, remote: _remote, id: _id, ...rest }) => rest)).toEqual([
      { token: 'admin', role: 'admin', method: 'DELETE', path: '/api/tasks/audited', operation: 'deleteTask', taskId: 'audited', status: 204 },
      { token: null, role: null, method: 'PUT', path: '/api/tasks/audited', operation: 'stopTask', taskId: 'audited', status: 401 },
      { token: 'ci', role: 'operator', method: 'DELETE', path: '/api/tasks/audited', operation: 'deleteTask', taskId: 'audited', status: 403 },
      { token: 'ci', role: 'operator', method: 'POST', path: '/api/tasks', operation: 'submitTask', taskId: 'audited', status: 201 },
    ]);
    expect(entries[0]!.remote).toBe('127.0.0.1');
    expect(Date.parse(entries[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('is read by admins only, a page at a time', async () => {
    harness = await startHarness({ token: 'admin-secret', tokens });
    for (const id of ['a', 'b', 'c']) expect((await as('ci-secret', 'POST', '/api/tasks', { id, type: 'cron', time: '1h', script: 'true' })).statusCode).toBe(201);
    expect((await as('ci-secret', 'GET', '/api/audit')).statusCode).toBe(403);
    const first = await auditPage('limit=2', 2);
    expect(first.entries.map((entry: Entry) => entry.taskId)).toEqual(['c', 'b']);
    const second = (await as('admin-secret', 'GET', `/api/audit?limit=2&before=${first.nextBefore}`)).json();
    expect(second).toEqual({ entries: [expect.objectContaining({ taskId: 'a' })], nextBefore: null });
  });
});
