/**
 * Fault injection: the daemon's data directory is a small tmpfs, filled up while a run is
 * executing, a recurring task fires and submits arrive. Needs root (mount); CI runs it.
 *
 * Invariant: nothing acknowledged is lost. Every submit answered 201 is there after the disk
 * is freed (and after a restart, so it was committed, not only held); the run that ended
 * while the disk was full is recorded with its real outcome and output; the schedule goes on
 * without a restart; while full, writes answer 503 store_unavailable with Retry-After and
 * /healthz says why; the log says so a few times, not once per failure.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { waitFor } from '../support/wait.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();
const mounts: string[] = [];

afterAll(async () => {
  await e2e.cleanup(); // the daemons first: they hold files on the mounts
  for (const mount of mounts) {
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});

/** A tmpfs of `size` mounted on a fresh directory. */
function smallDisk(size: string): string {
  const mount = mkdtempSync(join(tmpdir(), 'scheduler-fault-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', mount]);
  mounts.push(mount);
  return mount;
}

/** Writes zeros to `path` until the file system is full. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(daemon: DaemonProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${daemon.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

function lines(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe('disk full under the data directory', () => {
  // The database must be in the full directory: SQLite, whatever SCHEDULER_TEST_STORE says.
  test('writes answer 503 while full (SQLite: its file is in the data directory); once freed, nothing acknowledged is lost and the schedule resumes by itself', async () => {
    const disk = smallDisk('8m');
    const marks = e2e.tempDir('scheduler-fault-marks-');
    const dataDir = join(disk, 'data');
    mkdirSync(dataDir);
    const daemon = await e2e.startDaemon({ dataDir, store: 'sqlite' });

    const ticks = join(marks, 'ticks');
    const release = gate(marks, 'release', 60_000);
    const endedWhileFull = join(marks, 'ended');
    const acked = new Set<string>();
    const submit = async (task: Record<string, unknown>): Promise<Answer> => {
      const answer = await call(daemon, 'POST', '/api/tasks', task);
      if (answer.status === 201) acked.add(String(task.id));
      return answer;
    };
    expect((await submit({ id: 'ticker', type: 'cron', time: '1s', script: `echo tick >> ${ticks}` })).status).toBe(201);
    // Its output is large enough (300 kB) that its end needs room the full disk does not have.
    const script = `echo before; ${release.wait}; head -c 300000 /dev/zero | tr '\\0' a; echo; echo after the disk filled; touch ${endedWhileFull}`;
    expect((await submit({ id: 'ends-while-full', type: 'delay', time: '100ms', script })).status).toBe(201);
    await daemon.waitForTask('ends-while-full', 'its run executing', (task) => task.results.some((run) => run.outcome === 'running'));
    await waitFor('the ticker to tick', () => lines(ticks) >= 1 || undefined);

    fillUp(join(disk, 'filler'));

    // Submits go on arriving: the first ones may fit in space SQLite's log already has, then
    // they are refused. Each is either acknowledged (and must survive) or refused with 503.
    const refusals: Answer[] = [];
    const padding = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 2000 && refusals.length < 5; i++) {
      const answer = await submit({ id: `while-full-${i}`, type: 'delay', time: '1h', script: `# ${padding}\ntrue` });
      if (answer.status !== 201) refusals.push(answer);
    }
    expect(refusals.length).toBe(5);
    for (const refusal of refusals) {
      expect(refusal.status).toBe(503);
      expect(refusal.body.error.code).toBe('store_unavailable');
      expect(Number(refusal.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const health = await call(daemon, 'GET', '/healthz');
    expect(health.status).toBe(503);
    expect(JSON.stringify(health.body)).toMatch(/full/i);

    // The run ends while the disk is full: its end cannot be committed, but it is not lost.
    release.open();
    await waitFor('the run to end', () => existsSync(endedWhileFull) || undefined, { timeoutMs: 20_000 });
    const seen = await daemon.waitForTask('ends-while-full', 'its run shown as ended', (task) => task.results[0]?.outcome === 'succeeded');
    expect(seen.results[0]!.stdout).toContain('after the disk filled');
    const ticksWhileFull = lines(ticks);

    rmSync(join(disk, 'filler'));

    await waitFor('/healthz to answer 200 again', async () => (await call(daemon, 'GET', '/healthz')).status === 200 || undefined, { timeoutMs: 30_000 });
    await daemon.waitForStatus('ends-while-full', 'Executed', 30_000);
    await waitFor('the ticker to tick again without a restart', () => lines(ticks) >= ticksWhileFull + 2 || undefined, { timeoutMs: 30_000 });
    expect((await submit({ id: 'after-freeing', type: 'delay', time: '1h', script: 'true' })).status).toBe(201);

    // Committed, not only held: a restart reads all of it back from the disk.
    expect((await daemon.stop()).code).toBe(0);
    const again = await e2e.restart(daemon);
    const [run] = (await again.task('ends-while-full'))!.results;
    expect(run).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(run!.stdout).toBe(`before\n${'a'.repeat(300_000)}\nafter the disk filled\n`);
    // It was held while the disk was full, not committed through some room left.
    expect(daemon.stderr).toMatch(/held in memory/);
    for (const id of acked) expect(await again.task(id), `acknowledged task ${id}`).toBeDefined();
    expect(acked.size).toBeGreaterThanOrEqual(3);

    // Said a few times, not once per refused write or retry.
    const logLines = daemon.stderr.split('\n').filter((line) => /full|refuse/i.test(line));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.length).toBeLessThan(20);
    expect(daemon.stderr.length).toBeLessThan(200_000);
  }, 120_000);
});

