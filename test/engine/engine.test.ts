/**
 * The engine, driven by a fake clock and a fake runner over a real SQLite store (see
 * engine-harness.ts for how tests wait for the engine without sleeping).
 */
import { defaultExecution } from '../../src/core/execution.js';
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { droppedOutput, noOutput, type OutputStream, type Task } from '../../src/core/task.js';
import type { Effect } from '../../src/core/transition.js';
import type { TaskActivity } from '../../src/engine/task-activity.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner, output } from '../support/fake-runner.js';
import { MIN, SEC, T0, finish, lastRunOf, passOverSince, quietUntil, runsOf, step, stepTo, taskOf, useEngineHarness, wakeAt as fireAt, type Harness } from './engine-harness.js';
import { until } from '../support/wait.js';
import { withDeadline } from '../support/wait.js';

const { harness, tempDbPath, uncheckLog } = useEngineHarness('errors');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

// ------------------------------------------------------------------ tests

describe('Engine: a delay task', () => {
  it('runs once at its time and ends Executed with its result', async () => {
    const h = await harness();
    const submitted = await h.engine.submit({ id: 'calc', type: 'delay', time: '1m', script: 'sleep 10s;echo $((1+2))' });
    expect(submitted).toMatchObject({
      createdAt: T0,
      state: { status: 'ToBeExecuted', nextRunAt: T0 + MIN },
      version: 1,
      lastRun: 0,
      lastStatusUpdated: T0,
    });
    expect(await taskOf(h, 'calc')).toEqual(submitted);

    // 1ms before its time nothing has run.
    await step(h, MIN - 1);
    expect(h.runner.runs).toHaveLength(0);
    expect((await taskOf(h, 'calc')).state.status).toBe('ToBeExecuted');

    await fireAt(h, T0 + MIN);
    expect(h.runner.runs.map((r) => r.spec)).toEqual([{ taskId: 'calc', run: 1, script: 'sleep 10s;echo $((1+2))', lang: 'bash', execution: defaultExecution }]);
    expect(await taskOf(h, 'calc')).toMatchObject({
      state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false },
      version: 2,
      lastRun: 1,
      lastStatusUpdated: T0 + MIN,
    });
    expect(await runsOf(h, 'calc')).toMatchObject([
      { run: 1, outcome: 'running', scheduledAt: T0 + MIN, startedAt: T0 + MIN, finishedAt: null },
    ]);
    const run = lastRunOf(h, 'calc');
    expect(h.engine.runsInProgress).toBe(1);

    h.clock.advance(10 * SEC);
    await finish(h, run, { stdout: output('3\n') });
    expect(await taskOf(h, 'calc')).toMatchObject({
      state: { status: 'Executed' },
      version: 3,
      lastStatusUpdated: T0 + MIN + 10 * SEC,
    });
    expect(await runsOf(h, 'calc')).toMatchObject([
      {
        run: 1,
        outcome: 'succeeded',
        exitCode: 0,
        signal: null,
        scheduledAt: T0 + MIN,
        startedAt: T0 + MIN,
        finishedAt: T0 + MIN + 10 * SEC,
        stdout: { text: '3\n', totalBytes: 2, droppedBytes: 0, droppedAt: 0 },
      },
    ]);
    await until(() => h.engine.runsInProgress === 0, 'the run to leave the engine');

    // Nothing is armed any more, and a long time later it still ran only once.
    expect(h.clock.pendingTimers).toBe(0);
    await step(h, 24 * 60 * MIN);
    expect(h.runner.runs).toHaveLength(1);
    expect((await h.engine.get('calc')).runs).toHaveLength(1);
  });

  it('records a failed run and still ends Executed', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'bad', type: 'delay', time: '5s', script: 'exit 3' });
    await fireAt(h, T0 + 5 * SEC);
    await finish(h, lastRunOf(h, 'bad'), { outcome: 'failed', exitCode: 3, stderr: output('oops\n') });
    expect((await taskOf(h, 'bad')).state.status).toBe('Executed');
    expect(await runsOf(h, 'bad')).toMatchObject([{ run: 1, outcome: 'failed', exitCode: 3, stderr: { text: 'oops\n' } }]);
  });

  it('several tasks due at once each run once, and a later one waits for its own time', async () => {
    const h = await harness();
    for (const id of ['a', 'b', 'c']) await h.engine.submit({ id, type: 'delay', time: '10s', script: `echo ${id}` });
    await h.engine.submit({ id: 'later', type: 'delay', time: '30s', script: 'echo later' });
    await fireAt(h, T0 + 10 * SEC);
    expect(h.runner.runs.map((r) => r.taskId).sort()).toEqual(['a', 'b', 'c']);
    await fireAt(h, T0 + 30 * SEC);
    expect(h.runner.runs.map((r) => r.taskId).sort()).toEqual(['a', 'b', 'c', 'later']);
  });
});

describe('Engine: submit', () => {
  it('refuses an invalid task or a taken id, and stores nothing for it', async () => {
    const h = await harness();
    expect(await rejection(h.engine.submit({ id: 'x', type: 'cron', time: '50ms', script: 'ls' }))).toMatchObject({ code: 'invalid_request' });
    expect(await rejection(h.engine.submit({ id: 'bad id', type: 'delay', time: '1s', script: 'ls' }))).toMatchObject({ code: 'invalid_request' });
    expect(await h.inner.getTask('x')).toBeUndefined();

    await h.engine.submit({ id: 'x', type: 'delay', time: '1s', script: 'echo first' });
    expect(await rejection(h.engine.submit({ id: 'x', type: 'cron', time: '1s', script: 'echo second' }))).toMatchObject({ code: 'already_exists' });
    expect(await taskOf(h, 'x')).toMatchObject({ type: 'delay', script: 'echo first' });
    await fireAt(h, T0 + SEC);
    expect(h.runner.runs.map((r) => r.spec.script)).toEqual(['echo first']);
    expect((await h.engine.list({ limit: 10 })).tasks.map((t) => t.id)).toEqual(['x']);
  });

  it('a delay of 0 runs at once', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'now', type: 'delay', time: '0', script: 'echo' });
    await fireAt(h, T0);
    expect(h.runner.runs.map((r) => [r.taskId, r.startedAt])).toEqual([['now', T0]]);
  });
});

