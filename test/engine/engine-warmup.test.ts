/**
 * The engine's warm-up: with `warmupMs`, the timer wakes that long before a run is due and
 * asks the runner to prepare (spawn, held) the run's process; the run is started on time.
 * Driven, as engine.test.ts, by a fake clock and a fake runner over a real SQLite store,
 * with no sleeping: after each step of the clock the test waits (with a deadline) until the
 * firing pass the step began is over.
 */
import { defaultExecution } from '../../src/core/execution.js';
import { describe, expect, it, vi } from 'vitest';
import type { Task } from '../../src/core/task.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { MIN, SEC, T0, finish, lastRunOf, quietUntil, step, stepTo, taskOf, useEngineHarness, wakeAt, type Harness, type HarnessOptions } from './engine-harness.js';

const WARMUP = 50;

const engineHarness = useEngineHarness('problems');
/** An engine with the warm-up on (pass `warmupMs: undefined` for none). */
function harness(options: HarnessOptions = {}) {
  return engineHarness.harness({ ...options, warmupMs: 'warmupMs' in options ? options.warmupMs : WARMUP });
}

// ------------------------------------------------------------------ tests

describe('Engine warm-up: a delay task', () => {
  it(`is prepared ${WARMUP}ms before its time and started on time, not before`, async () => {
    const h = await harness();
    await h.engine.submit({ id: 'd', type: 'delay', time: '10s', script: 'echo warm' });
    const due = T0 + 10 * SEC;

    await quietUntil(h, due - WARMUP - 1);
    expect(h.runner.prepared).toEqual([]);

    await wakeAt(h, due - WARMUP);
    expect(h.runner.prepared).toEqual([{ taskId: 'd', run: 1, script: 'echo warm', lang: 'bash', execution: defaultExecution }]);
    expect(h.runner.runs).toEqual([]);
    expect((await taskOf(h, 'd')).state).toEqual({ status: 'ToBeExecuted', nextRunAt: due });

    await quietUntil(h, due - 1);
    expect(h.runner.runs).toEqual([]);

    await wakeAt(h, due);
    expect(h.runner.runs.map((run) => [run.spec, run.startedAt])).toEqual([[{ taskId: 'd', run: 1, script: 'echo warm', lang: 'bash', execution: defaultExecution }, due]]);
    // The run started is the one that was prepared, and it is prepared once.
    expect(h.runner.prepared).toEqual([h.runner.runs[0]!.spec]);
    expect(await taskOf(h, 'd')).toMatchObject({ state: { status: 'Executing', run: 1 }, lastRun: 1 });

    await finish(h, lastRunOf(h, 'd'));
    await step(h, 10 * MIN);
    expect(h.runner.prepared).toHaveLength(1);
    expect(h.runner.runs).toHaveLength(1);
  });

  it('a task due sooner than the warm-up is prepared as it is submitted, and starts on time', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'soon', type: 'delay', time: '30ms', script: 'echo soon' });
    // No warm-up pass is left to come before its time: it is prepared at once, with no wake.
    await vi.waitFor(() => expect(h.runner.prepared).toEqual([{ taskId: 'soon', run: 1, script: 'echo soon', lang: 'bash', execution: defaultExecution }]));
    expect(h.clock.now()).toBe(T0);
    await quietUntil(h, T0 + 29);
    await wakeAt(h, T0 + 30);
    expect(h.runner.runs.map((run) => [run.taskId, run.startedAt])).toEqual([['soon', T0 + 30]]);
    expect(h.runner.prepared).toHaveLength(1);
  });

  it('a task far off is not prepared by the timer waking on its way there', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'far', type: 'delay', time: '5m', script: 'echo far' });
    const due = T0 + 5 * MIN;
    // The timer's delays are capped, so it wakes now and then before; none of those prepares.
    for (let at = T0 + MIN; at < due - WARMUP; at += MIN) {
      await stepTo(h, at);
      expect(h.runner.prepared).toEqual([]);
    }
    await stepTo(h, due - WARMUP - 1);
    expect(h.runner.prepared).toEqual([]);
    await wakeAt(h, due - WARMUP);
    expect(h.runner.prepared).toEqual([{ taskId: 'far', run: 1, script: 'echo far', lang: 'bash', execution: defaultExecution }]);
    await wakeAt(h, due);
    expect(h.runner.runs.map((run) => run.startedAt)).toEqual([due]);
  });

  it(`a run is prepared no more than ${WARMUP}ms ahead, even when the engine wakes for an earlier one`, async () => {
    const h = await harness();
    await h.engine.submit({ id: 'first', type: 'delay', time: '1s', script: 'echo first' });
    await h.engine.submit({ id: 'second', type: 'delay', time: '1040ms', script: 'echo second' });
    const due = T0 + SEC;

    await wakeAt(h, due - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.taskId)).toEqual(['first']);
    // Woken to start the first one, the engine warms up the second, 40ms ahead of it.
    await wakeAt(h, due);
    expect(h.runner.runs.map((run) => run.taskId)).toEqual(['first']);
    expect(h.runner.prepared.map((spec) => spec.taskId)).toEqual(['first', 'second']);
    await quietUntil(h, due + 39);
    await wakeAt(h, due + 40);
    expect(h.runner.runs.map((run) => [run.taskId, run.startedAt])).toEqual([
      ['first', due],
      ['second', due + 40],
    ]);
  });

  it('a task stopped after it was prepared is not started', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'stopped', type: 'delay', time: '1s', script: 'echo never' });
    await wakeAt(h, T0 + SEC - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.taskId)).toEqual(['stopped']);
    await h.engine.stop('stopped');
    await step(h, 10 * SEC);
    expect(h.runner.runs).toEqual([]);
    expect((await taskOf(h, 'stopped')).state.status).toBe('Stopped');
  });

  it('without warmupMs nothing is prepared, and the timer wakes only on time', async () => {
    const h = await harness({ warmupMs: undefined });
    await h.engine.submit({ id: 'cold', type: 'delay', time: '1s', script: 'echo cold' });
    await quietUntil(h, T0 + SEC - 1);
    await wakeAt(h, T0 + SEC);
    expect(h.runner.runs.map((run) => run.startedAt)).toEqual([T0 + SEC]);
    expect(h.runner.prepared).toEqual([]);
  });
});

