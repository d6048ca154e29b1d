/**
 * The dashboard of a cluster, in real Chromium: two daemons sharing one PostgreSQL store
 * (test/support/postgres.ts), each listed on the Nodes screen with its state, heartbeat and
 * load, whichever one serves the page; a task submitted through one is seen by the other's.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
let daemons: DaemonProcess[];
let browser: Browser;

beforeAll(async () => {
  const store = e2e.sharedPostgresStore();
  // No token: the dashboard opens without logging in, as on a trusted loopback.
  daemons = await Promise.all([e2e.startDaemon({ store }), e2e.startDaemon({ store })]);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

async function open(url: string): Promise<Page> {
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

describe('a cluster', () => {
  test('the Nodes screen lists every daemon, alive, with its heartbeat and its runs executing', async () => {
    const ids = await Promise.all(daemons.map(async (daemon) => ((await (await fetch(`${daemon.url}/api/status`)).json()) as { node: string }).node));
    const page = await open(`${daemons[1]!.url}/#/nodes`);
    const rows = page.locator('table tbody tr');
    await waitFor('both nodes listed', async () => ((await rows.count()) === 2 ? true : undefined));
    const text = (await rows.allTextContents()).join('\n');
    for (const id of ids) expect(text).toContain(id);
    expect(await page.locator('table tbody tr', { hasText: '(this one)' }).textContent()).toContain(ids[1]);
    expect(await page.locator('.badge.node-alive').count()).toBe(2);
    expect(text).toMatch(/ago|just now/);
    expect(await page.getByText('Store: postgres').count()).toBe(1);
  });

  test('a task submitted through one node shows on the dashboard of the other; without a token there is no login', async () => {
    const submitted = await fetch(`${daemons[0]!.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'shared-task', type: 'cron', time: '1h', script: 'true' }),
    });
    expect(submitted.status).toBe(201);
    const page = await open(daemons[1]!.url);
    await page.getByRole('link', { name: 'shared-task' }).waitFor();
    expect(await page.getByText('anonymous (admin)').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Log out' }).count()).toBe(0);
  });
});
