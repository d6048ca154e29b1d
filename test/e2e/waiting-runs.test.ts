/**
 * A run that waits for a free slot (`--max-runs 1`), seen from outside: the watcher of
 * `scheduler get ID -watch=true` is told it waits, then told when it really starts (a
 * second `run-started`, without `waiting`); a long poll on the task's version is woken at
 * that start, and the task's version has gone up; its record says when it really started.
 * And a run in progress reports the bytes of output it has written so far.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { ok } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { ms, type RunView, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

/** A run with what it says about waiting for a slot. */
type WaitingRunView = RunView & { waiting: boolean; waitedMs: number | null };
const first = (task: TaskView) => task.results[0] as WaitingRunView | undefined;

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  // SQLite whatever SCHEDULER_TEST_STORE says: a fire recorded waiting for a slot is a lone
  // daemon's line. On a shared PostgreSQL store a node claims only the fires it has room for,
  // and the rest stay due for any node with room (docs/postgresql.md, "Claims").
  daemon = await e2e.startDaemon({ args: ['--max-runs', '1'], store: 'sqlite' });
  scratch = e2e.tempDir();
});

describe('a run waiting for a free slot (--max-runs 1)', () => {
  test('its real start is an event: the watcher sees it, a long poll wakes, the version goes up', async () => {
    const hold = gate(scratch, 'hold');
    const queued = gate(scratch, 'queued');
    ok(await daemon.cli(['submit', 'hold', '--type', 'delay', '--time', '1ms', '--script', `echo holding; ${hold.wait}`]), 'submit hold');
    await daemon.waitForTask('hold', 'its run to start', (task) => task.results[0]?.startedAt != null);
    ok(await daemon.cli(['submit', 'queued', '--type', 'delay', '--time', '1ms', '--script', `echo queued-ran; ${queued.wait}`]), 'submit queued');
    const waiting = await daemon.waitForTask('queued', 'its run to wait', (task) => first(task)?.waiting === true);
    expect(waiting.results[0]).toMatchObject({ outcome: 'running', startedAt: null, waiting: true });

    const watcher = daemon.startCli(['get', 'queued', '-watch=true']);
    await waitFor('the watcher to show the run waiting', () => /waiting for a free slot/.test(watcher.stdout()) || undefined, {
      describe: () => watcher.stdout(),
    });
    // A long poll on the version the task has while its run waits.
    const poll = daemon.api('GET', `/api/tasks/queued?watch=true&version=${waiting.version}&timeout=60s`) as Promise<TaskView>;

    hold.open();
    // The one change of queued until its run ends (held at its gate) is its real start: that
    // is what wakes the poll, with the version raised and the start recorded.
    const started = await poll;
    expect(started.version).toBe(waiting.version + 1);
    expect(started.status).toBe('Executing');
    expect(first(started)).toMatchObject({ outcome: 'running', waiting: false });
    expect(ms(started.results[0]!.startedAt)).toBeGreaterThanOrEqual(ms(started.lastStatusUpdated));
    await waitFor('the watcher to show the run started', () => /run 1 started/.test(watcher.stdout()) || undefined, { describe: () => watcher.stdout() });
    await waitFor('the watcher to show its output', () => watcher.stdout().includes('queued-ran') || undefined, { describe: () => watcher.stdout() });

    queued.open();
    const done = await daemon.waitForStatus('queued', 'Executed');
    expect(done.results).toHaveLength(1);
    expect(done.results[0]).toMatchObject({ outcome: 'succeeded', waiting: false, stdout: 'queued-ran\n' });
    expect(first(done)!.waitedMs).toBeGreaterThanOrEqual(0);
    expect((await watcher.done()).code).toBe(0);
  });

  test('a run in progress reports the bytes of its output so far, in every read of its runs', async () => {
    const held = gate(scratch, 'bytes');
    ok(await daemon.cli(['submit', 'bytes', '--type', 'delay', '--time', '1ms', '--script', `printf 'partial\\n'; printf 'é' >&2; ${held.wait}`]), 'submit bytes');
    const task = await daemon.waitForTask('bytes', 'its output to show while it runs', (view) => view.results[0]?.stdoutBytes === 8 && view.results[0]?.stderrBytes === 2);
    expect(task.results[0]).toMatchObject({ outcome: 'running', stdout: 'partial\n', stderr: 'é', stdoutBytes: 8, stderrBytes: 2 });
    const page = (await daemon.api('GET', '/api/tasks/bytes/runs')) as { runs: TaskView['results'] };
    expect(page.runs[0]).toMatchObject({ outcome: 'running', stdoutBytes: 8, stderrBytes: 2 });
    expect(await daemon.api('GET', '/api/tasks/bytes/runs/1')).toMatchObject({ outcome: 'running', stdoutBytes: 8, stderrBytes: 2 });
    held.open();
    expect((await daemon.waitForStatus('bytes', 'Executed')).results[0]).toMatchObject({ outcome: 'succeeded', stdoutBytes: 8, stderrBytes: 2 });
  });
});
