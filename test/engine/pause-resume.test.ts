/**
 * Pause, resume and run now in the engine, driven by a fake clock and a fake runner over a
 * real SQLite store (see engine-harness.ts: nothing sleeps, time moves only when a test
 * moves it, and each step waits for a condition that proves the engine has done its work).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner } from '../support/fake-runner.js';
import {
  MIN,
  SEC,
  T0,
  finish,
  lastRunOf,
  runsOf,
  step,
  stepTo,
  taskOf,
  useEngineHarness,
  wakeAt,
  type Harness,
} from './engine-harness.js';

const { harness, tempDbPath } = useEngineHarness('errors');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** A cron task every 10s, submitted at T0 (fires at T0+10s, +20s, ...). */
async function every10s(h: Harness, id: string, script = 'ls'): Promise<void> {
  await h.engine.submit({ id, type: 'cron', time: '10s', script });
}

/** The runs of `id` the runner started, as [run, startedAt - T0]. */
function started(h: Harness, id: string): Array<[number, number]> {
  return h.runner.runsOf(id).map((run) => [run.run, run.startedAt - T0]);
}

describe('Engine: pause', () => {
  it('a paused task does not fire across many intervals; resume runs once for the missed fires, then on the grid', async () => {
    const h = await harness();
    await every10s(h, 'tick');
    await wakeAt(h, T0 + 10 * SEC);
    h.clock.advance(2 * SEC);
    await finish(h, lastRunOf(h, 'tick'));
    await stepTo(h, T0 + 15 * SEC);

    const paused = await h.engine.pause('tick');
    expect(paused.warning).toBeNull();
    expect(paused.task.state).toStrictEqual({ status: 'Paused' });
    expect(paused.task.lastStatusUpdated).toBe(T0 + 15 * SEC);
    expect(paused.runs.map((r) => r.run)).toEqual([1]);
    expect(await taskOf(h, 'tick')).toEqual(paused.task);

    // Ten fire times pass (T0+20s ... T0+110s): nothing runs, nothing is recorded.
    for (let k = 2; k <= 11; k++) {
      await stepTo(h, T0 + k * 10 * SEC);
      expect(h.runner.runs, `fire at +${k * 10}s`).toHaveLength(1);
      expect((await taskOf(h, 'tick')).state.status).toBe('Paused');
    }
    expect((await runsOf(h, 'tick')).map((r) => r.run)).toEqual([1]);
    // Nothing is due: the engine has nothing armed for it.
    expect(await h.inner.earliestDueAt()).toBeUndefined();

    const resumeAt = T0 + 115 * SEC + 300;
    await stepTo(h, resumeAt);
    const resumed = await h.engine.resume('tick');
    expect(resumed.warning).toBeNull();
    expect(resumed.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: resumeAt });

    // One catch-up run now for the ten missed fires, then the grid (T0+120s), not resumeAt + 10s.
    await wakeAt(h, resumeAt);
    expect(started(h, 'tick')).toEqual([[1, 10 * SEC], [2, resumeAt - T0]]);
    expect((await taskOf(h, 'tick')).state).toStrictEqual({ status: 'Executing', run: 2, nextRunAt: T0 + 120 * SEC, stopRequested: false, fire: resumeAt, attempt: 1 });
    h.clock.advance(SEC);
    await finish(h, lastRunOf(h, 'tick'));
    await wakeAt(h, T0 + 120 * SEC);
    expect(started(h, 'tick')).toEqual([[1, 10 * SEC], [2, resumeAt - T0], [3, 120 * SEC]]);
    expect((await runsOf(h, 'tick')).map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'succeeded', resumeAt - T0],
      [3, 'running', 120 * SEC],
    ]);
  });

  it('paused before its first fire and resumed before it: the first fire comes on time, ToBeExecuted meanwhile', async () => {
    const h = await harness();
    await every10s(h, 'early');
    await stepTo(h, T0 + 2 * SEC);
    await h.engine.pause('early');
    await stepTo(h, T0 + 7 * SEC);
    const resumed = await h.engine.resume('early');
    expect(resumed.task.state).toStrictEqual({ status: 'ToBeExecuted', nextRunAt: T0 + 10 * SEC });
    await stepTo(h, T0 + 10 * SEC - 1);
    expect(h.runner.runs).toHaveLength(0);
    await wakeAt(h, T0 + 10 * SEC);
    expect(started(h, 'early')).toEqual([[1, 10 * SEC]]);
  });

  it('pausing twice changes nothing the second time', async () => {
    const h = await harness();
    await every10s(h, 'twice');
    const first = await h.engine.pause('twice');
    const second = await h.engine.pause('twice');
    expect(second.task).toEqual(first.task);
    expect((await taskOf(h, 'twice')).version).toBe(first.task.version);
    expect(first.task.version).toBe(2);
  });

  it('paused during a run: the run goes on with a warning, no fire is skipped or run meanwhile, then Paused', async () => {
    const h = await harness();
    await every10s(h, 'busy');
    await wakeAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'busy');
    await stepTo(h, T0 + 12 * SEC);

    const answer = await h.engine.pause('busy');
    expect(answer.warning).toBe('run 1 is still executing and will finish; then the task is Paused');
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, pauseRequested: true, fire: T0 + 10 * SEC, attempt: 1 });
    expect(await taskOf(h, 'busy')).toEqual(answer.task);
    expect(run.settled).toBe(false);
    expect(run.killCalls).toBe(0);

    // Fire times pass during the run: none is recorded as skipped, none runs.
    await stepTo(h, T0 + 35 * SEC);
    expect((await runsOf(h, 'busy')).map((r) => [r.run, r.outcome])).toEqual([[1, 'running']]);
    await finish(h, run);
    expect(await taskOf(h, 'busy')).toMatchObject({ state: { status: 'Paused' }, lastStatusUpdated: T0 + 35 * SEC });
    await stepTo(h, T0 + 5 * MIN);
    expect(h.runner.runs).toHaveLength(1);
    expect((await runsOf(h, 'busy')).map((r) => [r.run, r.outcome])).toEqual([[1, 'succeeded']]);
  });

  it('resumed during the run it was paused in: the schedule goes on from now', async () => {
    const h = await harness();
    await every10s(h, 'back');
    await wakeAt(h, T0 + 10 * SEC);
    await stepTo(h, T0 + 12 * SEC);
    await h.engine.pause('back');
    await stepTo(h, T0 + 24 * SEC);
    const resumed = await h.engine.resume('back');
    expect(resumed.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 30 * SEC, stopRequested: false, fire: T0 + 10 * SEC, attempt: 1 });
    await finish(h, lastRunOf(h, 'back'));
    expect((await taskOf(h, 'back')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 30 * SEC });
    await wakeAt(h, T0 + 30 * SEC);
    expect(started(h, 'back')).toEqual([[1, 10 * SEC], [2, 30 * SEC]]);
  });

  it('refuses a one-time task, a stopping task, and a finished one (status_conflict); not_found for no task', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'once', type: 'delay', time: '10s', script: 'ls' });
    expect(await rejection(h.engine.pause('once'))).toMatchObject({ code: 'status_conflict', message: expect.stringMatching(/runs once; stop it instead/) });
    expect((await taskOf(h, 'once')).version).toBe(1);

    await every10s(h, 'stopping');
    await wakeAt(h, T0 + 10 * SEC);
    await h.engine.stop('stopping');
    expect(await rejection(h.engine.pause('stopping'))).toMatchObject({ code: 'status_conflict' });
    expect(await taskOf(h, 'stopping')).toMatchObject({ state: { status: 'Executing', stopRequested: true, nextRunAt: null } });
    await finish(h, lastRunOf(h, 'stopping'));
    await finish(h, lastRunOf(h, 'once'));
    for (const id of ['stopping', 'once']) {
      for (const action of ['pause', 'resume', 'runNow'] as const) {
        expect(await rejection(h.engine[action](id)), `${action} ${id}`).toMatchObject({ code: 'status_conflict' });
      }
    }
    expect(h.runner.runs).toHaveLength(2);
    for (const action of ['pause', 'resume', 'runNow'] as const) {
      expect(await rejection(h.engine[action]('nope')), action).toMatchObject({ code: 'not_found' });
    }
  });

  it('a stop after a pause during the run: what the stop answers is what is stored, and the task ends Stopped', async () => {
    const h = await harness();
    await every10s(h, 'both');
    await wakeAt(h, T0 + 10 * SEC);
    await h.engine.pause('both');
    const stopped = await h.engine.stop('both');
    expect(stopped.task.state).toMatchObject({ status: 'Executing', stopRequested: true, nextRunAt: null });
    // The answer must not claim a state the store does not hold.
    expect(await taskOf(h, 'both')).toEqual(stopped.task);
    // A resume now does not bring the schedule back.
    const resumed = await h.engine.resume('both');
    expect(resumed.task.state).toMatchObject({ stopRequested: true, nextRunAt: null });
    await finish(h, lastRunOf(h, 'both'));
    expect((await taskOf(h, 'both')).state).toEqual({ status: 'Stopped' });
  });

  it('a retry pending when the task is paused does not run while it is paused', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'flaky', type: 'cron', time: '1m', script: 'exit 1', retries: 3, retryDelay: '2s' });
    await wakeAt(h, T0 + MIN);
    await finish(h, lastRunOf(h, 'flaky'), { outcome: 'failed', exitCode: 1 });
    const waiting = await taskOf(h, 'flaky');
    expect(waiting.state).toMatchObject({ status: 'WaitForNextExecution', retry: { fire: T0 + MIN, attempt: 2 } });
    const retryAt = (waiting.state as { nextRunAt: number }).nextRunAt;
    expect(retryAt).toBeLessThanOrEqual(T0 + MIN + 2 * SEC);

    await h.engine.pause('flaky');
    await stepTo(h, retryAt);
    await stepTo(h, T0 + 5 * MIN);
    expect(h.runner.runs).toHaveLength(1);
    expect((await taskOf(h, 'flaky')).state).toStrictEqual({ status: 'Paused' });
  });

  it('stop works on a paused task', async () => {
    const h = await harness();
    await every10s(h, 'halt');
    await h.engine.pause('halt');
    const stopped = await h.engine.stop('halt');
    expect(stopped.task.state).toStrictEqual({ status: 'Stopped' });
    expect(stopped.warning).toBeNull();
    await stepTo(h, T0 + MIN);
    expect(h.runner.runs).toHaveLength(0);
  });
});

