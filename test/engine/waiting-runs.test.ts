/**
 * Runs that wait for a free slot (the engine's runner is a ConcurrencyGate over the fake
 * runner): recorded waiting, their real start recorded before their script starts and
 * published (version raised, long polls woken, a `run-started` without `waiting`), left
 * waiting by a shutdown and started again, never called interrupted, by the next start,
 * after a clean stop or a crash. And a run in progress shows the output it has so far.
 */
import { describe, expect, it } from 'vitest';
import type { OutputStream, Run, Task } from '../../src/core/task.js';
import type { Effect } from '../../src/core/transition.js';
import type { TaskActivity } from '../../src/engine/task-activity.js';
import { changeEvents } from '../../src/protocol/events.js';
import type { RunSpec } from '../../src/runner/run-launcher.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner, type FakeRun } from '../support/fake-runner.js';
import { finish, MIN, runsOf, SEC, T0, taskOf, useEngineHarness, wakeAt, type Harness } from './engine-harness.js';
import { until } from '../support/wait.js';

const { harness, tempDbPath } = useEngineHarness('errors');

/** Keeps every committed change, as the event stream would get it. */
class ChangeLog implements TaskActivity {
  readonly changes: Array<{ task: Task; previous: Task; effect: Effect | null; runWaits: boolean }> = [];
  changed(task: Task, previous: Task, effect: Effect | null, runWaits = false): void {
    this.changes.push({ task, previous, effect, runWaits });
  }
  output(_taskId: string, _run: number, _stream: OutputStream, _offset: number, _chunk: Buffer): void {}
  deleted(): void {}
  /** The run-started events published for `taskId`. */
  runStarted(taskId: string) {
    return this.changes
      .filter((change) => change.task.id === taskId)
      .flatMap((change) => changeEvents(change.task, change.previous, change.effect, change.runWaits))
      .filter((event) => event.name === 'run-started')
      .map((event) => event.data);
  }
}

/** A fake runner that notes, at each start, the run's record as the store has it at that moment. */
class NotingRunner extends FakeRunner {
  store: SqliteTaskStore | undefined;
  readonly recordAtStart = new Map<string, Promise<Run | undefined>>();
  override start(spec: RunSpec): FakeRun {
    // The SQLite store reads synchronously: the promise holds the record as it is now.
    if (this.store) this.recordAtStart.set(`${spec.taskId}#${spec.run}`, this.store.getRun(spec.taskId, spec.run));
    return super.start(spec);
  }
}

/** Submits delay tasks due at T0 + 10s. */
async function submitDue(h: Harness, ids: string[]): Promise<void> {
  for (const id of ids) await h.engine.submit({ id, type: 'delay', time: '10s', script: `echo ${id}` });
}

function activeRun(h: Harness, id: string): FakeRun {
  const run = h.runner.active(id);
  if (!run) throw new Error(`${id} has no run in progress`);
  return run;
}