describe('Engine: a cron task', () => {
  it('fires on its grid, anchored at submission, however long each run takes', async () => {
    const h = await harness();
    h.clock.advance(250); // so that the grid is not aligned with round seconds
    const created = h.clock.now();
    await h.engine.submit({ id: 'tick', type: 'cron', time: '10s', script: 'ls' });

    for (let k = 1; k <= 4; k++) {
      await fireAt(h, created + k * 10 * SEC);
      const run = lastRunOf(h, 'tick');
      expect(run.run).toBe(k);
      expect(run.startedAt).toBe(created + k * 10 * SEC);
      expect(await taskOf(h, 'tick')).toMatchObject({
        state: { status: 'Executing', run: k, nextRunAt: created + (k + 1) * 10 * SEC, stopRequested: false },
      });
      h.clock.advance(2 * SEC + k * 1_700); // runs of different lengths, the last one 8.8s
      await finish(h, run, { stdout: output(`run ${k}\n`) });
      expect((await taskOf(h, 'tick')).state).toEqual({
        status: 'WaitForNextExecution',
        nextRunAt: created + (k + 1) * 10 * SEC,
      });
    }

    const runs = await runsOf(h, 'tick');
    expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - created, r.startedAt! - created, r.stdout.text])).toEqual([
      [1, 'succeeded', 10 * SEC, 10 * SEC, 'run 1\n'],
      [2, 'succeeded', 20 * SEC, 20 * SEC, 'run 2\n'],
      [3, 'succeeded', 30 * SEC, 30 * SEC, 'run 3\n'],
      [4, 'succeeded', 40 * SEC, 40 * SEC, 'run 4\n'],
    ]);
    // Two changes per run: start and finish.
    expect((await taskOf(h, 'tick')).version).toBe(1 + 2 * 4);
  });

  it('records a tick that comes during a long run as skipped, and the grid goes on', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'slow', type: 'cron', time: '10s', script: 'sleep 25' });
    await fireAt(h, T0 + 10 * SEC);
    const first = lastRunOf(h, 'slow');

    const watch = h.feed.subscribe('slow', 10 * MIN);
    await fireAt(h, T0 + 20 * SEC);
    expect(await withDeadline(watch.next)).toBe('changed');
    // No second process: the tick was skipped, run 1 goes on.
    expect(h.runner.runsOf('slow')).toHaveLength(1);
    expect(first.settled).toBe(false);
    expect(await taskOf(h, 'slow')).toMatchObject({
      state: { status: 'Executing', run: 1, nextRunAt: T0 + 30 * SEC, stopRequested: false },
      lastRun: 2,
      version: 3,
      lastStatusUpdated: T0 + 10 * SEC, // still Executing since run 1 started
    });
    expect(await runsOf(h, 'slow')).toMatchObject([
      { run: 1, outcome: 'running' },
      { run: 2, outcome: 'skipped', scheduledAt: T0 + 20 * SEC, startedAt: null, finishedAt: T0 + 20 * SEC, error: 'run 1 was still executing' },
    ]);
    expect(h.log.entries.some((e) => e.level === 'warn' && /tick skipped/.test(e.message))).toBe(true);

    await stepTo(h, T0 + 25 * SEC);
    await finish(h, first);
    expect((await taskOf(h, 'slow')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 30 * SEC });

    await fireAt(h, T0 + 30 * SEC);
    const third = lastRunOf(h, 'slow');
    expect(third.run).toBe(3);
    // It finishes 7s late for nothing: the next run is still at 40s, not 30s + 7s + 10s.
    await stepTo(h, T0 + 37 * SEC);
    await finish(h, third);
    await fireAt(h, T0 + 40 * SEC);
    expect(lastRunOf(h, 'slow').run).toBe(4);
    expect((await runsOf(h, 'slow')).map((r) => [r.run, r.outcome, r.scheduledAt - T0, r.startedAt === null ? null : r.startedAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC, 10 * SEC],
      [2, 'skipped', 20 * SEC, null],
      [3, 'succeeded', 30 * SEC, 30 * SEC],
      [4, 'running', 40 * SEC, 40 * SEC],
    ]);
  });

  it('keeps only the newest keepRuns runs', async () => {
    const h = await harness({ keepRuns: 3 });
    await h.engine.submit({ id: 'often', type: 'cron', time: '1s', script: 'date' });
    for (let k = 1; k <= 5; k++) {
      await fireAt(h, T0 + k * SEC);
      h.clock.advance(100);
      await finish(h, lastRunOf(h, 'often'), { stdout: output(`${k}\n`) });
    }
    expect(h.runner.runsOf('often')).toHaveLength(5);
    const runs = await runsOf(h, 'often');
    expect(runs.map((r) => r.run)).toEqual([3, 4, 5]);
    expect(runs.map((r) => r.stdout.text)).toEqual(['3\n', '4\n', '5\n']);
    expect((await h.engine.get('often')).runs.map((r) => r.run)).toEqual([3, 4, 5]);
  });
});

describe('Engine: a run that cannot be started', () => {
  it('is recorded as failed, and the task moves on instead of staying Executing', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo' });
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'echo' });
    h.runner.failNextStart = Object.assign(new Error('spawn failed: ENOSPC'), { code: 'ENOSPC' });
    await fireAt(h, T0 + 10 * SEC);
    // One of the two could not start; whichever it was, it ends like a failed run.
    const started = h.runner.runs.map((r) => r.taskId);
    expect(started).toHaveLength(1);
    const failedId = started[0] === 'd' ? 'c' : 'd';
    await until(async () => (await runsOf(h, failedId))[0]?.outcome === 'failed', 'the failed start to be recorded');
    expect(await runsOf(h, failedId)).toMatchObject([
      { run: 1, outcome: 'failed', exitCode: null, error: expect.stringMatching(/could not be started.*ENOSPC/) },
    ]);
    await until(() => h.engine.runsInProgress === 1, 'the failed run to leave the engine');
    expect((await taskOf(h, failedId)).state).toEqual(
      failedId === 'd' ? { status: 'Executed' } : { status: 'WaitForNextExecution', nextRunAt: T0 + 20 * SEC },
    );
    if (failedId === 'c') {
      await fireAt(h, T0 + 20 * SEC);
      expect(h.runner.runsOf('c').map((r) => r.run)).toEqual([2]);
    }
    // The error is logged once, as what it is (the firing pass itself did not fail).
    expect(h.log.errors.map((e) => e.message)).toEqual(['could not start a run']);
    uncheckLog(h.log);
  });
});

describe('Engine: stop', () => {
  it('a delay task stopped before it starts never runs and ends Stopped', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '1m', script: 'echo' });
    h.clock.advance(30 * SEC);
    const { task, warning } = await h.engine.stop('d');
    expect(warning).toBeNull();
    expect(task).toMatchObject({ state: { status: 'Stopped' }, version: 2, lastStatusUpdated: T0 + 30 * SEC });
    expect(await taskOf(h, 'd')).toEqual(task);

    await step(h, 10 * MIN);
    expect(h.runner.runs).toHaveLength(0);
    expect(await runsOf(h, 'd')).toEqual([]);
    expect((await taskOf(h, 'd')).state.status).toBe('Stopped');
  });

  it('a delay task that has started refuses the stop, runs to the end and ends Executed; stopping it then is refused too', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '1m', script: 'echo' });
    await fireAt(h, T0 + MIN);
    const before = await taskOf(h, 'd');

    const refused = await rejection(h.engine.stop('d'));
    expect(refused).toBeInstanceOf(SchedulerError);
    expect(refused).toMatchObject({ code: 'stop_refused' });
    expect(await taskOf(h, 'd')).toEqual(before); // nothing was written
    const run = lastRunOf(h, 'd');
    expect(run.killCalls).toBe(0);

    await finish(h, run, { stdout: output('done\n') });
    expect((await taskOf(h, 'd')).state.status).toBe('Executed');
    expect(await rejection(h.engine.stop('d'))).toMatchObject({ code: 'stop_refused' });
    expect((await taskOf(h, 'd')).state.status).toBe('Executed');
    expect(await runsOf(h, 'd')).toMatchObject([{ run: 1, outcome: 'succeeded', stdout: { text: 'done\n' } }]);
  });

  it('a cron task stopped before its first run never runs', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    h.clock.advance(9 * SEC);
    expect(await h.engine.stop('c')).toMatchObject({ task: { state: { status: 'Stopped' } }, warning: null });
    for (let k = 1; k <= 3; k++) await stepTo(h, T0 + k * 10 * SEC);
    expect(h.runner.runs).toHaveLength(0);
    expect(await runsOf(h, 'c')).toEqual([]);
  });

  it('a cron task stopped during a run: the run goes on and is kept, no later run, then Stopped', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    await fireAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'c');
    h.clock.advance(2 * SEC);

    const first = await h.engine.stop('c');
    expect(first.warning).toMatch(/still executing/);
    expect(first.task).toMatchObject({ state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: true } });
    // A second stop is a no-op with the same warning.
    const again = await h.engine.stop('c');
    expect(again.warning).toBe(first.warning);
    expect(again.task.version).toBe(first.task.version);

    // Ticks pass while the run goes on: nothing new starts, nothing is even recorded as skipped.
    await stepTo(h, T0 + 20 * SEC);
    await stepTo(h, T0 + 30 * SEC);
    expect(run.killCalls).toBe(0);
    expect(h.runner.runs).toHaveLength(1);
    expect((await runsOf(h, 'c')).map((r) => r.run)).toEqual([1]);

    await finish(h, run, { stdout: output('kept\n') });
    expect(await taskOf(h, 'c')).toMatchObject({ state: { status: 'Stopped' }, lastStatusUpdated: T0 + 30 * SEC });
    expect(await runsOf(h, 'c')).toMatchObject([{ run: 1, outcome: 'succeeded', stdout: { text: 'kept\n' } }]);
    for (let k = 4; k <= 6; k++) await stepTo(h, T0 + k * 10 * SEC);
    expect(h.runner.runs).toHaveLength(1);
    // Stopping a Stopped task is a quiet no-op.
    expect(await h.engine.stop('c')).toMatchObject({ task: { state: { status: 'Stopped' } }, warning: null });
  });

  it('a cron task stopped between two runs skips the next run and ends Stopped', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    await fireAt(h, T0 + 10 * SEC);
    await finish(h, lastRunOf(h, 'c'));
    h.clock.advance(5 * SEC);
    expect(await h.engine.stop('c')).toMatchObject({ task: { state: { status: 'Stopped' } }, warning: null });
    for (let k = 2; k <= 5; k++) await stepTo(h, T0 + k * 10 * SEC);
    expect(h.runner.runs).toHaveLength(1);
    expect((await runsOf(h, 'c')).map((r) => r.run)).toEqual([1]);
  });

  it('an unknown task: not_found', async () => {
    const h = await harness();
    expect(await rejection(h.engine.stop('nope'))).toMatchObject({ code: 'not_found' });
  });
});

