/**
 * Fault injection: the daemon runs out of file descriptors (its RLIMIT_NOFILE lowered with
 * prlimit to just above what it holds) when runs start. Each run that cannot start is
 * recorded as failed, saying "too many open files"; the daemon keeps serving; once the
 * limit is raised again, runs succeed. Nothing acknowledged is lost: every task is there.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { useE2e, waitFor, type DaemonProcess, type RunView } from '../e2e/harness.js';

const e2e = useE2e();

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Sets the soft limit only: lowering the hard one could not be undone without CAP_SYS_RESOURCE. */
function setDescriptorLimit(pid: number, soft: number): void {
  const hard = execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--output=HARD', '--noheadings']).toString().trim();
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`]);
}

async function runNow(daemon: DaemonProcess, id: string): Promise<void> {
  await daemon.api('POST', `/api/tasks/${id}/run`);
}

async function runNumber(daemon: DaemonProcess, id: string, run: number): Promise<RunView> {
  return waitFor(`run ${run} of ${id} to end`, async () => {
    const found = (await daemon.task(id))?.results.find((result) => result.run === run);
    return found && found.outcome !== 'running' ? found : undefined;
  }, { timeoutMs: 20_000 });
}

describe('out of file descriptors when runs start', () => {
  test('runs that cannot start are recorded failed with the reason; the daemon keeps serving; later runs succeed', async () => {
    const daemon = await e2e.startDaemon();
    const pid = daemon.child.pid!;
    const ids = ['starved-a', 'starved-b', 'starved-c'];
    for (const id of ids) await daemon.api('POST', '/api/tasks', { id, type: 'cron', time: '1h', script: `echo ran ${id}` });
    // The connection this test talks over is open (fetch keeps it alive) before the limit drops.
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);

    // Room for a connection or two, none for a run's pipes (three pairs) and spool files.
    const original = Number(execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--output=SOFT', '--noheadings']).toString().trim());
    setDescriptorLimit(pid, openDescriptors(pid) + 3);
    try {
      for (const id of ids) await runNow(daemon, id);
      for (const id of ids) {
        const run = await runNumber(daemon, id, 1);
        expect(run).toMatchObject({ outcome: 'failed', startedAt: null });
        expect(run.error).toMatch(/too many open files/);
      }
      expect(daemon.running).toBe(true);
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    } finally {
      setDescriptorLimit(pid, original);
    }

    // Descriptors are free again: the same tasks run, and every task is still there.
    for (const id of ids) await runNow(daemon, id);
    for (const id of ids) {
      const run = await runNumber(daemon, id, 2);
      expect(run).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: `ran ${id}\n` });
    }
    const listed = (await daemon.api('GET', '/api/tasks')) as { tasks: Array<{ id: string }> };
    expect(listed.tasks.map((task) => task.id).sort()).toEqual(ids);
    expect(daemon.stderr).not.toMatch(/uncaught|unhandled/i);
  }, 60_000);
});
