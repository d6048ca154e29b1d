/**
 * scheduler kill ID, and submit --timeout: a run in progress ends with its whole process
 * group, recorded as killed or timed_out; the task goes on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, test } from 'vitest';
import { isProcessAlive, ok, parseJson, useE2e, waitFor, type DaemonProcess, type TaskView } from './harness.js';

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
    expect(killed).toMatchObject({ code: 0, stdout: 'killed run 1 of victim; status Executed\n', stderr: '' });
    await waitFor(`the background sleep (pid ${pids.child}) to be gone`, () => !isProcessAlive(pids.child), { timeoutMs: 3000 });
    await waitFor(`the script's shell (pid ${pids.main}) to be gone`, () => !isProcessAlive(pids.main), { timeoutMs: 3000 });
    expect(existsSync(never)).toBe(false);

    const task = parseJson<TaskView>(ok(await daemon.cli(['get', 'victim', '--json']), 'get'));
    expect(task.status).toBe('Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'killed', stdout: 'started\n', signal: 'SIGTERM' }]);
    const runs = ok(await daemon.cli(['runs', 'victim']), 'runs');
    expect(runs.stdout).toMatch(/^1 +\S+ \S+ +\S+ \S+ +\S+ +killed +SIGTERM$/m);
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
    const childPidFile = join(scratch, 'slow-child.pid');
    ok(
      await daemon.cli(['submit', 'slow', '-type=delay', '-time=100ms', '--timeout', '300ms', `-script=echo begun; sleep 30 & echo $! > ${childPidFile}; wait`]),
      'submit',
    );
    const task = await daemon.waitForStatus('slow', 'Executed');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'timed_out', error: 'timed out after 300ms', stdout: 'begun\n' }]);
    const child = Number(readFileSync(childPidFile, 'utf8'));
    await waitFor(`the background sleep (pid ${child}) to be gone`, () => !isProcessAlive(child), { timeoutMs: 3000 });
    const shown = ok(await daemon.cli(['get', 'slow']), 'get');
    expect(shown.stdout).toMatch(/^timeout: +300ms per run$/m);
    expect(shown.stdout).toMatch(/run 1: timed_out/);
  });

  test('a timeout that is not a positive duration is refused (exit 2), naming the field', async ({ expect }) => {
    const refused = await daemon.cli(['submit', 'never-bounded', '-type=delay', '-time=1h', '-timeout=0s', '-script=true']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/timeout: /);
    expect(await daemon.task('never-bounded')).toBeUndefined();
  });
});