describe('Engine: run now', () => {
  it('while waiting: a run starts now; the next fire is kept', async () => {
    const h = await harness();
    await every10s(h, 'now');
    await stepTo(h, T0 + 4 * SEC);
    const answer = await h.engine.runNow('now');
    expect(answer.warning).toBeNull();
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 10 * SEC, stopRequested: false, fire: T0 + 4 * SEC, attempt: 1 });
    expect(answer.runs).toMatchObject([{ run: 1, outcome: 'running', scheduledAt: T0 + 4 * SEC, startedAt: T0 + 4 * SEC }]);
    expect(started(h, 'now')).toEqual([[1, 4 * SEC]]);

    h.clock.advance(2 * SEC);
    await finish(h, lastRunOf(h, 'now'));
    // It has run: it waits for its next (first scheduled) fire.
    expect((await taskOf(h, 'now')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 10 * SEC });
    await wakeAt(h, T0 + 10 * SEC);
    expect(started(h, 'now')).toEqual([[1, 4 * SEC], [2, 10 * SEC]]);
  });

  it('when the next fire is due: the run serves it, and that fire does not run a second time', async () => {
    const h = await harness();
    await every10s(h, 'due');
    await wakeAt(h, T0 + 10 * SEC);
    await finish(h, lastRunOf(h, 'due'));
    // The clock reaches the next fire, but the engine's timer has not gone off yet.
    h.clock.set(T0 + 20 * SEC);
    const answer = await h.engine.runNow('due');
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 2, nextRunAt: T0 + 30 * SEC, stopRequested: false, fire: T0 + 20 * SEC, attempt: 1 });
    // Now the timer goes off: there is nothing due.
    await step(h, 0);
    await finish(h, lastRunOf(h, 'due'));
    expect(started(h, 'due')).toEqual([[1, 10 * SEC], [2, 20 * SEC]]);
    expect((await runsOf(h, 'due')).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
    await wakeAt(h, T0 + 30 * SEC);
    expect(started(h, 'due').map(([run]) => run)).toEqual([1, 2, 3]);
  });

  it('while paused: one run now, then Paused again, and still no fire', async () => {
    const h = await harness();
    await every10s(h, 'held');
    await h.engine.pause('held');
    await stepTo(h, T0 + 25 * SEC);
    const answer = await h.engine.runNow('held');
    expect(answer.warning).toBeNull();
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, pauseRequested: true, fire: T0 + 25 * SEC, attempt: 1 });
    expect(started(h, 'held')).toEqual([[1, 25 * SEC]]);
    h.clock.advance(SEC);
    await finish(h, lastRunOf(h, 'held'));
    expect((await taskOf(h, 'held')).state).toStrictEqual({ status: 'Paused' });
    await stepTo(h, T0 + 5 * MIN);
    expect(h.runner.runs).toHaveLength(1);
  });

  it('while a run executes: recorded as a skipped run with a warning; no second process', async () => {
    const h = await harness();
    await every10s(h, 'busy');
    await wakeAt(h, T0 + 10 * SEC);
    await stepTo(h, T0 + 13 * SEC);
    const answer = await h.engine.runNow('busy');
    expect(answer.warning).toBe('run 2 skipped: run 1 is still executing');
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 20 * SEC, stopRequested: false, fire: T0 + 10 * SEC, attempt: 1 });
    expect(answer.task.lastRun).toBe(2);
    expect(answer.runs).toMatchObject([
      { run: 1, outcome: 'running' },
      { run: 2, outcome: 'skipped', scheduledAt: T0 + 13 * SEC, startedAt: null, finishedAt: T0 + 13 * SEC, error: 'a run was asked for while run 1 was executing' },
    ]);
    expect(h.runner.runs).toHaveLength(1);
    await finish(h, lastRunOf(h, 'busy'));
    await wakeAt(h, T0 + 20 * SEC);
    expect(started(h, 'busy')).toEqual([[1, 10 * SEC], [3, 20 * SEC]]);
  });

  it('a delay task run now runs once, ends Executed, and its own time never fires', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'once', type: 'delay', time: '1m', script: 'ls' });
    await stepTo(h, T0 + 5 * SEC);
    const answer = await h.engine.runNow('once');
    expect(answer.task.state).toStrictEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + 5 * SEC, attempt: 1 });
    await finish(h, lastRunOf(h, 'once'));
    expect((await taskOf(h, 'once')).state).toEqual({ status: 'Executed' });
    await stepTo(h, T0 + 5 * MIN);
    expect(started(h, 'once')).toEqual([[1, 5 * SEC]]);
  });
});

