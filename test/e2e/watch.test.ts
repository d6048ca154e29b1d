/**
 * `scheduler get ID -watch=true`: prints the task, then each change as it happens, and exits
 * 0 on its own once the task is Executed or Stopped. Runs are held at gates so that the test
 * sees each state while it lasts, in order, however slow the machine.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { expectInOrder, gate, parseJson, useE2e, waitFor, type BackgroundCli, type DaemonProcess, type TaskView } from './harness.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

async function submit(id: string, flags: string[]): Promise<void> {
  const result = await daemon.cli(['submit', id, ...flags]);
  if (result.code !== 0) throw new Error(`submit ${id} exited ${result.code}: ${result.stderr}`);
}

/** Waits until the watcher has printed something matching `pattern`. */
function waitForOutput(watcher: BackgroundCli, pattern: RegExp, what: string): Promise<true> {
  return waitFor(`the watcher to print ${what}`, () => {
    if (watcher.child.exitCode !== null) throw new Error(`the watcher exited early:\n${watcher.stdout()}\n${watcher.stderr()}`);
    return pattern.test(watcher.stdout()) || undefined;
  }, { describe: () => ({ stdout: watcher.stdout(), stderr: watcher.stderr() }) });
}

// The three that take real time run side by side; the quick ones after them, one by one, so
// that a burst of CLI processes does not slow the watchers' start on a small machine.
describe.concurrent('scheduler get ID -watch=true, following a task', () => {
  test('a delay task: prints it, then each change in order, and exits 0 once it is Executed', async ({ expect }) => {
    const release = gate(scratch, 'watch-delay');
    // Due in 4s, so that the watcher surely prints it before it fires.
    await submit('watch-delay', ['-type=delay', '-time=4s', `-script=echo hello; ${release.wait}; echo bye`]);

    const watcher = daemon.startCli(['get', 'watch-delay', '-watch=true']);
    await waitForOutput(watcher, /^status: +ToBeExecuted$/m, 'the task as it is now');
    // The run is held: the watcher shows it started while it executes, before it ends.
    await waitForOutput(watcher, /run 1 started$/m, 'that run 1 started');
    expect(watcher.stdout()).not.toMatch(/-> Executed|succeeded/);
    expect(watcher.child.exitCode).toBeNull();
    release.open();

    const result = await watcher.done();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const time = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;
    expectInOrder(result.stdout, [
      /^id: +watch-delay$/m,
      /^type: +delay$/m,
      /^time: +4s$/m,
      /^script: +echo hello; .+; echo bye$/m,
      /^status: +ToBeExecuted$/m,
      new RegExp(`^last change: +${time}$`, 'm'),
      /^results: +none yet$/m,
      new RegExp(`^${time} {2}status ToBeExecuted -> Executing$`, 'm'),
      new RegExp(`^${time} {2}run 1 started$`, 'm'),
      // The run's end, then the status it leads to.
      new RegExp(`^${time} {2}run 1: succeeded, exit 0, scheduled ${time}, started ${time}, took `, 'm'),
      /^ {4}stdout:\n {6}hello\n {6}bye$/m,
      new RegExp(`^${time} {2}status Executing -> Executed$`, 'm'),
      /^task watch-delay is Executed; nothing more will happen\n$/m,
    ]);
    // Each change is printed once.
    expect(result.stdout.match(/status Executing -> Executed/g)).toHaveLength(1);
  });

  test('a cron task with --watch: prints each run as it ends, and exits 0 once it is stopped', async ({ expect }) => {
    await submit('watch-cron', ['--type', 'cron', '--time', '700ms', '--script', 'echo tick $SCHEDULER_RUN']);
    const watcher = daemon.startCli(['get', 'watch-cron', '--watch']);
    const change = String.raw`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}`;
    const finishedRun = new RegExp(`${change}run (\\d+): succeeded, exit 0.*\n {4}stdout:\n {6}tick (\\d+)$`, 'gm');
    // Two runs that ended after the watcher printed the task (it may start late on a busy machine).
    await waitFor('the watcher to print the end of two runs', () => {
      if (watcher.child.exitCode !== null) throw new Error(`the watcher exited early:\n${watcher.stdout()}`);
      return [...watcher.stdout().matchAll(finishedRun)].length >= 2 || undefined;
    }, { describe: () => watcher.stdout() });
    expect(watcher.child.exitCode).toBeNull(); // a cron task goes on: the watcher too

    const stop = await daemon.cli(['stop', 'watch-cron']);
    expect(stop.code, stop.stderr).toBe(0);
    const result = await watcher.done();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');

    const initial = expectInOrder(result.stdout, [/^id: +watch-cron$/m, /^status: +\w+$/m, /^results: +.*$/m]);
    const runs = [...result.stdout.slice(initial).matchAll(finishedRun)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    // Each run printed once, in order, with its own output.
    for (const [index, [run, tick]] of runs.entries()) {
      expect(tick).toBe(run);
      if (index > 0) expect(run).toBe(runs[index - 1]![0]! + 1);
    }
    expectInOrder(result.stdout.slice(initial), [
      new RegExp(`${change}run ${runs[0]![0]}: succeeded`, 'm'),
      new RegExp(`${change}run ${runs[1]![0]}: succeeded`, 'm'),
      new RegExp(`${change}status (WaitForNextExecution|Executing) -> Stopped$`, 'm'),
      /^task watch-cron is Stopped; nothing more will happen\n$/m,
    ]);
    const task = await daemon.waitForStatus('watch-cron', 'Stopped');
    expect(task.results.at(-1)!.outcome).toBe('succeeded');
    expect(result.stdout).toContain(`run ${task.results.at(-1)!.run}: succeeded`);
  });

  test('--watch --json prints one JSON task per change, versions rising, until Executed', async ({ expect }) => {
    const release = gate(scratch, 'watch-json');
    await submit('watch-json', ['-type=delay', '-time=1s', `-script=${release.wait}; echo 42`]);
    const watcher = daemon.startCli(['get', 'watch-json', '--watch', '--json']);
    await waitForOutput(watcher, /"status":"Executing"/, 'the task Executing');
    release.open();
    const result = await watcher.done();
    expect(result.code, result.stderr).toBe(0);

    const lines = result.stdout.trimEnd().split('\n');
    const tasks = lines.map((line) => JSON.parse(line) as TaskView);
    // The first line is the task when the watcher started (ToBeExecuted unless the machine
    // was slow to start it); then Executing, held at the gate, then Executed.
    const statuses = tasks.map((task) => task.status);
    expect([['ToBeExecuted', 'Executing', 'Executed'], ['Executing', 'Executed']]).toContainEqual(statuses);
    const versions = tasks.map((task) => task.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(tasks.at(-1)!.results).toMatchObject([{ outcome: 'succeeded', stdout: '42\n' }]);
  });

});

describe('scheduler get ID -watch=true, other cases', () => {
  test('a task that is already final: prints it and exits 0 at once', async () => {
    await submit('watch-final', ['-type=delay', '-time=1h', '-script=true']);
    expect((await daemon.cli(['stop', 'watch-final'])).code).toBe(0);
    const result = await daemon.cli(['get', 'watch-final', '-watch=true']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^status: +Stopped$/m);
    expect(result.stdout).toMatch(/task watch-final is Stopped; nothing more will happen\n$/);
  });

  test('-watch=false prints the task once and exits, final or not', async () => {
    await submit('watch-false', ['-type=delay', '-time=1h', '-script=true']);
    const result = await daemon.cli(['get', 'watch-false', '-watch=false']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^status: +ToBeExecuted$/m);
    expect(result.stdout).not.toContain('nothing more will happen');
    const json = parseJson<TaskView>(await daemon.cli(['get', 'watch-false', '-watch=false', '--json']));
    expect(json.status).toBe('ToBeExecuted');
  });

  test('-watch=maybe is a usage error (exit 2)', async () => {
    const result = await daemon.cli(['get', 'anything', '-watch=maybe']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/"maybe" is not true or false/);
  });

  test('a task deleted while watched: the watcher fails with exit 4 and says so', async () => {
    await submit('watch-deleted', ['-type=delay', '-time=1h', '-script=true']);
    const watcher = daemon.startCli(['get', 'watch-deleted', '--watch']);
    await waitForOutput(watcher, /^results: +none yet$/m, 'the task');
    const deleted = await daemon.cli(['delete', 'watch-deleted']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const result = await watcher.done();
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^scheduler: task "watch-deleted" was deleted/);
  });

  test('watching an unknown task fails with exit 4', async () => {
    const result = await daemon.cli(['get', 'no-such-task', '-watch=true']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scheduler: no task with id "no-such-task"/);
  });
});
