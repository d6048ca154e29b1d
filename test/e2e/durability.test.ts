/**
 * Durability: the daemon is killed with SIGKILL while a run is in flight (or stopped with
 * SIGTERM), then restarted on the same data directory. Every task and result comes back;
 * the run in flight is recorded `interrupted` with the output it had produced; its leftover
 * processes are killed; a cron task keeps its grid; a delay task that came due while the
 * daemon was down runs once when it starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { isProcessAlive } from '../support/processes.js';
import { ms, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();

async function getJson(daemon: DaemonProcess, id: string): Promise<TaskView> {
  return parseJson<TaskView>(ok(await daemon.cli(['get', id, '--json']), `get ${id}`));
}

/** True when `at` is on the grid createdAt + k * interval, k >= 1. */
function onGrid(task: TaskView, at: string | null, intervalMs: number): boolean {
  const offset = ms(at) - ms(task.createdAt);
  return offset > 0 && offset % intervalMs === 0;
}

describe.concurrent('restart on the same data directory', () => {
  test('after kill -9 during a run: every task and result is back, the run is interrupted with its output', async ({ expect }) => {
    const first = await e2e.startDaemon();
    const scratch = e2e.tempDir();
    const pidFile = join(scratch, 'inflight.pid');

    await first.submit('finished', ['-type=delay', '-time=100ms', '-script=echo finished']);
    const ticker = await first.submit('ticker', ['-type=cron', '-time=1s', '-script=echo tick $SCHEDULER_RUN']);
    await first.submit('inflight', ['-type=delay', '-time=200ms', `-script=echo partial; echo $$ > ${pidFile}; sleep 30; echo never`]);

    // In flight: the script has printed "partial" and the daemon has spooled it to disk.
    const spool = join(first.dataDir, 'spool', 'inflight.1.stdout');
    await waitFor('the output of the run in flight to be spooled', () =>
      existsSync(spool) && readFileSync(spool, 'utf8') === 'partial\n' && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().length > 0,
    );
    const orphan = Number(readFileSync(pidFile, 'utf8'));
    const finishedBefore = await first.waitForStatus('finished', 'Executed');
    const tickerBefore = await first.waitForTask('ticker', 'a finished run', (t) => t.results.some((r) => r.outcome === 'succeeded'));
    expect((await first.task('inflight'))?.status).toBe('Executing');

    // Due a few seconds from now, i.e. while the daemon is down (far enough ahead that a busy
    // machine's CLI answers and the kill comes first).
    const late = await first.submit('late', ['-type=delay', '-time=6s', '-script=echo late']);
    await first.kill();
    expect(first.running).toBe(false);
    expect(isProcessAlive(orphan)).toBe(true); // a run's processes outlive a daemon killed with -9

    // Down until `late` is overdue (waiting on the clock: there is no daemon to ask).
    await waitFor('the late task to come due while the daemon is down', () => Date.now() > ms(late.nextRunAt) + 200, { timeoutMs: 15_000 });
    const restartedAt = Date.now();
    const second = await e2e.restart(first);
    const readyAt = Date.now();
    // At start: the daemon fires overdue tasks as it comes up, not at some later time. Tasks
    // fire in due order, so by the time a task due just after the start has run, the
    // overdue one has started.
    await second.waitUntilSchedulerPassed(readyAt);
    expect((await second.existingTask('late')).results[0]?.startedAt, 'the overdue task to have started').toEqual(expect.any(String));

    // The leftover processes of the interrupted run were killed at start.
    await waitFor(`the interrupted run's shell (pid ${orphan}) to be killed`, () => !isProcessAlive(orphan), { timeoutMs: 3000 });

    // The run in flight: recorded interrupted, with the output it had produced; the delay task ends Executed.
    const inflight = await getJson(second, 'inflight');
    expect(inflight.status).toBe('Executed');
    expect(inflight.results).toHaveLength(1);
    expect(inflight.results[0]).toMatchObject({ run: 1, outcome: 'interrupted', stdout: 'partial\n', exitCode: null });
    expect(inflight.results[0]!.error).toMatch(/daemon stopped while the run was executing/);
    expect(inflight.results[0]!.startedAt).not.toBeNull();
    const human = ok(await second.cli(['get', 'inflight']), 'get inflight');
    expect(human.stdout).toMatch(/^ {2}run 1: interrupted, /m);
    expect(human.stdout).toMatch(/^ {4}stdout:\n {6}partial$/m);

    // The task that had finished: exactly as it was.
    expect(await getJson(second, 'finished')).toEqual(finishedBefore);

    // The delay task that came due while the daemon was down runs once, at start.
    const lateAfter = await second.waitForStatus('late', 'Executed');
    expect(lateAfter.results).toHaveLength(1);
    expect(lateAfter.results[0]).toMatchObject({ run: 1, outcome: 'succeeded', stdout: 'late\n' });
    expect(lateAfter.results[0]!.scheduledAt).toBe(late.nextRunAt);
    expect(ms(lateAfter.results[0]!.startedAt)).toBeGreaterThanOrEqual(restartedAt);

    // The cron task: its results are back, and it goes on on its original grid.
    const tickerAfter = await second.waitForTask('ticker', 'a run after the restart and the next one due', (t) =>
      t.results.some((r) => r.outcome === 'succeeded' && ms(r.startedAt) >= restartedAt) && t.status === 'WaitForNextExecution',
    );
    expect(tickerAfter.createdAt).toBe(ticker.createdAt);
    for (const run of tickerBefore.results.filter((r) => r.outcome === 'succeeded')) {
      expect(tickerAfter.results.find((r) => r.run === run.run)).toEqual(run);
    }
    for (const run of tickerAfter.results) {
      expect(onGrid(tickerAfter, run.scheduledAt, 1000), `run ${run.run} scheduled at ${run.scheduledAt}`).toBe(true);
      if (run.outcome === 'succeeded') expect(run.stdout).toBe(`tick ${run.run}\n`);
    }
    expect(onGrid(tickerAfter, tickerAfter.nextRunAt, 1000), `next run at ${tickerAfter.nextRunAt}`).toBe(true);
    expect(ms(tickerAfter.nextRunAt)).toBeGreaterThan(restartedAt);
    const nextRun = await second.waitForTask('ticker', 'one more run', (t) =>
      t.results.some((r) => r.outcome === 'succeeded' && r.scheduledAt === tickerAfter.nextRunAt),
    );
    expect(onGrid(nextRun, nextRun.nextRunAt, 1000)).toBe(true);

    // Every task is listed.
    const list = parseJson<TaskView[]>(ok(await second.cli(['list', '--json']), 'list'));
    expect(list.map((t) => t.id)).toEqual(['finished', 'ticker', 'inflight', 'late']);
    ok(await second.cli(['stop', 'ticker']), 'stop ticker');
  }, 60_000); // two daemon starts, a crash and a sentinel: room on a loaded 2-core machine

  test('after SIGTERM during a run: the run is ended and recorded interrupted; tasks are back after the restart', async ({ expect }) => {
    const first = await e2e.startDaemon();
    const scratch = e2e.tempDir();
    const pidFile = join(scratch, 'graceful.pid');
    await first.submit('graceful', ['-type=delay', '-time=100ms', `-script=echo started; echo $$ > ${pidFile}; sleep 30; echo never`]);
    const cron = await first.submit('waiting-cron', ['--type', 'cron', '--time', '1h', '--script', 'true']);
    await first.waitForTask('graceful', 'its output', (t) => t.status === 'Executing' && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().length > 0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const watcher = first.startCli(['get', 'waiting-cron', '--watch']);
    await waitFor('the watcher to print the task', () => /^results: +none yet$/m.test(watcher.stdout()) || undefined);

    const exit = await first.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.stdout).toMatch(/SIGTERM: shutting down/);
    expect(isProcessAlive(pid)).toBe(false); // the run was ended with the daemon
    // A watcher does not hang when its daemon goes away: it fails, saying so.
    const watched = await watcher.done(5_000);
    expect(watched.code).toBe(7);
    expect(watched.stderr).toMatch(/no scheduler daemon answers at/);

    const second = await e2e.restart(first);
    const graceful = await getJson(second, 'graceful');
    expect(graceful.status).toBe('Executed');
    expect(graceful.results).toHaveLength(1);
    expect(graceful.results[0]).toMatchObject({ outcome: 'interrupted', stdout: 'started\n' });
    expect(graceful.results[0]!.error).toMatch(/shut down while the run was executing/);

    const waiting = await getJson(second, 'waiting-cron');
    expect(waiting).toMatchObject({ status: 'ToBeExecuted', nextRunAt: cron.nextRunAt, createdAt: cron.createdAt, results: [] });
  });

  test('results are bounded: only the last --keep-runs runs are kept, each output capped at --output-cap', async ({ expect }) => {
    const daemon = await e2e.startDaemon({ args: ['--keep-runs', '3', '--output-cap', '1KiB'] });
    // 5000 bytes on stdout, 1 line on stderr, every 200ms.
    await daemon.submit('chatty', ['-type=cron', '-time=200ms', '-script=head -c 5000 /dev/zero | tr "\\0" x; echo oops >&2']);
    const task = await daemon.waitForTask('chatty', 'a sixth run to have finished', (t) =>
      t.results.some((r) => r.run >= 6 && r.outcome === 'succeeded'),
    );
    ok(await daemon.cli(['stop', 'chatty']), 'stop');
    expect(task.results.length).toBeLessThanOrEqual(3);
    const runs = task.results.map((r) => r.run);
    expect(runs).toEqual([...runs].sort((a, b) => a - b)); // oldest first
    expect(runs.at(-1)).toBeGreaterThanOrEqual(6); // the newest are the ones kept
    for (const run of task.results.filter((r) => r.outcome === 'succeeded')) {
      expect(run.stdout).toBe('x'.repeat(1024));
      expect(run).toMatchObject({ stdoutBytes: 5000, stdoutTruncated: true, stderr: 'oops\n', stderrTruncated: false });
    }
    const human = ok(await daemon.cli(['get', 'chatty']), 'get');
    // Head and tail, with where the middle was dropped.
    expect(human.stdout).toMatch(/stdout: \(head and tail kept, 3976 of 5000 bytes dropped\)\n {6}x{512}\n {6}\[3976 bytes dropped here\]\n {6}x{512}\n/);
  });
});