describe('Engine: a stop racing with the start of a run', () => {
  /**
   * How the stop is placed against the timer that makes the task due: before it in the same
   * turn, right after it in the same turn, after some microtasks, or in the next macrotask.
   * Which side wins depends on the placement; the outcome must always be a whole one.
   */
  const placements: Array<{ name: string; before?: true; microtasks?: number; macrotask?: true }> = [
    { name: 'stop, then the timer, in the same turn', before: true },
    { name: 'the timer, then stop, in the same turn', microtasks: 0 },
    ...[1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 30].map((n) => ({ name: `stop ${n} microtasks after the timer`, microtasks: n })),
    { name: 'stop in the next macrotask', macrotask: true },
  ];

  type Settled = { ok: true; value: { task: Task; warning: string | null } } | { ok: false; error: unknown };

  /** Submits `type`, races a stop with its first fire as `placement` says, and returns the stop's outcome. */
  async function race(type: 'delay' | 'cron', placement: (typeof placements)[number]) {
    const h = await harness();
    await h.engine.submit({ id: 'r', type, time: '10s', script: 'echo' });
    const mark = h.calls.length;
    let stopped: Promise<Settled> | undefined;
    const issueStop = () => {
      stopped = h.engine.stop('r').then(
        (value): Settled => ({ ok: true, value }),
        (error: unknown): Settled => ({ ok: false, error }),
      );
    };
    if (placement.before) issueStop();
    h.clock.advance(10 * SEC);
    if (!placement.before) {
      if (placement.macrotask) await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < (placement.microtasks ?? 0); i++) await Promise.resolve();
      issueStop();
    }
    const settled = await stopped!;
    // The pass the timer started has run to its end, whatever it found.
    await until(() => passOverSince(h, mark), 'the firing pass to end');
    return { h, settled };
  }

  it('a delay task: exactly one outcome, never a mix: the stop wins (never runs, Stopped) or is refused stop_refused (runs once, Executed)', async () => {
    const seen = new Set<string>();
    for (const placement of placements) {
      const { h, settled } = await race('delay', placement);
      const where = `${placement.name}: `;
      if (settled.ok) {
        seen.add('stopped');
        expect(settled.value.warning, where).toBeNull();
        expect(settled.value.task.state.status, where).toBe('Stopped');
        expect(h.runner.runs, where).toHaveLength(0);
        // Later still, no run starts after the successful stop.
        await step(h, MIN);
        expect(h.runner.runs, where).toHaveLength(0);
        expect(await runsOf(h, 'r'), where).toEqual([]);
        expect((await taskOf(h, 'r')).state.status, where).toBe('Stopped');
      } else {
        seen.add('refused');
        expect(settled.error, where).toBeInstanceOf(SchedulerError);
        expect((settled.error as SchedulerError).code, where).toBe('stop_refused');
        expect(h.runner.runs, where).toHaveLength(1);
        expect((await taskOf(h, 'r')).state, where).toMatchObject({ status: 'Executing', run: 1 });
        await finish(h, lastRunOf(h, 'r'));
        expect((await taskOf(h, 'r')).state.status, where).toBe('Executed');
        await step(h, MIN);
        expect(h.runner.runs, where).toHaveLength(1);
      }
    }
    // The placements cover both sides of the race, so both outcomes were checked.
    expect([...seen].sort()).toEqual(['refused', 'stopped']);
  });

  it('a cron task: exactly one outcome, never a mix: the stop lands before the fire (never runs) or during its run (the run goes on, warned, nothing after); Stopped', async () => {
    const seen = new Set<string>();
    for (const placement of placements) {
      const { h, settled } = await race('cron', placement);
      const where = `${placement.name}: `;
      expect(settled.ok, `${where}a stop of a cron task never fails`).toBe(true);
      if (!settled.ok) continue;
      if (settled.value.warning === null) {
        seen.add('stopped');
        expect(settled.value.task.state.status, where).toBe('Stopped');
        expect(h.runner.runs, where).toHaveLength(0);
        for (let k = 2; k <= 4; k++) await stepTo(h, T0 + k * 10 * SEC);
        expect(h.runner.runs, where).toHaveLength(0);
        expect(await runsOf(h, 'r'), where).toEqual([]);
      } else {
        seen.add('stop requested');
        expect(settled.value.warning, where).toMatch(/still executing/);
        expect(settled.value.task.state, where).toEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: true, fire: T0 + 10 * SEC, attempt: 1 });
        expect(h.runner.runs, where).toHaveLength(1);
        for (let k = 2; k <= 3; k++) await stepTo(h, T0 + k * 10 * SEC);
        const run = lastRunOf(h, 'r');
        expect(run.killCalls, where).toBe(0);
        await finish(h, run);
        expect((await taskOf(h, 'r')).state.status, where).toBe('Stopped');
        await stepTo(h, T0 + 4 * 10 * SEC);
        expect(h.runner.runs, where).toHaveLength(1);
        expect((await runsOf(h, 'r')).map((r) => [r.run, r.outcome]), where).toEqual([[1, 'succeeded']]);
      }
    }
    expect([...seen].sort()).toEqual(['stop requested', 'stopped']);
  });
});

