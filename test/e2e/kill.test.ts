/**
 * scheduler kill ID, and submit --timeout: a run in progress ends with its whole process
 * group, recorded as killed or timed_out; the task goes on. And whatever ends a run (kill,
 * timeout, delete, stop with kill, or the script's own exit) leaves no process of its group
 * behind: not a background child, not an orphaned grandchild, not one that ignores TERM (it
 * gets KILL after --kill-grace, 1s in these tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { isProcessAlive, processGroupMembers, processGroupOf, waitForGroupGone } from '../support/processes.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';
import { killedLine } from '../support/test-store.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

describe('scheduler kill', () => {
  test('ends the running script and what it forked, records the run as killed; a delay task ends Executed', async ({ expect }) => {
    const mainPidFile = join(scratch, 'main.pid');
    const childPidFile = join(scratch, 'child.pid');
    const never = join(scratch, 'never');
    ok(
      await daemon.cli([
        'submit', 'victim', '-type=delay', '-time=100ms',
        `-script=echo started; echo $$ > ${mainPidFile}; sleep 30 & echo $! > ${childPidFile}; wait; touch ${never}`,
      ]),
      'submit',
    );
    const pids = await waitFor('the script to write its pids', () => {
      if (!existsSync(mainPidFile) || !existsSync(childPidFile)) return undefined;
      const main = Number(readFileSync(mainPidFile, 'utf8'));
      const child = Number(readFileSync(childPidFile, 'utf8'));
      return main > 0 && child > 0 ? { main, child } : undefined;
    });
    expect(isProcessAlive(pids.child)).toBe(true);

    const killed = await daemon.cli(['kill', 'victim']);
    expect(killed).toMatchObject({ code: 0, stdout: expect.stringMatching(killedLine('victim', 'Executed')), stderr: '' });
    await waitFor(`the background sleep (pid ${pids.child}) to be gone`, () => !isProcessAlive(pids.child), { timeoutMs: 3000 });
    await waitFor(`the script's shell (pid ${pids.main}) to be gone`, () => !isProcessAlive(pids.main), { timeoutMs: 3000 });
    expect(existsSync(never)).toBe(false);

    const task = parseJson<TaskView>(ok(await daemon.cli(['get', 'victim', '--json']), 'get'));
    expect(task.status).toBe('Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'killed', stdout: 'started\n', signal: 'SIGTERM' }]);
    const runs = ok(await daemon.cli(['runs', 'victim']), 'runs');
    // RUN  SCHEDULED  ATTEMPT  STARTED  DURATION  OUTCOME  EXIT
    expect(runs.stdout).toMatch(/^1 +\S+ \S+ +1 +\S+ \S+ +\S+ +killed +SIGTERM$/m);
  });

  test('a task with no run executing: exit 6 and a message; an unknown task: exit 4', async ({ expect }) => {
    ok(await daemon.cli(['submit', 'idle', '-type=delay', '-time=1h', '-script=true']), 'submit');
    const idle = await daemon.cli(['kill', 'idle']);
    expect(idle.code).toBe(6);
    expect(idle.stderr).toMatch(/no run executing .*nothing to kill/);
    const unknown = await daemon.cli(['kill', 'nobody']);
    expect(unknown.code).toBe(4);
  });
});

describe('submit --timeout', () => {
  test('a run longer than the timeout is ended and recorded as timed_out; get shows the bound', async ({ expect }) => {
    // (A bound of seconds: the script must have begun and forked before it, on a busy machine too.)
    const childPidFile = join(scratch, 'slow-child.pid');
    ok(
      await daemon.cli(['submit', 'slow', '-type=delay', '-time=100ms', '--timeout', '2s', `-script=echo begun; sleep 30 & echo $! > ${childPidFile}; wait`]),
      'submit',
    );
    const task = await daemon.waitForStatus('slow', 'Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'timed_out', error: 'timed out after 2s', stdout: 'begun\n' }]);
    const child = Number(readFileSync(childPidFile, 'utf8'));
    await waitFor(`the background sleep (pid ${child}) to be gone`, () => !isProcessAlive(child), { timeoutMs: 3000 });
    const shown = ok(await daemon.cli(['get', 'slow']), 'get');
    expect(shown.stdout).toMatch(/^timeout: +2s per run$/m);
    expect(shown.stdout).toMatch(/run 1: timed_out/);
  });

  test('a timeout that is not a positive duration is refused (exit 2), naming the field', async ({ expect }) => {
    const refused = await daemon.cli(['submit', 'never-bounded', '-type=delay', '-time=1h', '-timeout=0s', '-script=true']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/timeout: /);
    expect(await daemon.task('never-bounded')).toBeUndefined();
  });
});

/**
 * A bash snippet that forks a family into the run's process group and then says so: a
 * background child, a grandchild orphaned at once (its parent subshell exits), and a child
 * that ignores TERM. The main shell writes its pid (the group id: each run is a process
 * group led by its shell) to `pidFile` first.
 */
function family(pidFile: string): string {
  return `echo $$ > ${pidFile}; sleep 30 & ( sleep 30 & ) ; ( trap '' TERM; exec sleep 30 ) & echo spawned`;
}

