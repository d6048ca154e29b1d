/**
 * The run policy in the engine: overlap rules queue and replace, retries with their backoff,
 * and the catch-up rules across a restart on the same database. Driven by a fake clock and
 * a fake runner over a real SQLite store (see engine-harness.ts: nothing sleeps, time moves
 * only when a test moves it, and each step waits for a condition that proves the engine has
 * done its work).
 */
import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../src/core/policy.js';
import type { Submission } from '../../src/core/submission.js';
import type { Task, TaskState } from '../../src/core/task.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner } from '../support/fake-runner.js';
import { MIN, SEC, T0, finish, lastRunOf, quietUntil, runsOf, step, taskOf, useEngineHarness, wakeAt, type Harness } from './engine-harness.js';
import { until } from '../support/wait.js';

const { harness, tempDbPath } = useEngineHarness('errors');

const why = 'passed while the task could not run (the daemon was not running, or was busy)';

/** The runs of `id` the runner started, as [run, startedAt - T0]. */
function started(h: Harness, id: string): Array<[number, number]> {
  return h.runner.runsOf(id).map((run) => [run.run, run.startedAt - T0]);
}

/** The runs of `id` in the store, as [run, outcome, scheduledAt - T0, attempt]. */
async function records(h: Harness, id: string): Promise<Array<[number, string, number, number]>> {
  return (await runsOf(h, id)).map((r) => [r.run, r.outcome, r.scheduledAt - T0, r.attempt]);
}

function waitingState(task: Task): Extract<TaskState, { status: 'WaitForNextExecution' }> {
  expect(task.state.status).toBe('WaitForNextExecution');
  return task.state as Extract<TaskState, { status: 'WaitForNextExecution' }>;
}

/** Moves the clock by 0 to fire what the engine armed for now (a queued fire, the next of a backlog). */
async function fireNow(h: Harness): Promise<void> {
  await wakeAt(h, h.clock.now());
}

describe('Engine: overlap rule queue', () => {
  it('a fire during a run waits for it and then runs, serving that fire; a second one meanwhile is skipped', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'q', type: 'cron', time: '500ms', overlap: 'queue', script: 'sleep 1' });
    await wakeAt(h, T0 + 500);
    expect(started(h, 'q')).toEqual([[1, 500]]);

    // +1000: run 1 goes on, the fire waits; nothing is started or recorded.
    await wakeAt(h, T0 + 1000);
    expect(started(h, 'q')).toEqual([[1, 500]]);
    expect((await taskOf(h, 'q')).state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 1500, stopRequested: false, fire: T0 + 500, attempt: 1, queued: T0 + 1000 });
    expect(await records(h, 'q')).toEqual([[1, 'running', 500, 1]]);

    // +1500: a second fire while one waits: skipped, with the reason.
    await wakeAt(h, T0 + 1500);
    expect(started(h, 'q')).toEqual([[1, 500]]);
    const skipped = (await runsOf(h, 'q'))[1];
    expect(skipped).toMatchObject({ run: 2, outcome: 'skipped', scheduledAt: T0 + 1500, startedAt: null, finishedAt: T0 + 1500, error: 'run 1 was still executing and a run was already waiting' });

    // Run 1 ends at +1600: the waiting fire (+1000) runs at once, as run 3.
    h.clock.advance(100);
    await finish(h, lastRunOf(h, 'q'));
    // The waiting fire is due at once and starts as it is (attempt 1); then the grid (+2000).
    expect((await taskOf(h, 'q')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 1000, retry: { fire: T0 + 1000, attempt: 1, thenNextRunAt: T0 + 2000 } });
    await fireNow(h);
    expect(started(h, 'q')).toEqual([[1, 500], [3, 1600]]);
    expect((await taskOf(h, 'q')).state).toStrictEqual({ status: 'Executing', run: 3, nextRunAt: T0 + 2000, stopRequested: false, fire: T0 + 1000, attempt: 1 });
    expect(await records(h, 'q')).toEqual([
      [1, 'succeeded', 500, 1],
      [2, 'skipped', 1500, 1],
      [3, 'running', 1000, 1],
    ]);
    expect((await runsOf(h, 'q'))[2]!.startedAt).toBe(T0 + 1600);

    // And the grid goes on: run 3 ends before +2000, which runs on time.
    h.clock.advance(200);
    await finish(h, lastRunOf(h, 'q'));
    await wakeAt(h, T0 + 2000);
    expect(started(h, 'q')).toEqual([[1, 500], [3, 1600], [4, 2000]]);
  });

  it('a queued fire runs with its own fire time even when the run ends long after it (not as a caught-up fire)', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'long', type: 'cron', time: '10s', overlap: 'queue', script: 'sleep 25' });
    await wakeAt(h, T0 + 10 * SEC);
    await wakeAt(h, T0 + 20 * SEC); // waits
    await wakeAt(h, T0 + 30 * SEC); // skipped (run 2)
    h.clock.advance(500);
    await finish(h, lastRunOf(h, 'long'));
    await fireNow(h);
    // The fire at +20s that waited is the one that runs, as run 3; +30s was recorded skipped.
    expect(started(h, 'long')).toEqual([[1, 10 * SEC], [3, 30 * SEC + 500]]);
    expect(await records(h, 'long')).toEqual([
      [1, 'succeeded', 10 * SEC, 1],
      [2, 'skipped', 30 * SEC, 1],
      [3, 'running', 20 * SEC, 1],
    ]);
  });
});

