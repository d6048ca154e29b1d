/**
 * The overlap rule `allow` in the engine: fires during a run start more runs beside it (the
 * runner sees several processes of one task at once), up to maxParallel; each run's end is
 * recorded with its own outcome; `kill` ends every run of the task; a shutdown and a crash
 * record each of them interrupted, and the task goes on. Driven by a fake clock and a fake
 * runner over a real SQLite store (see engine-harness.ts: nothing sleeps, time moves only
 * when a test moves it, and each step waits for a condition that proves the engine has done
 * its work).
 */
import { describe, expect, it } from 'vitest';
import type { Task, TaskState } from '../../src/core/task.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner, output } from '../support/fake-runner.js';
import { MIN, SEC, T0, finish, quietUntil, runsOf, stepTo, taskOf, useEngineHarness, wakeAt, type Harness } from './engine-harness.js';
import { until } from '../support/wait.js';

const { harness, tempDbPath } = useEngineHarness('errors');

const limitReason = (max: number) => `${max} runs were executing, the most it allows at once`;

/** The runs of `id` the runner started, as [run, startedAt - T0]. */
function started(h: Harness, id: string): Array<[number, number]> {
  return h.runner.runsOf(id).map((run) => [run.run, run.startedAt - T0]);
}

/** The runs of `id` the runner started that have not ended, by run number. */
function inProgress(h: Harness, id: string): number[] {
  return h.runner.runsOf(id).filter((run) => !run.settled).map((run) => run.run);
}

/** The runs of `id` in the store, as [run, outcome, scheduledAt - T0, attempt]. */
async function records(h: Harness, id: string): Promise<Array<[number, string, number, number]>> {
  return (await runsOf(h, id)).map((r) => [r.run, r.outcome, r.scheduledAt - T0, r.attempt]);
}

/** The runner's run `run` of `id`. */
function runOf(h: Harness, id: string, run: number) {
  const found = h.runner.runsOf(id).find((r) => r.run === run);
  if (!found) throw new Error(`run ${run} of ${id} was not started`);
  return found;
}

function executingState(task: Task): Extract<TaskState, { status: 'Executing' }> {
  expect(task.state.status).toBe('Executing');
  return task.state as Extract<TaskState, { status: 'Executing' }>;
}

/**
 * Submits a cron task every 10s with overlap allow (at most `max` at once) whose runs never
 * end on their own, and fires it at +10s, +20s, +30s: three runs in progress at once.
 */
async function threeRunning(h: Harness, id: string, max = 3): Promise<void> {
  await h.engine.submit({ id, type: 'cron', time: '10s', overlap: 'allow', maxParallel: max, script: 'sleep 100' });
  expect((await taskOf(h, id)).policy).toMatchObject({ overlap: 'allow', maxParallel: max });
  for (const k of [1, 2, 3]) {
    await wakeAt(h, T0 + k * 10 * SEC);
    expect(inProgress(h, id), `after the fire at +${k * 10}s`).toEqual([1, 2, 3].slice(0, k));
  }
  expect(started(h, id)).toEqual([
    [1, 10 * SEC],
    [2, 20 * SEC],
    [3, 30 * SEC],
  ]);
  expect((await taskOf(h, id)).state).toStrictEqual({
    status: 'Executing',
    run: 1,
    nextRunAt: T0 + 40 * SEC,
    stopRequested: false,
    fire: T0 + 10 * SEC,
    attempt: 1,
    parallel: [
      { run: 2, fire: T0 + 20 * SEC },
      { run: 3, fire: T0 + 30 * SEC },
    ],
  });
}

