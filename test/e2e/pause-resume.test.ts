/**
 * `scheduler pause`, `resume` and `run` against a real daemon running real scripts. Each
 * test uses its own task on one shared daemon (the restart test has its own daemon).
 *
 * That a paused task did NOT run is shown without sleeping: the daemon fires tasks in due
 * order, so once a sentinel task due after several of the paused task's fire times has run
 * (DaemonProcess.waitUntilSchedulerPassed), those fire times have passed in the scheduler
 * too. "While a run executes" is held by gates: the script waits until the test opens it.
 */
import { beforeAll, describe, test } from 'vitest';
import { parseJson, type CliResult } from '../support/cli.js';
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

/** A task as the API shows it, with the field this feature adds. */
type PausableView = TaskView & { pauseRequested: boolean };

async function submit(id: string, flags: string[], on: DaemonProcess = daemon): Promise<PausableView> {
  const result = await on.cli(['submit', id, ...flags, '--json']);
  if (result.code !== 0) throw new Error(`submit ${id} exited ${result.code}: ${result.stderr}`);
  return parseJson<PausableView>(result);
}

function show(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** The highest run number in the task's results (0 before any). */
function lastRun(task: TaskView): number {
  return Math.max(0, ...task.results.map((run) => run.run));
}

/** Fire times of an interval task lie on its grid: createdAt + k * every. */
function onGrid(task: TaskView, at: string, everyMs: number): boolean {
  return (ms(at) - ms(task.createdAt)) % everyMs === 0;
}

describe.concurrent('scheduler pause, resume and run', () => {
  test('a paused 300ms cron task does not run; resumed, it runs once for the missed fires, then on its grid', async ({ expect }) => {
    const every = 300;
    await submit('tick', ['--type', 'cron', '--time', `${every}ms`, '--script', 'echo tick']);
    await daemon.waitForTask('tick', 'two runs done', (task) => task.results.filter((run) => run.outcome === 'succeeded').length >= 2);

    const pause = await daemon.cli(['pause', 'tick']);
    expect(pause.code, show(pause)).toBe(0);
    // The pause may land between two runs (at once) or during one (it finishes first).
    if (pause.stderr === '') expect(pause.stdout).toBe('paused tick\n');
    else {
      expect(pause.stderr).toMatch(/^warning: run \d+ is still executing and will finish; then the task is Paused\n$/);
      expect(pause.stdout).toBe('pausing tick: the current run goes on, then it is Paused\n');
    }
    const paused = await daemon.waitForStatus('tick', 'Paused');
    expect(paused.nextRunAt).toBeNull();
    expect((paused as PausableView).pauseRequested).toBe(false);
    expect(paused.results.every((run) => run.outcome !== 'running')).toBe(true);

    // Past five more fire times: nothing ran, nothing changed.
    await daemon.waitUntilSchedulerPassed(ms(paused.lastStatusUpdated) + 5 * every + 100);
    const still = await daemon.existingTask<PausableView>('tick');
    expect(still.status).toBe('Paused');
    expect(still.version).toBe(paused.version);
    expect(still.results).toEqual(paused.results);
    const next = await daemon.cli(['next', 'tick', '--json']);
    expect(next.code, show(next)).toBe(0);
    expect(parseJson(next)).toEqual({ id: 'tick', status: 'Paused', nextRuns: [] });
    const list = await daemon.cli(['list', '--status', 'Paused']);
    expect(list.stdout).toMatch(/^tick +cron +300ms +Paused /m);

    const resume = await daemon.cli(['resume', 'tick', '--json']);
    expect(resume.code, show(resume)).toBe(0);
    expect(resume.stderr).toBe('');
    const resumed = parseJson<PausableView>(resume);
    // Fires were missed while paused: the next one is due at once, at the resume.
    expect(resumed).toMatchObject({ status: 'WaitForNextExecution', nextRunAt: resumed.lastStatusUpdated, pauseRequested: false });
    const last = lastRun(paused);
    const after = await daemon.waitForTask('tick', 'two runs after the resume', (task) =>
      task.results.filter((run) => run.run > last && run.outcome !== 'running').length >= 2,
    );
    const newRuns = after.results.filter((run) => run.run > last);
    // The first new run is the catch-up, at the resume; the fires missed before it were not replayed.
    expect(newRuns[0]).toMatchObject({ run: last + 1, scheduledAt: resumed.nextRunAt });
    // Then back on the grid anchored at submission.
    for (const run of newRuns.slice(1)) expect(onGrid(after, run.scheduledAt, every), `run ${run.run} at ${run.scheduledAt}`).toBe(true);
    expect(newRuns.some((run) => run.outcome === 'succeeded')).toBe(true);

    expect((await daemon.cli(['stop', 'tick'])).code).toBe(0);
  });

  test('scheduler run on a paused task runs it once, and it stays Paused', async ({ expect }) => {
    const every = 300;
    await submit('held', ['--type', 'cron', '--time', `${every}ms`, '--script', 'echo once']);
    expect((await daemon.cli(['pause', 'held'])).code).toBe(0);
    const paused = await daemon.waitForStatus('held', 'Paused');
    const before = lastRun(paused);

    const run = await daemon.cli(['run', 'held', '--json']);
    expect(run.code, show(run)).toBe(0);
    expect(run.stderr).toBe('');
    const answer = parseJson<PausableView>(run);
    expect(answer).toMatchObject({ status: 'Executing', pauseRequested: true, nextRunAt: null });
    expect(answer.results.at(-1)).toMatchObject({ run: before + 1, outcome: 'running' });

    const again = await daemon.waitForTask('held', 'Paused after the run', (task) =>
      task.status === 'Paused' && task.results.some((r) => r.run === before + 1 && r.outcome !== 'running'),
    );
    expect(again.results.at(-1)).toMatchObject({ run: before + 1, outcome: 'succeeded', stdout: 'once\n' });
    expect(again.nextRunAt).toBeNull();

    // Past five fire times: still Paused, that one run and no other.
    await daemon.waitUntilSchedulerPassed(ms(again.lastStatusUpdated) + 5 * every + 100);
    const still = await daemon.existingTask<PausableView>('held');
    expect(still.status).toBe('Paused');
    expect(still.results).toEqual(again.results);

    const human = await daemon.cli(['run', 'held']);
    expect(human.code, show(human)).toBe(0);
    expect(human.stdout).toBe(`held: run ${before + 2} started\n`);
    await daemon.waitForTask('held', 'Paused after the second run', (task) =>
      task.status === 'Paused' && task.results.some((r) => r.run === before + 2 && r.outcome === 'succeeded'),
    );
    expect((await daemon.cli(['stop', 'held'])).code).toBe(0);
  });

  test('scheduler run on a waiting task starts a run now and keeps the next fire', async ({ expect }) => {
    const submitted = await submit('soon', ['--type', 'cron', '--time', '1h', '--script', 'echo now']);
    const run = await daemon.cli(['run', 'soon']);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toBe('soon: run 1 started\n');
    expect(run.stderr).toBe('');
    const done = await daemon.waitForStatus('soon', 'WaitForNextExecution');
    expect(done.nextRunAt).toBe(submitted.nextRunAt);
    expect(done.results).toEqual([expect.objectContaining({ run: 1, outcome: 'succeeded', stdout: 'now\n' })]);
  });

  test('scheduler run while a run executes: exit 0, the skip on stderr; pause and resume during the run', async ({ expect }) => {
    const release = gate(scratch, 'busy');
    const submitted = await submit('busy', ['--type', 'cron', '--time', '1h', '--script', `echo go; ${release.wait}; echo done`]);
    expect((await daemon.cli(['run', 'busy'])).code).toBe(0);
    await daemon.waitForStatus('busy', 'Executing');

    const skipped = await daemon.cli(['run', 'busy']);
    expect(skipped.code, show(skipped)).toBe(0);
    expect(skipped.stderr).toBe('warning: run 2 skipped: run 1 is still executing\n');
    expect(skipped.stdout).toBe('busy: run 2 skipped (a run was asked for while run 1 was executing)\n');

    const pause = await daemon.cli(['pause', 'busy']);
    expect(pause.code, show(pause)).toBe(0);
    expect(pause.stderr).toBe('warning: run 1 is still executing and will finish; then the task is Paused\n');
    expect(pause.stdout).toBe('pausing busy: the current run goes on, then it is Paused\n');
    expect(await daemon.existingTask<PausableView>('busy')).toMatchObject({ status: 'Executing', pauseRequested: true, nextRunAt: null });

    const resume = await daemon.cli(['resume', 'busy', '--json']);
    expect(resume.code, show(resume)).toBe(0);
    expect(parseJson<PausableView>(resume)).toMatchObject({ status: 'Executing', pauseRequested: false, nextRunAt: submitted.nextRunAt });

    release.open();
    const waiting = await daemon.waitForStatus('busy', 'WaitForNextExecution');
    expect(waiting.results.map((run) => [run.run, run.outcome])).toEqual([[1, 'succeeded'], [2, 'skipped']]);
    expect(waiting.results[0]!.stdout).toBe('go\ndone\n');
    expect(waiting.nextRunAt).toBe(submitted.nextRunAt);
  });

  test('errors: exit 6 for what the status does not allow, 4 for no such task; nothing changes', async ({ expect }) => {
    const once = await submit('once', ['--type', 'delay', '--time', '1h', '--script', 'true']);
    const refused = await daemon.cli(['pause', 'once']);
    expect(refused.code, show(refused)).toBe(6);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe('scheduler: cannot pause delay task once: it runs once; stop it instead\n');
    expect((await daemon.existingTask<PausableView>('once')).version).toBe(once.version);

    expect((await daemon.cli(['stop', 'once'])).code).toBe(0);
    for (const action of ['pause', 'resume', 'run']) {
      const result = await daemon.cli([action, 'once']);
      expect(result.code, `${action}: ${show(result)}`).toBe(6);
      expect(result.stderr).toBe(`scheduler: cannot ${action} task once: it is Stopped, and nothing more happens to it\n`);
      const missing = await daemon.cli([action, 'no-such-task', '--json']);
      expect(missing.code, `${action}: ${show(missing)}`).toBe(4);
      expect(missing.stdout).toBe('');
      expect(missing.stderr).toMatch(/^scheduler: no task with id "no-such-task"/);
    }
    expect((await daemon.existingTask<PausableView>('once')).status).toBe('Stopped');
  });
});

describe('pause across a daemon restart', () => {
  test('a Paused task stays Paused; a run paused while executing and cut by kill -9 ends Paused', async ({ expect }) => {
    const first = await e2e.startDaemon();
    const release = gate(scratch, 'restart-busy');
    await submit('idle', ['--type', 'cron', '--time', '300ms', '--script', 'true'], first);
    await submit('cut', ['--type', 'cron', '--time', '1h', '--script', `${release.wait}`], first);
    expect((await first.cli(['pause', 'idle'])).code).toBe(0);
    await first.waitForStatus('idle', 'Paused');
    expect((await first.cli(['run', 'cut'])).code).toBe(0);
    await first.waitForStatus('cut', 'Executing');
    const pause = await first.cli(['pause', 'cut']);
    expect(pause.code, show(pause)).toBe(0);
    expect(await first.existingTask<PausableView>('cut')).toMatchObject({ status: 'Executing', pauseRequested: true });

    await first.kill();
    const second = await e2e.restart(first);
    const cut = await second.waitForStatus('cut', 'Paused');
    expect(cut.results.map((run) => [run.run, run.outcome])).toEqual([[1, 'interrupted']]);
    expect(cut.nextRunAt).toBeNull();
    const idle = await second.existingTask<PausableView>('idle');
    expect(idle.status).toBe('Paused');

    // Past five of its fire times on the new daemon: still Paused, still not run.
    await second.waitUntilSchedulerPassed(Date.now() + 5 * 300);
    expect(await second.existingTask<PausableView>('idle')).toMatchObject({ status: 'Paused', results: idle.results, version: idle.version });

    // And it resumes on the new daemon.
    expect((await second.cli(['resume', 'idle'])).code).toBe(0);
    await second.waitForTask('idle', 'a run after the resume', (task) => task.results.some((run) => run.outcome === 'succeeded'));
    release.open();
  });
});
