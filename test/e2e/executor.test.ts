/**
 * The daemon's executor (the small process that spawns its runs) with a real daemon: the runs'
 * processes are its children, not the daemon's; when it is killed, a run in progress is
 * recorded interrupted with the output it printed until then and its processes are ended, the
 * daemon keeps serving, and a new executor starts the next runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { executorOf as executorOfPid, isProcessAlive, procStat } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const executorOf = (daemon: DaemonProcess) => executorOfPid(daemon.child.pid!);

const e2e = useE2e();

describe('the executor', () => {
  test('spawns the runs; killed mid-run, the run is recorded interrupted with its output so far, and a new executor runs the next task', async () => {
    const daemon = await e2e.startDaemon();
    const scratch = e2e.tempDir();
    const first = await waitFor('the daemon to start its executor', () => executorOf(daemon));

    const pidFile = join(scratch, 'pid');
    ok(await daemon.cli(['submit', 'long', '--type', 'delay', '--time', '1ms', '--script', `echo before; echo $$ > ${pidFile}; sleep 60; echo after`]), 'submit');
    const script = await waitFor('the script to write its pid', () => (existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8'))) || undefined);
    // The run's shell was spawned by the executor (it leads its own session, but its parent is the executor).
    expect(procStat(script)?.ppid).toBe(first);
    // The executor relays the output: "before" has reached the daemon, and must be kept.
    await waitFor('the daemon to receive the first line', async () =>
      ((await daemon.api('GET', '/api/tasks/long/runs/1/output?stream=stdout')) as { text: string }).text === 'before\n' || undefined,
    );

    process.kill(first, 'SIGKILL');
    const task = await waitFor('the run to be recorded', async () => {
      const view = parseJson<TaskView>(ok(await daemon.cli(['get', 'long', '--json']), 'get'));
      return view.results.length > 0 ? view : undefined;
    });
    expect(task.results).toMatchObject([
      { run: 1, outcome: 'interrupted', stdout: 'before\n', error: expect.stringMatching(/^the executor process, which spawned and watched the run, died \(killed by SIGKILL\)/) },
    ]);
    await waitFor(`the script (pid ${script}) to be ended`, () => !isProcessAlive(script));
    expect(daemon.stderr).toMatch(/1 run\(s\) ended as interrupted; a new executor is started/);
    expect(daemon.running).toBe(true);

    const second = await waitFor('a new executor', () => {
      const pid = executorOf(daemon);
      return pid !== undefined && pid !== first ? pid : undefined;
    });
    ok(await daemon.cli(['submit', 'next', '--type', 'delay', '--time', '1ms', '--script', 'echo "parent $PPID"']), 'submit');
    const next = await waitFor('the next task to run', async () => {
      const view = parseJson<TaskView>(ok(await daemon.cli(['get', 'next', '--json']), 'get'));
      return view.results[0]?.outcome === 'succeeded' ? view : undefined;
    });
    expect(next.results[0]!.stdout).toBe(`parent ${second}\n`);

    // A clean stop ends the executor with the daemon.
    expect((await daemon.stop()).code).toBe(0);
    expect(isProcessAlive(second)).toBe(false);
  }, 60_000);
});