describe('Engine warm-up: a cron task', () => {
  it(`each run is prepared ${WARMUP}ms before its tick and started on the tick`, async () => {
    const h = await harness();
    await h.engine.submit({ id: 'c', type: 'cron', time: '1s', script: 'date' });
    for (const k of [1, 2, 3]) {
      const tick = T0 + k * SEC;
      await quietUntil(h, tick - WARMUP - 1);
      expect(h.runner.prepared).toHaveLength(k - 1);

      await wakeAt(h, tick - WARMUP);
      expect(h.runner.prepared.at(-1)).toEqual({ taskId: 'c', run: k, script: 'date', lang: 'bash', execution: defaultExecution });
      expect(h.runner.prepared).toHaveLength(k);
      expect(h.runner.runs).toHaveLength(k - 1);

      await quietUntil(h, tick - 1);
      await wakeAt(h, tick);
      const run = lastRunOf(h, 'c');
      expect([run.spec, run.startedAt]).toEqual([{ taskId: 'c', run: k, script: 'date', lang: 'bash', execution: defaultExecution }, tick]);

      h.clock.advance(100);
      await finish(h, run);
    }
  });

  it('the next tick of a task still executing is not prepared (it will be skipped), and the one after it is, with the right run number', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'slow', type: 'cron', time: '1s', script: 'sleep 2' });
    await wakeAt(h, T0 + SEC - WARMUP);
    await wakeAt(h, T0 + SEC);
    const first = lastRunOf(h, 'slow');
    expect(h.runner.prepared).toEqual([{ taskId: 'slow', run: 1, script: 'sleep 2', lang: 'bash', execution: defaultExecution }]);

    // Run 1 goes on past the next tick: the engine wakes before it, but prepares nothing.
    await wakeAt(h, T0 + 2 * SEC - WARMUP);
    expect(h.runner.prepared).toHaveLength(1);
    await wakeAt(h, T0 + 2 * SEC);
    expect(h.runner.runs).toHaveLength(1);
    expect((await h.inner.listRuns('slow')).map((r) => [r.run, r.outcome])).toEqual([
      [1, 'running'],
      [2, 'skipped'],
    ]);
    await wakeAt(h, T0 + 3 * SEC - WARMUP);
    expect(h.runner.prepared).toHaveLength(1);

    // Run 1 ends; the tick after is prepared as run 4 (3 was skipped too) and started as such.
    await wakeAt(h, T0 + 3 * SEC);
    h.clock.advance(100);
    await finish(h, first);
    await wakeAt(h, T0 + 4 * SEC - WARMUP);
    expect(h.runner.prepared.at(-1)).toEqual({ taskId: 'slow', run: 4, script: 'sleep 2', lang: 'bash', execution: defaultExecution });
    await wakeAt(h, T0 + 4 * SEC);
    expect(lastRunOf(h, 'slow').spec).toEqual({ taskId: 'slow', run: 4, script: 'sleep 2', lang: 'bash', execution: defaultExecution });
    expect(h.runner.prepared).toHaveLength(2);
  });
});