describe('Engine: overlap rule replace', () => {
  it('a fire during a run kills it (recorded killed, saying why) and runs in its place', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'r', type: 'cron', time: '10s', overlap: 'replace', script: 'sleep 100' });
    await wakeAt(h, T0 + 10 * SEC);
    const first = lastRunOf(h, 'r');

    await wakeAt(h, T0 + 20 * SEC);
    // The running process was ended, and its end recorded as killed with the reason.
    expect(first.killCalls).toBe(1);
    await until(async () => (await taskOf(h, 'r')).state.status === 'WaitForNextExecution', 'the end of the replaced run to be recorded');
    expect((await runsOf(h, 'r'))[0]).toMatchObject({
      run: 1,
      outcome: 'killed',
      scheduledAt: T0 + 10 * SEC,
      startedAt: T0 + 10 * SEC,
      finishedAt: T0 + 20 * SEC,
      exitCode: null,
      signal: 'SIGTERM',
      error: 'replaced by the fire at 2026-11-25T10:00:20.000Z (SIGTERM)',
    });
    expect((await taskOf(h, 'r')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 20 * SEC, retry: { fire: T0 + 20 * SEC, attempt: 1, thenNextRunAt: T0 + 30 * SEC } });

    // The fire that replaced it runs now, as run 2.
    await fireNow(h);
    expect(started(h, 'r')).toEqual([[1, 10 * SEC], [2, 20 * SEC]]);
    expect((await taskOf(h, 'r')).state).toStrictEqual({ status: 'Executing', run: 2, nextRunAt: T0 + 30 * SEC, stopRequested: false, fire: T0 + 20 * SEC, attempt: 1 });
    expect(await records(h, 'r')).toEqual([
      [1, 'killed', 10 * SEC, 1],
      [2, 'running', 20 * SEC, 1],
    ]);

    // A run that ends before the next fire is left alone.
    h.clock.advance(5 * SEC);
    await finish(h, lastRunOf(h, 'r'));
    await wakeAt(h, T0 + 30 * SEC);
    expect(started(h, 'r')).toEqual([[1, 10 * SEC], [2, 20 * SEC], [3, 30 * SEC]]);
    expect(h.runner.runsOf('r').map((run) => run.killCalls)).toEqual([1, 0, 0]);
  });
});

