/**
 * `scheduler backup FILE`: a consistent copy of the database taken while the daemon runs and
 * submits keep arriving. A daemon started on the restored copy has every task acknowledged
 * before the backup began (nothing acknowledged is lost), and the copy is a sound database.
 * The copy is of the SQLite file, so those tests run on SQLite whatever SCHEDULER_TEST_STORE
 * says; a daemon on PostgreSQL refuses, naming the tools that back PostgreSQL up.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ok } from '../support/cli.js';
import type { TaskView } from '../support/api-views.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();

describe('scheduler backup', () => {
  test('a copy taken while submits arrive restores every task acknowledged before it (SQLite: the copy is its file)', async () => {
    const daemon = await e2e.startDaemon({ store: 'sqlite' });
    const acknowledged: string[] = [];
    const submit = async (id: string) => {
      await daemon.api('POST', '/api/tasks', { id, type: 'cron', time: '1h', script: `echo ${id}` });
      acknowledged.push(id);
    };
    for (let i = 0; i < 100; i++) await submit(`before-${i}`);

    // Submits go on while the backup is taken.
    let submitting = true;
    const during = (async () => {
      for (let i = 0; submitting; i++) await submit(`during-${i}`);
    })();
    const ackedBefore = [...acknowledged];
    const dir = e2e.tempDir();
    const file = join(dir, 'copy.db');
    const result = ok(await daemon.cli(['backup', file]), 'backup');
    submitting = false;
    await during;
    expect(result.stdout).toMatch(new RegExp(`^backed up the database to ${file} \\(\\d+ bytes\\)\\n$`));
    expect(existsSync(file)).toBe(true);

    // An existing file is not replaced unless asked.
    const again = await daemon.cli(['backup', file]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('--force');
    ok(await daemon.cli(['backup', '--force', file]), 'backup --force');

    // Restore: a new data directory whose database is the copy.
    const restoredDir = join(e2e.tempDir(), 'data');
    mkdirSync(restoredDir, { recursive: true });
    copyFileSync(file, join(restoredDir, 'scheduler.db'));
    const restored = await e2e.startDaemon({ dataDir: restoredDir, store: 'sqlite' });
    for (const id of ackedBefore) expect(await restored.task(id), id).toMatchObject({ id, status: 'ToBeExecuted' });
    const listed = JSON.parse(ok(await restored.cli(['list', '--json']), 'list').stdout) as TaskView[];
    expect(listed.length).toBeGreaterThanOrEqual(ackedBefore.length);
    const health = await fetch(`${restored.url}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);

  test('a path the daemon cannot write is refused, saying why (SQLite: only it writes a file)', async () => {
    const daemon = await e2e.startDaemon({ store: 'sqlite' });
    const result = await daemon.cli(['backup', join(e2e.tempDir(), 'no', 'such', 'dir', 'copy.db')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("daemon's host");
  });

  test('a daemon on PostgreSQL (whatever SCHEDULER_TEST_STORE says) refuses, saying to use pg_dump, and writes nothing', async () => {
    const daemon = await e2e.startDaemon({ store: 'postgres' });
    const file = join(e2e.tempDir(), 'copy.db');
    const result = await daemon.cli(['backup', file]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('the store is PostgreSQL at ');
    expect(result.stderr).toContain('pg_dump');
    expect(existsSync(file)).toBe(false);

    // The API says the same, as an invalid request.
    const response = await fetch(`${daemon.url}/api/backup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: file }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request', message: expect.stringContaining('pg_dump') } });
  });
});
