/**
 * The dashboard in a real browser (Debian's Chromium, test/support/browser.ts) against a real
 * daemon: logging in and out, submitting from the form with its live preview, a run's output
 * arriving live and the run killed from the page, paging through many tasks, the time-zone
 * toggle, a phone's width, and no serious or critical accessibility violation on any screen
 * (axe-core, light and dark).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchBrowser } from '../support/browser.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { TcpLink } from '../support/tcp-link.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const adminToken = 'the-admins-token-for-the-dashboard';
let daemon: DaemonProcess;
let browser: Browser;

/** The cookies of one login, shared by the tests' pages: the daemon allows 10 logins a minute from an address. */
let loggedIn: Awaited<ReturnType<BrowserContext['storageState']>>;

beforeAll(async () => {
  [daemon, browser] = await Promise.all([e2e.startDaemon({ env: { SCHEDULER_TOKEN: adminToken } }), launchBrowser()]);
  const context = await browser.newContext();
  await logIn(await context.newPage());
  loggedIn = await context.storageState();
  await context.close();
});
afterAll(async () => {
  await browser?.close();
});

/** A page of a fresh browser context, logged in unless asked not to be. */
async function newPage(options: { timezoneId?: string; colorScheme?: 'light' | 'dark'; width?: number; loggedOut?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({
    ...(options.loggedOut ? {} : { storageState: loggedIn }),
    timezoneId: options.timezoneId ?? 'UTC',
    colorScheme: options.colorScheme ?? 'light',
    viewport: { width: options.width ?? 1280, height: 900 },
  });
  // Shorter than the test's own deadline, so that a wait that fails says what it waited for.
  context.setDefaultTimeout(15_000);
  return context.newPage();
}

/** Opens the dashboard of a logged-in page, at `base` (the daemon's address by default). */
async function openDashboard(page: Page, base = daemon.url): Promise<void> {
  await page.goto(base);
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();
}

async function logIn(page: Page, token = adminToken): Promise<void> {
  await page.goto(daemon.url);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();
}

describe('logging in and out', () => {
  test('a wrong token is refused with the reason; the right one opens the tasks; logging out ends the session', async () => {
    const page = await newPage({ loggedOut: true });
    await page.goto(daemon.url);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: /token/ }).waitFor();
    expect(await page.getByRole('heading', { name: 'Tasks' }).count()).toBe(0);

    await logIn(page);
    expect(await page.getByText('admin (admin)').count()).toBe(1);
    // The page is logged in by its cookie alone: the API answers it.
    expect(await page.evaluate(async () => (await fetch('/api/tasks')).status)).toBe(200);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Token').waitFor();
    expect(await page.evaluate(async () => (await fetch('/api/tasks')).status)).toBe(401);
  });
});

describe('the new task form', () => {
  test('previews the next fire times as the user types, shows the API\'s error beside the field, and submits', async () => {
    const page = await newPage();
    await openDashboard(page);
    await page.getByRole('link', { name: 'New task' }).click();
    await page.getByLabel('Id').fill('from-the-form');
    await page.getByLabel('again and again').check();
    await page.getByLabel('Schedule').fill('*/10 * * * * *');
    await page.locator('.preview li').nth(9).waitFor();
    const fires = await page.locator('.preview li').allTextContents();
    expect(fires).toHaveLength(10);
    const seconds = fires.map((text) => Number(/:(\d\d) UTC$/.exec(text)?.[1]));
    for (const second of seconds) expect(second % 10).toBe(0);

    await page.getByLabel('Schedule').fill('*/10 * * *');
    await page.locator('#time-error').filter({ hasText: 'is not a cron expression' }).waitFor();
    expect(await page.locator('.preview li').count()).toBe(0);

    await page.getByLabel('Schedule').fill('1h');
    await page.locator('#time-error').waitFor({ state: 'detached' });
    await page.getByLabel('Script (bash)').fill('echo from the form');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('heading', { name: /from-the-form/ }).waitFor();
    const stored = await daemon.request<{ type: string; time: string; script: string }>('GET', '/api/tasks/from-the-form');
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ type: 'cron', time: '1h', script: 'echo from the form' });
  });
});