describe('Engine: retries', () => {
  it('a failed delay task is retried with growing, jittered delays, each attempt its own run of the same fire, then ends Executed', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'flaky', type: 'delay', time: '10s', retries: 2, retryDelay: '4s', script: 'exit 1' });
    const retry = (await taskOf(h, 'flaky')).policy.retry!;
    expect(retry).toEqual({ max: 2, delayMs: 4 * SEC, maxDelayMs: 60 * MIN, onExitCodes: null });

    await wakeAt(h, T0 + 10 * SEC);
    h.clock.advance(SEC);
    await finish(h, lastRunOf(h, 'flaky'), { outcome: 'failed', exitCode: 1 });
    const first = waitingState(await taskOf(h, 'flaky'));
    const d2 = retryDelay(retry, 'flaky', T0 + 10 * SEC, 2);
    expect(d2).toBeGreaterThanOrEqual(2 * SEC);
    expect(d2).toBeLessThanOrEqual(4 * SEC);
    expect(first).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 11 * SEC + d2, retry: { fire: T0 + 10 * SEC, attempt: 2, thenNextRunAt: null } });

    await quietUntil(h, first.nextRunAt - 1);
    await wakeAt(h, first.nextRunAt);
    expect((await runsOf(h, 'flaky'))[1]).toMatchObject({ run: 2, attempt: 2, outcome: 'running', scheduledAt: T0 + 10 * SEC, startedAt: first.nextRunAt });
    h.clock.advance(SEC);
    await finish(h, lastRunOf(h, 'flaky'), { outcome: 'failed', exitCode: 1 });
    const second = waitingState(await taskOf(h, 'flaky'));
    const d3 = second.nextRunAt - (first.nextRunAt + SEC);
    expect(d3).toBe(retryDelay(retry, 'flaky', T0 + 10 * SEC, 3));
    expect(d3).toBeGreaterThanOrEqual(4 * SEC);
    expect(d3).toBeLessThanOrEqual(8 * SEC);
    expect(second.retry).toEqual({ fire: T0 + 10 * SEC, attempt: 3, thenNextRunAt: null });

    await quietUntil(h, second.nextRunAt - 1);
    await wakeAt(h, second.nextRunAt);
    await finish(h, lastRunOf(h, 'flaky'));
    expect((await taskOf(h, 'flaky')).state).toStrictEqual({ status: 'Executed' });
    expect(await records(h, 'flaky')).toEqual([
      [1, 'failed', 10 * SEC, 1],
      [2, 'failed', 10 * SEC, 2],
      [3, 'succeeded', 10 * SEC, 3],
    ]);
    expect(started(h, 'flaky')).toEqual([[1, 10 * SEC], [2, first.nextRunAt - T0], [3, second.nextRunAt - T0]]);
    await step(h, 60 * MIN);
    expect(h.runner.runs).toHaveLength(3);
  });

  it('a cron task retries only the exit codes asked for, at most `retries` times, then waits for its next fire', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '1m', retries: 1, retryDelay: '5s', retryOn: [75], script: 'exit 75' });
    // Exit 2 is not retried: the task waits for its next fire.
    await wakeAt(h, T0 + MIN);
    await finish(h, lastRunOf(h, 'c'), { outcome: 'failed', exitCode: 2 });
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * MIN });

    // Exit 75 is, once.
    await wakeAt(h, T0 + 2 * MIN);
    await finish(h, lastRunOf(h, 'c'), { outcome: 'failed', exitCode: 75 });
    const retrying = waitingState(await taskOf(h, 'c'));
    expect(retrying.retry).toEqual({ fire: T0 + 2 * MIN, attempt: 2, thenNextRunAt: T0 + 3 * MIN });
    expect(retrying.nextRunAt - (T0 + 2 * MIN)).toBeGreaterThanOrEqual(2_500);
    expect(retrying.nextRunAt - (T0 + 2 * MIN)).toBeLessThanOrEqual(5 * SEC);
    await wakeAt(h, retrying.nextRunAt);
    await finish(h, lastRunOf(h, 'c'), { outcome: 'failed', exitCode: 75 });
    // No attempt left: the next fire.
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * MIN });
    await wakeAt(h, T0 + 3 * MIN);
    expect(await records(h, 'c')).toEqual([
      [1, 'failed', 60 * SEC, 1],
      [2, 'failed', 120 * SEC, 1],
      [3, 'failed', 120 * SEC, 2],
      [4, 'running', 180 * SEC, 1],
    ]);
  });

  it('a retry that would come after the next fire is dropped: the next fire runs', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'late', type: 'cron', time: '10s', retries: 3, retryDelay: '20s', script: 'exit 1' });
    await wakeAt(h, T0 + 10 * SEC);
    h.clock.advance(SEC);
    // The retry would wait at least 10s: past the next fire at +20s.
    await finish(h, lastRunOf(h, 'late'), { outcome: 'failed', exitCode: 1 });
    expect((await taskOf(h, 'late')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 20 * SEC });
    await quietUntil(h, T0 + 20 * SEC - 1);
    await wakeAt(h, T0 + 20 * SEC);
    expect(started(h, 'late')).toEqual([[1, 10 * SEC], [2, 20 * SEC]]);
  });

  it('a killed run is not retried', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'k', type: 'delay', time: '10s', retries: 3, script: 'sleep 100' });
    await wakeAt(h, T0 + 10 * SEC);
    const killed = await h.engine.kill('k');
    expect(killed.runs).toMatchObject([{ run: 1, outcome: 'killed' }]);
    expect(killed.task.state).toStrictEqual({ status: 'Executed' });
  });
});