describe('Engine: overlap rule allow', () => {
  it('fires during a run start runs beside it, up to maxParallel; then fires are skipped; each end is recorded with its own outcome', async () => {
    const h = await harness();
    await threeRunning(h, 'fan');
    expect(h.engine.runsInProgress).toBe(3);
    expect(await records(h, 'fan')).toEqual([
      [1, 'running', 10 * SEC, 1],
      [2, 'running', 20 * SEC, 1],
      [3, 'running', 30 * SEC, 1],
    ]);
    // Each run started when its fire came, not when an earlier one ended.
    expect((await runsOf(h, 'fan')).map((r) => r.startedAt! - T0)).toEqual([10 * SEC, 20 * SEC, 30 * SEC]);

    // +40s: three at once already: the fire is recorded skipped; no process is started.
    await wakeAt(h, T0 + 40 * SEC);
    expect(h.runner.runsOf('fan')).toHaveLength(3);
    expect(h.engine.runsInProgress).toBe(3);
    expect((await runsOf(h, 'fan'))[3]).toMatchObject({ run: 4, outcome: 'skipped', scheduledAt: T0 + 40 * SEC, startedAt: null, finishedAt: T0 + 40 * SEC, error: limitReason(3) });
    expect(executingState(await taskOf(h, 'fan')).nextRunAt).toBe(T0 + 50 * SEC);

    // Each run's output is its own, live, by run number (the first run in progress by default).
    runOf(h, 'fan', 1).write('stdout', 'one\n');
    runOf(h, 'fan', 2).write('stdout', 'two\n');
    runOf(h, 'fan', 3).write('stderr', 'three\n');
    expect(h.engine.liveOutput('fan', 2)).toMatchObject({ run: 2, stdout: { text: 'two\n' }, stderr: { text: '' } });
    expect(h.engine.liveOutput('fan', 3)).toMatchObject({ run: 3, stdout: { text: '' }, stderr: { text: 'three\n' } });
    expect(h.engine.liveOutput('fan')).toMatchObject({ run: 1, stdout: { text: 'one\n' } });
    expect(h.engine.liveOutput('fan', 4)).toBeUndefined();

    // They end in another order than they started, each its own way.
    h.clock.advance(SEC);
    await finish(h, runOf(h, 'fan', 2), { outcome: 'failed', exitCode: 3 });
    expect(executingState(await taskOf(h, 'fan'))).toMatchObject({ run: 1, parallel: [{ run: 3, fire: T0 + 30 * SEC }] });
    expect(h.engine.runsInProgress).toBe(2);
    expect(h.engine.liveOutput('fan', 2)).toBeUndefined();
    h.clock.advance(SEC);
    await finish(h, runOf(h, 'fan', 1));
    // The oldest run left is the task's run now.
    expect((await taskOf(h, 'fan')).state).toStrictEqual({ status: 'Executing', run: 3, nextRunAt: T0 + 50 * SEC, stopRequested: false, fire: T0 + 30 * SEC, attempt: 1 });
    expect(h.engine.liveOutput('fan')).toMatchObject({ run: 3, stderr: { text: 'three\n' } });
    h.clock.advance(SEC);
    await finish(h, runOf(h, 'fan', 3), { outcome: 'timed_out', exitCode: null, signal: 'SIGTERM', error: 'timed out after 33s' });
    expect(h.engine.runsInProgress).toBe(0);
    expect((await taskOf(h, 'fan')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 50 * SEC });

    const runs = await runsOf(h, 'fan');
    expect(runs.map((r) => [r.run, r.outcome, r.exitCode, r.finishedAt === null ? null : r.finishedAt - T0, r.stdout.text, r.stderr.text])).toEqual([
      [1, 'succeeded', 0, 42 * SEC, 'one\n', ''],
      [2, 'failed', 3, 41 * SEC, 'two\n', ''],
      [3, 'timed_out', null, 43 * SEC, '', 'three\n'],
      [4, 'skipped', null, 40 * SEC, '', ''],
    ]);
    expect(runs[2]!.error).toBe('timed out after 33s');

    // The grid goes on: +50s starts a run of its own.
    await quietUntil(h, T0 + 50 * SEC - 1);
    await wakeAt(h, T0 + 50 * SEC);
    expect(started(h, 'fan').at(-1)).toEqual([5, 50 * SEC]);
    expect(executingState(await taskOf(h, 'fan'))).toMatchObject({ run: 5, fire: T0 + 50 * SEC });
    expect(executingState(await taskOf(h, 'fan')).parallel).toBeUndefined();
  });

  it('a run that ended frees its place for the next fire; the other rules still run one at a time', async () => {
    const h = await harness();
    await threeRunning(h, 'room');
    await finish(h, runOf(h, 'room', 2));
    await wakeAt(h, T0 + 40 * SEC);
    expect(inProgress(h, 'room')).toEqual([1, 3, 4]);
    expect(executingState(await taskOf(h, 'room'))).toMatchObject({ run: 1, parallel: [{ run: 3, fire: T0 + 30 * SEC }, { run: 4, fire: T0 + 40 * SEC }] });

    // Beside it, a task with the default rule (skip): one run at a time.
    await h.engine.submit({ id: 'single', type: 'cron', time: '10s', script: 'sleep 100' });
    await wakeAt(h, T0 + 50 * SEC);
    await wakeAt(h, T0 + 60 * SEC);
    expect(inProgress(h, 'single')).toEqual([1]);
    expect((await runsOf(h, 'single')).map((r) => r.outcome)).toEqual(['running', 'skipped']);
    expect(h.engine.runsInProgress).toBe(4);
  });

  it('kill ends every run of the task, each recorded killed; the schedule goes on', async () => {
    const h = await harness();
    await threeRunning(h, 'k');
    h.clock.advance(5 * SEC);
    const killed = await h.engine.kill('k');
    for (const run of h.runner.runsOf('k')) expect(run.killCalls, `run ${run.run}`).toBe(1);
    expect(h.engine.runsInProgress).toBe(0);
    // The answer already holds every end.
    expect(killed.runs.map((r) => [r.run, r.outcome, r.finishedAt! - T0, r.signal, r.error])).toEqual([1, 2, 3].map((run) => [run, 'killed', 35 * SEC, 'SIGTERM', 'killed on request (SIGTERM)']));
    expect(killed.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 40 * SEC });
    expect(await records(h, 'k')).toEqual([
      [1, 'killed', 10 * SEC, 1],
      [2, 'killed', 20 * SEC, 1],
      [3, 'killed', 30 * SEC, 1],
    ]);

    // Nothing is left to kill.
    await expect(h.engine.kill('k')).rejects.toMatchObject({ code: 'not_running' });
    // The next fire runs alone, and fires beside it run again.
    await wakeAt(h, T0 + 40 * SEC);
    await wakeAt(h, T0 + 50 * SEC);
    expect(inProgress(h, 'k')).toEqual([4, 5]);
  });

  it('kill after a stop: every run is killed and the task ends Stopped', async () => {
    const h = await harness();
    await threeRunning(h, 'ks');
    const stopped = await h.engine.stop('ks');
    expect(stopped.warning).toMatch(/still executing/);
    expect(executingState(stopped.task)).toMatchObject({ stopRequested: true, nextRunAt: null });
    const killed = await h.engine.kill('ks');
    expect(killed.task.state).toStrictEqual({ status: 'Stopped' });
    expect(killed.runs.map((r) => r.outcome)).toEqual(['killed', 'killed', 'killed']);
    // The timer armed for +40s before the stop may still wake the engine: nothing is due then.
    await stepTo(h, T0 + 5 * MIN);
    expect(h.runner.runsOf('ks')).toHaveLength(3);
    expect(await runsOf(h, 'ks')).toHaveLength(3);
  });

  it('stop while three runs execute: they go on; no fire comes; the task ends Stopped when the last one ends', async () => {
    const h = await harness();
    await threeRunning(h, 's');
    await h.engine.stop('s');
    // No further fire: the +40s one is not even recorded skipped (a wake armed before the stop finds nothing due).
    await stepTo(h, T0 + 60 * SEC);
    expect(inProgress(h, 's')).toEqual([1, 2, 3]);
    expect(h.runner.runsOf('s')).toHaveLength(3);
    expect(await runsOf(h, 's')).toHaveLength(3);
    await finish(h, runOf(h, 's', 1));
    await finish(h, runOf(h, 's', 3), { outcome: 'failed', exitCode: 1 });
    expect(executingState(await taskOf(h, 's'))).toMatchObject({ run: 2, stopRequested: true });
    await finish(h, runOf(h, 's', 2));
    expect((await taskOf(h, 's')).state).toStrictEqual({ status: 'Stopped' });
    expect(await records(h, 's')).toEqual([
      [1, 'succeeded', 10 * SEC, 1],
      [2, 'succeeded', 20 * SEC, 1],
      [3, 'failed', 30 * SEC, 1],
    ]);
  });

  it('delete while three runs execute: every process is ended, nothing is left to record', async () => {
    const h = await harness();
    await threeRunning(h, 'del');
    await h.engine.delete('del');
    for (const run of h.runner.runsOf('del')) expect(run.killCalls, `run ${run.run}`).toBe(1);
    await until(() => h.engine.runsInProgress === 0, 'the runs to leave the supervisor');
    expect(await h.inner.getTask('del')).toBeUndefined();
    expect(await runsOf(h, 'del')).toEqual([]);
  });
});