describe('Engine: runs waiting for a free slot', () => {
  it('records a run that waits as waiting (no startedAt), and one that got a slot as started', async () => {
    const activity = new ChangeLog();
    const h = await harness({ maxRuns: 1, activity });
    await submitDue(h, ['a', 'b']);
    await wakeAt(h, T0 + 10 * SEC);
    expect((await runsOf(h, 'a'))[0]).toMatchObject({ outcome: 'running', startedAt: T0 + 10 * SEC });
    expect((await runsOf(h, 'a'))[0]!.waiting).toBeUndefined();
    expect((await runsOf(h, 'b'))[0]).toMatchObject({ outcome: 'running', startedAt: null, waiting: true });
    expect(h.runner.runs.map((run) => run.taskId)).toEqual(['a']);
    expect(activity.runStarted('a')).toEqual([{ run: 1, scheduledAt: new Date(T0 + 10 * SEC).toISOString(), startedAt: new Date(T0 + 10 * SEC).toISOString(), attempt: 1 }]);
    expect(activity.runStarted('b')).toMatchObject([{ run: 1, waiting: true }]);
    // The API shows it waiting too.
    expect((await h.engine.get('b')).runs[0]).toMatchObject({ startedAt: null, waiting: true });
  });

  it('records the real start before the script starts, raises the version, wakes long polls and publishes run-started without waiting', async () => {
    const activity = new ChangeLog();
    const clock = new FakeClock(T0);
    const runner = new NotingRunner({ now: () => clock.now() });
    const h = await harness({ maxRuns: 1, activity, clock, runner });
    runner.store = h.inner;
    await submitDue(h, ['a', 'b']);
    await wakeAt(h, T0 + 10 * SEC);
    const before = await taskOf(h, 'b');
    const poll = h.feed.subscribe('b', 60_000);

    clock.advance(5 * SEC);
    await finish(h, activeRun(h, 'a'));
    await until(() => h.runner.active('b') !== undefined, 'b to start');

    expect(await poll.next).toBe('changed');
    const after = await taskOf(h, 'b');
    expect(after.version).toBe(before.version + 1);
    expect(after.state).toEqual(before.state);
    const record = (await runsOf(h, 'b'))[0]!;
    expect(record).toMatchObject({ outcome: 'running', startedAt: T0 + 15 * SEC });
    expect(record.waiting).toBeUndefined();
    // When its script started, its start was already committed.
    expect(await runner.recordAtStart.get('b#1')).toMatchObject({ startedAt: T0 + 15 * SEC });
    expect((await runner.recordAtStart.get('b#1'))!.waiting).toBeUndefined();
    expect(activity.runStarted('b')).toEqual([
      { run: 1, scheduledAt: new Date(T0 + 10 * SEC).toISOString(), startedAt: new Date(T0 + 10 * SEC).toISOString(), attempt: 1, waiting: true },
      { run: 1, scheduledAt: new Date(T0 + 10 * SEC).toISOString(), startedAt: new Date(T0 + 15 * SEC).toISOString(), attempt: 1 },
    ]);
    const statusEvents = activity.changes.filter((change) => change.task.id === 'b' && change.effect?.kind === 'recordStart');
    expect(statusEvents).toHaveLength(1);

    // It ends like any run, with how long it waited.
    clock.advance(SEC);
    await finish(h, activeRun(h, 'b'));
    expect((await runsOf(h, 'b'))[0]).toMatchObject({ outcome: 'succeeded', startedAt: T0 + 15 * SEC, waitedMs: 5 * SEC });
  });

  it('a waiting run killed is recorded killed, never started, and no longer waiting', async () => {
    const h = await harness({ maxRuns: 1 });
    await submitDue(h, ['a', 'b']);
    await wakeAt(h, T0 + 10 * SEC);
    await h.engine.kill('b');
    const [record] = await runsOf(h, 'b');
    expect(record).toMatchObject({ outcome: 'killed', startedAt: null });
    expect(record!.waiting).toBeUndefined();
    expect(h.runner.runsOf('b')).toEqual([]);
  });

  it('a run in progress shows the bytes of the output it has written so far, in every way runs are read', async () => {
    const h = await harness({ maxRuns: 1 });
    await submitDue(h, ['a']);
    await wakeAt(h, T0 + 10 * SEC);
    const run = activeRun(h, 'a');
    run.write('stdout', 'partial\n');
    run.write('stderr', 'é');
    const live = { stdout: { text: 'partial\n', totalBytes: 8 }, stderr: { text: 'é', totalBytes: 2 } };
    expect((await h.engine.get('a')).runs[0]).toMatchObject({ outcome: 'running', ...live });
    expect((await h.engine.listRuns({ id: 'a', limit: 10 })).runs[0]).toMatchObject(live);
    expect(await h.engine.getRun('a', 1)).toMatchObject(live);
    // The store itself has nothing until the run ends.
    expect((await runsOf(h, 'a'))[0]!.stdout.totalBytes).toBe(0);
  });

  describe('across a stop of the daemon', () => {
    /** A harness on `path` at `at`, with its own clock and runner, at most one run at once. */
    async function daemon(path: string, at: number, shutdownAtEnd = true) {
      const clock = new FakeClock(at);
      return harness({ path, clock, maxRuns: 1, shutdownAtEnd, runner: new FakeRunner({ now: () => clock.now() }) });
    }

    it('a clean shutdown leaves the waiting runs waiting; the next start runs them, in the order they came due, and calls none interrupted', async () => {
      const path = tempDbPath();
      const first = await daemon(path, T0, false);
      await submitDue(first, ['a', 'b', 'c']);
      await wakeAt(first, T0 + 10 * SEC);
      await first.engine.shutdown();
      expect((await runsOf(first, 'a'))[0]).toMatchObject({ outcome: 'interrupted' });
      for (const id of ['b', 'c']) {
        expect((await runsOf(first, id))[0]).toMatchObject({ outcome: 'running', startedAt: null, waiting: true });
        expect((await taskOf(first, id)).state.status).toBe('Executing');
      }
      await first.inner.close();

      const second = await daemon(path, T0 + MIN);
      // b got the one slot at once, c waits behind it.
      await until(() => second.runner.runs.length === 1, 'b to start');
      expect(second.runner.runs.map((run) => `${run.taskId}#${run.run}`)).toEqual(['b#1']);
      expect((await runsOf(second, 'b'))[0]).toMatchObject({ outcome: 'running', startedAt: T0 + MIN });
      second.clock.advance(SEC);
      await finish(second, activeRun(second, 'b'));
      await until(() => second.runner.active('c') !== undefined, 'c to start');
      second.clock.advance(SEC);
      await finish(second, activeRun(second, 'c'));
      for (const id of ['b', 'c']) {
        const runs = await runsOf(second, id);
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ outcome: 'succeeded' });
        expect((await taskOf(second, id)).state.status).toBe('Executed');
      }
      expect((await runsOf(second, 'c'))[0]).toMatchObject({ startedAt: T0 + MIN + SEC, waitedMs: SEC });
      // a, interrupted, does not run again.
      expect(second.runner.runsOf('a')).toEqual([]);
    });

    it('after a crash, the run that had started is interrupted, and the waiting ones run once', async () => {
      const path = tempDbPath();
      const first = await daemon(path, T0, false);
      await submitDue(first, ['a', 'b', 'c']);
      await wakeAt(first, T0 + 10 * SEC);
      // b's slot frees and b starts; c still waits. Then the daemon dies (abandoned as it is).
      first.clock.advance(SEC);
      await finish(first, activeRun(first, 'a'));
      await until(async () => (await runsOf(first, 'b'))[0]!.startedAt !== null, "b's start to be recorded");

      const second = await daemon(path, T0 + MIN);
      expect((await runsOf(second, 'b'))[0]).toMatchObject({ outcome: 'interrupted', startedAt: T0 + 11 * SEC });
      await until(() => second.runner.active('c') !== undefined, 'c to start');
      await finish(second, activeRun(second, 'c'));
      expect(await runsOf(second, 'c')).toMatchObject([{ run: 1, outcome: 'succeeded', startedAt: T0 + MIN }]);
      expect(second.runner.runs.map((run) => run.taskId)).toEqual(['c']);
      expect((await runsOf(second, 'a'))[0]).toMatchObject({ outcome: 'succeeded' });
    });
  });
});
