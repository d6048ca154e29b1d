/**
 * Every stop rule of the spec, through `scheduler stop` against a real daemon running real
 * scripts. Each test uses its own task on one shared daemon, and they run side by side.
 *
 * That something did NOT happen (a stopped task never ran, no later run) is shown without
 * sleeping: a sentinel task due after the moment in question is waited for, and the daemon
 * fires tasks in due order (see DaemonProcess.waitUntilSchedulerPassed). That a stop lands
 * while a run executes is made certain by gates: the script waits until the test lets it go.
 * A stop "before the first run" needs the CLI to answer before the due time, so those tasks
 * are due a few seconds out, enough for a loaded 2-core machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, test } from 'vitest';
import { parseJson, type CliResult } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { ms, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

function show(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

describe.concurrent('scheduler stop', () => {
  describe('a delay task', () => {
    test('stopped before it starts: it never runs; final status Stopped', async ({ expect }) => {
      const marker = join(scratch, 'delay-before-ran');
      // Due far enough ahead that the stop comes first even when a busy machine takes seconds to start the CLI.
      const submitted = await daemon.submit('delay-before', ['-type=delay', '-time=15s', `-script=touch ${marker}`]);

      const stop = await daemon.cli(['stop', 'delay-before']);
      expect(stop.code, show(stop)).toBe(0);
      expect(stop.stdout).toBe('stopped delay-before: status Stopped\n');
      expect(stop.stderr).toBe('');

      // Past the moment it was due: still Stopped, no result, the script never ran.
      await daemon.waitUntilSchedulerPassed(ms(submitted.nextRunAt) + 100);
      const task = await daemon.existingTask('delay-before');
      expect(task.status).toBe('Stopped');
      expect(task.results).toEqual([]);
      expect(task.nextRunAt).toBeNull();
      expect(existsSync(marker)).toBe(false);
      const list = await daemon.cli(['list', '--status', 'Stopped']);
      expect(list.stdout).toMatch(/^delay-before +delay +15s +Stopped /m);
    }, 60_000);

    test('stopped once it has started: the stop fails; the run goes on; final status Executed', async ({ expect }) => {
      const release = gate(scratch, 'delay-running');
      await daemon.submit('delay-running', ['-type=delay', '-time=200ms', `-script=echo begin; ${release.wait}; echo end`]);
      await daemon.waitForStatus('delay-running', 'Executing');

      const stop = await daemon.cli(['stop', 'delay-running']);
      expect(stop.code, show(stop)).not.toBe(0);
      expect(stop.code).toBe(6);
      expect(stop.stdout).toBe('');
      expect(stop.stderr).toMatch(/^scheduler: cannot stop delay task delay-running: its run has already started/);

      // The run was not touched: it is still executing, then it finishes normally.
      const during = await daemon.existingTask('delay-running');
      expect(during.status).toBe('Executing');
      expect(during.results.map((run) => run.outcome)).toEqual(['running']);

      release.open();
      const task = await daemon.waitForStatus('delay-running', 'Executed');
      expect(task.results).toHaveLength(1);
      expect(task.results[0]).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: 'begin\nend\n' });
    });

    test('stopped after it finished: the stop fails; it stays Executed', async ({ expect }) => {
      await daemon.submit('delay-done', ['-type=delay', '-time=100ms', '-script=echo done']);
      const before = await daemon.waitForStatus('delay-done', 'Executed');

      const stop = await daemon.cli(['stop', 'delay-done']);
      expect(stop.code, show(stop)).toBe(6);
      expect(stop.stdout).toBe('');
      expect(stop.stderr).toMatch(/^scheduler: cannot stop delay task delay-done: it has already executed/);

      const after = await daemon.existingTask('delay-done');
      expect(after.status).toBe('Executed');
      expect(after.version).toBe(before.version);
      expect(after.lastStatusUpdated).toBe(before.lastStatusUpdated);
      expect(after.results).toEqual(before.results);
      expect(after.results[0]).toMatchObject({ outcome: 'succeeded', stdout: 'done\n' });
    });
  });

  describe('a cron task', () => {
    test('stopped before its first run: it never runs; final status Stopped', async ({ expect }) => {
      const marker = join(scratch, 'cron-before-ran');
      // Due far enough ahead that the stop comes first even when a busy machine takes seconds to start the CLI.
      const submitted = await daemon.submit('cron-before', ['--type', 'cron', '--time', '15s', '--script', `touch ${marker}`]);

      const stop = await daemon.cli(['stop', 'cron-before']);
      expect(stop.code, show(stop)).toBe(0);
      expect(stop.stdout).toBe('stopped cron-before: status Stopped\n');
      expect(stop.stderr).toBe('');

      await daemon.waitUntilSchedulerPassed(ms(submitted.nextRunAt) + 100);
      const task = await daemon.existingTask('cron-before');
      expect(task.status).toBe('Stopped');
      expect(task.results).toEqual([]);
      expect(task.nextRunAt).toBeNull();
      expect(existsSync(marker)).toBe(false);
    }, 60_000);

    test('stopped while a run executes: exit 0 with a warning; the run completes and is kept; no later run; Stopped', async ({ expect }) => {
      const release = gate(scratch, 'cron-running');
      const submitted = await daemon.submit('cron-running', ['-type=cron', '-time=1s', `-script=echo tick; ${release.wait}; echo tock`]);
      await daemon.waitForStatus('cron-running', 'Executing');

      const stop = await daemon.cli(['stop', 'cron-running', '--json']);
      expect(stop.code, show(stop)).toBe(0);
      expect(stop.stderr).toMatch(/^warning: run 1 is still executing and will finish; no later run will happen, then the task ends Stopped\n$/);
      const answer = parseJson<TaskView>(stop);
      expect(answer).toMatchObject({ status: 'Executing', stopRequested: true, nextRunAt: null });
      expect(answer.warning).toMatch(/^run 1 is still executing/);
      const stoppedAt = Date.now();

      // The run goes on, with the stop recorded; a second stop says the same.
      const human = await daemon.cli(['get', 'cron-running']);
      expect(human.stdout).toMatch(/^status: +Executing \(stop requested/m);
      const again = await daemon.cli(['stop', 'cron-running']);
      expect(again.code, show(again)).toBe(0);
      expect(again.stderr).toMatch(/^warning: run 1 is still executing/);
      expect(again.stdout).toBe('stopped cron-running: status Executing (the current run goes on, no later run)\n');

      release.open();
      const stopped = await daemon.waitForStatus('cron-running', 'Stopped');
      expect(stopped.stopRequested).toBe(false);
      expect(stopped.nextRunAt).toBeNull();
      // Run 1 completed with its whole output. Ticks that came while it ran (before the
      // stop) are recorded as skipped; none was skipped or run after the stop.
      expect(stopped.results[0]).toMatchObject({ run: 1, outcome: 'succeeded', exitCode: 0, stdout: 'tick\ntock\n' });
      for (const run of stopped.results.slice(1)) {
        expect(run.outcome).toBe('skipped');
        expect(ms(run.scheduledAt)).toBeLessThanOrEqual(stoppedAt);
      }

      // Past the next tick after the run ended: nothing more ran.
      await daemon.waitUntilSchedulerPassed(ms(stopped.lastStatusUpdated) + 1000 + 100);
      const task = await daemon.existingTask('cron-running');
      expect(task.status).toBe('Stopped');
      expect(task.results).toEqual(stopped.results);
      expect(ms(task.createdAt)).toBe(ms(submitted.createdAt));
    });

    test('stopped between two runs: the next run is skipped; final status Stopped', async ({ expect }) => {
      // The stop must land between runs. On a busy machine a CLI can take long enough to land
      // during a later run instead (a stop of a run that executes, tested above): the task
      // then ends Stopped that way, and the test tries again with a new one, up to three times.
      for (let attempt = 1; ; attempt++) {
        const id = `cron-between-${attempt}`;
        await daemon.submit(id, ['-type=cron', '-time=2500ms', '-script=echo tick']);
        const waiting = await daemon.waitForTask(id, 'run 1 done, waiting for the next', (task) =>
          task.status === 'WaitForNextExecution' && task.results.length === 1,
        );
        expect(waiting.results[0]).toMatchObject({ outcome: 'succeeded', stdout: 'tick\n' });

        const stop = await daemon.cli(['stop', id]);
        expect(stop.code, show(stop)).toBe(0);
        if (attempt < 3 && stop.stdout === `stopped ${id}: status Executing (the current run goes on, no later run)\n`) {
          await daemon.waitForStatus(id, 'Stopped');
          continue;
        }
        expect(stop.stdout).toBe(`stopped ${id}: status Stopped\n`);
        expect(stop.stderr).toBe('');
        // Stopped is final: what it holds now is all it will ever hold. (On a slow machine the
        // stop may come after a second run rather than the first: the rule is the same between
        // any two runs.)
        const atStop = await daemon.existingTask(id);
        expect(atStop.results[0]).toEqual(waiting.results[0]);
        for (const run of atStop.results) expect(run.outcome).toBe('succeeded');

        // Past the tick after the last run: no other run, still Stopped.
        const lastTick = ms(atStop.results.at(-1)!.scheduledAt);
        await daemon.waitUntilSchedulerPassed(lastTick + 2500 + 100);
        const task = await daemon.existingTask(id);
        expect(task.status).toBe('Stopped');
        expect(task.nextRunAt).toBeNull();
        expect(task.results).toEqual(atStop.results);
        return;
      }
    });
  });

  test('stops racing with the start of runs land on exactly one outcome each, never a mix', async ({ expect }) => {
    // Five delay tasks due at the same moment, each stopped a little earlier or later than
    // the one before, around that moment. Which stops win is up to timing; what each task
    // ends as must match what its stop answered.
    const ids = [0, 1, 2, 3, 4].map((i) => `race-${i}`);
    const markers = ids.map((id) => join(scratch, `${id}.ran`));
    const dueIn = 2000;
    const submittedAt = Date.now();
    await Promise.all(ids.map((id, i) =>
      daemon.api('POST', '/api/tasks', { id, type: 'delay', time: `${dueIn}ms`, script: `echo ran >> ${markers[i]}` }),
    ));
    const due = Math.max(...(await Promise.all(ids.map(async (id) => ms((await daemon.existingTask(id)).nextRunAt)))));
    const stops = await Promise.all(ids.map(async (id, i) => {
      // Launched from 700ms to 100ms before the due time: a CLI takes a few hundred ms to
      // start and ask, so the stops reach the daemon on both sides of the due time.
      const at = due - 700 + i * 150;
      await waitFor(`the moment to stop ${id}`, () => Date.now() >= at, { timeoutMs: dueIn + 5000, intervalMs: 10 });
      return daemon.cli(['stop', id]);
    }));
    await daemon.waitUntilSchedulerPassed(due + 100);
    for (const [i, id] of ids.entries()) {
      const stop = stops[i]!;
      if (stop.code === 0) {
        expect(stop.stdout, `${id}: ${show(stop)}`).toBe(`stopped ${id}: status Stopped\n`);
        const task = await daemon.existingTask(id);
        expect(task.status, id).toBe('Stopped');
        expect(task.results, id).toEqual([]);
        expect(existsSync(markers[i]!), `${id} ran after a successful stop`).toBe(false);
      } else {
        expect(stop.code, `${id}: ${show(stop)}`).toBe(6);
        expect(stop.stderr).toMatch(/cannot stop delay task/);
        const task = await daemon.waitForStatus(id, 'Executed');
        expect(task.results.map((run) => run.outcome), id).toEqual(['succeeded']);
        expect(readFileSync(markers[i]!, 'utf8'), id).toBe('ran\n');
      }
    }
    expect(Date.now() - submittedAt).toBeGreaterThan(dueIn);
  });

  test('stopping a task that is already Stopped changes nothing', async ({ expect }) => {
    await daemon.submit('stop-twice', ['-type=delay', '-time=1h', '-script=true']);
    expect((await daemon.cli(['stop', 'stop-twice'])).code).toBe(0);
    const before = await daemon.existingTask('stop-twice');
    const again = await daemon.cli(['stop', 'stop-twice']);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toBe('stopped stop-twice: status Stopped\n');
    const after = await daemon.existingTask('stop-twice');
    expect(after.version).toBe(before.version);
    expect(after.status).toBe('Stopped');
  });
});