describe('Engine: kill', () => {
  it('ends the run in progress, records it as killed, and the cron schedule goes on', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'sleep 100' });
    await fireAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'c');
    h.clock.advance(2 * SEC);

    const { task, runs } = await withDeadline(h.engine.kill('c'));
    expect(run.killCalls).toBe(1);
    expect(task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 20 * SEC });
    expect(runs).toMatchObject([{ run: 1, outcome: 'killed', signal: 'SIGTERM', error: 'killed on request (SIGTERM)', finishedAt: T0 + 12 * SEC }]);
    await until(() => h.engine.runsInProgress === 0, 'the killed run to leave the engine');

    await fireAt(h, T0 + 20 * SEC);
    expect(h.runner.runsOf('c').map((r) => r.run)).toEqual([1, 2]);
    // A run that ends by itself is not taken for a killed one.
    await finish(h, lastRunOf(h, 'c'));
    expect((await runsOf(h, 'c')).map((r) => r.outcome)).toEqual(['killed', 'succeeded']);
  });

  it('a killed delay task ends Executed', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '1s', script: 'sleep 100' });
    await fireAt(h, T0 + SEC);
    const { task, runs } = await withDeadline(h.engine.kill('d'));
    expect(task.state).toEqual({ status: 'Executed' });
    expect(runs.map((r) => r.outcome)).toEqual(['killed']);
  });

  it('refuses a task with no run executing (not_running) and an unknown one (not_found)', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'idle', type: 'delay', time: '1h', script: 'true' });
    expect(await rejection(h.engine.kill('idle'))).toMatchObject({ code: 'not_running' });
    expect(await rejection(h.engine.kill('nobody'))).toMatchObject({ code: 'not_found' });
    expect((await taskOf(h, 'idle')).version).toBe(1);
  });
});

describe('Engine: delete', () => {
  it('kills the running run, removes the task with its runs, and tells watchers', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'sleep 100' });
    await fireAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'c');
    const watch = h.feed.subscribe('c', 10 * MIN);

    await h.engine.delete('c');
    expect(run.killCalls).toBe(1);
    expect(run.result).toMatchObject({ signal: 'SIGTERM' });
    expect(await withDeadline(watch.next)).toBe('deleted');
    expect(await h.inner.getTask('c')).toBeUndefined();
    expect(await runsOf(h, 'c')).toEqual([]);
    expect(await rejection(h.engine.get('c'))).toMatchObject({ code: 'not_found' });
    await until(() => h.engine.runsInProgress === 0, 'the killed run to leave the engine');
    // The end of the killed run finds no task, and that is not an error.
    expect(h.log.errors).toEqual([]);

    for (let k = 2; k <= 4; k++) await stepTo(h, T0 + k * 10 * SEC);
    expect(h.runner.runs).toHaveLength(1);
    expect(await rejection(h.engine.delete('c'))).toMatchObject({ code: 'not_found' });
  });

  it('a waiting task is removed and never runs; its id can be used again', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo old' });
    await h.engine.delete('d');
    await stepTo(h, T0 + 20 * SEC);
    expect(h.runner.runs).toHaveLength(0);

    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo new' });
    await fireAt(h, T0 + 30 * SEC);
    expect(h.runner.runs.map((r) => r.spec.script)).toEqual(['echo new']);
  });
});

describe('Engine: the change feed', () => {
  it('is told of every change, and not of a no-op', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });

    let watch = h.feed.subscribe('c', 10 * MIN);
    await fireAt(h, T0 + 10 * SEC);
    expect(await withDeadline(watch.next)).toBe('changed');
    expect((await taskOf(h, 'c')).version).toBe(2);

    watch = h.feed.subscribe('c', 10 * MIN);
    await finish(h, lastRunOf(h, 'c'));
    expect(await withDeadline(watch.next)).toBe('changed');
    expect((await taskOf(h, 'c')).version).toBe(3);

    watch = h.feed.subscribe('c', 10 * MIN);
    await h.engine.stop('c');
    expect(await withDeadline(watch.next)).toBe('changed');
    expect((await taskOf(h, 'c')).version).toBe(4);

    // A stop of a Stopped task changes nothing, so no one is woken.
    watch = h.feed.subscribe('c', 10 * MIN);
    await h.engine.stop('c');
    expect(h.feed.waiting).toBe(1);
    expect((await taskOf(h, 'c')).version).toBe(4);

    await h.engine.delete('c');
    expect(await withDeadline(watch.next)).toBe('deleted');
    expect(h.feed.waiting).toBe(0);
  });

  it('is not told when a stop is refused', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo' });
    await fireAt(h, T0 + 10 * SEC);
    const watch = h.feed.subscribe('d', 10 * MIN);
    await rejection(h.engine.stop('d'));
    expect(h.feed.waiting).toBe(1);
    watch.cancel();
    expect(await watch.next).toBe('timeout');
  });
});

describe('Engine: shutdown', () => {
  it('ends the runs in progress, records them as interrupted, and schedules nothing more', async () => {
    const h = await harness({ shutdownAtEnd: false });
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'sleep 100' });
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'sleep 100' });
    await fireAt(h, T0 + 10 * SEC);
    expect(h.engine.runsInProgress).toBe(2);
    h.clock.advance(3 * SEC);

    await h.engine.shutdown();
    expect(h.engine.runsInProgress).toBe(0);
    for (const run of h.runner.runs) expect(run.killCalls).toBe(1);
    for (const id of ['d', 'c']) {
      expect(await runsOf(h, id)).toMatchObject([
        { run: 1, outcome: 'interrupted', finishedAt: T0 + 13 * SEC, startedAt: T0 + 10 * SEC, error: expect.stringMatching(/shut down/) },
      ]);
    }
    expect((await taskOf(h, 'd')).state).toEqual({ status: 'Executed' });
    expect((await taskOf(h, 'c')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 20 * SEC });

    // No timer is left, so the cron task's next tick never comes in this engine.
    expect(h.clock.pendingTimers).toBe(0);
    h.clock.advance(5 * MIN);
    expect(h.runner.runs).toHaveLength(2);
  });
});

