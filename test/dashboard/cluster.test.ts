/**
 * The dashboard of a cluster, in real Chromium: two daemons sharing one PostgreSQL store
 * (test/support/postgres.ts), each listed on the Nodes screen with its state, heartbeat and
 * load, whichever one serves the page; a task submitted through one is seen by the other's.
 * Without a token, a page of another site still cannot change anything.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

  test('without a token, a page of another site cannot pause a task, which the dashboard\'s own page can', async () => {
    const url = daemons[0]!.url;
    await fetch(`${url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'no-token-target', type: 'cron', time: '1h', script: 'true' }) });
    const elsewhere = createServer((_request, response) =>
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>elsewhere</title><script>
        fetch("${url}/api/tasks/no-token-target/pause", { method: "POST", mode: "no-cors" }).finally(() => { document.title = "sent"; });
      </script>`),
    );
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    try {
      const page = await open(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => document.title === 'sent');
      const refused = await waitFor('the attempt in the audit log', async () => {
        const { entries } = (await (await fetch(`${url}/api/audit`)).json()) as { entries: Array<{ path: string; status: number }> };
        return entries.find((entry) => entry.path === '/api/tasks/no-token-target/pause');
      });
      expect(refused.status).toBe(403);
      const task = (await (await fetch(`${url}/api/tasks/no-token-target`)).json()) as { status: string };
      expect(task.status).toBe('ToBeExecuted');
      const own = await open(url);
      expect(await own.evaluate(async () => (await fetch('/api/tasks/no-token-target/pause', { method: 'POST' })).status)).toBe(200);
    } finally {
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });
});
