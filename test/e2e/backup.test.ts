/**
 * `scheduler backup FILE`: a consistent copy of the database taken while the daemon runs and
 * submits keep arriving. A daemon started on the restored copy has every task acknowledged
 * before the backup began (nothing acknowledged is lost), and the copy is a sound database.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ok, useE2e, type TaskView } from './harness.js';

const e2e = useE2e();

describe('scheduler backup', () => {
  test('a copy taken while submits arrive restores every task acknowledged before it', async () => {
    const daemon = await e2e.startDaemon();
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
    const restored = await e2e.startDaemon({ dataDir: restoredDir });
    for (const id of ackedBefore) expect(await restored.task(id), id).toMatchObject({ id, status: 'ToBeExecuted' });
    const listed = JSON.parse(ok(await restored.cli(['list', '--json']), 'list').stdout) as TaskView[];
    expect(listed.length).toBeGreaterThanOrEqual(ackedBefore.length);
    const health = await fetch(`${restored.url}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);

  test('a path the daemon cannot write is refused, saying why', async () => {
    const daemon = await e2e.startDaemon();
    const result = await daemon.cli(['backup', join(e2e.tempDir(), 'no', 'such', 'dir', 'copy.db')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("daemon's host");
  });
});