describe('Engine: overlap rule allow across a shutdown or a crash', () => {
  it('a shutdown records every run in progress as interrupted; the task waits for its next fire', async () => {
    const h = await harness({ shutdownAtEnd: false });
    await threeRunning(h, 'sd');
    h.clock.advance(2 * SEC);
    await h.engine.shutdown();
    expect(h.engine.runsInProgress).toBe(0);
    expect((await runsOf(h, 'sd')).map((r) => [r.run, r.outcome, r.finishedAt! - T0])).toEqual([
      [1, 'interrupted', 32 * SEC],
      [2, 'interrupted', 32 * SEC],
      [3, 'interrupted', 32 * SEC],
    ]);
    expect((await taskOf(h, 'sd')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 40 * SEC });
  });

  /** A first engine on a database file with three runs of `id` executing, then abandoned (kill -9). */
  async function crashedWithThreeRunning(id: string, before?: (h: Harness) => Promise<void>): Promise<string> {
    const path = tempDbPath();
    const clock = new FakeClock(T0);
    const first = await harness({ path, clock, shutdownAtEnd: false, runner: new FakeRunner({ now: () => clock.now(), firstPid: 1000 }) });
    await threeRunning(first, id);
    await before?.(first);
    return path;
  }

  /** A second engine on the same file, started at `at`, with the output each run spooled. */
  function restart(path: string, at: number, spooled: Record<string, string> = {}): Promise<Harness> {
    const clock = new FakeClock(at);
    const runner = new FakeRunner({ now: () => clock.now(), firstPid: 2000 });
    for (const [key, text] of Object.entries(spooled)) runner.spooled.set(key, { stdout: output(text), stderr: output('') });
    return harness({ path, clock, runner });
  }

  it('a restart records each of the three runs interrupted, with its own spooled output, kills the orphans once, and the task goes on', async () => {
    const path = await crashedWithThreeRunning('c');
    const h = await restart(path, T0 + 35 * SEC, { 'c#1': 'first\n', 'c#2': 'second\n', 'c#3': 'third\n' });

    const runs = await runsOf(h, 'c');
    expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - T0, r.startedAt! - T0, r.finishedAt! - T0, r.stdout.text])).toEqual([
      // Nothing says they lived past their start (no heartbeat, no output time): they end there.
      [1, 'interrupted', 10 * SEC, 10 * SEC, 10 * SEC, 'first\n'],
      [2, 'interrupted', 20 * SEC, 20 * SEC, 20 * SEC, 'second\n'],
      [3, 'interrupted', 30 * SEC, 30 * SEC, 30 * SEC, 'third\n'],
    ]);
    for (const run of runs) expect(run.error).toMatch(/daemon stopped/);
    // The processes the crashed daemon left were killed first (one sweep), then each run's spool read and dropped.
    expect(h.runner.calls).toEqual([
      { kind: 'killOrphans' },
      ...[1, 2, 3].flatMap((run) => [
        { kind: 'recoverOutput', taskId: 'c', run },
        { kind: 'removeSpool', taskId: 'c', run },
      ]),
    ]);
    expect(await taskOf(h, 'c')).toMatchObject({ state: { status: 'WaitForNextExecution', nextRunAt: T0 + 40 * SEC }, lastRun: 3 });
    expect(h.runner.runs).toHaveLength(0);

    // The task goes on: its next fire runs, and a fire during it runs beside it.
    await quietUntil(h, T0 + 40 * SEC - 1);
    await wakeAt(h, T0 + 40 * SEC);
    await wakeAt(h, T0 + 50 * SEC);
    expect(started(h, 'c')).toEqual([
      [4, 40 * SEC],
      [5, 50 * SEC],
    ]);
    expect(executingState(await taskOf(h, 'c'))).toMatchObject({ run: 4, parallel: [{ run: 5, fire: T0 + 50 * SEC }] });
  });

  it('a crash after the first run ended (two left, the first promoted) records the two interrupted', async () => {
    const path = await crashedWithThreeRunning('p', async (first) => {
      await finish(first, runOf(first, 'p', 1));
    });
    const h = await restart(path, T0 + 36 * SEC);
    expect(await records(h, 'p')).toEqual([
      [1, 'succeeded', 10 * SEC, 1],
      [2, 'interrupted', 20 * SEC, 1],
      [3, 'interrupted', 30 * SEC, 1],
    ]);
    expect((await taskOf(h, 'p')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 40 * SEC });
  });

  it('a crash while three runs executed after a stop: all three interrupted, and the task ends Stopped', async () => {
    const path = await crashedWithThreeRunning('cs', async (first) => {
      await first.engine.stop('cs');
    });
    const h = await restart(path, T0 + 2 * MIN);
    expect((await runsOf(h, 'cs')).map((r) => [r.run, r.outcome])).toEqual([
      [1, 'interrupted'],
      [2, 'interrupted'],
      [3, 'interrupted'],
    ]);
    expect((await taskOf(h, 'cs')).state).toStrictEqual({ status: 'Stopped' });
    await quietUntil(h, T0 + 10 * MIN);
    expect(h.runner.runs).toHaveLength(0);
  });
});