describe('Engine: catch-up across a restart', () => {
  /**
   * A first engine on a database file with a cron task every 10s (plus `policy`) that ran
   * at +10s and +20s, shut down cleanly at +26s. Returns the file.
   */
  async function ranTwiceThenShutDown(policy: Partial<Submission>): Promise<string> {
    const path = tempDbPath();
    const first = await harness({ path, shutdownAtEnd: false });
    await first.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'date', ...policy });
    for (const at of [T0 + 10 * SEC, T0 + 20 * SEC]) {
      await wakeAt(first, at);
      first.clock.advance(SEC);
      await finish(first, lastRunOf(first, 'c'));
    }
    first.clock.advance(4 * SEC);
    await first.engine.shutdown();
    expect((await taskOf(first, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 30 * SEC });
    return path;
  }

  /** A second engine on the same file, started at `at`. */
  function restart(path: string, at: number, keepRuns = 100): Promise<Harness> {
    const clock = new FakeClock(at);
    return harness({ path, clock, keepRuns, runner: new FakeRunner({ now: () => clock.now(), firstPid: 2000 }) });
  }

  // Down from +26s to +10m4.5s: the fires +30s .. +600s (58) passed.
  const downUntil = T0 + 10 * MIN + 4_500;

  it('none: nothing runs at start; one skipped record for the 58 fires; the schedule goes on', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'none' });
    const h = await restart(path, downUntil);
    await fireNow(h);
    expect(h.runner.runs).toHaveLength(0);
    expect(await taskOf(h, 'c')).toMatchObject({ state: { status: 'WaitForNextExecution', nextRunAt: T0 + 610 * SEC }, lastRun: 3 });
    const runs = await runsOf(h, 'c');
    expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'succeeded', 20 * SEC],
      [3, 'skipped', 30 * SEC],
    ]);
    expect(runs[2]).toMatchObject({ attempt: 1, startedAt: null, finishedAt: downUntil, exitCode: null, error: `58 fires ${why}; catch-up none: not run` });
    // The runs list (newest first) shows it, and the outcome filter finds it.
    expect((await h.engine.listRuns({ id: 'c', limit: 10, outcome: 'skipped' })).runs.map((r) => r.run)).toEqual([3]);

    await quietUntil(h, T0 + 610 * SEC - 1);
    await wakeAt(h, T0 + 610 * SEC);
    expect(started(h, 'c')).toEqual([[4, 610 * SEC]]);
    expect((await runsOf(h, 'c'))[3]).toMatchObject({ run: 4, outcome: 'running', scheduledAt: T0 + 610 * SEC });
  });

  it('once: the latest missed fire runs at start, after one skipped record for the 57 before it', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'once' });
    const h = await restart(path, downUntil);
    await fireNow(h);
    expect(started(h, 'c')).toEqual([[4, downUntil - T0]]);
    expect(await taskOf(h, 'c')).toMatchObject({
      state: { status: 'Executing', run: 4, nextRunAt: T0 + 610 * SEC, stopRequested: false, fire: T0 + 600 * SEC, attempt: 1 },
      lastRun: 4,
    });
    const runs = await runsOf(h, 'c');
    expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'succeeded', 20 * SEC],
      [3, 'skipped', 30 * SEC],
      [4, 'running', 600 * SEC],
    ]);
    expect(runs[2]).toMatchObject({ startedAt: null, finishedAt: downUntil, error: `57 fires ${why}; catch-up once: the latest runs instead` });
    expect(runs[3]!.startedAt).toBe(downUntil);
    await finish(h, lastRunOf(h, 'c'));
    await quietUntil(h, T0 + 610 * SEC - 1);
    await wakeAt(h, T0 + 610 * SEC);
    expect(started(h, 'c')).toEqual([[4, downUntil - T0], [5, 610 * SEC]]);
  });

  it('once with a window none of the missed fires is in: nothing runs, the record says why', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'once', catchUpWindow: '3s' });
    const h = await restart(path, downUntil);
    await fireNow(h);
    expect(h.runner.runs).toHaveLength(0);
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 610 * SEC });
    expect((await runsOf(h, 'c'))[2]).toMatchObject({ run: 3, outcome: 'skipped', scheduledAt: T0 + 30 * SEC, error: `58 fires ${why}; all older than the catch-up window: not run` });
  });

  it('all with a window of 1m: the 6 fires inside it run one after another, the 52 before it are one skipped record', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'all', catchUpWindow: '1m' });
    const h = await restart(path, downUntil);
    await fireNow(h);
    // Inside the window (after +544.5s): +550s .. +600s.
    expect(started(h, 'c')).toEqual([[4, downUntil - T0]]);
    expect((await runsOf(h, 'c'))[2]).toMatchObject({ run: 3, outcome: 'skipped', scheduledAt: T0 + 30 * SEC, error: `52 fires ${why}, beyond the catch-up bound or window: not run` });
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'Executing', run: 4, nextRunAt: T0 + 610 * SEC, stopRequested: false, fire: T0 + 550 * SEC, attempt: 1, queued: T0 + 560 * SEC, backlog: true });

    // Each run takes 0.5s; the next missed fire starts as soon as it ends.
    for (let k = 0; k < 6; k++) {
      h.clock.advance(500);
      await finish(h, lastRunOf(h, 'c'));
      if (k < 5) {
        expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + (560 + 10 * k) * SEC });
        await fireNow(h);
      }
    }
    expect(started(h, 'c')).toEqual([4, 5, 6, 7, 8, 9].map((run, k) => [run, downUntil - T0 + k * 500]));
    const runs = await runsOf(h, 'c');
    expect(runs.slice(3).map((r) => [r.run, r.outcome, (r.scheduledAt - T0) / SEC])).toEqual([
      [4, 'succeeded', 550],
      [5, 'succeeded', 560],
      [6, 'succeeded', 570],
      [7, 'succeeded', 580],
      [8, 'succeeded', 590],
      [9, 'succeeded', 600],
    ]);
    // The backlog done, the grid: +610s.
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 610 * SEC });
    await quietUntil(h, T0 + 610 * SEC - 1);
    await wakeAt(h, T0 + 610 * SEC);
    expect(lastRunOf(h, 'c')).toMatchObject({ run: 10, startedAt: T0 + 610 * SEC });
  });

  it('all: a fire during a catch-up run joins the backlog and runs once, in order', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'all', catchUpWindow: '1m', overlap: 'queue' });
    const h = await restart(path, downUntil);
    await fireNow(h);
    // +550s runs (run 4); the backlog is +560s .. +600s.
    expect(started(h, 'c')).toEqual([[4, downUntil - T0]]);

    // Run 4 goes on past +610s: that fire is neither run beside it nor recorded (overlap queue notwithstanding).
    await wakeAt(h, T0 + 610 * SEC);
    expect(started(h, 'c')).toEqual([[4, downUntil - T0]]);
    expect(await runsOf(h, 'c')).toHaveLength(4);
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'Executing', run: 4, nextRunAt: T0 + 620 * SEC, stopRequested: false, fire: T0 + 550 * SEC, attempt: 1, queued: T0 + 560 * SEC, backlog: true });

    // The backlog runs, each as soon as the one before ends (0.1s each), +610s with it, until the grid's +620s.
    h.clock.advance(100);
    await finish(h, lastRunOf(h, 'c'));
    for (let guard = 0; guard < 10; guard++) {
      const state = (await taskOf(h, 'c')).state;
      if (state.status !== 'WaitForNextExecution' || state.nextRunAt > h.clock.now()) break;
      await fireNow(h);
      h.clock.advance(100);
      await finish(h, lastRunOf(h, 'c'));
    }
    const runs = await runsOf(h, 'c');
    expect(runs.slice(3).map((r) => [r.run, r.outcome, (r.scheduledAt - T0) / SEC])).toEqual([
      [4, 'succeeded', 550],
      [5, 'succeeded', 560],
      [6, 'succeeded', 570],
      [7, 'succeeded', 580],
      [8, 'succeeded', 590],
      [9, 'succeeded', 600],
      [10, 'succeeded', 610],
    ]);
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 620 * SEC });
  });

  it('all without a window: at most the 100 most recent missed fires run', async () => {
    const path = await ranTwiceThenShutDown({ catchUp: 'all' });
    // Down until +30m4.5s: fires +30s .. +1800s (178) passed; the last 100 are +810s .. +1800s.
    const until30m = T0 + 30 * MIN + 4_500;
    // Room for every record (the harness keeps 100 by default).
    const h = await restart(path, until30m, 200);
    await fireNow(h);
    expect((await runsOf(h, 'c'))[2]).toMatchObject({ run: 3, outcome: 'skipped', scheduledAt: T0 + 30 * SEC, error: `78 fires ${why}, beyond the catch-up bound or window: not run` });
    for (let k = 0; k < 100; k++) {
      await finish(h, lastRunOf(h, 'c'));
      if (k < 99) await fireNow(h);
    }
    const served = h.runner.runsOf('c').map((run) => run.run);
    expect(served).toEqual(Array.from({ length: 100 }, (_, k) => 4 + k));
    const runs = await runsOf(h, 'c');
    expect(runs.slice(3).map((r) => (r.scheduledAt - T0) / SEC)).toEqual(Array.from({ length: 100 }, (_, k) => 810 + 10 * k));
    expect(runs.filter((r) => r.outcome === 'skipped')).toHaveLength(1);
    expect((await taskOf(h, 'c')).state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 1810 * SEC });
    // Nothing else is due before the grid's next fire.
    await quietUntil(h, T0 + 1810 * SEC - 1);
    expect(h.runner.runs).toHaveLength(100);
  });
});