/** Waits until the script has written its pid and its family of 3 is up; returns the group id. */
async function familyUp(pidFile: string): Promise<number> {
  const pgid = await waitFor(`the script to write its pid to ${pidFile}`, () => {
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    return pid > 0 ? pid : undefined;
  });
  expect(processGroupOf(pgid)).toBe(pgid); // the run's shell leads its own group
  // The shell and its three; the orphaned grandchild's parent subshell comes and goes.
  await waitFor(`the family of group ${pgid} to be up`, () => processGroupMembers(pgid).length >= 4 || undefined, {
    describe: () => processGroupMembers(pgid),
  });
  return pgid;
}

describe.concurrent('no process of a run is left behind', () => {
  test('kill: the whole group, orphaned grandchild and TERM-ignoring child included', async ({ expect }) => {
    const pidFile = join(scratch, 'kill-family.pid');
    ok(await daemon.cli(['submit', 'kill-family', '-type=delay', '-time=100ms', `-script=${family(pidFile)}; wait`]), 'submit');
    const pgid = await familyUp(pidFile);
    expect(await daemon.cli(['kill', 'kill-family'])).toMatchObject({ code: 0, stdout: expect.stringMatching(killedLine('kill-family', 'Executed')) });
    await waitForGroupGone(pgid);
    const task = await daemon.waitForStatus('kill-family', 'Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'killed', stdout: 'spawned\n' }]);
  });

  test('timeout: the whole group', async ({ expect }) => {
    const pidFile = join(scratch, 'timeout-family.pid');
    ok(await daemon.cli(['submit', 'timeout-family', '-type=delay', '-time=100ms', '--timeout', '3s', `-script=${family(pidFile)}; wait`]), 'submit');
    const task = await daemon.waitForStatus('timeout-family', 'Executed');
    // "spawned" was written once the family was forked: it existed, and must be gone now.
    expect(task.results).toMatchObject([{ run: 1, outcome: 'timed_out', stdout: 'spawned\n' }]);
    await waitForGroupGone(Number(readFileSync(pidFile, 'utf8')));
  });

  test('delete while the run executes: the whole group, and the task is gone', async ({ expect }) => {
    const pidFile = join(scratch, 'delete-family.pid');
    ok(await daemon.cli(['submit', 'delete-family', '-type=delay', '-time=100ms', `-script=${family(pidFile)}; wait`]), 'submit');
    const pgid = await familyUp(pidFile);
    expect(await daemon.cli(['delete', 'delete-family'])).toMatchObject({ code: 0, stdout: 'deleted delete-family\n' });
    await waitForGroupGone(pgid);
    expect(await daemon.task('delete-family')).toBeUndefined();
  });

  test('the script exits on its own, leaving its family running: the run ends, and so do they', async ({ expect }) => {
    const pidFile = join(scratch, 'exit-family.pid');
    const release = gate(scratch, 'exit-family');
    ok(await daemon.cli(['submit', 'exit-family', '-type=delay', '-time=100ms', `-script=${family(pidFile)}; ${release.wait}; echo bye`]), 'submit');
    const pgid = await familyUp(pidFile);
    release.open();
    const task = await daemon.waitForStatus('exit-family', 'Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'succeeded', exitCode: 0, stdout: 'spawned\nbye\n' }]);
    await waitForGroupGone(pgid);
  });

  test('a running cron task, killed then stopped: the group is gone, the task Stopped, no later run', async ({ expect }) => {
    const pidFile = join(scratch, 'cron-kill-stop.pid');
    // Run 1 now (`scheduler run`), the scheduled one a minute later: the kill and the stop
    // land between them however slow the machine.
    ok(await daemon.cli(['submit', 'cron-kill-stop', '--every', '1m', '--script', `${family(pidFile)}; wait`]), 'submit');
    ok(await daemon.cli(['run', 'cron-kill-stop']), 'run');
    const pgid = await familyUp(pidFile);
    expect(await daemon.cli(['kill', 'cron-kill-stop'])).toMatchObject({ code: 0, stdout: expect.stringMatching(killedLine('cron-kill-stop', 'WaitForNextExecution')) });
    const stop = await daemon.cli(['stop', 'cron-kill-stop']);
    expect(stop.code, stop.stderr).toBe(0);
    await waitForGroupGone(pgid);
    const stopped = await daemon.waitForStatus('cron-kill-stop', 'Stopped');
    expect(stopped.results).toMatchObject([{ run: 1, outcome: 'killed' }]);
    expect(stopped.nextRunAt).toBeNull();
  });

  test('a running cron task, stopped (the run goes on) then killed: the group is gone, the task Stopped at once', async ({ expect }) => {
    const pidFile = join(scratch, 'cron-stop-kill.pid');
    ok(await daemon.cli(['submit', 'cron-stop-kill', '--every', '1m', '--script', `${family(pidFile)}; wait`]), 'submit');
    ok(await daemon.cli(['run', 'cron-stop-kill']), 'run');
    const pgid = await familyUp(pidFile);
    const stop = await daemon.cli(['stop', 'cron-stop-kill']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).not.toBe(''); // the warning: the run goes on
    expect(await daemon.task('cron-stop-kill')).toMatchObject({ status: 'Executing', stopRequested: true });
    expect(processGroupMembers(pgid).length).toBeGreaterThanOrEqual(4); // a stop alone does not end the run
    expect(await daemon.cli(['kill', 'cron-stop-kill'])).toMatchObject({ code: 0, stdout: expect.stringMatching(killedLine('cron-stop-kill', 'Stopped')) });
    await waitForGroupGone(pgid);
    const task = await daemon.waitForStatus('cron-stop-kill', 'Stopped');
    expect(task).toMatchObject({ stopRequested: false, results: [{ run: 1, outcome: 'killed' }] });
  });
});
