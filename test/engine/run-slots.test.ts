/**
 * The engine's slots of runs (formerly the runner's ConcurrencyGate): the run supervisor over
 * a fake runner that checks, at every start, how many runs are alive, in all and per queue.
 * Each run is admitted as the engine admits it (a slot before its start is recorded, or
 * recorded waiting), and the test decides when every run ends and when a recorded start
 * settles.
 */
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import type { Task } from '../../src/core/task.js';
import type { Effect, RunResult } from '../../src/core/transition.js';
import { endedWhileWaiting, RunSupervisor, type Admission } from '../../src/engine/run-supervisor.js';
import type { TaskActivity } from '../../src/engine/task-activity.js';
import type { RunSpec } from '../../src/runner/run-launcher.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner, type FakeRun } from '../support/fake-runner.js';
import { RecordingLog } from './engine-harness.js';

const outputCap = 777;

/** A FakeRunner that checks the limits at every start, before the run is added. */
class CheckedRunner extends FakeRunner {
  /** Violations seen at a start: the test asserts there are none. */
  readonly violations: string[] = [];

  constructor(
    now: () => number,
    private readonly maxRuns: number,
    private readonly queues: Record<string, number>,
  ) {
    super({ now, outputCap });
  }

  alive(queue?: string): FakeRun[] {
    return this.runs.filter((run) => !run.settled && (queue === undefined || queueOf(run.spec) === queue));
  }

  override start(spec: RunSpec): FakeRun {
    if (this.alive().length >= this.maxRuns) this.violations.push(`${spec.taskId} started with ${this.alive().length} alive`);
    const queue = queueOf(spec);
    const limit = this.queues[queue];
    if (limit !== undefined && this.alive(queue).length >= limit) this.violations.push(`${spec.taskId} started with queue ${queue} full`);
    return super.start(spec);
  }
}

function queueOf(spec: RunSpec): string {
  return spec.execution?.queue ?? 'default';
}

/** The fields of a task the supervisor reads (its id, script and queue); the rest is never looked at. */
function taskFor(id: string, queue?: string): Task {
  return { id, script: 'true', lang: 'bash', execution: { ...defaultExecution, ...(queue === undefined ? {} : { queue }) } } as Task;
}

const startRun: Effect = { kind: 'startRun', run: 1, scheduledAt: 0, startedAt: 0, attempt: 1 };

/** Lets the promise callbacks that free slots and record starts run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function setup(maxRuns: number, queues: Record<string, number> = {}) {
  const clock = new FakeClock(1000);
  const runner = new CheckedRunner(() => clock.now(), maxRuns, queues);
  const log = new RecordingLog();
  /** How each run was reported to have ended, by task. */
  const ended = new Map<string, RunResult>();
  /** Every start recorded (onStart), in order; `settle` lets the run go on. By default each settles at once. */
  const recorded: Array<{ taskId: string; at: number; settle: () => void; fail: () => void }> = [];
  const control = { holdStarts: false };
  const chunks: Array<[string, string, number, string]> = [];
  const activity: TaskActivity = {
    changed: () => undefined,
    deleted: () => undefined,
    output: (taskId, _run, stream, offset, chunk) => chunks.push([taskId, stream, offset, chunk.toString()]),
  };
  const supervisor = new RunSupervisor({
    runner,
    clock,
    log,
    activity,
    outputCap,
    slots: { maxRuns, queues },
    onEnd: async (taskId, _run, result) => {
      ended.set(taskId, result);
    },
    onStart: (taskId, _run, at) =>
      new Promise<void>((resolve, reject) => {
        recorded.push({ taskId, at, settle: resolve, fail: () => reject(new Error('disk full')) });
        if (!control.holdStarts) resolve();
      }),
  });
  /** Admits a run as the engine does: a slot if one is free, else recorded waiting. */
  const submit = (id: string, queue?: string): Admission => {
    const task = taskFor(id, queue);
    const admission = supervisor.admit(task, startRun);
    supervisor.start(task, 1, admission.waits);
    return admission;
  };
  /** The runner's run of a task, which must have started. */
  const inner = (taskId: string): FakeRun => {
    const run = runner.runsOf(taskId)[0];
    if (!run) throw new Error(`${taskId} has not started`);
    return run;
  };
  const started = () => runner.runs.map((run) => run.taskId);
  const snapshot = () => supervisor.slotsSnapshot();
  return { clock, runner, log, ended, recorded, control, chunks, supervisor, submit, inner, started, snapshot };
}

