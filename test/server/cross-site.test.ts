/**
 * No other site's page changes anything, whatever the request's credentials, or none: a
 * daemon that asks for no token (the default on loopback) refuses a change a browser says
 * another site sent (Sec-Fetch-Site, or Origin where that is missing), and serves programs,
 * which send neither header, and its own pages as before. Reads stay open to all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, startHarness, submit, type Harness } from './harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const pause = (headers: Record<string, string>) => harness!.app.inject({ method: 'POST', url: '/api/tasks/target/pause', headers });
const statusOf = async () => (await harness!.app.inject({ method: 'GET', url: '/api/tasks/target' })).json().status as string;

describe('a daemon that asks for no token', () => {
  it.each([
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a sibling subdomain is another origin)', { 'sec-fetch-site': 'same-site' }],
    ['an Origin of another site, without Sec-Fetch-Site', { origin: 'http://evil.example' }],
  ])('refuses a change that says it comes from another site: %s', async (_name, headers) => {
    harness = await startHarness();
    await submit(harness.app, { id: 'target', type: 'cron', time: '1h', script: 'true' });
    const refused = pause(headers);
    expect(expectError(await refused, 403, 'forbidden')).toMatch(/a page of another site cannot change anything here/);
    expect(await statusOf()).toBe('ToBeExecuted');
  });

  it("serves the change from its own page, or from a program that says nothing of where it comes from", async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'target', type: 'cron', time: '1h', script: 'true' });
    expect((await pause({ 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
    expect(await statusOf()).toBe('Paused');
    expect((await harness.app.inject({ method: 'POST', url: '/api/tasks/target/resume' })).statusCode).toBe(200);
    expect((await harness.app.inject({ method: 'POST', url: '/api/tasks/target/pause', headers: { host: 'localhost:8865', origin: 'http://localhost:8865' } })).statusCode).toBe(200);
  });

  it('lets any site read: only changes are refused', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'target', type: 'cron', time: '1h', script: 'true' });
    const read = await harness.app.inject({ method: 'GET', url: '/api/tasks/target', headers: { 'sec-fetch-site': 'cross-site' } });
    expect(read.statusCode).toBe(200);
  });
});
