/**
 * Browsers' sessions over real HTTP, through the real daemon: a login's cookie (its lifetime
 * from --session-ttl), what it admits, a change without the browser's same-origin headers
 * refused, a logout; over HTTPS the cookie is Secure. Certificates are made with the
 * machine's openssl, as in tls.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
const token = 'session-e2e-token';

/** The attributes of a Set-Cookie value, and its name=value. */
function cookieParts(setCookie: string | null | undefined): { pair: string; attributes: string[] } {
  const [pair = '', ...attributes] = (setCookie ?? '').split('; ');
  return { pair, attributes: attributes.sort() };
}

describe('browser sessions', () => {
  test('over HTTP: log in, read and change with the cookie from the same origin, refused without it, log out', async () => {
    const daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: token }, args: ['--session-ttl', '30m'] });
    const login = await fetch(`${daemon.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(login.status, await login.clone().text()).toBe(201);
    expect(await login.json()).toMatchObject({ name: 'admin', role: 'admin', tokenRequired: true });
    const { pair: cookie, attributes } = cookieParts(login.headers.get('set-cookie'));
    expect(cookie).toMatch(/^scheduler_session=[A-Za-z0-9_-]{43}$/);
    expect(attributes).toEqual(['HttpOnly', 'Max-Age=1800', 'Path=/', 'SameSite=Strict']);

    expect((await fetch(`${daemon.url}/api/tasks`, { headers: { cookie } })).status).toBe(200);
    const submit = (headers: Record<string, string>) =>
      fetch(`${daemon.url}/api/tasks`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ id: 'from-browser', type: 'cron', time: '1h', script: 'true' }) });
    const forged = await submit({ origin: 'https://elsewhere.example' });
    expect(forged.status).toBe(403);
    expect((await forged.json()).error.code).toBe('forbidden');
    expect((await submit({})).status).toBe(403);
    // An Origin of the daemon's own address, as an older browser sends it.
    expect((await submit({ origin: daemon.url })).status).toBe(201);

    const logout = await fetch(`${daemon.url}/api/session`, { method: 'DELETE', headers: { cookie, 'sec-fetch-site': 'same-origin' } });
    expect(logout.status).toBe(204);
    expect(cookieParts(logout.headers.get('set-cookie')).attributes).toContain('Max-Age=0');
    expect((await fetch(`${daemon.url}/api/tasks`, { headers: { cookie } })).status).toBe(401);
  });

  test('over HTTPS the cookie is Secure', async () => {
    const dir = e2e.tempDir('scheduler-e2e-session-tls-');
    const cert = join(dir, 'server.pem');
    const key = join(dir, 'server.key');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=session-test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    const daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: token }, args: ['--tls-cert', cert, '--tls-key', key] });
    expect(daemon.url).toMatch(/^https:/);
    const body = JSON.stringify({ token });
    const answer = await new Promise<{ status: number; setCookie: string | undefined }>((resolve, reject) => {
      const request = httpsRequest(`${daemon.url}/api/session`, { method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, setCookie: response.headers['set-cookie']?.[0] }));
      });
      request.on('error', reject);
      request.end(body);
    });
    expect(answer.status).toBe(201);
    expect(cookieParts(answer.setCookie).attributes).toEqual(['HttpOnly', 'Max-Age=43200', 'Path=/', 'SameSite=Strict', 'Secure']);
  });
});
