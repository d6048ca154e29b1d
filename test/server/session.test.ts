/**
 * Browsers' sessions through the app (routes/session.ts, sessions.ts, auth.ts): the login's
 * cookie, what it admits, the same-origin rule for changes made with it, logout, expiry,
 * revoked tokens, the rate limit on logins, and the audit of logins and logouts.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntryJson, SessionJson } from '../../src/protocol/schemas.js';
import { FakeClock } from '../support/fake-clock.js';
import { waitFor } from '../support/wait.js';
import { expectError, startHarness, type Harness, type HarnessOptions } from './harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const sha256 = (text: string) => createHash('sha256').update(text).digest();
const tokens = [
  { name: 'ci', role: 'operator' as const, sha256: sha256('operator-secret') },
  { name: 'dashboard', role: 'viewer' as const, sha256: sha256('viewer-secret') },
];
const start = (options: HarnessOptions = {}) => startHarness({ token: 'admin-secret', tokens, ...options });

type Headers = Record<string, string>;
const request = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: Headers = {}, payload?: object) =>
  harness!.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });

/** Logs in with `token`; the whole answer, and the `name=value` of its cookie. */
async function login(token: string, headers: Headers = {}) {
  const response = await request('POST', '/api/session', headers, { token });
  const setCookie = String(response.headers['set-cookie'] ?? '');
  return { response, setCookie, cookie: setCookie.split(';')[0]! };
}

/** The headers of a browser on the daemon's own page. */
const sameOrigin = { 'sec-fetch-site': 'same-origin' };
const submission = (id: string) => ({ id, type: 'cron', time: '1h', script: 'true' });

describe('POST /api/session', () => {
  it("sets an HttpOnly, SameSite=Strict cookie for the whole site, for the session's lifetime, not Secure over HTTP; the store keeps only the id's SHA-256", async () => {
    const clock = new FakeClock();
    harness = await start({ clock });
    const { response, setCookie, cookie } = await login('operator-secret');
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual({ name: 'ci', role: 'operator', expiresAt: new Date(clock.now() + 12 * 3600_000).toISOString(), tokenRequired: true });
    expect(response.headers['cache-control']).toBe('no-store');
    const [pair, ...attributes] = setCookie.split('; ');
    expect(pair).toMatch(/^scheduler_session=[A-Za-z0-9_-]{43}$/);
    expect(attributes.sort()).toEqual(['HttpOnly', 'Max-Age=43200', 'Path=/', 'SameSite=Strict']);
    const id = cookie.split('=')[1]!;
    expect(await harness.store.findSession(createHash('sha256').update(id).digest('hex'))).toMatchObject({ name: 'ci', role: 'operator', createdAt: clock.now() });
    expect(await harness.store.findSession(id)).toBeUndefined();
  });

  it('lasts as long as the daemon says (sessionTtl)', async () => {
    harness = await start({ sessionTtlMs: 90_000 });
    const { setCookie } = await login('viewer-secret');
    expect(setCookie).toContain('Max-Age=90');
  });

  it('refuses a wrong token with 401 unauthorized, in the error shape, and sets no cookie', async () => {
    harness = await start();
    const { response } = await login('not-a-token');
    expectError(response, 401, 'unauthorized');
    expect(response.headers['set-cookie']).toBeUndefined();
    expectError(await request('POST', '/api/session', {}, {}), 400, 'invalid_request');
  });

  it('is refused to a page of another site (login CSRF); a client that says nothing of its site (curl) logs in', async () => {
    harness = await start();
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }] as Headers[]) {
      const { response } = await login('operator-secret', headers);
      expect(expectError(response, 403, 'forbidden'), JSON.stringify(headers)).toMatch(/a page of another site cannot change anything here \(POST \/api\/session\)/);
      expect(response.headers['set-cookie']).toBeUndefined();
    }
    expect((await login('operator-secret', sameOrigin)).response.statusCode).toBe(201);
    expect((await login('operator-secret', { host: 'sched.example:8865', origin: 'http://sched.example:8865' })).response.statusCode).toBe(201);
    expect((await login('operator-secret')).response.statusCode).toBe(201);
  });

  it('allows 10 attempts a minute per address: the 11th is 429 rate_limited with Retry-After; other routes are not limited', async () => {
    harness = await start();
    for (let attempt = 1; attempt <= 10; attempt++) {
      expect((await login(attempt % 2 === 0 ? 'operator-secret' : 'wrong')).response.statusCode, `attempt ${attempt}`).not.toBe(429);
    }
    const { response } = await login('operator-secret');
    expect(expectError(response, 429, 'rate_limited')).toMatch(/too many login attempts from 127\.0\.0\.1: try again in/);
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(response.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(response.headers['set-cookie']).toBeUndefined();
    for (let i = 0; i < 12; i++) expect((await request('GET', '/api/tasks', { authorization: 'Bearer operator-secret' })).statusCode).toBe(200);
  });

  it('the limit is the one the app is given', async () => {
    harness = await start({ loginLimit: { max: 2, timeWindowMs: 60_000 } });
    expect((await login('operator-secret')).response.statusCode).toBe(201);
    expect((await login('operator-secret')).response.statusCode).toBe(201);
    expectError((await login('operator-secret')).response, 429, 'rate_limited');
  });
});

