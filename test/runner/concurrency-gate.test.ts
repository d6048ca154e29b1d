/**
 * The ConcurrencyGate over the FakeRunner: the test decides when every inner run ends, and
 * checks, at every inner start and every end, how many inner runs are alive.
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import type { RunResult } from '../../src/core/transition.js';
import { ConcurrencyGate, defaultMaxRuns, endedWhileWaiting } from '../../src/runner/concurrency-gate.js';
import type { RunningProcess, RunSpec } from '../../src/runner/process-runner.js';
import { FakeRunner, type FakeRun } from '../support/fake-runner.js';

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

function spec(taskId: string, queue?: string): RunSpec {
  const result: RunSpec = { taskId, run: 1, script: 'true' };
  if (queue !== undefined) result.execution = { ...defaultExecution, queue };
  return result;
}

/** Lets the promise callbacks that free slots run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(maxRuns: number, queues: Record<string, number> = {}) {
  const clock = { t: 1000 };
  const now = () => clock.t;
  const runner = new CheckedRunner(now, maxRuns, queues);
  const gate = new ConcurrencyGate({ inner: runner, maxRuns, queues, now, outputCap });
  /** The inner run of a task, which must have started. */
  const inner = (taskId: string): FakeRun => {
    const run = runner.runsOf(taskId)[0];
    if (!run) throw new Error(`${taskId} has not started`);
    return run;
  };
  const started = () => runner.runs.map((run) => run.taskId);
  return { clock, runner, gate, inner, started };
}