describe('Engine: restart after a crash', () => {
  /** A first engine on a database file that dies (is abandoned, like kill -9) at `crashAt`. */
  async function crashedDaemon() {
    const path = tempDbPath();
    const clock = new FakeClock(T0);
    const first = await harness({ path, clock, shutdownAtEnd: false, runner: new FakeRunner({ now: () => clock.now(), firstPid: 1000 }) });
    return { path, first };
  }

  /** A second engine on the same file, started at `at` with its own clock and runner. */
  async function restart(path: string, at: number, prepare?: (runner: FakeRunner) => void) {
    const clock = new FakeClock(at);
    const runner = new FakeRunner({ now: () => clock.now(), firstPid: 2000 });
    prepare?.(runner);
    return harness({ path, clock, runner });
  }

  it('records the run that was executing as interrupted, with the output spooled before the crash, ended when last known alive', async () => {
    const { path, first } = await crashedDaemon();
    await first.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo partial; sleep 100' });
    await fireAt(first, T0 + 10 * SEC);
    // kill -9: the first engine is abandoned as it is, its run still 'running'.

    const second = await restart(path, T0 + 5 * MIN, (runner) => {
      runner.spooled.set('d#1', { stdout: output('partial\n'), stderr: output('warn\n'), lastAliveAt: T0 + 2 * MIN });
    });
    expect(await runsOf(second, 'd')).toMatchObject([
      {
        run: 1,
        outcome: 'interrupted',
        scheduledAt: T0 + 10 * SEC,
        startedAt: T0 + 10 * SEC,
        // Its last output or the daemon's last heartbeat, not the restart.
        finishedAt: T0 + 2 * MIN,
        exitCode: null,
        error: expect.stringMatching(/daemon stopped/),
        stdout: { text: 'partial\n', totalBytes: 8, droppedBytes: 0, droppedAt: 0 },
        stderr: { text: 'warn\n' },
      },
    ]);
    expect(await taskOf(second, 'd')).toMatchObject({ state: { status: 'Executed' }, lastStatusUpdated: T0 + 5 * MIN });
    // What the crashed daemon's runs left behind was killed first, and the spool dropped.
    expect(second.runner.calls).toEqual([
      { kind: 'killOrphans' },
      { kind: 'recoverOutput', taskId: 'd', run: 1 },
      { kind: 'removeSpool', taskId: 'd', run: 1 },
    ]);
    // A delay task does not run again.
    await step(second, 0);
    await step(second, 10 * MIN);
    expect(second.runner.runs).toHaveLength(0);
  });

  it('runs a delay task that came due while the daemon was down, once, at start', async () => {
    const { path, first } = await crashedDaemon();
    await first.engine.submit({ id: 'late', type: 'delay', time: '1m', script: 'echo late' });
    await first.engine.submit({ id: 'future', type: 'delay', time: '1h', script: 'echo future' });

    const second = await restart(path, T0 + 10 * MIN);
    await fireAt(second, T0 + 10 * MIN); // the timer armed at start is due at once
    expect(second.runner.runs.map((r) => r.spec.taskId)).toEqual(['late']);
    expect(await runsOf(second, 'late')).toMatchObject([{ run: 1, outcome: 'running', scheduledAt: T0 + MIN, startedAt: T0 + 10 * MIN }]);
    await finish(second, lastRunOf(second, 'late'));
    expect((await taskOf(second, 'late')).state.status).toBe('Executed');
    // The other one keeps its own time.
    await stepTo(second, T0 + 59 * MIN);
    expect(second.runner.runs).toHaveLength(1);
    await fireAt(second, T0 + 60 * MIN);
    expect(second.runner.runs.map((r) => r.spec.taskId)).toEqual(['late', 'future']);
  });

  it('a cron task that missed ticks while down runs once, then continues on its original grid', async () => {
    const { path, first } = await crashedDaemon();
    first.clock.advance(3_217);
    const created = first.clock.now();
    await first.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    await fireAt(first, created + 10 * SEC);
    first.clock.advance(SEC);
    await finish(first, lastRunOf(first, 'c'));
    await fireAt(first, created + 20 * SEC);
    // kill -9 during run 2.

    const downUntil = created + 10 * MIN + 4_500; // 58 ticks missed
    const second = await restart(path, downUntil);
    expect((await taskOf(second, 'c')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: created + 30 * SEC });
    await fireAt(second, downUntil);
    // One catch-up run now (run 4), for the latest missed tick (+600s); the 57 before it are
    // not replayed, and one skipped record (run 3, at the first of them) says so.
    expect(second.runner.runs.map((r) => r.run)).toEqual([4]);
    expect(await taskOf(second, 'c')).toMatchObject({
      state: { status: 'Executing', run: 4, nextRunAt: created + 10 * MIN + 10 * SEC, fire: created + 10 * MIN, attempt: 1 },
      lastRun: 4,
    });
    second.clock.advance(SEC);
    await finish(second, lastRunOf(second, 'c'));

    for (const k of [61, 62, 63]) {
      await fireAt(second, created + k * 10 * SEC);
      const run = lastRunOf(second, 'c');
      expect(run.startedAt).toBe(created + k * 10 * SEC);
      await finish(second, run);
    }
    const runs = await runsOf(second, 'c');
    expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - created])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'interrupted', 20 * SEC],
      [3, 'skipped', 30 * SEC],
      [4, 'succeeded', 600 * SEC],
      [5, 'succeeded', 610 * SEC],
      [6, 'succeeded', 620 * SEC],
      [7, 'succeeded', 630 * SEC],
    ]);
    expect(runs[2]).toMatchObject({
      startedAt: null,
      finishedAt: downUntil,
      error: '57 fires passed while the task could not run (the daemon was not running, or was busy); catch-up once: the latest runs instead',
    });
    expect(runs[3]!.startedAt).toBe(downUntil);
    expect(second.runner.runs).toHaveLength(4);
  });

  it('a cron task stopped during the run that the crash interrupted ends Stopped and never runs again', async () => {
    const { path, first } = await crashedDaemon();
    await first.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    await fireAt(first, T0 + 10 * SEC);
    expect((await first.engine.stop('c')).warning).toMatch(/still executing/);
    // kill -9 with the stop requested and run 1 going on.

    const second = await restart(path, T0 + 2 * MIN);
    expect(await taskOf(second, 'c')).toMatchObject({ state: { status: 'Stopped' } });
    expect((await runsOf(second, 'c')).map((r) => [r.run, r.outcome])).toEqual([[1, 'interrupted']]);
    await step(second, 0);
    await step(second, 5 * MIN);
    expect(second.runner.runs).toHaveLength(0);
  });

  it('a restart after a clean shutdown has nothing to recover', async () => {
    const path = tempDbPath();
    const first = await harness({ path, shutdownAtEnd: false });
    await first.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'ls' });
    await fireAt(first, T0 + 10 * SEC);
    await first.engine.shutdown();

    const second = await restart(path, T0 + 15 * SEC);
    expect(second.runner.calls).toEqual([]);
    expect((await runsOf(second, 'c')).map((r) => r.outcome)).toEqual(['interrupted']);
    await fireAt(second, T0 + 20 * SEC);
    expect(second.runner.runs.map((r) => r.run)).toEqual([2]);
  });
});

/** One call the engine made on its TaskActivity. */
type ActivityCall =
  | { kind: 'changed'; task: Task; previous: Task; effect: Effect | null }
  | { kind: 'output'; taskId: string; run: number; stream: OutputStream; offset: number; text: string; at: number }
  | { kind: 'deleted'; taskId: string };

/** A TaskActivity that keeps every call, in order. */
class RecordingActivity implements TaskActivity {
  readonly calls: ActivityCall[] = [];
  changed(task: Task, previous: Task, effect: Effect | null): void {
    this.calls.push({ kind: 'changed', task, previous, effect });
  }
  output(taskId: string, run: number, stream: OutputStream, offset: number, chunk: Buffer, at: number): void {
    this.calls.push({ kind: 'output', taskId, run, stream, offset, text: chunk.toString('utf8'), at });
  }
  deleted(taskId: string): void {
    this.calls.push({ kind: 'deleted', taskId });
  }
  get changes() {
    return this.calls.filter((call) => call.kind === 'changed');
  }
  get outputs() {
    return this.calls.filter((call) => call.kind === 'output');
  }
}