describe('a run', () => {
  test("its output appears live, and the page kills it", async () => {
    const script = 'for i in $(seq 1 6000); do echo "line $i"; sleep 0.1; done'; // (ten minutes: still running when the page kills it, however slow the machine)
    expect((await daemon.request('POST', '/api/tasks', { id: 'talker', type: 'delay', time: '1ms', script })).status).toBe(201);
    await waitFor('the run to start', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/talker')).body.status === 'Executing');

    const page = await newPage();
    await openDashboard(page);
    await page.goto(`${daemon.url}/#/tasks/talker/runs/1`);
    const stdout = page.locator('pre[data-stream="stdout"]');
    await stdout.filter({ hasText: 'line 3' }).waitFor();
    const seen = Number(/line (\d+)\n?$/.exec((await stdout.textContent()) ?? '')?.[1]);
    // More lines arrive while the page stays open: it is live, not a snapshot.
    await stdout.filter({ hasText: `line ${seen + 3}` }).waitFor();

    await page.getByRole('button', { name: 'Kill' }).click();
    await page.locator('.outcome-text').filter({ hasText: 'killed' }).waitFor();
    const run = await daemon.request<{ outcome: string }>('GET', '/api/tasks/talker/runs/1');
    expect(run.body.outcome).toBe('killed');
  });
});

describe('a run, further', () => {
  const counting = (lines: number) => `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.05; done`;
  /** The complete lines of a pane (the last may still be arriving). */
  const wholeLines = (text: string | null) => (text ?? '').split('\n').slice(0, -1);
  const expectCounted = (lines: string[]) => expect(lines).toEqual(lines.map((_, i) => `line ${i + 1}`));

  test('after a dropped connection, the output resumes where it stopped, nothing missed or doubled', async () => {
    const link = await new TcpLink('127.0.0.1', daemon.port).open();
    try {
      expect((await daemon.request('POST', '/api/tasks', { id: 'resumer', type: 'delay', time: '1ms', script: counting(3000) })).status).toBe(201);
      await waitFor('the run to start', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/resumer')).body.status === 'Executing');
      const base = `http://127.0.0.1:${link.port}`;
      const page = await newPage();
      await openDashboard(page, base);
      await page.goto(`${base}/#/tasks/resumer/runs/1`);
      const stdout = page.locator('pre[data-stream="stdout"]');
      await stdout.filter({ hasText: 'line 5\n' }).waitFor();

      await link.cut();
      await page.locator('[data-link="reconnecting"]').waitFor();
      const before = wholeLines(await stdout.textContent()).length;
      // The run goes on writing while the page cannot hear it.
      await waitFor('the run to write 40 more lines', async () => {
        const { body } = await daemon.request<{ text: string }>('GET', `/api/tasks/resumer/runs/1/output?stream=stdout&offset=0`);
        return body.text.includes(`line ${before + 40}\n`);
      });
      await link.open();
      await stdout.filter({ hasText: `line ${before + 60}\n` }).waitFor();
      await page.locator('[data-link="live"]').waitFor();
      expectCounted(wholeLines(await stdout.textContent()));
    } finally {
      await daemon.request('POST', '/api/tasks/resumer/kill');
      await link.cut();
    }
  });

  test('the output follows its end, unless the user scrolls up to read', async () => {
    expect((await daemon.request('POST', '/api/tasks', { id: 'scroller', type: 'delay', time: '1ms', script: counting(3000) })).status).toBe(201);
    const page = await newPage();
    await openDashboard(page);
    await waitFor('the run to start', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/scroller')).body.status === 'Executing');
    await page.goto(`${daemon.url}/#/tasks/scroller/runs/1`);
    const stdout = page.locator('pre[data-stream="stdout"]');
    const scroll = () => stdout.evaluate((pane) => ({ top: pane.scrollTop, bottom: pane.scrollHeight - pane.clientHeight, lines: pane.textContent?.split('\n').length ?? 0 }));
    const grown = async (lines: number) => waitFor('more output', async () => ((await scroll()).lines > lines + 10 ? scroll() : undefined));
    await waitFor('the pane to overflow', async () => (await scroll()).bottom > 0);
    let now = await grown((await scroll()).lines);
    expect(now.top).toBeGreaterThanOrEqual(now.bottom - 8);

    await stdout.evaluate((pane) => pane.scrollTo({ top: 0 }));
    await waitFor('the scroll to be seen', async () => (await scroll()).top === 0);
    now = await grown((await scroll()).lines);
    expect(now.top).toBe(0);

    await stdout.evaluate((pane) => pane.scrollTo({ top: pane.scrollHeight }));
    now = await grown((await scroll()).lines);
    expect(now.top).toBeGreaterThanOrEqual(now.bottom - 8);
    await daemon.request('POST', '/api/tasks/scroller/kill');
  });

  test('a run that wrote more than its cap says so, and its whole kept output downloads', async () => {
    const script = 'echo first; head -c 3000000 /dev/zero | tr "\\0" x; echo; echo last';
    expect((await daemon.request('POST', '/api/tasks', { id: 'wordy', type: 'delay', time: '1ms', script })).status).toBe(201);
    await waitFor('the run to end', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/wordy')).body.status === 'Executed');
    const page = await newPage();
    await openDashboard(page);
    await page.goto(`${daemon.url}/#/tasks/wordy/runs/1`);
    await page.getByRole('status').filter({ hasText: /bytes from the middle were not kept/ }).waitFor();
    const shown = (await page.locator('pre[data-stream="stdout"]').textContent()) ?? '';
    expect(shown.startsWith('first\n')).toBe(true);
    expect(shown).toMatch(/\[… \d+ bytes dropped here \(the run's output cap\) …\]/);
    expect(shown.endsWith('last\n')).toBe(true);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download output' }).click()]);
    expect(download.suggestedFilename()).toBe('wordy-run1.stdout.txt');
    const saved = readFileSync((await download.path())!, 'utf8');
    const kept = (await daemon.request<{ stdout: string }>('GET', '/api/tasks/wordy/runs/1')).body.stdout;
    expect(saved).toBe(kept);
    expect(saved.startsWith('first\n') && saved.endsWith('last\n')).toBe(true);
  });
});

describe('history', () => {
  test('lists runs across tasks, filtered by outcome', async () => {
    for (const [id, script] of [['history-ok', 'true'], ['history-bad', 'exit 4']] as const) {
      expect((await daemon.request('POST', '/api/tasks', { id, type: 'delay', time: '1ms', script })).status).toBe(201);
    }
    for (const id of ['history-ok', 'history-bad']) {
      await waitFor(`${id} to end`, async () => (await daemon.request<{ status: string }>('GET', `/api/tasks/${id}`)).body.status === 'Executed');
    }
    const page = await newPage();
    await openDashboard(page);
    await page.getByRole('link', { name: 'History', exact: true }).click();
    const tasksShown = () => page.locator('table tbody tr td:first-child').allTextContents();
    await waitFor('both runs listed', async () => {
      const shown = await tasksShown();
      return shown.includes('history-ok') && shown.includes('history-bad');
    });
    await page.getByLabel('Outcome').selectOption('failed');
    const failedOnly = await waitFor('only failed runs', async () => {
      const shown = await tasksShown();
      return shown.includes('history-bad') && !shown.includes('history-ok') ? shown : undefined;
    });
    expect(failedOnly.length).toBeGreaterThan(0);
    const outcomes = await page.locator('table tbody tr td:nth-child(3)').allTextContents();
    for (const outcome of outcomes) expect(outcome.trim()).toBe('failed');
  });
});

describe('the task screen', () => {
  test("explains the spec's stop rules when a stop is refused, and offers only the commands that apply", async () => {
    expect((await daemon.request('POST', '/api/tasks', { id: 'started-once', type: 'delay', time: '1ms', script: 'sleep 60' })).status).toBe(201);
    await waitFor('the run to start', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/started-once')).body.status === 'Executing');
    const page = await newPage();
    await openDashboard(page);
    await page.goto(`${daemon.url}/#/tasks/started-once`);
    const commands = page.getByRole('group', { name: 'Commands' });
    await commands.getByRole('button', { name: 'Stop' }).click();
    const refusal = page.getByRole('alert');
    await refusal.filter({ hasText: 'A one-off task can be stopped only before its run starts' }).waitFor();
    expect(await refusal.textContent()).toMatch(/stop/i);
    expect(await commands.getByRole('button', { name: 'Kill' }).isEnabled()).toBe(true);
    expect(await commands.getByRole('button', { name: 'Resume' }).isDisabled()).toBe(true);
    expect(await commands.getByRole('button', { name: 'Pause' }).getAttribute('title')).toBe('Pause: only a recurring task pauses');
    expect((await daemon.request<{ status: string }>('GET', '/api/tasks/started-once')).body.status).toBe('Executing');
    await commands.getByRole('button', { name: 'Kill' }).click();
    await waitFor('the run to be killed', async () => (await daemon.request<{ status: string }>('GET', '/api/tasks/started-once')).body.status === 'Executed');
  });
});

describe('the tasks list', () => {
  test('pages through many tasks, a page at a time, filtered by id prefix', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `page-${String(i).padStart(3, '0')}`);
    for (const id of ids) expect((await daemon.request('POST', '/api/tasks', { id, type: 'cron', time: '1h', script: 'true' })).status).toBe(201);
    const page = await newPage();
    await openDashboard(page);
    await page.getByLabel('Id starts with').fill('page-');
    const rowIds = () => page.locator('table.tasks tbody tr td:nth-child(2)').allTextContents();
    const pageShowing = async (first: string, count: number) =>
      waitFor(`a page from ${first}`, async () => {
        const shown = await rowIds();
        return shown[0] === first && shown.length === count ? shown : undefined;
      });
    const seen = [...(await pageShowing('page-000', 50))];
    await page.getByRole('button', { name: 'Next page' }).click();
    seen.push(...(await pageShowing('page-050', 50)));
    await page.getByRole('button', { name: 'Next page' }).click();
    seen.push(...(await pageShowing('page-100', 20)));
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    expect(seen).toEqual(ids);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await pageShowing('page-050', 50);
  });

  test('selects several tasks and pauses them', async () => {
    for (const id of ['bulk-a', 'bulk-b', 'bulk-c']) await daemon.request('POST', '/api/tasks', { id, type: 'cron', time: '1h', script: 'true' });
    const page = await newPage();
    await openDashboard(page);
    await page.getByLabel('Id starts with').fill('bulk-');
    await page.getByLabel('Select bulk-a').check();
    await page.getByLabel('Select bulk-c').check();
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('status').filter({ hasText: 'Pause: 2 of 2 done.' }).waitFor();
    const statuses = await Promise.all(['bulk-a', 'bulk-b', 'bulk-c'].map(async (id) => (await daemon.request<{ status: string }>('GET', `/api/tasks/${id}`)).body.status));
    expect(statuses).toEqual(['Paused', 'ToBeExecuted', 'Paused']);
  });
});

describe('times', () => {
  test('show in UTC, or in the browser\'s zone once toggled, remembered after a reload', async () => {
    await daemon.request('POST', '/api/tasks', { id: 'zoned', type: 'at', time: '2030-06-01T12:00:00Z', script: 'true' });
    const page = await newPage({ timezoneId: 'Asia/Tokyo' });
    await openDashboard(page);
    await page.goto(`${daemon.url}/#/tasks/zoned`);
    await page.getByText('once, at 2030-06-01 12:00:00 UTC').waitFor();
    await page.getByRole('button', { name: /Times are shown in UTC/ }).click();
    await page.getByText('once, at 2030-06-01 21:00:00 GMT+9').waitFor();
    await page.reload();
    await page.getByText('once, at 2030-06-01 21:00:00 GMT+9').waitFor();
  });
});

describe('the keyboard', () => {
  test('reaches every enabled control of the tasks and task screens with Tab, and each has a name', async () => {
    await daemon.request('POST', '/api/tasks', { id: 'keyed', type: 'cron', time: '1h', script: 'true' });
    const page = await newPage();
    await openDashboard(page);
    await page.getByLabel('Id starts with').fill('keyed');
    await page.getByRole('link', { name: 'keyed' }).waitFor();
    for (const hash of ['#/tasks', '#/tasks/keyed']) {
      await page.goto(`${daemon.url}/${hash}`);
      await page.locator('main a, main button').first().waitFor();
      // Each control's name as assistive technology would give it; those enabled must all be reached.
      const controls = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex="0"]')]
          .map((element, i) => {
            element.dataset.control = String(i);
            const label = (element as HTMLInputElement).labels?.[0]?.textContent;
            return (element.getAttribute('aria-label') ?? label ?? element.textContent ?? '').trim();
          }),
      );
      expect(controls.filter((name) => name === ''), `${hash}: controls without a name`).toEqual([]);
      const reached = new Set<string>();
      for (let press = 0; press < controls.length + 5; press++) {
        await page.keyboard.press('Tab');
        const control = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.control);
        if (control !== undefined) reached.add(control);
      }
      expect(reached.size, hash).toBe(controls.length);
    }
  });
});

describe('a phone', () => {
  test('at 375 pixels wide, the page does not overflow sideways (wide tables scroll in their own box)', async () => {
    const page = await newPage({ width: 375 });
    await openDashboard(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});

describe('accessibility', () => {
  test('the check finds a violation where there is one (an unlabelled field, an image without text)', async () => {
    const page = await newPage({ loggedOut: true });
    await page.goto(daemon.url);
    await page.getByLabel('Token').waitFor();
    await page.evaluate(() => {
      document.body.insertAdjacentHTML('beforeend', '<input type="text"><img src="data:,">');
    });
    const ids = (await accessibilityViolations(page, ['serious', 'critical'])).map((violation) => violation.id).sort();
    expect(ids).toEqual(['image-alt', 'label']);
  });

  test.each(['light', 'dark'] as const)('no serious or critical violation on any screen, and no error nor CSP refusal in the browser (%s)', async (colorScheme) => {
    await daemon.request('POST', '/api/tasks', { id: `a11y-${colorScheme}`, type: 'delay', time: '1ms', script: 'echo checked; echo oops >&2; exit 3' });
    await waitFor('the run to end', async () => (await daemon.request<{ status: string }>('GET', `/api/tasks/a11y-${colorScheme}`)).body.status === 'Executed');
    const loggedOutPage = await newPage({ colorScheme, loggedOut: true });
    await loggedOutPage.goto(daemon.url);
    await loggedOutPage.getByLabel('Token').waitFor();
    const found: Record<string, unknown> = { login: await accessibilityViolations(loggedOutPage) };
    const page = await newPage({ colorScheme });
    // What the browser reports along the tour: a script error, or something the page's
    // Content-Security-Policy blocked (an inline style or script would be).
    const complaints: string[] = [];
    page.on('pageerror', (error) => complaints.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') complaints.push(message.text());
    });
    await openDashboard(page);
    const screens: Array<[string, string, string]> = [
      ['tasks', '#/tasks', 'Tasks'],
      ['task', `#/tasks/a11y-${colorScheme}`, `a11y-${colorScheme}`],
      ['run', `#/tasks/a11y-${colorScheme}/runs/1`, 'run #1'],
      ['new task', '#/new', 'New task'],
      ['history', '#/history', 'History'],
      ['nodes', '#/nodes', 'Nodes'],
    ];
    for (const [name, hash, heading] of screens) {
      await page.goto(`${daemon.url}/${hash}`);
      await page.getByRole('heading', { name: new RegExp(heading) }).first().waitFor();
      await page.locator('table tbody tr, .preview, pre.output, form').first().waitFor();
      found[name] = await accessibilityViolations(page);
    }
    expect(found).toEqual({ login: [], tasks: [], task: [], run: [], 'new task': [], history: [], nodes: [] });
    expect(complaints).toEqual([]);
  });
});