/** The result a promise has settled with, or undefined if it is still pending. */
async function settledWith(finished: Promise<RunResult>): Promise<RunResult | undefined> {
  return Promise.race([finished, flush().then(() => undefined)]);
}

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('ConcurrencyGate', () => {
  it('holds the global cap under a burst and starts every run, in arrival order', async () => {
    const { runner, gate, started } = setup(3);
    const ids = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const processes = ids.map((id) => gate.start(spec(id)));
    expect(started()).toEqual(['t0', 't1', 't2']);
    expect(gate.snapshot()).toMatchObject({ running: 3, waiting: 47 });

    const random = prng(7);
    while (runner.alive().length > 0) {
      const alive = runner.alive();
      alive[Math.floor(random() * alive.length)]!.finish();
      expect(runner.alive().length).toBeLessThanOrEqual(3);
      await flush();
      const left = 50 - runner.runs.filter((run) => run.settled).length;
      expect(runner.alive().length).toBe(Math.min(3, left));
    }
    expect(runner.violations).toEqual([]);
    expect(started()).toEqual(ids);
    const results = await Promise.all(processes.map((process) => process.finished));
    expect(results.every((result) => result.outcome === 'succeeded')).toBe(true);
    expect(results.slice(0, 3).map((result) => result.waitedMs)).toEqual([undefined, undefined, undefined]);
    expect(results.slice(3).every((result) => typeof result.waitedMs === 'number')).toBe(true);
    expect(gate.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('holds every limit with mixed queues, keeps each queue in arrival order, and leaves no waiting run that fits', async () => {
    const queues = { gpu: 1, io: 2 };
    const { runner, gate, started } = setup(3, queues);
    const random = prng(42);
    const names = ['default', 'gpu', 'io', 'unconfigured'];
    const arrived: Array<{ id: string; queue: string }> = [];
    let next = 0;
    const submit = (count: number) => {
      for (let i = 0; i < count; i++) {
        const queue = names[Math.floor(random() * names.length)]!;
        const id = `r${next++}`;
        arrived.push({ id, queue });
        gate.start(spec(id, queue));
      }
    };
    /** After every event, no waiting run could have started. */
    const checkNoneFits = () => {
      const snapshot = gate.snapshot();
      const waitingQueues = snapshot.queues.filter((queue) => queue.waiting > 0);
      if (snapshot.running < 3) {
        for (const queue of waitingQueues) expect(queue.limit !== null && queue.running >= queue.limit).toBe(true);
      }
    };
    submit(30);
    checkNoneFits();
    while (runner.alive().length > 0) {
      const alive = runner.alive();
      alive[Math.floor(random() * alive.length)]!.finish();
      await flush();
      checkNoneFits();
      if (next < 120 && random() < 0.5) submit(3);
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
    const { clock, gate, inner } = setup(1);
    const first = gate.start(spec('a'));
    clock.t = 1200;
    const second = gate.start(spec('b'));
    clock.t = 1700;
    inner('a').finish();
    await flush();
    clock.t = 2000;
    inner('b').finish();
    expect((await first.finished).waitedMs).toBeUndefined();
    const result = await second.finished;
    expect(result.waitedMs).toBe(500);
    expect(result.startedAt).toBe(1700);
    expect(result.outcome).toBe('succeeded');
  });

  it('says a run is waiting until it starts, and not once it has, or was ended waiting', async () => {
    const { gate, inner } = setup(1);
    const first = gate.start(spec('a'));
    const second = gate.start(spec('b'));
    const third = gate.start(spec('c'));
    expect([first.waiting ?? false, second.waiting, third.waiting]).toEqual([false, true, true]);
    void third.kill();
    expect(third.waiting).toBe(false);
    inner('a').finish();
    await flush();
    expect(second.waiting).toBe(false);
    expect(second.pid).toBe(inner('b').pid);
  });

  it('serialises the runs of a queue limited to 1 while default runs proceed', async () => {
    const { runner, gate, inner, started } = setup(4, { gpu: 1 });
    gate.start(spec('g1', 'gpu'));
    gate.start(spec('g2', 'gpu'));
    gate.start(spec('g3', 'gpu'));
    gate.start(spec('d1'));
    gate.start(spec('d2'));
    gate.start(spec('d3'));
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
    const { gate, inner, started } = setup(2, { gpu: 1 });
    gate.start(spec('g1', 'gpu'));
    gate.start(spec('d1'));
    const g2 = gate.start(spec('g2', 'gpu')); // waits: both slots taken
    const d2 = gate.start(spec('d2')); // waits: both slots taken
    expect(started()).toEqual(['g1', 'd1']);
    inner('d1').finish();
    await flush();
    // The freed slot goes to d2: g2, ahead of it, still cannot run (gpu is full).
    expect(started()).toEqual(['g1', 'd1', 'd2']);
    expect(g2.pid).toBeUndefined();
    expect(d2.pid).toBe(inner('d2').pid);
    // And a new default run arriving while g2 waits on gpu starts at once once there is room.
    inner('d2').finish();
    await flush();
    gate.start(spec('d3'));
    expect(started()).toEqual(['g1', 'd1', 'd2', 'd3']);
  });

  it('ends a run killed while waiting without starting it, and frees no slot it did not hold', async () => {
    const { clock, runner, gate, inner, started } = setup(1);
    gate.start(spec('a'));
    const waiting = gate.start(spec('b'));
    clock.t = 1300;
    const killed = await waiting.kill();
    expect(killed).toEqual({
      outcome: 'killed',
      startedAt: null,
      finishedAt: 1300,
      exitCode: null,
      signal: null,
      error: endedWhileWaiting,
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      outputCap,
      waitedMs: 300,
    });
    expect(await waiting.finished).toBe(killed);
    expect(await waiting.kill()).toBe(killed); // a second kill changes nothing
    // a still holds the only slot: a new run waits.
    const c = gate.start(spec('c'));
    expect(started()).toEqual(['a']);
    expect(gate.snapshot()).toMatchObject({ running: 1, waiting: 1 });
    inner('a').finish();
    await flush();
    expect(started()).toEqual(['a', 'c']); // b never starts
    expect(c.pid).toBe(inner('c').pid);
    expect(runner.violations).toEqual([]);
  });

  it('hands output to a listener given while the run waited, once it starts', async () => {
    const { gate, inner } = setup(1);
    gate.start(spec('a'));
    const b = gate.start(spec('b'));
    const chunks: Array<[string, number, string]> = [];
    b.listen((stream, offset, chunk) => chunks.push([stream, offset, chunk.toString()]));
    expect(b.pid).toBeUndefined();
    expect(b.outputSoFar()).toEqual({
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    });
    inner('a').finish();
    await flush();
    const run = inner('b');
    expect(b.pid).toBe(run.pid);
    expect(b.pid).not.toBeUndefined();
    run.write('stdout', 'hello ');
    run.write('stderr', 'oops');
    run.write('stdout', 'world');
    expect(chunks).toEqual([
      ['stdout', 0, 'hello '],
      ['stderr', 0, 'oops'],
      ['stdout', 6, 'world'],
    ]);
    expect(b.outputSoFar().stdout.text).toBe('hello world');
    // A listener given after the start goes straight to the inner run.
    const later: string[] = [];
    b.listen((_stream, _offset, chunk) => later.push(chunk.toString()));
    run.write('stdout', '!');
    expect(later).toEqual(['!']);
  });

  it('kills a run that waited and then started through its inner process, keeping waitedMs', async () => {
    const { clock, gate, inner } = setup(1);
    gate.start(spec('a'));
    const b = gate.start(spec('b'));
    clock.t = 1400;
    inner('a').finish();
    await flush();
    const result = await b.kill();
    expect(inner('b').killCalls).toBe(1);
    expect(result).toMatchObject({ outcome: 'failed', signal: 'SIGTERM', waitedMs: 400 });
  });

  it('takes no slot for an inner start that throws, whether the run waited or not', async () => {
    const { runner, gate, inner, started } = setup(1);
    runner.failNextStart = new Error('spawn refused');
    expect(() => gate.start(spec('x'))).toThrow('spawn refused');
    expect(gate.snapshot()).toMatchObject({ running: 0, waiting: 0 });

    gate.start(spec('a')); // the slot x did not take
    const b = gate.start(spec('b'));
    const c = gate.start(spec('c'));
    runner.failNextStart = new Error('no such language');
    inner('a').finish();
    await flush();
    expect(await b.finished).toMatchObject({
      outcome: 'failed',
      startedAt: null,
      exitCode: null,
      error: 'the script could not be started: no such language',
      outputCap,
    });
    expect(started()).toEqual(['a', 'c']); // b's failure left the slot to c
    expect(c.pid).toBe(inner('c').pid);
    expect(gate.snapshot()).toMatchObject({ running: 1, waiting: 0 });
  });

  it('counts running and waiting runs in all and per queue', async () => {
    const { gate, inner } = setup(3, { io: 2, gpu: 1, alpha: 1 });
    expect(gate.snapshot()).toEqual({
      maxRuns: 3,
      running: 0,
      waiting: 0,
      queues: [
        { name: 'default', limit: null, running: 0, waiting: 0 },
        { name: 'alpha', limit: 1, running: 0, waiting: 0 },
        { name: 'gpu', limit: 1, running: 0, waiting: 0 },
        { name: 'io', limit: 2, running: 0, waiting: 0 },
      ],
    });
    gate.start(spec('g1', 'gpu'));
    gate.start(spec('g2', 'gpu'));
    gate.start(spec('i1', 'io'));
    gate.start(spec('o1', 'old')); // a queue no longer configured: no limit of its own
    gate.start(spec('d1'));
    gate.start(spec('o2', 'old'));
    expect(gate.snapshot()).toEqual({
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
    expect(gate.snapshot().queues.map(({ name, running, waiting }) => [name, running, waiting])).toEqual([
      ['default', 1, 0],
      ['alpha', 0, 0],
      ['gpu', 1, 1],
      ['io', 0, 0],
      ['old', 1, 1],
    ]);
  });

  it('applies a limit configured for the default queue, and runs an unconfigured queue without one', () => {
    const { gate, started } = setup(10, { default: 2 });
    for (const id of ['d1', 'd2', 'd3']) gate.start(spec(id));
    for (const id of ['o1', 'o2', 'o3']) gate.start(spec(id, 'gone'));
    expect(started()).toEqual(['d1', 'd2', 'o1', 'o2', 'o3']);
    expect(gate.snapshot().queues[0]).toEqual({ name: 'default', limit: 2, running: 2, waiting: 1 });
  });

  it('prepares a run only when it could start now, and forwards the rest', () => {
    const { runner, gate } = setup(2, { gpu: 1 });
    gate.prepare(spec('g1', 'gpu'));
    expect(runner.prepared.map((s) => s.taskId)).toEqual(['g1']);
    gate.start(spec('g1', 'gpu'));
    gate.prepare(spec('g2', 'gpu')); // gpu is full
    gate.prepare(spec('d1')); // one global slot left
    expect(runner.prepared.map((s) => s.taskId)).toEqual(['g1', 'd1']);
    gate.start(spec('d1'));
    gate.prepare(spec('d2')); // every slot taken
    expect(runner.prepared.map((s) => s.taskId)).toEqual(['g1', 'd1']);

    gate.discardPrepared();
    expect(runner.prepared).toEqual([]);
    runner.spooled.set('t#3', { stdout: { text: 'x', totalBytes: 1, droppedBytes: 0, droppedAt: 0 }, stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 } });
    expect(gate.recoverOutput('t', 3).stdout.text).toBe('x');
    gate.removeSpool('t', 3);
    runner.orphansFound = 5;
    expect(gate.killOrphans()).toBe(5);
    expect(runner.calls).toEqual([{ kind: 'recoverOutput', taskId: 't', run: 3 }, { kind: 'removeSpool', taskId: 't', run: 3 }, { kind: 'killOrphans' }]);
  });

  it('close() ends every waiting run without starting any, and starts nothing afterwards', async () => {
    const { runner, gate, inner, started } = setup(1);
    const a = gate.start(spec('a'));
    const waiting = [gate.start(spec('b')), gate.start(spec('c'))];
    gate.close();
    for (const process of waiting) {
      expect(await settledWith(process.finished)).toMatchObject({ outcome: 'killed', startedAt: null, error: endedWhileWaiting });
    }
    // The running run is left alone; its end frees a slot that nothing takes.
    expect(inner('a').settled).toBe(false);
    await a.kill();
    await flush();
    expect(started()).toEqual(['a']);
    const late = gate.start(spec('d'));
    expect(await late.finished).toMatchObject({ outcome: 'interrupted', startedAt: null, error: 'the daemon was shutting down' });
    gate.prepare(spec('e'));
    expect(runner.prepared).toEqual([]);
    expect(started()).toEqual(['a']);
    expect(gate.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('starts no waiting run when every run is killed in one go, as the supervisor does at shutdown, even without close()', async () => {
    const { gate, started } = setup(2);
    const all: RunningProcess[] = ['a', 'b', 'c', 'd', 'e'].map((id) => gate.start(spec(id)));
    await Promise.all(all.map((process) => process.kill()));
    await flush();
    expect(started()).toEqual(['a', 'b']);
    const results = await Promise.all(all.map((process) => process.finished));
    expect(results.map((result) => result.outcome)).toEqual(['failed', 'failed', 'killed', 'killed', 'killed']);
  });

  it('refuses a maximum or a queue limit below 1', () => {
    const inner = new FakeRunner({ now: () => 0 });
    const options = { inner, queues: {}, now: () => 0, outputCap };
    expect(() => new ConcurrencyGate({ ...options, maxRuns: 0 })).toThrow(RangeError);
    expect(() => new ConcurrencyGate({ ...options, maxRuns: 1.5 })).toThrow(RangeError);
    expect(() => new ConcurrencyGate({ ...options, maxRuns: 1, queues: { gpu: 0 } })).toThrow(/queue "gpu"/);
  });

  it('defaults the maximum to twice the number of CPUs, at least 4', () => {
    expect(defaultMaxRuns()).toBe(Math.max(4, 2 * availableParallelism()));
    expect(defaultMaxRuns()).toBeGreaterThanOrEqual(4);
  });

describe('ConcurrencyGate: reserving a slot before the start is recorded', () => {
  it('a reserved run starts at once when start() comes, even if every other slot was taken meanwhile', () => {
    const { runner, gate, started } = setup(2);
    expect(gate.reserve(spec('a'))).toBe(true);
    gate.start(spec('b')); // takes the last free slot
    expect(gate.reserve(spec('c'))).toBe(false); // none left: c would wait
    const a = gate.start(spec('a'));
    expect(a.waiting).toBeFalsy();
    expect(started()).toEqual(['b', 'a']);
    expect(runner.violations).toEqual([]);
    expect(gate.snapshot()).toMatchObject({ running: 2, waiting: 0 });
  });

  it('a reservation counts as a run: a run not reserved waits behind it', () => {
    const { gate, started } = setup(1);
    expect(gate.reserve(spec('a'))).toBe(true);
    const b = gate.start(spec('b'));
    expect(b.waiting).toBe(true);
    gate.start(spec('a'));
    expect(started()).toEqual(['a']);
  });

  it('unreserve gives the slot back, to the first waiting run; a second unreserve or one of nothing changes nothing', async () => {
    const { gate, started } = setup(1);
    expect(gate.reserve(spec('a'))).toBe(true);
    const b = gate.start(spec('b'));
    expect(b.waiting).toBe(true);
    gate.unreserve(spec('a'));
    expect(started()).toEqual(['b']);
    gate.unreserve(spec('a'));
    gate.unreserve(spec('nobody'));
    expect(gate.snapshot()).toMatchObject({ running: 1, waiting: 0 });
  });

  it('a reserved run whose inner start throws gives its slot back', () => {
    const { runner, gate } = setup(1);
    expect(gate.reserve(spec('a'))).toBe(true);
    runner.failNextStart = new Error('spawn E2BIG');
    expect(() => gate.start(spec('a'))).toThrow('spawn E2BIG');
    expect(gate.snapshot()).toMatchObject({ running: 0 });
    expect(gate.reserve(spec('b'))).toBe(true);
  });

  it('after close(), nothing is reserved, and a reserved run does not start', async () => {
    const { gate, started } = setup(2);
    expect(gate.reserve(spec('a'))).toBe(true);
    gate.close();
    expect(gate.reserve(spec('b'))).toBe(false);
    expect(await gate.start(spec('a')).finished).toMatchObject({ outcome: 'interrupted', startedAt: null });
    expect(started()).toEqual([]);
    expect(gate.snapshot()).toMatchObject({ running: 0 });
  });
});

describe('ConcurrencyGate: a run recorded as waiting (beforeStart)', () => {
  /** A beforeStart hook whose calls the test sees and settles. */
  function hook() {
    const calls: Array<{ at: number; settle: () => void }> = [];
    const beforeStart = (at: number) => new Promise<void>((resolve) => calls.push({ at, settle: resolve }));
    return { calls, beforeStart };
  }

  it('queues even when a slot is free, takes the slot, and starts its script only once the hook has settled', async () => {
    const { clock, gate, started } = setup(1);
    const { calls, beforeStart } = hook();
    const run = gate.start(spec('a'), { beforeStart });
    expect(calls.map((call) => call.at)).toEqual([1000]);
    expect(run.waiting).toBe(true);
    expect(started()).toEqual([]);
    // Its slot is held while the start is recorded.
    expect(gate.start(spec('b')).waiting).toBe(true);
    clock.t = 1300;
    calls[0]!.settle();
    await flush();
    expect(started()).toEqual(['a']);
    expect(run.waiting).toBe(false);
  });

  it('when a slot frees, the hook is called with that time; the run then starts and says how long it waited', async () => {
    const { clock, gate, inner, started } = setup(1);
    gate.start(spec('a'));
    const { calls, beforeStart } = hook();
    const b = gate.start(spec('b'), { beforeStart });
    expect(calls).toEqual([]);
    clock.t = 1700;
    inner('a').finish();
    await flush();
    expect(calls.map((call) => call.at)).toEqual([1700]);
    expect(started()).toEqual(['a']);
    calls[0]!.settle();
    await flush();
    expect(started()).toEqual(['a', 'b']);
    inner('b').finish();
    expect(await b.finished).toMatchObject({ outcome: 'succeeded', waitedMs: 700 });
  });

  it('a hook that fails does not keep the run from starting', async () => {
    const { gate, started } = setup(1);
    gate.start(spec('a'), { beforeStart: () => Promise.reject(new Error('disk full')) });
    await flush();
    expect(started()).toEqual(['a']);
  });

  it('killed while its start is being recorded: it ends killed, never starts, and its slot goes to the next run', async () => {
    const { gate, started } = setup(1);
    const { calls, beforeStart } = hook();
    const a = gate.start(spec('a'), { beforeStart });
    const b = gate.start(spec('b'));
    void a.kill();
    expect(await settledWith(a.finished)).toMatchObject({ outcome: 'killed', startedAt: null, error: endedWhileWaiting });
    expect(b.waiting).toBe(true); // the slot is given back once the hook is done
    calls[0]!.settle();
    await flush();
    expect(started()).toEqual(['b']);
  });

  it('closed while its start is being recorded: it does not start, and ends as never started', async () => {
    const { gate, started } = setup(1);
    const { calls, beforeStart } = hook();
    const a = gate.start(spec('a'), { beforeStart });
    gate.close();
    calls[0]!.settle();
    expect(await a.finished).toMatchObject({ outcome: 'interrupted', startedAt: null, error: 'the daemon was shutting down' });
    expect(started()).toEqual([]);
    expect(gate.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });
});
});