describe('Engine warm-up: a run that ends close to its next tick', () => {
  it('has the next run prepared as it ends, when that tick is due within the warm-up time', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'busy', type: 'cron', time: '1s', script: 'work' });
    await wakeAt(h, T0 + SEC - WARMUP);
    await wakeAt(h, T0 + SEC);
    expect(h.runner.prepared).toHaveLength(1);
    // Run 1 ends 20 ms before the next tick: the warm-up wake for it (50 ms before) has passed.
    h.clock.advance(SEC - 20);
    await finish(h, lastRunOf(h, 'busy'));
    await vi.waitFor(() => expect(h.runner.prepared).toHaveLength(2));
    expect(h.runner.prepared[1]).toEqual({ taskId: 'busy', run: 2, script: 'work', lang: 'bash', execution: defaultExecution });
    await wakeAt(h, T0 + 2 * SEC);
    expect(lastRunOf(h, 'busy')).toMatchObject({ spec: h.runner.prepared[1], startedAt: T0 + 2 * SEC });
    expect(h.runner.prepared).toHaveLength(2);
  });
});

describe('Engine warm-up: executing tasks do not crowd out the next run', () => {
  it('a run due next is prepared when executing tasks (whose ticks will be skipped) are due first', async () => {
    const h = await harness();
    // Five cron tasks whose runs go on past their next tick (due at T0 + 2s, before the delay task).
    for (let i = 0; i < 5; i++) await h.engine.submit({ id: `busy-${i}`, type: 'cron', time: '1s', script: 'sleep 9' });
    await wakeAt(h, T0 + SEC - WARMUP);
    await wakeAt(h, T0 + SEC);
    expect(h.runner.runs).toHaveLength(5);
    await quietUntil(h, T0 + SEC + SEC / 2);
    // Due at the same instant as the busy tasks' next tick, and listed after them.
    await h.engine.submit({ id: 'next', type: 'delay', time: `${SEC / 2}ms`, script: 'echo next' });

    await wakeAt(h, T0 + 2 * SEC - WARMUP);
    expect(h.runner.prepared.filter((spec) => spec.taskId === 'next')).toEqual([{ taskId: 'next', run: 1, script: 'echo next', lang: 'bash', execution: defaultExecution }]);
    // The busy tasks' next ticks were not prepared: they will be skipped.
    expect(h.runner.prepared.filter((spec) => spec.taskId.startsWith('busy-') && spec.run === 2)).toEqual([]);
  });
});

describe('Engine warm-up: limits and shutdown', () => {
  it('prepares every run of a burst due together (not the first few), and starts them all on time', async () => {
    const h = await harness();
    const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    for (const id of ids) await h.engine.submit({ id, type: 'delay', time: '1s', script: `echo ${id}` });

    await wakeAt(h, T0 + SEC - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.taskId).sort()).toEqual([...ids].sort());
    for (const spec of h.runner.prepared) expect(spec).toEqual({ taskId: spec.taskId, run: 1, script: `echo ${spec.taskId}`, lang: 'bash', execution: defaultExecution });
    expect(h.runner.runs).toEqual([]);

    await wakeAt(h, T0 + SEC);
    expect(h.runner.runs.map((run) => run.taskId).sort()).toEqual([...ids].sort());
    expect(new Set(h.runner.runs.map((run) => run.startedAt))).toEqual(new Set([T0 + SEC]));
    expect(h.runner.prepared).toHaveLength(20);
  });

  it('shutdown() discards the prepared runs, and nothing starts afterwards', async () => {
    const h = await harness({ shutdownAtEnd: false });
    await h.engine.submit({ id: 'pending', type: 'delay', time: '1s', script: 'echo never' });
    await wakeAt(h, T0 + SEC - WARMUP);
    expect(h.runner.prepared).toHaveLength(1);

    const discard = vi.spyOn(h.runner, 'discardPrepared');
    await h.engine.shutdown();
    expect(discard).toHaveBeenCalledTimes(1);
    expect(h.runner.prepared).toEqual([]);

    await step(h, 10 * SEC);
    expect(h.runner.runs).toEqual([]);
    expect(h.runner.prepared).toEqual([]);
  });
});

