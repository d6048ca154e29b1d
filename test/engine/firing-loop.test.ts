/** The firing loop on its own: what it does when the store fails it. */
import { describe, expect, it } from 'vitest';
import { burstLeadPerRunMs, FiringLoop, fireInstant, firesPerCommit, maxBurstLeadMs } from '../../src/engine/firing-loop.js';
import { warmupsUnderWay } from '../../src/engine/warm-up-queue.js';
import type { TaskEvent } from '../../src/core/transition.js';
import { FaultLog } from '../../src/engine/fault-log.js';
import { dueAt, type Task } from '../../src/core/task.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLog, T0 } from './engine-harness.js';

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FiringLoop', () => {
  it('when re-arming fails after a pass, keeps a timer a submit armed meanwhile for an earlier task', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    let passes = 0;
    const earliest = deferred<number | undefined>();
    const loop = new FiringLoop({
      store: {
        listDueTasks: async () => {
          passes++;
          return [];
        },
        earliestDueAt: () => earliest.promise,
      },
      prepare: async () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 0,
      apply: async () => undefined,
    });
    loop.armFor({ state: { status: 'ToBeExecuted', nextRunAt: T0 + 500 } } as Task);
    clock.advance(500); // a pass: nothing due; then it reads the earliest due time...
    await settle();
    expect(passes).toBe(1);
    // ...and meanwhile a task due 100 ms from now is submitted...
    loop.armFor({ state: { status: 'ToBeExecuted', nextRunAt: T0 + 600 } } as Task);
    // ...then the read fails: the retry in 1 s must not replace the earlier timer.
    earliest.reject(new Error('disk I/O error'));
    await settle();
    expect(log.errors.map((entry) => entry.message)).toEqual(['could not re-arm the timer; retrying every 1000ms']);
    clock.advance(100);
    await settle();
    expect(passes).toBe(2);
    loop.stop();
  });

  /** A loop over `due` tasks due now whose apply is `apply`; listed once. */
  function burstLoop(due: Task[], apply: (id: string) => Promise<void>) {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    let listed = false;
    const loop = new FiringLoop({
      store: {
        listDueTasks: async () => (listed ? [] : ((listed = true), due)),
        earliestDueAt: async () => undefined,
      },
      prepare: async () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 0,
      apply,
    });
    loop.armFor(due[0]!);
    clock.advance(0);
    return { loop, log };
  }
  const dueNow = (count: number) => Array.from({ length: count }, (_, index) => ({ id: `t${index}`, state: { status: 'ToBeExecuted', nextRunAt: T0 } }) as Task);
  const until = async (condition: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!condition() && Date.now() < deadline) await settle();
  };

  it('fires a burst in groups sent together, so that their writes share a commit, each group once the one before has settled', async () => {
    const due = dueNow(100);
    // How many fires were under way when each began: a group's fires are all under way
    // together (their writes arrive in the same turn), and the next group begins only
    // once every fire of the one before has settled.
    const underWayAtStart: number[] = [];
    let underWay = 0;
    const { loop, log } = burstLoop(due, async () => {
      underWayAtStart.push(underWay++);
      await new Promise((resolve) => setImmediate(resolve)); // the shared commit
      underWay--;
    });
    await until(() => underWayAtStart.length === due.length && underWay === 0);
    const group = (size: number) => Array.from({ length: size }, (_, index) => index);
    expect(underWayAtStart).toEqual([...group(firesPerCommit), ...group(firesPerCommit), ...group(firesPerCommit), ...group(100 - 3 * firesPerCommit)]);
    expect(log.errors).toEqual([]);
    loop.stop();
  });

  it('a fire that fails does not stop the rest of its group; the pass ends after that group and is retried', async () => {
    const due = dueNow(100);
    const applied: string[] = [];
    const settled: string[] = [];
    const { loop, log } = burstLoop(due, async (id) => {
      applied.push(id);
      if (id === 't5') throw new Error('the disk is full');
      await new Promise((resolve) => setImmediate(resolve));
      settled.push(id);
    });
    await until(() => log.errors.length > 0);
    await settle();
    expect(applied).toEqual(due.slice(0, firesPerCommit).map((task) => task.id));
    expect(settled).toEqual(applied.filter((id) => id !== 't5'));
    expect(log.errors.map((entry) => entry.message)).toEqual(['could not fire due tasks; retrying every 1000ms']);
    loop.stop();
  });

  it('with fireAheadMs, fires a task that far before it is due, listing what is due by then, and says so in the event', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const listedUpTo: number[] = [];
    const fired: Array<{ at: number; event: TaskEvent }> = [];
    const task = { id: 'soon', state: { status: 'ToBeExecuted', nextRunAt: T0 + 1000 } } as Task;
    const loop = new FiringLoop({
      store: {
        listDueTasks: async ({ now }) => {
          listedUpTo.push(now);
          return now >= T0 + 1000 && fired.length === 0 ? [task] : [];
        },
        earliestDueAt: async () => (fired.length === 0 ? T0 + 1000 : undefined),
      },
      prepare: async () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 50,
      fireAheadMs: 5,
      apply: async (_id, event) => void fired.push({ at: clock.now(), event }),
    });
    loop.armFor(task);
    clock.advance(950); // the warm-up wake: nothing is due by T0 + 955
    await settle();
    expect(fired).toEqual([]);
    clock.advance(44); // T0 + 994: not yet
    await settle();
    expect(fired).toEqual([]);
    clock.advance(1); // T0 + 995, 5 ms ahead
    await until(() => fired.length === 1);
    expect(fired).toEqual([{ at: T0 + 995, event: { kind: 'fire', aheadMs: 5 } }]);
    expect(listedUpTo.at(-1)).toBe(T0 + 1000);
    loop.stop();
  });

  it('with fireAheadMs and no warm-up, still fires that far ahead', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const fired: number[] = [];
    const task = { id: 'soon', state: { status: 'ToBeExecuted', nextRunAt: T0 + 1000 } } as Task;
    const loop = new FiringLoop({
      store: { listDueTasks: async ({ now }) => (now >= T0 + 1000 && fired.length === 0 ? [task] : []), earliestDueAt: async () => undefined },
      prepare: async () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 0,
      fireAheadMs: 5,
      apply: async () => void fired.push(clock.now()),
    });
    loop.armFor(task);
    clock.advance(994);
    await settle();
    expect(fired).toEqual([]);
    clock.advance(1);
    await until(() => fired.length === 1);
    expect(fired).toEqual([T0 + 995]);
    loop.stop();
  });

  /**
   * A loop whose `count` tasks are all due at T0 + 1000, with a warm-up of 500 ms and fires
   * 5 ms ahead; each prepare waits until the test lets its process "exist".
   */
  function warmingLoop(count: number, maxWarmups?: number) {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const tasks = Array.from({ length: count }, (_, index) => ({ id: `b${index}`, lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 1000 } }) as Task);
    const fired = new Set<string>();
    const prepared: string[] = [];
    const spawning: Array<() => void> = [];
    const loop = new FiringLoop({
      store: {
        listDueTasks: async ({ now, limit }) => tasks.filter((task) => !fired.has(task.id) && now >= T0 + 1000).slice(0, limit),
        earliestDueAt: async () => (tasks.some((task) => !fired.has(task.id)) ? T0 + 1000 : undefined),
      },
      prepare: (task) => {
        prepared.push(task.id);
        return new Promise<void>((resolve) => spawning.push(resolve));
      },
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 500,
      fireAheadMs: 5,
      ...(maxWarmups === undefined ? {} : { maxWarmups }),
      apply: async (id) => void fired.add(id),
    });
    /** Lets every process asked for so far exist. */
    const spawnAll = () => spawning.splice(0).forEach((resolve) => resolve());
    /** Lets the oldest process asked for exist. */
    const spawnOne = () => spawning.shift()?.();
    loop.armFor(tasks[0]!);
    return { clock, loop, log, fired, prepared, spawnAll, spawnOne, tasks };
  }

  it('a warm-up prepares every run due within it, with at most warmupsUnderWay processes asked for and not there yet', async () => {
    const count = 2 * warmupsUnderWay + 10;
    const { clock, loop, log, prepared, spawnOne } = warmingLoop(count);
    clock.advance(500); // the warm-up wake, 500 ms before the burst
    await until(() => prepared.length === warmupsUnderWay);
    await settle();
    expect(prepared).toHaveLength(warmupsUnderWay);
    // Each process that comes lets the next be asked for, one for one.
    spawnOne();
    await until(() => prepared.length === warmupsUnderWay + 1);
    await settle();
    expect(prepared).toHaveLength(warmupsUnderWay + 1);
    while (prepared.length < count) {
      spawnOne();
      await settle();
    }
    expect(prepared).toEqual(Array.from({ length: count }, (_, index) => `b${index}`));
    expect(log.entries.filter((entry) => entry.level !== 'debug')).toEqual([]);
    loop.stop();
  });

  it('a warm-up still waiting for processes does not hold up the fires: they happen on time, and the runs they started are not prepared after', async () => {
    const { clock, loop, fired, prepared, spawnAll } = warmingLoop(3 * warmupsUnderWay);
    clock.advance(500);
    await until(() => prepared.length === warmupsUnderWay);
    // None of the processes asked for exists yet when the burst is due (5 ms ahead).
    clock.advance(495);
    await until(() => fired.size === 3 * warmupsUnderWay);
    expect(fired.size).toBe(3 * warmupsUnderWay);
    expect(clock.now()).toBe(T0 + 995);
    // The warm-up then goes on: every run it has not prepared yet has started, cold.
    spawnAll();
    await settle();
    await settle();
    expect(prepared).toHaveLength(warmupsUnderWay);
    loop.stop();
  });

  /** Wakes the loop for its warm-up, lets each process come once `count` are asked for, and says which runs it prepared; then stops the loop unless `keepRunning`. */
  async function warmUp(loop: ReturnType<typeof warmingLoop>, count: number, { keepRunning = false } = {}): Promise<string[]> {
    loop.clock.advance(500);
    await until(() => loop.prepared.length === count);
    loop.spawnAll();
    await settle();
    await settle();
    if (!keepRunning) loop.loop.stop();
    return loop.prepared;
  }

  it('with maxWarmups, tasks still executing (their ticks will be skipped) do not take the places of runs that will start', async () => {
    const warming = warmingLoop(10, 4);
    for (const task of warming.tasks.slice(0, 5)) Object.assign(task, { state: { status: 'Executing', run: 1, nextRunAt: T0 + 1000 } });
    expect(await warmUp(warming, 4)).toEqual(['b5', 'b6', 'b7', 'b8']);
  });

  it('with maxWarmups (a node of a cluster), a warm-up prepares no more than that', async () => {
    expect(await warmUp(warmingLoop(20, 4), 4)).toEqual(['b0', 'b1', 'b2', 'b3']);
  });

  it('a run armed within the warm-up time (no pass is left to list it) is prepared at once, and once while its process is to come', async () => {
    const warming = warmingLoop(1);
    const { loop, prepared, tasks } = warming;
    await warmUp(warming, 1, { keepRunning: true });
    // Submitted 400 ms before the burst, after its warm-up.
    const late = { id: 'late', lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 1000 } } as Task;
    tasks.push(late);
    loop.armFor(late);
    loop.armFor(late);
    await until(() => prepared.length === 2);
    await settle();
    expect(prepared).toEqual(['b0', 'late']);
    // Not an executing task's: its next tick will be skipped.
    loop.armFor({ id: 'executing', lastRun: 1, state: { status: 'Executing', run: 1, nextRunAt: T0 + 1000 } } as Task);
    // Not one due later than the warm-up time: its own warm-up pass will come.
    loop.armFor({ id: 'later', lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 1100 } } as Task);
    await settle();
    expect(prepared).toEqual(['b0', 'late']);
    loop.stop();
  });

  it('with claims, a run armed within the warm-up time is not prepared at once: another node may fire it', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const prepared: string[] = [];
    const loop = new FiringLoop({
      store: { listDueTasks: async () => [], earliestDueAt: async () => undefined },
      prepare: async (task) => void prepared.push(task.id),
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 500,
      maxWarmups: 4,
      claim: async () => ({ due: 0, left: 0 }),
      apply: async () => undefined,
    });
    loop.armFor({ id: 'soon', lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 100 } } as Task);
    await settle();
    expect(prepared).toEqual([]);
    loop.stop();
  });

  it('fires a burst further ahead, by burstLeadPerRunMs per run due at its instant (at most maxBurstLeadMs), each fire made with that lead', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    const burst = Array.from({ length: 100 }, (_, index) => ({ id: `b${index}`, lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 1000 } }) as Task);
    const later = { id: 'later', lastRun: 0, state: { status: 'ToBeExecuted', nextRunAt: T0 + 1400 } } as Task;
    const tasks = [...burst, later];
    const fired: Array<{ id: string; at: number; aheadMs: number | undefined }> = [];
    const loop = new FiringLoop({
      store: {
        listDueTasks: async ({ now, limit }) => tasks.filter((task) => !fired.some((f) => f.id === task.id) && dueAt(task.state)! <= now).slice(0, limit),
        earliestDueAt: async () => {
          const next = tasks.find((task) => !fired.some((f) => f.id === task.id));
          return next && dueAt(next.state)!;
        },
      },
      prepare: async () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 500,
      fireAheadMs: 5,
      apply: async (id, event) => void fired.push({ id, at: clock.now(), aheadMs: event.aheadMs }),
    });
    loop.armFor(burst[0]!);
    clock.advance(500); // the warm-up wake lists the 100 due at T0 + 1000
    await settle();
    const leadMs = 5 + Math.floor(100 * burstLeadPerRunMs);
    expect(leadMs).toBeLessThan(maxBurstLeadMs);
    clock.advance(1000 - leadMs - 1 - 500);
    await settle();
    expect(fired).toEqual([]);
    clock.advance(1);
    await until(() => fired.length === 100);
    expect(new Set(fired.map((f) => `${f.at} ${f.aheadMs}`))).toEqual(new Set([`${T0 + 1000 - leadMs} ${leadMs}`]));
    // The next instant, a single run, has the usual lead.
    await settle();
    clock.advance(1400 - 5 - (1000 - leadMs) - 1);
    await settle();
    expect(fired).toHaveLength(100);
    clock.advance(1);
    await until(() => fired.length === 101);
    expect(fired.at(-1)).toEqual({ id: 'later', at: T0 + 1395, aheadMs: 5 });
    loop.stop();
  });

  it("fireInstant: a fire made ahead happens at the task's due time if that is within the lead; otherwise now", () => {
    const dueAt = (nextRunAt: number) => ({ id: 't', state: { status: 'ToBeExecuted', nextRunAt } }) as Task;
    const ahead: TaskEvent = { kind: 'fire', aheadMs: 5 };
    expect(fireInstant(dueAt(T0 + 5), ahead, T0)).toBe(T0 + 5);
    expect(fireInstant(dueAt(T0 + 2), ahead, T0)).toBe(T0 + 2);
    // Due already: now (the fire is late, not ahead).
    expect(fireInstant(dueAt(T0 - 3), ahead, T0)).toBe(T0);
    // Changed since it was listed, now due later than the lead: now, at which it is not due (the fire is refused).
    expect(fireInstant(dueAt(T0 + 6), ahead, T0)).toBe(T0);
    // A fire not made ahead, or another event: now.
    expect(fireInstant(dueAt(T0 + 5), { kind: 'fire' }, T0)).toBe(T0);
    expect(fireInstant(dueAt(T0 + 5), { kind: 'stop' }, T0)).toBe(T0);
  });
});