describe('the session cookie', () => {
  it('authenticates reads; GET /api/session tells who it is and when the session ends, or null for a bearer token', async () => {
    harness = await start();
    const { response, cookie } = await login('operator-secret');
    const { expiresAt } = response.json() as SessionJson;
    expect((await request('GET', '/api/tasks', { cookie })).statusCode).toBe(200);
    expect((await request('GET', '/api/session', { cookie })).json()).toEqual({ name: 'ci', role: 'operator', expiresAt, tokenRequired: true });
    const asBearer = await request('GET', '/api/session', { authorization: 'Bearer viewer-secret' });
    expect(asBearer.json()).toEqual({ name: 'dashboard', role: 'viewer', expiresAt: null, tokenRequired: true });
    expectError(await request('GET', '/api/session'), 401, 'unauthorized');
    expectError(await request('GET', '/api/tasks', { cookie: 'scheduler_session=not-a-session' }), 401, 'unauthorized');
    expectError(await request('GET', '/api/tasks', { cookie: `scheduler_session=${'A'.repeat(43)}` }), 401, 'unauthorized');
  });

  it('a bearer header wins over the cookie: a wrong one is refused even with a live session', async () => {
    harness = await start();
    const { cookie } = await login('operator-secret');
    expectError(await request('GET', '/api/tasks', { cookie, authorization: 'Bearer wrong' }), 401, 'unauthorized');
  });

  it('changes nothing from a page of another site: Sec-Fetch-Site other than same-origin, a foreign Origin, or neither is 403', async () => {
    harness = await start();
    const { cookie } = await login('operator-secret');
    const refusals: Headers[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      // Sec-Fetch-Site wins over an Origin that would pass.
      { 'sec-fetch-site': 'cross-site', host: 'sched.example', origin: 'http://sched.example' },
      { origin: 'https://evil.example' },
      { host: 'sched.example', origin: 'https://sched.example' },
      { origin: 'null' },
      {},
    ];
    for (const headers of refusals) {
      const refused = await request('POST', '/api/tasks', { cookie, ...headers }, submission('forged'));
      expect(expectError(refused, 403, 'forbidden'), JSON.stringify(headers)).toMatch(/cannot change anything .*use the dashboard on the daemon's own address, or send a bearer token/);
    }
    expectError(await request('GET', '/api/tasks/forged', { authorization: 'Bearer admin-secret' }), 404, 'not_found');
  });

  it("changes what its role allows from the daemon's own pages (Sec-Fetch-Site: same-origin, or else an Origin equal to the request's own)", async () => {
    harness = await start();
    const { cookie } = await login('operator-secret');
    expect((await request('POST', '/api/tasks', { cookie, ...sameOrigin }, submission('mine'))).statusCode).toBe(201);
    const pause = await request('POST', '/api/tasks/mine/pause', { cookie, host: 'sched.example:8865', origin: 'http://sched.example:8865' });
    expect(pause.statusCode, pause.body).toBe(200);
    expect(pause.json().status).toBe('Paused');
    // A person typing the address (a top-level navigation the user started).
    expect((await request('POST', '/api/tasks/mine/resume', { cookie, 'sec-fetch-site': 'none' })).statusCode).toBe(200);
    // And within its role only.
    const refused = await request('DELETE', '/api/tasks/mine', { cookie, ...sameOrigin });
    expect(expectError(refused, 403, 'forbidden')).toMatch(/the token "ci" has the role operator/);
  });

  it("a viewer's session reads and does no operator's work", async () => {
    harness = await start();
    expect((await request('POST', '/api/tasks', { authorization: 'Bearer operator-secret' }, submission('seen'))).statusCode).toBe(201);
    const { cookie } = await login('viewer-secret');
    expect((await request('GET', '/api/tasks/seen', { cookie })).statusCode).toBe(200);
    expectError(await request('POST', '/api/tasks/seen/pause', { cookie, ...sameOrigin }), 403, 'forbidden');
    expectError(await request('POST', '/api/tasks', { cookie, ...sameOrigin }, submission('not-mine')), 403, 'forbidden');
  });

  it('bearer requests are unaffected by the same-origin rule (the CLI sends neither header)', async () => {
    harness = await start();
    expect((await request('POST', '/api/tasks', { authorization: 'Bearer operator-secret' }, submission('cli'))).statusCode).toBe(201);
    expect((await request('POST', '/api/tasks/cli/pause', { authorization: 'Bearer operator-secret', 'sec-fetch-site': 'cross-site' })).statusCode).toBe(200);
  });
});

describe('the end of a session', () => {
  it('DELETE /api/session logs out: the session is deleted, the cookie cleared, and the cookie no longer works', async () => {
    harness = await start();
    const { cookie } = await login('operator-secret');
    const hash = createHash('sha256').update(cookie.split('=')[1]!).digest('hex');
    const out = await request('DELETE', '/api/session', { cookie, ...sameOrigin });
    expect(out.statusCode, out.body).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^scheduler_session=; Max-Age=0; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(await harness.store.findSession(hash)).toBeUndefined();
    expectError(await request('GET', '/api/tasks', { cookie }), 401, 'unauthorized');
    // Again, and without any session: 204, the cookie cleared all the same.
    const again = await request('DELETE', '/api/session', { cookie });
    expect(again.statusCode).toBe(204);
    expect(String(again.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await request('DELETE', '/api/session')).statusCode).toBe(204);
    expectError(await request('DELETE', '/api/session', { cookie, 'sec-fetch-site': 'cross-site' }), 403, 'forbidden');
  });

  it('an expired session is refused and deleted', async () => {
    const clock = new FakeClock();
    harness = await start({ clock, sessionTtlMs: 3600_000 });
    const { cookie } = await login('operator-secret');
    const hash = createHash('sha256').update(cookie.split('=')[1]!).digest('hex');
    clock.advance(3600_000 - 1);
    expect((await request('GET', '/api/tasks', { cookie })).statusCode).toBe(200);
    clock.advance(1);
    expect(expectError(await request('GET', '/api/tasks', { cookie }), 401, 'unauthorized')).toMatch(/the session has ended .*log in again/);
    expect(await harness.store.findSession(hash)).toBeUndefined();
  });

  it('expired sessions are cleared away by later logins', async () => {
    const clock = new FakeClock();
    harness = await start({ clock, sessionTtlMs: 60_000 });
    const { cookie } = await login('viewer-secret');
    const hash = createHash('sha256').update(cookie.split('=')[1]!).digest('hex');
    clock.advance(60_000);
    await login('viewer-secret');
    expect(await harness.store.findSession(hash)).toBeUndefined();
  });

  it("a made token's session ends when the token is revoked, and stays ended when a token of the same name is made again", async () => {
    harness = await start();
    const admin = { authorization: 'Bearer admin-secret' };
    const made = await request('POST', '/api/tokens', admin, { name: 'laptop', role: 'operator' });
    expect(made.statusCode, made.body).toBe(201);
    const { cookie } = await login(made.json().token);
    expect((await request('GET', '/api/session', { cookie })).json()).toMatchObject({ name: 'laptop', role: 'operator' });
    expect((await request('DELETE', '/api/tokens/laptop', admin)).statusCode).toBe(204);
    expectError(await request('GET', '/api/tasks', { cookie }), 401, 'unauthorized');
    expect((await request('POST', '/api/tokens', admin, { name: 'laptop', role: 'operator' })).statusCode).toBe(201);
    expectError(await request('GET', '/api/tasks', { cookie }), 401, 'unauthorized');
  });
});

describe('a made token on a daemon with a clock of its own', () => {
  it('is made, and opens a session (the token registry reads the clock it is given, as a method)', async () => {
    const clock = new FakeClock();
    harness = await start({ clock });
    const made = await request('POST', '/api/tokens', { authorization: 'Bearer admin-secret' }, { name: 'tablet', role: 'viewer' });
    expect(made.statusCode, made.body).toBe(201);
    const { cookie } = await login(made.json().token);
    expect((await request('GET', '/api/session', { cookie })).json()).toMatchObject({ name: 'tablet', role: 'viewer' });
  });
});

describe('a daemon that asks for no token', () => {
  it('says so in GET /api/session (an anonymous admin), and has nothing to log in to', async () => {
    harness = await startHarness();
    expect((await request('GET', '/api/session')).json()).toEqual({ name: 'anonymous', role: 'admin', expiresAt: null, tokenRequired: false });
    expectError((await login('anything')).response, 409, 'status_conflict');
    expect((await request('DELETE', '/api/session')).statusCode).toBe(204);
  });
});

describe('the audit log', () => {
  it('records logins, failed ones too, and logouts, with who and from where; never the token', async () => {
    harness = await start();
    await login('wrong-secret');
    const { cookie } = await login('operator-secret');
    expect((await request('DELETE', '/api/session', { cookie, ...sameOrigin })).statusCode).toBe(204);
    const entries = await waitFor('3 audit entries', async () => {
      const page = (await request('GET', '/api/audit', { authorization: 'Bearer admin-secret' })).json() as { entries: AuditEntryJson[] };
      return page.entries.length >= 3 ? page.entries : undefined;
    }, { intervalMs: 20 });
    expect(entries.map(({ token, role, method, path, operation, status, remote }) => ({ token, role, method, path, operation, status, remote }))).toEqual([
      { token: 'ci', role: 'operator', method: 'DELETE', path: '/api/session', operation: 'deleteSession', status: 204, remote: '127.0.0.1' },
      { token: 'ci', role: 'operator', method: 'POST', path: '/api/session', operation: 'createSession', status: 201, remote: '127.0.0.1' },
      { token: null, role: null, method: 'POST', path: '/api/session', operation: 'createSession', status: 401, remote: '127.0.0.1' },
    ]);
    expect(JSON.stringify(entries)).not.toMatch(/secret/);
  });
});