describe('Engine warm-up: a task that will not run what was prepared for it', () => {
  it('deleted after its run was prepared: the prepared process is discarded, and a task submitted again under its id is prepared afresh', async () => {
    const h = await harness();
    await h.engine.submit({ id: 'again', type: 'delay', time: '1s', script: 'echo old' });
    await wakeAt(h, T0 + SEC - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.script)).toEqual(['echo old']);

    await h.engine.delete('again');
    expect(h.runner.discarded).toEqual(['again']);
    await h.engine.submit({ id: 'again', type: 'delay', time: '30ms', script: 'echo new' });
    await vi.waitFor(() => expect(h.runner.prepared.map((spec) => spec.script)).toEqual(['echo old', 'echo new']));
    await wakeAt(h, T0 + SEC - WARMUP + 30);
    expect(h.runner.runs.map((run) => run.spec.script)).toEqual(['echo new']);
  });

  it.each([
    ['paused', (h: Harness) => h.engine.pause('tick')],
    ['stopped', (h: Harness) => h.engine.stop('tick')],
  ])('%s after its next run was prepared: the prepared process is discarded, and nothing more is prepared or run', async (_, act) => {
    const h = await harness();
    await h.engine.submit({ id: 'tick', type: 'cron', time: '1s', script: 'date' });
    await h.engine.submit({ id: 'other', type: 'cron', time: '1s', script: 'true' });
    await wakeAt(h, T0 + SEC - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.taskId).sort()).toEqual(['other', 'tick']);

    await act(h);
    expect(h.runner.discarded).toEqual(['tick']);
    await wakeAt(h, T0 + SEC);
    expect(h.runner.runs.map((run) => run.taskId)).toEqual(['other']);
    await finish(h, lastRunOf(h, 'other'));
    await wakeAt(h, T0 + 2 * SEC - WARMUP);
    expect(h.runner.prepared.map((spec) => spec.taskId).sort()).toEqual(['other', 'other', 'tick']);
  });

  it("a run's end that leaves its task with nothing more to run discards nothing else's, and a task going on discards nothing", async () => {
    const h = await harness();
    await h.engine.submit({ id: 'once', type: 'delay', time: '1s', script: 'true' });
    await h.engine.submit({ id: 'every', type: 'cron', time: '1s', script: 'true' });
    await wakeAt(h, T0 + SEC - WARMUP);
    await wakeAt(h, T0 + SEC);
    await finish(h, lastRunOf(h, 'every'));
    expect(h.runner.discarded).toEqual([]);
    await finish(h, lastRunOf(h, 'once'));
    expect((await taskOf(h, 'once')).state.status).toBe('Executed');
    expect(h.runner.discarded).toEqual(['once']);
  });
});