describe('Engine: activity', () => {
  it('is told of each committed change: the task after and before it, and the effect', async () => {
    const activity = new RecordingActivity();
    const h = await harness({ activity });
    const submitted = await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'work' });

    await fireAt(h, T0 + 10 * SEC);
    const started = await taskOf(h, 'c');
    expect(activity.changes).toEqual([
      { kind: 'changed', task: started, previous: submitted, effect: { kind: 'startRun', run: 1, scheduledAt: T0 + 10 * SEC, startedAt: T0 + 10 * SEC, attempt: 1 } },
    ]);

    h.clock.advance(3 * SEC);
    const first = lastRunOf(h, 'c');
    await finish(h, first, { stdout: output('one\n') });
    const waiting = await taskOf(h, 'c');
    expect(activity.changes[1]).toEqual({ kind: 'changed', task: waiting, previous: started, effect: { kind: 'finishRun', run: 1, result: first.result } });

    // A run, a tick skipped during it, a stop during it (no effect), and its end.
    await fireAt(h, T0 + 20 * SEC);
    await fireAt(h, T0 + 30 * SEC);
    await h.engine.stop('c');
    await finish(h, lastRunOf(h, 'c'));
    const stopped = await taskOf(h, 'c');
    expect(stopped.state.status).toBe('Stopped');
    const changes = activity.changes;
    expect(changes.map((call) => call.effect?.kind ?? null)).toEqual(['startRun', 'finishRun', 'startRun', 'skipRun', null, 'finishRun']);
    expect(changes[3]!.effect).toEqual({ kind: 'skipRun', run: 3, scheduledAt: T0 + 30 * SEC, at: T0 + 30 * SEC, reason: 'run 2 was still executing' });
    // Each change starts from the task the one before left, one version on, and the last is what the store has.
    expect(changes[0]!.previous).toEqual(submitted);
    for (let i = 1; i < changes.length; i++) {
      expect(changes[i]!.previous).toEqual(changes[i - 1]!.task);
      expect(changes[i]!.task.version).toBe(changes[i]!.previous.version + 1);
    }
    expect(changes.at(-1)!.task).toEqual(stopped);
    // A stop that changes nothing tells nothing.
    await h.engine.stop('c');
    expect(activity.changes).toHaveLength(6);
  });

  it('is told of a deletion, and of no change for the run the deletion killed', async () => {
    const activity = new RecordingActivity();
    const h = await harness({ activity });
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'sleep 100' });
    await fireAt(h, T0 + 10 * SEC);
    expect(activity.calls.map((call) => call.kind)).toEqual(['changed']);

    await h.engine.delete('c');
    await until(() => h.engine.runsInProgress === 0, 'the killed run to leave the engine');
    expect(lastRunOf(h, 'c').killCalls).toBe(1);
    expect(activity.calls.slice(1)).toEqual([{ kind: 'deleted', taskId: 'c' }]);
  });

  it('is handed every chunk a run writes, with its task, run, stream and offset, timed by the clock', async () => {
    const activity = new RecordingActivity();
    const h = await harness({ activity });
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'talk' });
    await h.engine.submit({ id: 'other', type: 'cron', time: '10s', script: 'talk' });
    await fireAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'c');
    run.write('stdout', 'hello ');
    run.write('stderr', 'warn ✓\n');
    h.clock.advance(2 * SEC);
    lastRunOf(h, 'other').write('stdout', 'elsewhere\n');
    run.write('stdout', 'world\n');
    expect(activity.outputs).toEqual([
      { kind: 'output', taskId: 'c', run: 1, stream: 'stdout', offset: 0, text: 'hello ', at: T0 + 10 * SEC },
      { kind: 'output', taskId: 'c', run: 1, stream: 'stderr', offset: 0, text: 'warn ✓\n', at: T0 + 10 * SEC },
      { kind: 'output', taskId: 'other', run: 1, stream: 'stdout', offset: 0, text: 'elsewhere\n', at: T0 + 12 * SEC },
      { kind: 'output', taskId: 'c', run: 1, stream: 'stdout', offset: 6, text: 'world\n', at: T0 + 12 * SEC },
    ]);
    expect(run.listenCalls).toBe(1);

    // The next run of the task starts its streams at offset 0 again.
    await finish(h, run);
    await finish(h, lastRunOf(h, 'other'));
    await fireAt(h, T0 + 20 * SEC);
    lastRunOf(h, 'c').write('stdout', 'again\n');
    expect(activity.outputs.at(-1)).toEqual({ kind: 'output', taskId: 'c', run: 2, stream: 'stdout', offset: 0, text: 'again\n', at: T0 + 20 * SEC });
  });

  it('an engine without an activity listener runs as before', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'talk' });
    await fireAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'd');
    run.write('stdout', 'nobody listens\n');
    await finish(h, run);
    expect((await runsOf(h, 'd'))[0]!.stdout.text).toBe('nobody listens\n');
  });
});

describe('Engine: liveOutput and getTask', () => {
  it('liveOutput gives the output of the run in progress so far, and nothing before or after it', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'talk' });
    expect(h.engine.liveOutput('d')).toBeUndefined();
    await fireAt(h, T0 + 10 * SEC);
    expect(h.engine.liveOutput('d')).toEqual({ run: 1, stdout: noOutput, stderr: noOutput });

    const run = lastRunOf(h, 'd');
    run.write('stdout', 'hello ');
    run.write('stderr', 'careful\n');
    run.write('stdout', 'wörld\n');
    expect(h.engine.liveOutput('d')).toEqual({ run: 1, stdout: output('hello wörld\n'), stderr: output('careful\n') });
    expect(h.engine.liveOutput('nobody')).toBeUndefined();

    await finish(h, run);
    await until(() => h.engine.liveOutput('d') === undefined, 'the ended run to leave the engine');
    expect((await runsOf(h, 'd'))[0]).toMatchObject({ outcome: 'succeeded', stdout: output('hello wörld\n'), stderr: output('careful\n') });
  });

  it('liveOutput follows the run in progress of a cron task from one run to the next', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'talk' });
    await fireAt(h, T0 + 10 * SEC);
    lastRunOf(h, 'c').write('stdout', 'first\n');
    await finish(h, lastRunOf(h, 'c'));
    await until(() => h.engine.liveOutput('c') === undefined, 'run 1 to leave the engine');
    await fireAt(h, T0 + 20 * SEC);
    expect(h.engine.liveOutput('c')).toEqual({ run: 2, stdout: noOutput, stderr: noOutput });
    lastRunOf(h, 'c').write('stdout', 'second\n');
    expect(h.engine.liveOutput('c')).toMatchObject({ run: 2, stdout: output('second\n') });
  });

  it('getTask gives a task without its runs; not_found for an unknown id', async () => {
    const h = await harness();
    const submitted = await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'true' });
    expect(await h.engine.getTask('d')).toEqual(submitted);
    await fireAt(h, T0 + 10 * SEC);
    expect(await h.engine.getTask('d')).toEqual(await taskOf(h, 'd'));
    expect(await rejection(h.engine.getTask('nobody'))).toMatchObject({ code: 'not_found' });
  });
});

describe('Engine: the bound on all kept output', () => {
  /** Runs cron task `c` `count` times, each run printing 10 bytes, and waits until each has left the engine. */
  async function runTenBytes(h: Harness, from: number, count: number): Promise<void> {
    for (let k = from; k < from + count; k++) {
      await fireAt(h, T0 + k * 10 * SEC);
      h.clock.advance(SEC);
      await finish(h, lastRunOf(h, 'c'), { stdout: output(`run ${k}`.padEnd(9, '.') + '\n') });
      // The bound is applied after the end is recorded, before the run leaves the engine.
      await until(() => h.engine.runsInProgress === 0, `run ${k} to leave the engine`);
    }
  }

  it('drops the output of the runs that finished first once the total is over the bound', async () => {
    const h = await harness({ maxOutputBytes: 25 });
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'talk' });
    await runTenBytes(h, 1, 2);
    expect(await h.inner.outputBytes()).toBe(20);
    expect((await runsOf(h, 'c')).map((run) => run.stdout.text)).toEqual(['run 1....\n', 'run 2....\n']);

    await runTenBytes(h, 3, 1);
    expect(await h.inner.outputBytes()).toBe(20);
    const runs = await runsOf(h, 'c');
    expect(runs.map((run) => run.stdout)).toEqual([droppedOutput(10), output('run 2....\n'), output('run 3....\n')]);
    // The run itself is kept.
    expect(runs[0]).toMatchObject({ run: 1, outcome: 'succeeded' });
    expect(h.log.entries.some((entry) => entry.level === 'info' && /dropped the output/.test(entry.message))).toBe(true);

    await runTenBytes(h, 4, 2);
    expect(await h.inner.outputBytes()).toBe(20);
    expect((await runsOf(h, 'c')).map((run) => run.stdout.text)).toEqual(['', '', '', 'run 4....\n', 'run 5....\n']);
  });

  it('keeps all output when no bound is set', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', script: 'talk' });
    await runTenBytes(h, 1, 4);
    expect(await h.inner.outputBytes()).toBe(40);
    expect((await runsOf(h, 'c')).every((run) => run.stdout.droppedBytes === 0 && run.stdout.text !== '')).toBe(true);
  });
});

