/**
 * A damaged database, on a real daemon driven by the real CLI:
 * (a) a damaged header: the daemon refuses to start with a message naming the file and the
 *     remedy, not a stack trace;
 * (b) a damaged page in the middle of the tasks table, which the fast start check does not
 *     read: the daemon starts, its background quick_check (and any request that reads the
 *     page) finds the damage, /healthz answers 503 with the reason, listing answers 503
 *     store_corrupt, and the daemon keeps serving. A backup taken with `scheduler backup`
 *     while submits were arriving, restored as the README says, brings back every task
 *     acknowledged before it: nothing acknowledged is lost.
 */
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { damageHeader, damageMiddleLeaf } from '../support/damage-database.js';
import { ok, parseJson, runCli, useE2e, waitFor, type DaemonProcess, type TaskView } from '../e2e/harness.js';

const e2e = useE2e();

async function submitMany(daemon: DaemonProcess, prefix: string, count: number, scriptBytes: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, (_, index) => `${prefix}-${String(start + index).padStart(5, '0')}`);
    await Promise.all(batch.map((id) => daemon.api('POST', '/api/tasks', { id, type: 'delay', time: '1h', script: `echo ${id} ${'s'.repeat(scriptBytes)}` })));
    ids.push(...batch); // acknowledged: each answered 201
  }
  return ids;
}

describe.concurrent('a damaged database', () => {
  test('(a) a damaged header: start fails with the file and the remedy, no stack trace', async () => {
    const daemon = await e2e.startDaemon();
    await submitMany(daemon, 'task', 20, 100);
    expect((await daemon.stop()).code).toBe(0);
    const file = join(daemon.dataDir, 'scheduler.db');
    damageHeader(file);

    const start = await runCli(['daemon', '--listen', '127.0.0.1:0', '--data-dir', daemon.dataDir], { timeoutMs: 60_000 });
    expect(start.code).not.toBe(0);
    expect(start.stdout).not.toMatch(/listening on/);
    expect(start.stderr).toContain(`the database ${file} is damaged`);
    expect(start.stderr).toContain('scheduler backup');
    expect(start.stderr).toContain(`sqlite3 ${file} .recover`);
    expect(start.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  test('(b) a damaged page: 503s with the reason while serving on; the backup restores every acknowledged task', async () => {
    const first = await e2e.startDaemon({ startTimeoutMs: 30_000 });
    const before = await submitMany(first, 'task', 1500, 1500);

    // A backup while submits keep arriving.
    const backupFile = join(e2e.tempDir(), 'scheduler-backup.db');
    const during = submitMany(first, 'during', 200, 100);
    const backup = ok(await first.cli(['backup', backupFile], { timeoutMs: 60_000 }), 'backup');
    expect(backup.stdout).toContain(`backed up to ${backupFile}`);
    await during;
    // An existing file is refused without --force.
    const again = await first.cli(['backup', backupFile]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already exists');

    expect((await first.stop()).code).toBe(0); // a clean stop checkpoints the WAL into the file
    const file = join(first.dataDir, 'scheduler.db');
    damageMiddleLeaf(file, 'tasks');

    const second = await e2e.restart(first, { startTimeoutMs: 30_000 });
    const health = await waitFor('/healthz to answer 503', async () => {
      const response = await fetch(`${second.url}/healthz`);
      return response.status === 503 ? ((await response.json()) as { error: { code: string; message: string } }) : undefined;
    }, { timeoutMs: 30_000 });
    expect(health.error.code).toBe('store_corrupt');
    expect(health.error.message).toContain(`the database ${file} is damaged`);

    const list = await second.cli(['list']);
    expect(list.code).toBe(7);
    expect(list.stderr).toContain(`the database ${file} is damaged`);
    expect(list.stderr).toContain('scheduler backup');
    const listed = await fetch(`${second.url}/api/tasks`);
    expect(listed.status).toBe(503);
    expect(((await listed.json()) as { error: { code: string } }).error.code).toBe('store_corrupt');

    // Still serving: the daemon answers, and says the same thing again.
    expect(second.running).toBe(true);
    expect((await fetch(`${second.url}/healthz`)).status).toBe(503);
    expect(second.stderr).not.toMatch(/request failed/);

    // Restore as the README says: stop, copy the backup over, remove -wal and -shm, start.
    await second.stop();
    copyFileSync(backupFile, file);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const restored = await e2e.restart(second, { startTimeoutMs: 30_000 });
    expect((await fetch(`${restored.url}/healthz`)).status).toBe(200);
    const tasks = parseJson<TaskView[]>(ok(await restored.cli(['list', '--json'], { timeoutMs: 60_000 }), 'list'));
    const ids = new Set(tasks.map((task) => task.id));
    // Nothing acknowledged before the backup began is lost.
    for (const id of before) expect(ids.has(id), id).toBe(true);
  }, 240_000);
});