describe('Engine firing ahead (fireAheadMs)', () => {
  const AHEAD = 5;

  it('fires a task that long before its time, recorded as started at its time, and hands the runner its time as notBefore', async () => {
    const h = await harness({ fireAheadMs: AHEAD });
    await h.engine.submit({ id: 'ahead', type: 'delay', time: '10s', script: 'echo on the dot' });
    const due = T0 + 10 * SEC;
    await wakeAt(h, due - WARMUP);
    await quietUntil(h, due - AHEAD - 1);
    expect(h.runner.runs).toEqual([]);

    await wakeAt(h, due - AHEAD);
    expect(h.runner.runs.map((run) => [run.spec.notBefore, run.startedAt])).toEqual([[due, due]]);
    const task = await taskOf(h, 'ahead');
    expect(task).toMatchObject({ state: { status: 'Executing', run: 1 }, lastRun: 1 });
    expect(await h.inner.getRun('ahead', 1)).toMatchObject({ scheduledAt: due, startedAt: due, outcome: 'running' });
  });

  it('a recurring task fired ahead computes its next fire from its due time, as one fired on time', async () => {
    const h = await harness({ fireAheadMs: AHEAD });
    await h.engine.submit({ id: 'every', type: 'cron', time: '1m', script: 'echo tick' });
    const first = T0 + MIN;
    await wakeAt(h, first - WARMUP);
    await wakeAt(h, first - AHEAD);
    expect(await taskOf(h, 'every')).toMatchObject({ state: { status: 'Executing', run: 1, nextRunAt: first + MIN } });
  });

  it('a run started by run now is handed no notBefore: it starts at once', async () => {
    const h = await harness({ fireAheadMs: AHEAD, warmupMs: undefined });
    await h.engine.submit({ id: 'now', type: 'delay', time: '1h', script: 'echo now' });
    await h.engine.runNow('now');
    expect(h.runner.runs.map((run) => run.spec.notBefore)).toEqual([undefined]);
  });
});

describe('Engine firing from the due query', () => {
  it('fires from the task the due query listed, without reading it again', async () => {
    const h = await harness({ warmupMs: undefined });
    await h.engine.submit({ id: 'listed', type: 'delay', time: '1s', script: 'echo once' });
    const mark = h.calls.length;
    await wakeAt(h, T0 + SEC);
    expect(h.runner.runs.map((run) => run.taskId)).toEqual(['listed']);
    expect(h.calls.slice(mark).filter((call) => call === 'getTask')).toEqual([]);
  });

  it('a listed task that changed before its fire (paused meanwhile) loses the compare-and-set, is read again, and does not run', async () => {
    let stale: Task | undefined;
    const h = await harness({
      warmupMs: undefined,
      // The due query answers with the task as it was before the pause, as a listing made just before it would.
      wrapStore: (store) =>
        Object.assign(Object.create(store) as TaskStore, {
          listDueTasks: async (query: { now: number; limit: number }) => {
            const due = await store.listDueTasks(query);
            return stale && query.now >= T0 + MIN && due.length === 0 ? [stale] : due;
          },
        }),
    });
    await h.engine.submit({ id: 'paused', type: 'cron', time: '1m', script: 'echo never' });
    stale = await taskOf(h, 'paused');
    await h.engine.pause('paused');
    // The engine wakes at the time it was armed for when the task was submitted, and the due query lists the stale task.
    expect(await stepTo(h, T0 + MIN)).toBe(true);
    expect(h.runner.runs).toEqual([]);
    expect((await taskOf(h, 'paused')).state.status).toBe('Paused');
  });
});

describe('Engine: the task a run ends on', () => {
  it('the end of a run applies to the task as the engine last wrote it, without reading it again', async () => {
    const h = await harness({ warmupMs: undefined });
    await h.engine.submit({ id: 'kept', type: 'delay', time: '1s', script: 'echo' });
    await wakeAt(h, T0 + SEC);
    const mark = h.calls.length;
    await finish(h, lastRunOf(h, 'kept'));
    expect(h.calls.slice(mark).filter((call) => call === 'getTask')).toEqual([]);
    expect((await taskOf(h, 'kept')).state.status).toBe('Executed');
  });

  it('a task changed in the store since the engine wrote it (its version raised) is read again, and the end lands on the change', async () => {
    const h = await harness({ warmupMs: undefined });
    await h.engine.submit({ id: 'moved', type: 'cron', time: '1m', script: 'echo' });
    await wakeAt(h, T0 + MIN);
    // Written behind the engine's back while the run executes: a stop asked, the version raised.
    const executing = await taskOf(h, 'moved');
    expect(executing.state.status).toBe('Executing');
    await h.inner.saveTask({
      task: { ...executing, state: { ...executing.state, stopRequested: true } as typeof executing.state, version: executing.version + 1 },
      expectedVersion: executing.version,
      keepRuns: 100,
    });
    await finish(h, lastRunOf(h, 'moved'));
    // The stop written meanwhile was seen: the task is Stopped after its run, not waiting for its next fire.
    expect((await taskOf(h, 'moved')).state.status).toBe('Stopped');
  });
});
