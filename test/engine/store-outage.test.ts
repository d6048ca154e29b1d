/**
 * The engine while its store refuses writes (a full disk): ends of runs are held in memory
 * and committed when the store recovers, the schedule resumes by itself, and the log says
 * each kind of failure once per interval, not once per retry.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { FaultLog } from '../../src/engine/fault-log.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { output } from '../support/fake-runner.js';
import { RecordingLog, SEC, T0, lastRunOf, runsOf, taskOf, useEngineHarness, wakeAt, type Harness } from './engine-harness.js';
import { until } from '../support/wait.js';

const { harness, uncheckLog } = useEngineHarness('errors');

/** A store whose writes fail with store_unavailable while `full` is set, as SQLite's do on a full disk. */
class FillableDisk {
  full = false;
  refusedWrites = 0;
  wrap = (inner: TaskStore): TaskStore => {
    const writes = new Set(['insertTask', 'saveTask', 'deleteTask', 'boundOutput']);
    return new Proxy(inner, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function' || typeof key !== 'string') return value;
        return (...args: unknown[]) => {
          if (this.full && writes.has(key)) {
            this.refusedWrites++;
            return Promise.reject(new SchedulerError('store_unavailable', 'the store cannot write: the disk is full'));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  };
}

/**
 * Moves the clock on, a second at a time, while the disk is full, until something tried to
 * write and was refused (a retry of the held end, or of a fire). `step` would wait for a
 * firing pass to end, which a failing pass never does: it arms its retry instead.
 */
async function advanceWhileFull(h: Harness, disk: FillableDisk): Promise<void> {
  const before = disk.refusedWrites;
  await advanceUntil(h, SEC, () => disk.refusedWrites > before, 'a write to be tried and refused');
}

/** Moves the clock on in steps of `ms` until `check` holds. */
async function advanceUntil(h: Harness, ms: number, check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await until(async () => {
    h.clock.advance(ms);
    await new Promise((resolve) => setImmediate(resolve));
    return check();
  }, what);
}

async function outageHarness(disk: FillableDisk, extra: { maxHeldOutputBytes?: number } = {}): Promise<Harness> {
  const h = await harness({ wrapStore: disk.wrap, ...extra });
  uncheckLog(h.log); // the outage is logged, on purpose
  return h;
}

describe('a run that ends while the store refuses writes', () => {
  it('is held, shown as ended, and committed with its output once the store recovers', async () => {
    const disk = new FillableDisk();
    const h = await outageHarness(disk);
    await h.engine.submit({ id: 'tick', type: 'cron', time: '10s', script: 'echo hi' });
    await wakeAt(h, T0 + 10 * SEC);
    const run = lastRunOf(h, 'tick');

    disk.full = true;
    run.finish({ outcome: 'succeeded', exitCode: 0, stdout: output('hi\n') });
    await until(() => h.engine.backlog.heldRunEnds === 1, 'the end to be held');
    // The store still says running; the engine's answer says how the run ended.
    expect((await runsOf(h, 'tick'))[0]!.outcome).toBe('running');
    const shown = (await h.engine.get('tick')).runs[0]!;
    expect(shown).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: 'hi\n' } });
    // The spool is the only copy on disk until the end is committed: it stays.
    expect(h.runner.calls).not.toContainEqual({ kind: 'removeSpool', taskId: 'tick', run: 1 });

    // Retries while the disk is full (of the held end, of the next fire) log each kind of
    // failure once, however many times it repeats.
    for (let i = 0; i < 8; i++) await advanceWhileFull(h, disk);
    const messages = h.log.errors.map((entry) => entry.message);
    expect(disk.refusedWrites).toBeGreaterThanOrEqual(8);
    expect(new Set(messages).size).toBe(messages.length);
    expect(messages.length).toBeLessThanOrEqual(3);
    expect(h.engine.backlog.heldRunEnds).toBe(1);

    disk.full = false;
    await advanceUntil(h, SEC, () => h.engine.backlog.heldRunEnds === 0, 'the held end to be committed');
    const [recorded] = await runsOf(h, 'tick');
    expect(recorded).toMatchObject({ run: 1, outcome: 'succeeded', exitCode: 0, stdout: { text: 'hi\n', totalBytes: 3 } });
    expect(h.runner.calls).toContainEqual({ kind: 'removeSpool', taskId: 'tick', run: 1 });
  });

  it('does not stall its schedule: the task fires again without a restart', async () => {
    const disk = new FillableDisk();
    const h = await outageHarness(disk);
    await h.engine.submit({ id: 'tick', type: 'cron', time: '10s', script: 'echo hi' });
    await wakeAt(h, T0 + 10 * SEC);
    disk.full = true;
    lastRunOf(h, 'tick').finish({ outcome: 'succeeded', exitCode: 0 });
    await until(() => h.engine.backlog.heldRunEnds === 1, 'the end to be held');
    // Fires pass while the disk is full: none can be recorded, none starts.
    for (let i = 0; i < 3; i++) await advanceWhileFull(h, disk);
    expect(h.runner.runsOf('tick')).toHaveLength(1);

    disk.full = false;
    await advanceUntil(h, SEC, () => h.runner.runsOf('tick').length >= 2, 'the task to run again');
    const task = await taskOf(h, 'tick');
    expect(task.state.status).toBe('Executing');
    const outcomes = (await runsOf(h, 'tick')).map((run) => run.outcome);
    // The first run's end, then the fires missed meanwhile (catch-up once: one skipped record), then the run.
    expect(outcomes[0]).toBe('succeeded');
    expect(outcomes.at(-1)).toBe('running');
  });

  it('keeps later ends behind a held one and commits them in the order they ended', async () => {
    const disk = new FillableDisk();
    const h = await outageHarness(disk);
    for (const id of ['a', 'b']) await h.engine.submit({ id, type: 'delay', time: '1s', script: `echo ${id}` });
    await wakeAt(h, T0 + SEC);
    disk.full = true;
    lastRunOf(h, 'a').finish({ outcome: 'succeeded', exitCode: 0, stdout: output('a\n') });
    await until(() => h.engine.backlog.heldRunEnds === 1, 'a to be held');
    disk.full = false;
    // The store takes writes again, but b's end must not overtake a's.
    lastRunOf(h, 'b').finish({ outcome: 'failed', exitCode: 3 });
    await until(() => h.engine.backlog.heldRunEnds === 0, 'both ends to be committed');
    expect((await runsOf(h, 'a'))[0]).toMatchObject({ outcome: 'succeeded', stdout: { text: 'a\n' } });
    expect((await runsOf(h, 'b'))[0]).toMatchObject({ outcome: 'failed', exitCode: 3 });
    expect((await taskOf(h, 'a')).state.status).toBe('Executed');
    expect((await taskOf(h, 'b')).state.status).toBe('Executed');
  });

  it('holds output up to its bound, then keeps only the outcome, and says so', async () => {
    const disk = new FillableDisk();
    const h = await outageHarness(disk, { maxHeldOutputBytes: 10 });
    for (const id of ['small', 'big']) await h.engine.submit({ id, type: 'delay', time: '1s', script: 'echo' });
    await wakeAt(h, T0 + SEC);
    disk.full = true;
    lastRunOf(h, 'small').finish({ outcome: 'succeeded', exitCode: 0, stdout: output('12345\n') });
    await until(() => h.engine.backlog.heldRunEnds === 1, 'small to be held');
    lastRunOf(h, 'big').finish({ outcome: 'succeeded', exitCode: 0, stdout: output('0123456789\n') });
    await until(() => h.engine.backlog.heldRunEnds === 2, 'big to be held');
    expect(h.engine.backlog.heldOutputBytes).toBe(6);
    expect(h.log.errors.map((entry) => entry.message)).toContainEqual(expect.stringContaining('the output of this run is dropped'));

    disk.full = false;
    await advanceUntil(h, SEC, () => h.engine.backlog.heldRunEnds === 0, 'both to be committed');
    expect((await runsOf(h, 'small'))[0]!.stdout).toMatchObject({ text: '12345\n', droppedBytes: 0 });
    expect((await runsOf(h, 'big'))[0]).toMatchObject({ outcome: 'succeeded', stdout: { text: '', totalBytes: 11, droppedBytes: 11 } });
  });

  it('keeps the spool of an end still held at shutdown, for the next start to record', async () => {
    const disk = new FillableDisk();
    const h = await outageHarness(disk);
    await h.engine.submit({ id: 'once', type: 'delay', time: '1s', script: 'echo' });
    await wakeAt(h, T0 + SEC);
    disk.full = true;
    lastRunOf(h, 'once').finish({ outcome: 'succeeded', exitCode: 0 });
    await until(() => h.engine.backlog.heldRunEnds === 1, 'the end to be held');
    await h.engine.shutdown();
    expect(h.runner.calls).not.toContainEqual({ kind: 'removeSpool', taskId: 'once', run: 1 });
    expect(h.log.errors.map((entry) => entry.message)).toContainEqual(expect.stringContaining('the next start records them as interrupted'));
  });
});

describe('FaultLog', () => {
  it('logs a kind of failure once per interval, then how many more times it happened', () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const faults = new FaultLog(log, clock, 60 * SEC);
    for (let i = 0; i < 1000; i++) faults.report('firing', { error: 'disk full' }, 'could not fire due tasks');
    faults.report('requests', {}, 'a request failed');
    expect(log.errors.map((entry) => entry.message)).toEqual(['could not fire due tasks', 'a request failed']);
    clock.advance(60 * SEC);
    expect(log.errors.map((entry) => entry.message)).toEqual([
      'could not fire due tasks',
      'a request failed',
      'could not fire due tasks (999 more times in the last 60s; logged once per 60s)',
    ]);
    // A new interval begins with the next occurrence, logged in full again.
    faults.report('firing', {}, 'could not fire due tasks');
    expect(log.errors).toHaveLength(4);
    faults.report('firing', {}, 'could not fire due tasks');
    faults.close();
    expect(log.errors.at(-1)!.message).toBe('could not fire due tasks (1 more time in the last 60s; logged once per 60s)');
  });
});