describe('RunSupervisor: slots of runs', () => {
  it('holds the global cap under a burst and starts every run, in arrival order', async () => {
    const { runner, submit, started, snapshot, ended } = setup(3);
    const ids = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const waits = ids.map((id) => submit(id).waits);
    await flush();
    expect(waits.filter((wait) => !wait)).toHaveLength(3);
    expect(started()).toEqual(['t0', 't1', 't2']);
    expect(snapshot()).toMatchObject({ running: 3, waiting: 47 });

    const random = prng(7);
    while (runner.alive().length > 0) {
      const alive = runner.alive();
      alive[Math.floor(random() * alive.length)]!.finish();
      expect(runner.alive().length).toBeLessThanOrEqual(3);
      await flush();
      const left = 50 - runner.runs.filter((run) => run.settled).length;
      expect(runner.alive().length).toBe(Math.min(3, left));
    }
    await flush();
    expect(runner.violations).toEqual([]);
    expect(started()).toEqual(ids);
    const results = ids.map((id) => ended.get(id)!);
    expect(results.every((result) => result.outcome === 'succeeded')).toBe(true);
    expect(results.slice(0, 3).map((result) => result.waitedMs)).toEqual([undefined, undefined, undefined]);
    expect(results.slice(3).every((result) => typeof result.waitedMs === 'number')).toBe(true);
    expect(snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('holds every limit with mixed queues, keeps each queue in arrival order, and leaves no waiting run that fits', async () => {
    const queues = { gpu: 1, io: 2 };
    const { runner, submit, started, snapshot } = setup(3, queues);
    const random = prng(42);
    const names = ['default', 'gpu', 'io', 'unconfigured'];
    const arrived: Array<{ id: string; queue: string }> = [];
    let next = 0;
    const submitSome = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const queue = names[Math.floor(random() * names.length)]!;
        const id = `r${next++}`;
        arrived.push({ id, queue });
        submit(id, queue);
      }
      await flush();
    };
    /** After every event, no waiting run could have started. */
    const checkNoneFits = () => {
      const { running, queues: shown } = snapshot();
      if (running < 3) {
        for (const queue of shown.filter((queue) => queue.waiting > 0)) expect(queue.limit !== null && queue.running >= queue.limit).toBe(true);
      }
    };
    await submitSome(30);
    checkNoneFits();
    while (runner.alive().length > 0) {
      const alive = runner.alive();
      alive[Math.floor(random() * alive.length)]!.finish();
      await flush();
      checkNoneFits();
      if (next < 120 && random() < 0.5) await submitSome(3);
      checkNoneFits();
    }
    expect(runner.violations).toEqual([]);
    expect(started()).toHaveLength(arrived.length);
    for (const name of names) {
      const order = arrived.filter((run) => run.queue === name).map((run) => run.id);
      expect(started().filter((id) => order.includes(id))).toEqual(order);
    }
  });

  it('records how long a run waited, by the injected clock', async () => {
    const { clock, submit, inner, ended } = setup(1);
    submit('a');
    clock.set(1200);
    submit('b');
    clock.set(1700);
    inner('a').finish();
    await flush();
    clock.set(2000);
    inner('b').finish();
    await flush();
    expect(ended.get('a')!.waitedMs).toBeUndefined();
    expect(ended.get('b')).toMatchObject({ outcome: 'succeeded', startedAt: 1700, waitedMs: 500 });
  });

  it('counts a run as waiting until it starts, and not once it has, or was ended waiting', async () => {
    const { submit, inner, snapshot, supervisor, runner } = setup(1);
    expect([submit('a').waits, submit('b').waits, submit('c').waits]).toEqual([false, true, true]);
    await flush();
    expect(snapshot()).toMatchObject({ running: 1, waiting: 2 });
    await supervisor.kill('c');
    expect(snapshot()).toMatchObject({ running: 1, waiting: 1 });
    inner('a').finish();
    await flush();
    expect(snapshot()).toMatchObject({ running: 1, waiting: 0 });
    expect(runner.runsOf('b')).toHaveLength(1);
    expect(runner.runsOf('c')).toEqual([]);
  });

  it('serialises the runs of a queue limited to 1 while default runs proceed', async () => {
    const { runner, submit, inner, started } = setup(4, { gpu: 1 });
    for (const [id, queue] of [['g1', 'gpu'], ['g2', 'gpu'], ['g3', 'gpu'], ['d1'], ['d2'], ['d3']] as Array<[string, string?]>) submit(id, queue);
    await flush();
    expect(started()).toEqual(['g1', 'd1', 'd2', 'd3']);
    inner('d1').finish();
    await flush();
    expect(started()).toHaveLength(4); // a free global slot, but gpu is full
    inner('g1').finish();
    await flush();
    expect(started()).toEqual(['g1', 'd1', 'd2', 'd3', 'g2']);
    inner('g2').finish();
    await flush();
    expect(started()).toEqual(['g1', 'd1', 'd2', 'd3', 'g2', 'g3']);
    expect(runner.alive('gpu').map((run) => run.taskId)).toEqual(['g3']);
    expect(runner.violations).toEqual([]);
  });

  it('does not let a run held back by its own queue hold back a later run of another queue', async () => {
    const { submit, inner, started, supervisor } = setup(2, { gpu: 1 });
    submit('g1', 'gpu');
    submit('d1');
    expect(submit('g2', 'gpu').waits).toBe(true); // both slots taken
    expect(submit('d2').waits).toBe(true);
    expect(started()).toEqual(['g1', 'd1']);
    inner('d1').finish();
    await flush();
    // The freed slot goes to d2: g2, ahead of it, still cannot run (gpu is full).
    expect(started()).toEqual(['g1', 'd1', 'd2']);
    expect(supervisor.slotsSnapshot().queues.find((queue) => queue.name === 'gpu')).toMatchObject({ running: 1, waiting: 1 });
    // And a new default run arriving while g2 waits on gpu starts at once once there is room.
    inner('d2').finish();
    await flush();
    expect(submit('d3').waits).toBe(false);
    expect(started()).toEqual(['g1', 'd1', 'd2', 'd3']);
  });

  it('ends a run killed while waiting without starting it, and frees no slot it did not hold', async () => {
    const { clock, runner, submit, inner, started, ended, supervisor, snapshot } = setup(1);
    submit('a');
    submit('b');
    clock.set(1300);
    expect(await supervisor.kill('b')).toBe(true);
    await flush();
    expect(ended.get('b')).toEqual({
      outcome: 'killed',
      startedAt: null,
      finishedAt: 1300,
      exitCode: null,
      signal: null,
      error: 'killed on request',
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      outputCap,
      waitedMs: 300,
    });
    expect(await supervisor.kill('b')).toBe(false); // it is gone
    // a still holds the only slot: a new run waits.
    expect(submit('c').waits).toBe(true);
    expect(started()).toEqual(['a']);
    expect(snapshot()).toMatchObject({ running: 1, waiting: 1 });
    inner('a').finish();
    await flush();
    expect(started()).toEqual(['a', 'c']); // b never starts
    expect(runner.violations).toEqual([]);
  });

  it('a waiting run whose task goes away ends as ended while waiting', async () => {
    const { submit, ended, supervisor } = setup(1);
    submit('a');
    submit('b');
    await supervisor.end('b');
    await flush();
    expect(ended.get('b')).toMatchObject({ outcome: 'killed', startedAt: null, error: endedWhileWaiting });
  });

  it('shows no output while a run waits, and hands its output on once it starts', async () => {
    const { submit, inner, chunks, supervisor } = setup(1);
    submit('a');
    submit('b');
    expect(supervisor.liveOutput('b')).toEqual({
      run: 1,
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    });
    inner('a').finish();
    await flush();
    const run = inner('b');
    run.write('stdout', 'hello ');
    run.write('stderr', 'oops');
    run.write('stdout', 'world');
    expect(chunks.filter(([taskId]) => taskId === 'b')).toEqual([
      ['b', 'stdout', 0, 'hello '],
      ['b', 'stderr', 0, 'oops'],
      ['b', 'stdout', 6, 'world'],
    ]);
    expect(supervisor.liveOutput('b')!.stdout.text).toBe('hello world');
  });

  it('kills a run that waited and then started through its process, keeping waitedMs', async () => {
    const { clock, submit, inner, ended, supervisor } = setup(1);
    submit('a');
    submit('b');
    clock.set(1400);
    inner('a').finish();
    await flush();
    await supervisor.kill('b');
    await flush();
    expect(inner('b').killCalls).toBe(1);
    expect(ended.get('b')).toMatchObject({ outcome: 'killed', signal: 'SIGTERM', error: 'killed on request (SIGTERM)', waitedMs: 400 });
  });

  it('takes no slot for a start that throws, whether the run waited or not', async () => {
    const { runner, submit, inner, started, ended, snapshot, log } = setup(1);
    runner.failNextStart = new Error('spawn refused');
    submit('x');
    await flush();
    expect(ended.get('x')).toMatchObject({ outcome: 'failed', startedAt: null, error: 'the script could not be started: spawn refused' });
    expect(log.errors.map((entry) => entry.message)).toEqual(['could not start a run']);
    expect(snapshot()).toMatchObject({ running: 0, waiting: 0 });

    expect(submit('a').waits).toBe(false); // the slot x did not take
    submit('b');
    submit('c');
    runner.failNextStart = new Error('no such language');
    inner('a').finish();
    await flush();
    expect(ended.get('b')).toMatchObject({ outcome: 'failed', startedAt: null, exitCode: null, error: 'the script could not be started: no such language', outputCap });
    expect(started()).toEqual(['a', 'c']); // b's failure left the slot to c
    expect(snapshot()).toMatchObject({ running: 1, waiting: 0 });
  });

  it('counts running and waiting runs in all and per queue', async () => {
    const { submit, inner, snapshot } = setup(3, { io: 2, gpu: 1, alpha: 1 });
    expect(snapshot().queues.map((queue) => queue.name)).toEqual(['default', 'alpha', 'gpu', 'io']);
    for (const [id, queue] of [['g1', 'gpu'], ['g2', 'gpu'], ['i1', 'io'], ['o1', 'old'], ['d1'], ['o2', 'old']] as Array<[string, string?]>) submit(id, queue);
    await flush();
    expect(snapshot()).toEqual({
      maxRuns: 3,
      running: 3,
      waiting: 3,
      queues: [
        { name: 'default', limit: null, running: 0, waiting: 1 },
        { name: 'alpha', limit: 1, running: 0, waiting: 0 },
        { name: 'gpu', limit: 1, running: 1, waiting: 1 },
        { name: 'io', limit: 2, running: 1, waiting: 0 },
        { name: 'old', limit: null, running: 1, waiting: 1 },
      ],
    });
    inner('i1').finish();
    await flush();
    // g2 is still held back by gpu; d1 (next in line) takes the slot.
    expect(snapshot().queues.map(({ name, running, waiting }) => [name, running, waiting])).toEqual([
      ['default', 1, 0],
      ['alpha', 0, 0],
      ['gpu', 1, 1],
      ['io', 0, 0],
      ['old', 1, 1],
    ]);
  });

  it('applies a limit configured for the default queue, and runs an unconfigured queue without one', async () => {
    const { submit, started, snapshot } = setup(10, { default: 2 });
    for (const id of ['d1', 'd2', 'd3']) submit(id);
    for (const id of ['o1', 'o2', 'o3']) submit(id, 'gone');
    await flush();
    expect(started()).toEqual(['d1', 'd2', 'o1', 'o2', 'o3']);
    expect(snapshot().queues[0]).toEqual({ name: 'default', limit: 2, running: 2, waiting: 1 });
  });

  it('refuses a maximum or a queue limit below 1', () => {
    const options = { runner: new FakeRunner({ now: () => 0 }), clock: new FakeClock(0), log: new RecordingLog(), outputCap, onEnd: async () => undefined, onStart: async () => undefined };
    const activity: TaskActivity = { changed: () => undefined, deleted: () => undefined, output: () => undefined };
    expect(() => new RunSupervisor({ ...options, activity, slots: { maxRuns: 0, queues: {} } })).toThrow(RangeError);
    expect(() => new RunSupervisor({ ...options, activity, slots: { maxRuns: 1.5, queues: {} } })).toThrow(RangeError);
    expect(() => new RunSupervisor({ ...options, activity, slots: { maxRuns: 1, queues: { gpu: 0 } } })).toThrow(/queue "gpu"/);
  });

  it('prepares a run only when it could start now', () => {
    const { runner, submit, supervisor } = setup(2, { gpu: 1 });
    supervisor.prepare(taskFor('g1', 'gpu'), 1);
    expect(runner.prepared.map((spec) => spec.taskId)).toEqual(['g1']);
    submit('g1', 'gpu');
    supervisor.prepare(taskFor('g2', 'gpu'), 1); // gpu is full
    supervisor.prepare(taskFor('d1'), 1); // one global slot left
    expect(runner.prepared.map((spec) => spec.taskId)).toEqual(['g1', 'd1']);
    submit('d1');
    supervisor.prepare(taskFor('d2'), 1); // every slot taken
    expect(runner.prepared.map((spec) => spec.taskId)).toEqual(['g1', 'd1']);
  });

  it('at shutdown starts no waiting run, leaves those recorded waiting unreported, and starts nothing afterwards', async () => {
    const { submit, started, ended, supervisor, runner } = setup(2);
    for (const id of ['a', 'b', 'c', 'd', 'e']) submit(id);
    await supervisor.shutdown();
    await flush();
    expect(started()).toEqual(['a', 'b']);
    expect([...ended.keys()]).toEqual(['a', 'b']);
    expect(ended.get('a')).toMatchObject({ outcome: 'interrupted' });
    // Admitted while shutting down: recorded waiting, never started, not reported.
    expect(submit('f').waits).toBe(true);
    supervisor.prepare(taskFor('g'), 1);
    await flush();
    expect(runner.prepared).toEqual([]);
    expect(started()).toEqual(['a', 'b']);
    expect(ended.has('f')).toBe(false);
  });
});

describe('RunSupervisor: a slot taken before the start is recorded', () => {
  it('a run that got a slot starts at once, even if every other slot was taken meanwhile', () => {
    const { runner, supervisor, submit, started, snapshot } = setup(2);
    const task = taskFor('a');
    expect(supervisor.admit(task, startRun).waits).toBe(false);
    submit('b'); // takes the last free slot
    expect(supervisor.admit(taskFor('c'), startRun).waits).toBe(true); // none left: c would wait
    supervisor.start(task, 1);
    expect(started()).toEqual(['b', 'a']);
    expect(runner.violations).toEqual([]);
    expect(snapshot()).toMatchObject({ running: 2, waiting: 0 });
  });

  it('cancelling an admission gives the slot back, to the first waiting run', async () => {
    const { supervisor, submit, started, snapshot } = setup(1);
    const admission = supervisor.admit(taskFor('a'), startRun);
    expect(admission.waits).toBe(false);
    expect(submit('b').waits).toBe(true);
    admission.cancel();
    await flush();
    expect(started()).toEqual(['b']);
    expect(snapshot()).toMatchObject({ running: 1, waiting: 0 });
  });

  it('no slot is taken by an event that starts no run', () => {
    const { supervisor, snapshot } = setup(1);
    expect(supervisor.admit(taskFor('a'), { kind: 'killRun', run: 1, reason: 'x' }).waits).toBe(false);
    expect(supervisor.admit(taskFor('a'), null).waits).toBe(false);
    expect(snapshot()).toMatchObject({ running: 0 });
  });
});

describe('RunSupervisor: a run recorded as waiting', () => {
  it('queues even when a slot is free, takes the slot, and starts its script only once its start is recorded', async () => {
    const { clock, supervisor, control, recorded, started, submit, snapshot } = setup(1);
    control.holdStarts = true;
    supervisor.start(taskFor('a'), 1, true);
    expect(recorded.map((call) => [call.taskId, call.at])).toEqual([['a', 1000]]);
    expect(started()).toEqual([]);
    // Its slot is held while the start is recorded.
    expect(submit('b').waits).toBe(true);
    expect(snapshot()).toMatchObject({ running: 1, waiting: 1 });
    clock.set(1300);
    recorded[0]!.settle();
    await flush();
    expect(started()).toEqual(['a']);
  });

  it('when a slot frees, its start is recorded with that time; it then starts and says how long it waited', async () => {
    const { clock, control, recorded, submit, inner, started, ended } = setup(1);
    submit('a');
    control.holdStarts = true;
    submit('b');
    expect(recorded).toEqual([]);
    clock.set(1700);
    inner('a').finish();
    await flush();
    expect(recorded.map((call) => [call.taskId, call.at])).toEqual([['b', 1700]]);
    expect(started()).toEqual(['a']);
    recorded[0]!.settle();
    await flush();
    expect(started()).toEqual(['a', 'b']);
    inner('b').finish();
    await flush();
    expect(ended.get('b')).toMatchObject({ outcome: 'succeeded', waitedMs: 700 });
  });

  it('a start the store refused to record does not keep the run from starting', async () => {
    const { control, recorded, supervisor, started } = setup(1);
    control.holdStarts = true;
    supervisor.start(taskFor('a'), 1, true);
    recorded[0]!.fail();
    await flush();
    expect(started()).toEqual(['a']);
  });

  it('killed while its start is being recorded: it ends killed, never starts, and its slot goes to the next run', async () => {
    const { control, recorded, supervisor, submit, started, ended, snapshot } = setup(1);
    control.holdStarts = true;
    supervisor.start(taskFor('a'), 1, true);
    expect(submit('b').waits).toBe(true);
    await supervisor.kill('a');
    await flush();
    expect(ended.get('a')).toMatchObject({ outcome: 'killed', startedAt: null });
    expect(snapshot()).toMatchObject({ running: 1, waiting: 1 }); // the slot is given back once the record is done
    control.holdStarts = false;
    recorded[0]!.settle();
    await flush();
    expect(recorded.map((call) => call.taskId)).toEqual(['a', 'b']);
    expect(started()).toEqual(['b']);
  });

  it('shut down while its start is being recorded: it does not start, and stays recorded waiting', async () => {
    const { control, recorded, supervisor, started, ended, snapshot } = setup(1);
    control.holdStarts = true;
    supervisor.start(taskFor('a'), 1, true);
    const shutdown = supervisor.shutdown();
    recorded[0]!.settle();
    await shutdown;
    await flush();
    expect(started()).toEqual([]);
    expect(ended.has('a')).toBe(false);
    expect(snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });
});
