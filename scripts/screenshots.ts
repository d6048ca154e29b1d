/**
 * Takes the screenshots of the dashboard in docs/screenshots/ (`npm run screenshots`): starts
 * a daemon from dist/ on a fresh data directory, gives it a few tasks that run, fail and
 * talk, and photographs each screen in Debian's Chromium, at a desktop's width, in dark mode
 * and at a phone's width. Run it after a change to the dashboard and commit the images.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'docs', 'screenshots');
const token = 'screenshot-token';
const dataDir = mkdtempSync(join(tmpdir(), 'scheduler-screenshots-'));
mkdirSync(out, { recursive: true });

const daemon = spawn(process.execPath, [join(root, 'dist', 'src', 'cli', 'scheduler.js'), 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
  env: { ...process.env, SCHEDULER_TOKEN: token },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve, reject) => {
  let printed = '';
  daemon.stdout.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
    const found = /listening on (http:\/\/\S+)/.exec(printed)?.[1];
    if (found) resolve(found);
  });
  daemon.once('exit', (code) => reject(new Error(`the daemon exited (${code}) before listening`)));
});

async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : response.json();
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
    if (await check()) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

try {
  const tasks = [
    { id: 'backup-db', type: 'cron', time: '2s', script: 'echo "dumping"; sleep 0.$((RANDOM % 9)); echo "done: $((RANDOM)) rows"' },
    { id: 'flaky-report', type: 'cron', time: '*/3 * * * * *', script: 'echo building report; [ $((RANDOM % 3)) -ne 0 ] || { echo "upstream timed out" >&2; exit 2; }' },
    { id: 'nightly-cleanup', type: 'cron', time: '0 3 * * *', timezone: 'Europe/Paris', script: 'find /tmp -mtime +7 -delete' },
    { id: 'weekday-digest', type: 'cron', time: '0 9 * * MON-FRI', timezone: 'America/New_York', script: 'echo digest' },
    { id: 'release-notes', type: 'at', time: '2027-01-04T09:00:00Z', script: 'echo publish' },
    { id: 'log-follower', type: 'delay', time: '1ms', script: 'for i in $(seq 1 100000); do echo "$(date +%T) request $i served in $((RANDOM % 90))ms"; sleep 0.3; done' },
  ];
  for (const task of tasks) await call('POST', '/api/tasks', task);
  await call('POST', '/api/tasks', { id: 'paused-sync', type: 'cron', time: '10m', script: 'rsync -a src/ dst/' });
  await call('POST', '/api/tasks/paused-sync/pause');
  await until('ten runs of backup-db and a failure of flaky-report', async () => {
    const backup = (await call('GET', '/api/tasks/backup-db/runs?limit=20')) as { runs: unknown[] };
    const flaky = (await call('GET', '/api/tasks/flaky-report/runs?limit=50&outcome=failed')) as { runs: unknown[] };
    return backup.runs.length >= 10 && flaky.runs.length >= 1;
  });

  const browser = await chromium.launch({
    executablePath: process.env.SCHEDULER_TEST_CHROMIUM ?? '/usr/bin/chromium',
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const shoot = async (page: Page, name: string) => {
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`docs/screenshots/${name}.png`);
  };
  const open = async (options: { width: number; colorScheme: 'light' | 'dark' }) => {
    const page = await (await browser.newContext({ viewport: { width: options.width, height: 800 }, colorScheme: options.colorScheme, timezoneId: 'UTC' })).newPage();
    await page.goto(url);
    await page.getByLabel('Token').fill(token);
    return page;
  };

  const page = await open({ width: 1280, colorScheme: 'light' });
  await shoot(page, 'login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('table.tasks tbody tr').nth(6).waitFor();
  await shoot(page, 'tasks');
  await page.goto(`${url}/#/tasks/backup-db`);
  await page.locator('.chart svg').waitFor();
  await shoot(page, 'task');
  await page.goto(`${url}/#/tasks/log-follower/runs/1`);
  await page.locator('pre[data-stream="stdout"]').filter({ hasText: 'request 5 ' }).waitFor();
  await shoot(page, 'run');
  await page.goto(`${url}/#/new`);
  await page.getByLabel('Id').fill('weekly-report');
  await page.getByLabel('Schedule').fill('0 30 8 * * MON');
  await page.getByLabel('Script (bash)').fill('./report.sh --week');
  await page.locator('.preview li').nth(9).waitFor();
  await shoot(page, 'new-task');
  await page.goto(`${url}/#/history`);
  await page.locator('table tbody tr').nth(5).waitFor();
  await shoot(page, 'history');
  await page.goto(`${url}/#/nodes`);
  await page.locator('table tbody tr').first().waitFor();
  await shoot(page, 'nodes');

  const dark = await open({ width: 1280, colorScheme: 'dark' });
  await dark.getByRole('button', { name: 'Log in' }).click();
  await dark.goto(`${url}/#/tasks/flaky-report`);
  await dark.locator('.chart svg').waitFor();
  await shoot(dark, 'task-dark');
  const phone = await open({ width: 390, colorScheme: 'light' });
  await phone.getByRole('button', { name: 'Log in' }).click();
  await phone.locator('table.tasks tbody tr').nth(6).waitFor();
  await shoot(phone, 'tasks-phone');
  await browser.close();
} finally {
  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));
  rmSync(dataDir, { recursive: true, force: true });
}
