/**
 * Fault injection: a damaged database. A damaged header stops the start with a message that
 * names the file and the remedy (no stack trace); damage in the middle of the tasks table is
 * found (by the background check, or by the first request that reads it), turns /healthz to
 * 503 and requests to 503 store_corrupt, and the daemon keeps serving. Nothing acknowledged
 * is lost: a backup taken before the damage restores every acknowledged task.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { damageHeader, damageMiddleLeaf } from '../support/damage-database.js';
import { ok, runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
// A damaged database file is SQLite's fault to have: these daemons keep their tasks in SQLite
// whatever SCHEDULER_TEST_STORE says (on PostgreSQL the server guards its own files).
const onSqlite = { store: 'sqlite' };

/** Submits `count` tasks with sizeable scripts (so the tasks table spans many pages); returns their ids. */
async function fill(daemon: DaemonProcess, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let first = 0; first < count; first += 50) {
    const batch = Array.from({ length: 50 }, (_, i) => `task-${first + i}`);
    await Promise.all(batch.map((id) => daemon.api('POST', '/api/tasks', { id, type: 'cron', time: '1h', script: `# ${'x'.repeat(2000)}\necho ${id}` })));
    ids.push(...batch);
  }
  return ids;
}

describe('a damaged database', () => {
  test('a damaged header (of the SQLite file): the daemon does not start, and says which file and what to do', async () => {
    const daemon = await e2e.startDaemon(onSqlite);
    await fill(daemon, 50);
    expect((await daemon.stop()).code).toBe(0);
    damageHeader(join(daemon.dataDir, 'scheduler.db'));

    const start = await runCli(['daemon', '--listen', '127.0.0.1:0', '--data-dir', daemon.dataDir], { timeoutMs: 20_000 });
    expect(start.code).not.toBe(0);
    expect(start.stderr).toContain(join(daemon.dataDir, 'scheduler.db'));
    expect(start.stderr).toMatch(/backup/);
    expect(start.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('a damaged page in the middle (of the SQLite file): /healthz and requests answer 503 store_corrupt, the daemon keeps serving, a backup restores everything', async () => {
    const daemon = await e2e.startDaemon(onSqlite);
    const ids = await fill(daemon, 600);
    const backup = join(e2e.tempDir(), 'before.db');
    ok(await daemon.cli(['backup', backup]), 'backup');
    expect((await daemon.stop()).code).toBe(0);
    damageMiddleLeaf(join(daemon.dataDir, 'scheduler.db'), 'tasks');

    // The start check reads the edges of each table, not its middle: the daemon starts.
    const damaged = await e2e.restart(daemon);
    // The background check, or the first listing that reads the damaged page, finds it.
    await waitFor('the damage to be found', async () => {
      await fetch(`${damaged.url}/api/tasks?limit=1000`).catch(() => undefined);
      const health = await fetch(`${damaged.url}/healthz`);
      return health.status === 503 ? health : undefined;
    }, { timeoutMs: 30_000 });
    const health = (await (await fetch(`${damaged.url}/healthz`)).json()) as { status: string; code: string; reason: string };
    expect(health).toMatchObject({ status: 'unavailable', code: 'store_corrupt' });
    expect(health.reason).toContain('scheduler.db');

    const list = await fetch(`${damaged.url}/api/tasks?limit=1000`);
    expect(list.status).toBe(503);
    expect(((await list.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'store_corrupt' });
    const cli = await damaged.cli(['list']);
    expect(cli.code).toBe(7);
    expect(cli.stderr).toMatch(/backup/);
    // Still serving, and says so again.
    expect(damaged.running).toBe(true);
    expect((await fetch(`${damaged.url}/api/status`)).status).toBe(200);
    expect((await damaged.stop()).code).toBe(0);

    // Restored from the backup taken before the damage: every acknowledged task is there.
    const restoredDir = join(e2e.tempDir(), 'data');
    mkdirSync(restoredDir);
    copyFileSync(backup, join(restoredDir, 'scheduler.db'));
    const restored = await e2e.startDaemon({ ...onSqlite, dataDir: restoredDir });
    const listed = JSON.parse(ok(await restored.cli(['list', '--json']), 'list').stdout) as Array<{ id: string }>;
    expect(listed.map((task) => task.id).sort()).toEqual([...ids].sort());
  }, 120_000);
});