describe('Engine: schedules beyond the fixed interval', () => {
  /** The instant of a UTC date-time written without its Z. */
  const utc = (text: string) => Date.parse(`${text}Z`);

  it('a cron expression fires at its calendar times, not an interval after submission', async () => {
    const h = await harness();
    h.clock.advance(3_217); // submitted at 10:00:03.217
    const submitted = await h.engine.submit({ id: 'cal', type: 'cron', time: '*/10 * * * * *', timezone: 'UTC', script: 'date' });
    expect(submitted).toMatchObject({
      schedule: { kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end: null },
      timezone: 'UTC',
      state: { status: 'ToBeExecuted', nextRunAt: T0 + 10 * SEC },
    });

    // The next :x0 second, then every 10 seconds on the clock, however long each run takes.
    for (let k = 1; k <= 4; k++) {
      const at = T0 + k * 10 * SEC;
      await quietUntil(h, at - 1);
      expect(h.runner.runs).toHaveLength(k - 1);
      await fireAt(h, at);
      const run = lastRunOf(h, 'cal');
      expect([run.run, run.startedAt]).toEqual([k, at]);
      expect((await taskOf(h, 'cal')).state).toEqual({ status: 'Executing', run: k, nextRunAt: at + 10 * SEC, stopRequested: false, fire: at, attempt: 1 });
      h.clock.advance(1_000 + k * 1_500);
      await finish(h, run);
    }
    expect((await runsOf(h, 'cal')).map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'succeeded', 20 * SEC],
      [3, 'succeeded', 30 * SEC],
      [4, 'succeeded', 40 * SEC],
    ]);
  });

  it('a cron expression in a time zone fires at that zone’s time', async () => {
    const h = await harness();
    // At 10:00Z on a Wednesday it is 11:00 in Berlin: 09:00 there is 08:00Z tomorrow; 05:00 in New York: 09:00 there is 14:00Z today.
    await h.engine.submit({ id: 'berlin', type: 'cron', time: '0 9 * * *', timezone: 'Europe/Berlin', script: 'echo berlin' });
    await h.engine.submit({ id: 'new-york', type: 'cron', time: '0 9 * * *', timezone: 'America/New_York', script: 'echo ny' });
    expect((await taskOf(h, 'new-york')).state).toEqual({ status: 'ToBeExecuted', nextRunAt: utc('2026-11-25T14:00:00') });
    expect((await taskOf(h, 'berlin')).state).toEqual({ status: 'ToBeExecuted', nextRunAt: utc('2026-11-26T08:00:00') });

    // The engine re-reads the clock every minute at least: it wakes on the way, but runs nothing.
    await stepTo(h, utc('2026-11-25T13:59:59.999'));
    expect(h.runner.runs).toHaveLength(0);
    await fireAt(h, utc('2026-11-25T14:00:00'));
    expect(h.runner.runs.map((r) => r.taskId)).toEqual(['new-york']);
    await finish(h, lastRunOf(h, 'new-york'));
    expect((await taskOf(h, 'new-york')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: utc('2026-11-26T14:00:00') });

    await stepTo(h, utc('2026-11-26T07:59:59.999'));
    expect(h.runner.runs).toHaveLength(1);
    await fireAt(h, utc('2026-11-26T08:00:00'));
    expect(h.runner.runs.map((r) => [r.taskId, r.startedAt])).toEqual([
      ['new-york', utc('2026-11-25T14:00:00')],
      ['berlin', utc('2026-11-26T08:00:00')],
    ]);
  });

  it('a cron expression with an end: fires up to the end (inclusive), then ends Executed after its last run', async () => {
    const h = await harness();
    h.clock.advance(3_217);
    await h.engine.submit({ id: 'ending', type: 'cron', time: '*/10 * * * * *', timezone: 'UTC', end: '2026-11-25T10:00:30Z', script: 'date' });
    for (let k = 1; k <= 3; k++) {
      await fireAt(h, T0 + k * 10 * SEC);
      h.clock.advance(2 * SEC);
      if (k < 3) await finish(h, lastRunOf(h, 'ending'));
    }
    // The last fire's run: no next fire.
    expect((await taskOf(h, 'ending')).state).toEqual({ status: 'Executing', run: 3, nextRunAt: null, stopRequested: false, fire: T0 + 30 * SEC, attempt: 1 });
    await finish(h, lastRunOf(h, 'ending'));
    expect(await taskOf(h, 'ending')).toMatchObject({ state: { status: 'Executed' }, lastStatusUpdated: T0 + 32 * SEC });
    // Nothing is armed any more; a long time later it has still run three times.
    expect(h.clock.pendingTimers).toBe(0);
    await step(h, 10 * MIN);
    expect(h.runner.runs).toHaveLength(3);
    expect((await runsOf(h, 'ending')).map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
      [1, 'succeeded', 10 * SEC],
      [2, 'succeeded', 20 * SEC],
      [3, 'succeeded', 30 * SEC],
    ]);
  });

  it('an interval with a start and an end: its grid starts at start, and it ends Executed after the end', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'window', type: 'cron', time: '10s', start: '2026-11-25T10:05:00Z', end: '2026-11-25T10:05:25Z', script: 'date' });
    expect((await taskOf(h, 'window')).state).toEqual({ status: 'ToBeExecuted', nextRunAt: T0 + 5 * MIN });
    await stepTo(h, T0 + 5 * MIN - 1);
    expect(h.runner.runs).toHaveLength(0);
    for (const at of [T0 + 5 * MIN, T0 + 5 * MIN + 10 * SEC, T0 + 5 * MIN + 20 * SEC]) {
      await fireAt(h, at);
      h.clock.advance(SEC);
      await finish(h, lastRunOf(h, 'window'));
    }
    expect((await taskOf(h, 'window')).state).toEqual({ status: 'Executed' });
    await step(h, MIN);
    expect(h.runner.runs.map((r) => r.startedAt - T0)).toEqual([5 * MIN, 5 * MIN + 10 * SEC, 5 * MIN + 20 * SEC]);
  });

  it('a task with an end stopped during its last run ends Stopped', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '10s', end: '2026-11-25T10:00:10Z', script: 'ls' });
    await fireAt(h, T0 + 10 * SEC);
    expect((await h.engine.stop('c')).warning).toMatch(/still executing/);
    await finish(h, lastRunOf(h, 'c'));
    expect((await taskOf(h, 'c')).state).toEqual({ status: 'Stopped' });
  });

  it('an at task runs once at its time and ends Executed; a stop while it runs is refused', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'once', type: 'at', time: '2026-11-25 11:30', timezone: 'Europe/Berlin', script: 'echo once' });
    // 11:30 in Berlin is 10:30Z.
    expect((await taskOf(h, 'once')).state).toEqual({ status: 'ToBeExecuted', nextRunAt: T0 + 30 * MIN });
    await stepTo(h, T0 + 30 * MIN - 1);
    expect(h.runner.runs).toHaveLength(0);
    await fireAt(h, T0 + 30 * MIN);
    expect(await rejection(h.engine.stop('once'))).toMatchObject({ code: 'stop_refused' });
    await finish(h, lastRunOf(h, 'once'));
    expect((await taskOf(h, 'once')).state).toEqual({ status: 'Executed' });
    await step(h, 24 * 60 * MIN);
    expect(h.runner.runs).toHaveLength(1);
  });

  it('an at task stopped before its time never runs', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'once', type: 'at', time: '2026-11-25T10:30:00Z', script: 'echo once' });
    expect((await h.engine.stop('once')).task.state).toEqual({ status: 'Stopped' });
    await step(h, 60 * MIN);
    expect(h.runner.runs).toHaveLength(0);
  });

  describe('downtime', () => {
    /** A first engine on a database file, with a calendar task that has run twice, shut down at 10:00:26. */
    async function shutDownAfterTwoRuns(submit: { time: string; end?: string }) {
      const path = tempDbPath();
      const first = await harness({ path, shutdownAtEnd: false });
      first.clock.advance(3_217);
      await first.engine.submit({ id: 'cal', type: 'cron', timezone: 'UTC', script: 'date', ...submit });
      for (const at of [T0 + 10 * SEC, T0 + 20 * SEC]) {
        await fireAt(first, at);
        first.clock.advance(SEC);
        await finish(first, lastRunOf(first, 'cal'));
      }
      first.clock.advance(4 * SEC);
      await first.engine.shutdown();
      expect((await taskOf(first, 'cal')).state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 30 * SEC });
      return path;
    }

    /** A second engine on the same file, started at `at`. */
    function restart(path: string, at: number) {
      const clock = new FakeClock(at);
      return harness({ path, clock, runner: new FakeRunner({ now: () => clock.now(), firstPid: 2000 }) });
    }

    it('a calendar task that missed fires while the daemon was down runs once, then goes on on its calendar', async () => {
      const path = await shutDownAfterTwoRuns({ time: '*/10 * * * * *' });
      // Down from 10:00:26 to 10:10:04.5: 58 fires missed (10:00:30 to 10:10:00).
      const downUntil = T0 + 10 * MIN + 4_500;
      const second = await restart(path, downUntil);
      await fireAt(second, downUntil);
      // One run now (run 4), for the latest missed fire (10:10:00); the 57 before it are not
      // replayed, and one skipped record (run 3) says so.
      expect(second.runner.runs.map((r) => [r.run, r.startedAt])).toEqual([[4, downUntil]]);
      expect((await taskOf(second, 'cal')).state).toEqual({
        status: 'Executing',
        run: 4,
        nextRunAt: T0 + 10 * MIN + 10 * SEC,
        stopRequested: false,
        fire: T0 + 10 * MIN,
        attempt: 1,
      });
      second.clock.advance(SEC);
      await finish(second, lastRunOf(second, 'cal'));

      // Back on the calendar: 10:10:10, 10:10:20.
      for (const at of [T0 + 10 * MIN + 10 * SEC, T0 + 10 * MIN + 20 * SEC]) {
        await quietUntil(second, at - 1);
        await fireAt(second, at);
        expect(lastRunOf(second, 'cal').startedAt).toBe(at);
        await finish(second, lastRunOf(second, 'cal'));
      }
      const runs = await runsOf(second, 'cal');
      expect(runs.map((r) => [r.run, r.outcome, r.scheduledAt - T0, r.startedAt === null ? null : r.startedAt - T0])).toEqual([
        [1, 'succeeded', 10 * SEC, 10 * SEC],
        [2, 'succeeded', 20 * SEC, 20 * SEC],
        [3, 'skipped', 30 * SEC, null],
        [4, 'succeeded', 10 * MIN, 10 * MIN + 4_500],
        [5, 'succeeded', 10 * MIN + 10 * SEC, 10 * MIN + 10 * SEC],
        [6, 'succeeded', 10 * MIN + 20 * SEC, 10 * MIN + 20 * SEC],
      ]);
      expect(runs[2]!.error).toMatch(/^57 fires passed while the task could not run .*catch-up once: the latest runs instead$/);
      expect(second.runner.runs).toHaveLength(3);
    });

    it('a calendar task whose end passed while the daemon was down runs once for what it missed, then ends Executed', async () => {
      const path = await shutDownAfterTwoRuns({ time: '*/10 * * * * *', end: '2026-11-25T10:01:00Z' });
      const downUntil = T0 + 10 * MIN + 4_500;
      const second = await restart(path, downUntil);
      await fireAt(second, downUntil);
      // Fires 10:00:30 to 10:01:00 (4) passed before the end: the last of them runs (run 4),
      // the 3 before it are recorded missed (run 3).
      expect(second.runner.runs.map((r) => r.run)).toEqual([4]);
      expect((await taskOf(second, 'cal')).state).toMatchObject({ status: 'Executing', run: 4, nextRunAt: null, stopRequested: false, fire: T0 + MIN });
      await finish(second, lastRunOf(second, 'cal'));
      expect((await taskOf(second, 'cal')).state).toEqual({ status: 'Executed' });
      await step(second, 10 * MIN);
      expect(second.runner.runs).toHaveLength(1);
      expect((await runsOf(second, 'cal')).map((r) => [r.run, r.outcome, r.scheduledAt - T0])).toEqual([
        [1, 'succeeded', 10 * SEC],
        [2, 'succeeded', 20 * SEC],
        [3, 'skipped', 30 * SEC],
        [4, 'succeeded', MIN],
      ]);
      expect((await runsOf(second, 'cal'))[2]!.error).toMatch(/^3 fires passed /);
    });
  });

  describe('dryRun', () => {
    it('gives the task a submission would create, and stores, arms and tells nothing', async () => {
      const h = await harness();
      h.clock.advance(3_217);
      const watch = h.feed.subscribe('preview', 7 * 24 * 60 * MIN);
      const timers = h.clock.pendingTimers;
      const input = { id: 'preview', type: 'cron', time: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', end: '2026-12-31', script: 'echo hi' };
      const calls = h.calls.length;

      const preview = h.engine.dryRun(input);
      expect(preview).toEqual({
        id: 'preview',
        type: 'cron',
        time: '0 9 * * MON-FRI',
        // Midnight in Berlin (CET) is 23:00Z the day before.
        schedule: { kind: 'calendar', expression: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', start: null, end: utc('2026-12-30T23:00:00') },
        timezone: 'Europe/Berlin',
        policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
        script: 'echo hi',
        lang: 'bash',
        execution: defaultExecution,
        createdAt: T0 + 3_217,
        state: { status: 'ToBeExecuted', nextRunAt: utc('2026-11-26T08:00:00') },
        lastStatusUpdated: T0 + 3_217,
        version: 1,
        lastRun: 0,
      });
      expect(h.calls.slice(calls)).toEqual([]); // not one store call
      expect(await h.inner.getTask('preview')).toBeUndefined();
      expect((await h.engine.list({ limit: 10 })).tasks).toEqual([]);
      expect(h.clock.pendingTimers).toBe(timers); // no timer armed
      expect(h.feed.waiting).toBe(1); // the watcher was not told

      // Submitting the same thing at the same time stores exactly what the dry run showed.
      expect(await h.engine.submit(input)).toEqual(preview);
      expect(await taskOf(h, 'preview')).toEqual(preview);
      watch.cancel();
    });

    it('a dry run never fires', async () => {
      const h = await harness();
      h.engine.dryRun({ id: 'soon', type: 'delay', time: '1s', script: 'echo' });
      h.engine.dryRun({ id: 'often', type: 'cron', time: '*/10 * * * * *', script: 'echo' });
      expect(h.clock.pendingTimers).toBe(0);
      expect(await step(h, 5 * MIN)).toBe(false);
      expect(h.runner.runs).toHaveLength(0);
      expect((await h.engine.list({ limit: 10 })).tasks).toEqual([]);
    });

    it('refuses what submit refuses, with the same error, and stores nothing', async () => {
      const h = await harness();
      for (const input of [
        { id: 'x', type: 'cron', time: '50ms', script: 'ls' },
        { id: 'x', type: 'cron', time: '0 25 * * *', script: 'ls' },
        { id: 'x', type: 'at', time: '2026-11-25T09:00:00Z', script: 'ls' },
        { id: 'x', type: 'cron', time: '1h', timezone: 'Mars/Olympus_Mons', script: 'ls' },
        { id: 'x', type: 'cron', time: '1h', end: '2026-11-25T10:30:00Z', script: 'ls' },
      ]) {
        let error: unknown;
        try {
          h.engine.dryRun(input);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(SchedulerError);
        expect(error).toMatchObject({ code: 'invalid_request' });
        expect(await rejection(h.engine.submit(input))).toMatchObject({ code: 'invalid_request', message: (error as Error).message });
      }
      expect((await h.engine.list({ limit: 10 })).tasks).toEqual([]);
    });
  });
});