describe('Engine: pause across a restart', () => {
  async function restart(path: string, at: number) {
    const clock = new FakeClock(at);
    return harness({ path, clock, runner: new FakeRunner({ now: () => clock.now(), firstPid: 2000 }) });
  }

  it('after a crash: a Paused task stays Paused; an interrupted run that was to pause ends Paused', async () => {
    const path = tempDbPath();
    const clock = new FakeClock(T0);
    const first = await harness({ path, clock, shutdownAtEnd: false, runner: new FakeRunner({ now: () => clock.now(), firstPid: 1000 }) });
    await every10s(first, 'idle');
    await every10s(first, 'busy');
    await wakeAt(first, T0 + 10 * SEC);
    await finish(first, lastRunOf(first, 'idle'));
    await stepTo(first, T0 + 12 * SEC);
    await first.engine.pause('idle');
    expect((await first.engine.pause('busy')).task.state).toMatchObject({ status: 'Executing', pauseRequested: true });
    // kill -9: the first engine is abandoned, run 1 of 'busy' still recorded as running.

    const second = await restart(path, T0 + 2 * MIN);
    expect((await taskOf(second, 'idle')).state).toStrictEqual({ status: 'Paused' });
    expect(await taskOf(second, 'busy')).toMatchObject({ state: { status: 'Paused' }, lastStatusUpdated: T0 + 2 * MIN });
    expect((await runsOf(second, 'busy')).map((r) => [r.run, r.outcome])).toEqual([[1, 'interrupted']]);
    await step(second, 0);
    await step(second, 5 * MIN);
    expect(second.runner.runs).toHaveLength(0);

    // Resumed, both catch up once, now.
    const at = second.clock.now();
    for (const id of ['idle', 'busy']) expect((await second.engine.resume(id)).task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: at });
    await wakeAt(second, at);
    expect(second.runner.runs.map((r) => [r.taskId, r.run]).sort()).toEqual([['busy', 2], ['idle', 2]]);
  });

  it('after a clean shutdown: Paused tasks stay Paused, and the run that was to pause ends Paused', async () => {
    const path = tempDbPath();
    const first = await harness({ path, shutdownAtEnd: false });
    await every10s(first, 'idle');
    await every10s(first, 'busy');
    await first.engine.pause('idle');
    await wakeAt(first, T0 + 10 * SEC);
    await first.engine.pause('busy');
    await first.engine.shutdown();
    expect((await taskOf(first, 'busy')).state).toStrictEqual({ status: 'Paused' });

    const second = await restart(path, T0 + MIN);
    expect(second.runner.calls).toEqual([]);
    for (const id of ['idle', 'busy']) expect((await taskOf(second, id)).state, id).toStrictEqual({ status: 'Paused' });
    await step(second, 0);
    await step(second, 5 * MIN);
    expect(second.runner.runs).toHaveLength(0);
  });
});
