/**
 * Fault injection: the real daemon runs out of file descriptors. Its RLIMIT_NOFILE is
 * (soft) lowered with prlimit (util-linux) to a few descriptors above what it holds: enough to
 * answer one request at a time; and its executor's (which spawns the runs) to what it holds,
 * too few for the pipes of a run. Then:
 * - runs due meanwhile are recorded failed, never started, with the reason (too many open
 *   files), and the daemon goes on serving;
 * - connections it cannot accept (EMFILE in accept) do not end it;
 * - nothing acknowledged is lost: every submitted task is still there;
 * - once the limit is raised again, runs succeed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { executorOf } from '../support/processes.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();

/**
 * Descriptors left free above what the daemon holds (with the test's keep-alive connection,
 * which may close meanwhile, freeing one more): a request needs one, a run's pipes more than three.
 */
const headroom = 2;

function descriptorsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The soft open-file limit of `pid`. */
function openFileLimit(pid: number): string {
  const match = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!match) throw new Error(`cannot read the open-file limit of ${pid}`);
  return match[1]!;
}

/**
 * Sets the soft limit only: the hard one is left alone, so the soft one can be raised again
 * (raising a hard limit needs CAP_SYS_RESOURCE, which a container's root may lack).
 */
function setOpenFileLimit(pid: number, limit: string): void {
  const done = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:`], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`prlimit (util-linux) failed: ${done.error?.message ?? done.stderr}`);
}

/** GET /healthz, straight: the status, or the error of a refused connection. */
async function health(daemon: DaemonProcess): Promise<number> {
  const response = await fetch(`${daemon.url}/healthz`);
  await response.text();
  return response.status;
}

async function submit(daemon: DaemonProcess, id: string, script: string): Promise<TaskView> {
  return parseJson<TaskView>(ok(await daemon.cli(['submit', id, '-type=delay', '-time=1s', `-script=${script}`, '--json']), `submit ${id}`));
}

describe('out of file descriptors', () => {
  it('runs that cannot start fail saying why, the daemon keeps serving and loses nothing, and runs succeed once descriptors are free', async () => {
    expect(spawnSync('which', ['prlimit']).status, 'prlimit (util-linux) is needed').toBe(0);
    const daemon = await e2e.startDaemon();
    const pid = daemon.child.pid!;
    expect(await health(daemon)).toBe(200); // the test's own keep-alive connection is open from here on
    const original = openFileLimit(pid);
    const low = descriptorsOf(pid) + headroom;
    setOpenFileLimit(pid, String(low));
    const executor = await waitFor('the daemon to start its executor', () => executorOf(pid));
    const executorOriginal = openFileLimit(executor);
    setOpenFileLimit(executor, String(descriptorsOf(executor)));

    // Runs due while the daemon has no room for their pipes.
    const ids = ['starved-1', 'starved-2', 'starved-3'];
    const acknowledged: string[] = [];
    for (const id of ids) {
      await submit(daemon, id, `echo ${id}`);
      acknowledged.push(id);
    }
    for (const id of ids) {
      const task = await daemon.waitForTask(id, 'a run recorded', (t) => t.results.length > 0 && t.results[0]!.finishedAt !== null, 20_000);
      expect(task.results[0]).toMatchObject({ outcome: 'failed', exitCode: null, signal: null, error: 'could not start: too many open files (EMFILE)', stdout: '' });
      expect(task.status).toBe('Executed');
    }

    // More connections at once than it has descriptors for: accept fails with EMFILE, and
    // the connections it cannot take are closed (libuv keeps a spare descriptor for that);
    // the daemon goes on.
    const sockets: Socket[] = [];
    let dropped = 0;
    try {
      for (let i = 0; i < 4 * headroom; i++) {
        const socket = connect(daemon.port, '127.0.0.1');
        socket.on('error', () => undefined); // reset by the daemon
        socket.on('close', () => dropped++);
        sockets.push(socket);
      }
      await waitFor('the daemon to drop a connection it could not accept', () => dropped > 0, { timeoutMs: 20_000 });
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await waitFor('the daemon to answer /healthz again', async () => (await health(daemon)) === 200, { timeoutMs: 20_000 });
    expect(daemon.running).toBe(true);

    // Nothing acknowledged is lost: every submitted task is listed.
    const listed = parseJson<TaskView[]>(ok(await daemon.cli(['list', '--json']), 'list'));
    expect(listed.map((task) => task.id).sort()).toEqual(expect.arrayContaining(acknowledged));

    // Descriptors free again: runs start and succeed.
    setOpenFileLimit(pid, original);
    setOpenFileLimit(executor, executorOriginal);
    await submit(daemon, 'fed', 'echo fed');
    const fed = await daemon.waitForStatus('fed', 'Executed', 20_000);
    expect(fed.results[0]).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: 'fed\n' });
    // The tasks whose runs could not start are all still there, with their failed run.
    for (const id of acknowledged) expect((await daemon.task(id))?.results).toHaveLength(1);
    expect(daemon.running).toBe(true);
    expect(daemon.stderr).toContain('a run could not start');
  });
});
