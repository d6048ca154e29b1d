/**
 * Who may do what from a browser, in real Chromium against a real daemon: a viewer's
 * dashboard offers no command it may not run (and the daemon refuses one sent anyway), and a
 * page of another origin, in a browser logged in to the dashboard, cannot change anything
 * with the session's cookie (the daemon checks Sec-Fetch-Site and Origin), while the same
 * request from the dashboard's own origin can: the check, not the test, stops it.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const adminToken = 'admins-token-for-access-tests';
const viewerToken = 'viewers-token-for-access-tests';
let daemon: DaemonProcess;
let browser: Browser;
let otherOrigin: Server;
let otherUrl: string;
/** The page the other origin serves: set by each test. */
let otherPage = '';

beforeAll(async () => {
  const config = join(e2e.tempDir('scheduler-dashboard-access-'), 'config.json');
  const sha256 = createHash('sha256').update(viewerToken).digest('hex');
  writeFileSync(config, JSON.stringify({ tokens: [{ name: 'watcher', role: 'viewer', sha256 }] }));
  otherOrigin = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(otherPage));
  await new Promise<void>((resolve) => otherOrigin.listen(0, '127.0.0.1', resolve));
  otherUrl = `http://127.0.0.1:${(otherOrigin.address() as AddressInfo).port}`;
  [daemon, browser] = await Promise.all([e2e.startDaemon({ env: { SCHEDULER_TOKEN: adminToken }, args: ['--config', config] }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => otherOrigin?.close(resolve));
});

async function loggedIn(token: string): Promise<Page> {
  const context = await browser.newContext();
  // Shorter than the test's own deadline, so that a wait that fails says what it waited for.
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  await page.goto(daemon.url);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();
  return page;
}

describe('a viewer', () => {
  test('sees every command disabled, and the daemon refuses one sent anyway', async () => {
    await daemon.request('POST', '/api/tasks', { id: 'watched', type: 'cron', time: '1h', script: 'true' });
    const page = await loggedIn(viewerToken);
    expect(await page.getByText('watcher (viewer)').count()).toBe(1);
    await page.getByLabel('Select watched').check();
    for (const name of ['Pause', 'Resume', 'Run now', 'Delete']) expect(await page.getByRole('button', { name, exact: true }).isDisabled(), name).toBe(true);

    await page.goto(`${daemon.url}/#/tasks/watched`);
    const commands = page.getByRole('group', { name: 'Commands' }).getByRole('button');
    await commands.first().waitFor();
    expect(await commands.count()).toBe(6);
    for (const button of await commands.all()) expect(await button.isDisabled(), await button.textContent() ?? '').toBe(true);
    expect(await commands.first().getAttribute('title')).toMatch(/your role, viewer, may not/);

    await page.goto(`${daemon.url}/#/new`);
    expect(await page.getByRole('button', { name: 'Submit' }).isDisabled()).toBe(true);

    const status = await page.evaluate(async () => (await fetch('/api/tasks/watched/pause', { method: 'POST' })).status);
    expect(status).toBe(403);
    expect((await daemon.request<{ status: string }>('GET', '/api/tasks/watched')).body.status).toBe('ToBeExecuted');
  });
});

describe('another origin', () => {
  test("cannot change anything with the dashboard's session, which the dashboard's own origin can", async () => {
    await daemon.request('POST', '/api/tasks', { id: 'target', type: 'cron', time: '1h', script: 'true' });
    const page = await loggedIn(adminToken);
    const daemonUrl = daemon.url;
    // A page elsewhere (another port of the same host: the same site, so a SameSite=Strict
    // cookie goes along) tries a fetch with the cookie and a form posted to the daemon.
    otherPage = `<!doctype html><title>elsewhere</title>
      <form id="f" method="POST" action="${daemonUrl}/api/tasks/target/run" enctype="text/plain"><input name='{"a":"' value='"}'></form>
      <script>
        fetch("${daemonUrl}/api/tasks/target/pause", { method: "POST", credentials: "include", mode: "no-cors" })
          .finally(() => { document.title = "fetched"; document.getElementById("f").submit(); });
      </script>`;
    const elsewhere = await page.context().newPage();
    await elsewhere.goto(otherUrl);
    // The form's post navigates the page to the daemon's answer.
    await elsewhere.waitForURL(`${daemonUrl}/api/tasks/target/run`);
    const refused = await waitFor('both requests in the audit log', async () => {
      const { body } = await daemon.request<{ entries: Array<{ path: string; status: number; token: string | null }> }>('GET', '/api/audit?limit=50');
      const tried = body.entries.filter((entry) => entry.path === '/api/tasks/target/pause' || entry.path === '/api/tasks/target/run');
      return tried.length >= 2 ? tried : undefined;
    });
    for (const entry of refused) expect(entry.status).toBe(403);
    const target = await daemon.request<{ status: string; results: unknown[] }>('GET', '/api/tasks/target');
    expect(target.body.status).toBe('ToBeExecuted');
    expect(target.body.results).toEqual([]);

    // The same change from the dashboard's own origin goes through.
    const own = await page.evaluate(async () => (await fetch('/api/tasks/target/pause', { method: 'POST' })).status);
    expect(own).toBe(200);
    expect((await daemon.request<{ status: string }>('GET', '/api/tasks/target')).body.status).toBe('Paused');
  });
});
