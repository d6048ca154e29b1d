/**
 * The overlap rule `allow` in the pure state machine: a fire during a run starts another run
 * at once, beside it, up to `maxParallel` runs at once (then the fire is recorded skipped);
 * the Executing state keeps the oldest run as `run` and the others in `parallel`, oldest
 * first; the runs end in any order, and only the end of the last one decides what comes
 * next (wait for the next fire, Executed, Stopped, Paused, or a retry of that last run).
 * And the validation of `maxParallel` (parseRunPolicy, parseSubmission).
 *
 * Every task fires every 10s from T0 + 10s unless said otherwise.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { defaultCatchUp, defaultMaxParallel, parseRunPolicy, type PolicyInput, type RunPolicy } from '../../src/core/policy.js';
import type { Schedule } from '../../src/core/schedule.js';
import { parseSubmission, type Submission } from '../../src/core/submission.js';
import type { Task, TaskState } from '../../src/core/task.js';
import { IllegalTransition, transition } from '../../src/core/transition.js';
import { apply, every10s, executingFor, fire, I, makeTask, runResults, SEC, T0, trigger, UPDATED, type Executing } from '../support/task-fixtures.js';

function allow(maxParallel?: number, patch: Partial<RunPolicy> = {}): RunPolicy {
  return { overlap: 'allow', retry: null, catchUp: defaultCatchUp, ...(maxParallel === undefined ? {} : { maxParallel }), ...patch };
}

/** This file's task: the shared cron task, named allow-task, overlap allow up to 3 runs at once. */
const allowTask = (state: TaskState, extra: Partial<Task> = {}): Task => makeTask('cron', state, { id: 'allow-task', policy: allow(3), ...extra });

/** This file's runs have no start time and end at T0 (the shared default: from T0 + I, for 500ms). */
const { result, failed, finished } = runResults({ startedAt: null, finishedAt: T0 });

function executingState(task: Task): Executing {
  expect(task.state.status).toBe('Executing');
  return task.state as Executing;
}

/**
 * Run 1 executing for the fire at +10s, and the fires at +20s and +30s each started beside
 * it (runs 2 and 3) through real transitions: three runs at once under maxParallel 3.
 */
function threeAtOnce(policy: RunPolicy = allow(3), schedule: Schedule = every10s): Task {
  let task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy, schedule });
  for (const k of [2, 3]) task = apply(task, fire, T0 + k * I).task;
  const state = executingState(task);
  expect(state).toStrictEqual(
    executingFor(1, T0 + I, state.nextRunAt, {
      parallel: [
        { run: 2, fire: T0 + 2 * I },
        { run: 3, fire: T0 + 3 * I },
      ],
    }),
  );
  expect(task.lastRun).toBe(3);
  return task;
}

// ------------------------------------------------------------------ fires during a run

describe('overlap rule allow: a fire during a run', () => {
  it('starts another run at once, beside the one executing: startRun, attempt 1, scheduled at the fire', () => {
    const task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 });
    const out = apply(task, fire, T0 + 2 * I + 3);
    expect(out.changed).toBe(true);
    expect(out.warning).toBeNull();
    expect(out.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + 3, attempt: 1 });
    // Run 1 stays the run; run 2 is beside it; the next fire is the grid's next.
    expect(out.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 3 * I, { parallel: [{ run: 2, fire: T0 + 2 * I }] }));
    expect(out.task.lastRun).toBe(2);
    // Still Executing: the status did not change, nor its time.
    expect(out.task.lastStatusUpdated).toBe(UPDATED);
  });

  it('up to maxParallel runs at once; then each fire is recorded skipped, "N runs were executing, the most it allows at once"', () => {
    const task = threeAtOnce();
    expect(executingState(task).nextRunAt).toBe(T0 + 4 * I);

    const skipped = apply(task, fire, T0 + 4 * I + 7);
    expect(skipped.effect).toEqual({ kind: 'skipRun', run: 4, scheduledAt: T0 + 4 * I, at: T0 + 4 * I + 7, reason: '3 runs were executing, the most it allows at once' });
    // Nothing started; the runs executing are the same; the next fire moves on.
    expect(skipped.task.state).toStrictEqual({ ...task.state, nextRunAt: T0 + 5 * I });
    expect(skipped.task.lastRun).toBe(4);

    // And again for the next one: each skipped fire is a record of its own.
    const again = apply(skipped.task, fire, T0 + 5 * I);
    expect(again.effect).toMatchObject({ kind: 'skipRun', run: 5, scheduledAt: T0 + 5 * I, reason: '3 runs were executing, the most it allows at once' });
    expect(executingState(again.task).parallel).toEqual(executingState(task).parallel);
  });

  it('maxParallel 2: one run beside the first, then skipped', () => {
    let task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: allow(2) });
    const beside = apply(task, fire, T0 + 2 * I);
    expect(beside.effect).toMatchObject({ kind: 'startRun', run: 2, attempt: 1 });
    task = beside.task;
    const skipped = apply(task, fire, T0 + 3 * I);
    expect(skipped.effect).toMatchObject({ kind: 'skipRun', run: 3, reason: '2 runs were executing, the most it allows at once' });
    expect(executingState(skipped.task).parallel).toEqual([{ run: 2, fire: T0 + 2 * I }]);
  });

  it(`without maxParallel the default (${defaultMaxParallel}) applies: ${defaultMaxParallel} runs at once, then skipped`, () => {
    expect(defaultMaxParallel).toBe(4);
    let task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: allow() });
    for (const k of [2, 3, 4]) {
      const out = apply(task, fire, T0 + k * I);
      expect(out.effect, `fire ${k}`).toMatchObject({ kind: 'startRun', run: k, scheduledAt: T0 + k * I });
      task = out.task;
    }
    expect(executingState(task).parallel?.map((p) => p.run)).toEqual([2, 3, 4]);
    const skipped = apply(task, fire, T0 + 5 * I);
    expect(skipped.effect).toMatchObject({ kind: 'skipRun', run: 5, reason: '4 runs were executing, the most it allows at once' });
  });

  it('a late fire starts its run scheduled at its own time, and the next fire is the first after now', () => {
    const task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 });
    // The fire at +20s is served at +35s (the engine was busy): +30s has passed too.
    const out = apply(task, fire, T0 + 3.5 * I);
    expect(out.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 3.5 * I, attempt: 1 });
    expect(out.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I, { parallel: [{ run: 2, fire: T0 + 2 * I }] }));
  });

  it('a fire before it is due is refused', () => {
    const task = allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 });
    expect(() => transition(task, fire, T0 + 2 * I - 1)).toThrow(IllegalTransition);
  });

  it('during a catch-up backlog (catch-up all) a fire is not run beside: the backlog runs one after another', () => {
    const task = allowTask(executingFor(1, T0 + I, T0 + 5 * I, { queued: T0 + 2 * I, backlog: true }), { lastRun: 1 });
    const out = apply(task, fire, T0 + 5 * I);
    expect(out.effect?.kind).not.toBe('startRun');
    expect(executingState(out.task)).toMatchObject({ run: 1, queued: T0 + 2 * I, backlog: true, nextRunAt: T0 + 6 * I });
    expect(executingState(out.task).parallel).toBeUndefined();
  });

  it('a run that ended frees its place: the next fire starts a run again', () => {
    let task = threeAtOnce();
    task = apply(task, finished(2), T0 + 3 * I + 1).task;
    const out = apply(task, fire, T0 + 4 * I);
    expect(out.effect).toMatchObject({ kind: 'startRun', run: 4, scheduledAt: T0 + 4 * I, attempt: 1 });
    expect(out.task.state).toStrictEqual(
      executingFor(1, T0 + I, T0 + 5 * I, {
        parallel: [
          { run: 3, fire: T0 + 3 * I },
          { run: 4, fire: T0 + 4 * I },
        ],
      }),
    );
  });
});

// ------------------------------------------------------------------ ends

describe('overlap rule allow: runs end in any order', () => {
  it('the end of a run beside the first removes it; the task goes on Executing the others', () => {
    const task = threeAtOnce();
    const out = apply(task, finished(3, failed(2)), T0 + 3 * I + 5);
    expect(out.effect).toEqual({ kind: 'finishRun', run: 3, result: failed(2) });
    expect(out.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I, { parallel: [{ run: 2, fire: T0 + 2 * I }] }));
    expect(out.task.lastRun).toBe(3);
    // The last one beside it ends: no parallel left at all (not an empty list).
    const alone = apply(out.task, finished(2), T0 + 3 * I + 6);
    expect(alone.effect).toMatchObject({ kind: 'finishRun', run: 2 });
    expect(alone.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I));
  });

  it('the end of the first run makes the oldest one beside it the run (its fire, attempt 1)', () => {
    const task = threeAtOnce();
    const out = apply(task, finished(1), T0 + 3 * I + 5);
    expect(out.effect).toEqual({ kind: 'finishRun', run: 1, result: result() });
    expect(out.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 4 * I, { parallel: [{ run: 3, fire: T0 + 3 * I }] }));
    const next = apply(out.task, finished(2), T0 + 3 * I + 6);
    expect(next.task.state).toStrictEqual(executingFor(3, T0 + 3 * I, T0 + 4 * I));
  });

  it('a run that failed while others execute is not retried; the promoted run is attempt 1 whatever the first was', () => {
    // Run 1 is attempt 2 of the fire at +10s (a retry); runs beside it start at +20s and +30s.
    let task = allowTask(executingFor(1, T0 + I, T0 + 2 * I, { attempt: 2 }), { lastRun: 1, policy: allow(3, { retry: { max: 3, delayMs: SEC, maxDelayMs: SEC, onExitCodes: null } }) });
    task = apply(task, fire, T0 + 2 * I).task;
    task = apply(task, fire, T0 + 3 * I).task;
    const parallelFailed = apply(task, finished(3, failed()), T0 + 3 * I + 1);
    expect(parallelFailed.effect).toMatchObject({ kind: 'finishRun', run: 3 });
    expect(parallelFailed.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I, { attempt: 2, parallel: [{ run: 2, fire: T0 + 2 * I }] }));
    const mainFailed = apply(parallelFailed.task, finished(1, failed()), T0 + 3 * I + 2);
    expect(mainFailed.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 4 * I));
  });

  it('a run that is not executing cannot end', () => {
    const task = threeAtOnce();
    expect(() => transition(task, finished(4), T0 + 3 * I + 1)).toThrow(IllegalTransition);
    const after = apply(task, finished(2), T0 + 3 * I + 1).task;
    // Run 2 has ended already: a second end of it is refused, and changes nothing.
    expect(() => transition(after, finished(2), T0 + 3 * I + 2)).toThrow(IllegalTransition);
  });

  /** Every order in which runs 1, 2 and 3 can end. */
  const orders = [
    [1, 2, 3],
    [1, 3, 2],
    [2, 1, 3],
    [2, 3, 1],
    [3, 1, 2],
    [3, 2, 1],
  ];

  it.each(orders)('ends in the order %i, %i, %i: the oldest run left is the run, the others beside it in order; the last end waits for the next fire', (...order) => {
    const fires = new Map([
      [1, T0 + I],
      [2, T0 + 2 * I],
      [3, T0 + 3 * I],
    ]);
    let task = threeAtOnce();
    const left = new Set([1, 2, 3]);
    for (const [index, run] of order.entries()) {
      const now = T0 + 3 * I + 100 * (index + 1);
      const out = apply(task, finished(run, result({ finishedAt: now })), now);
      expect(out.effect).toEqual({ kind: 'finishRun', run, result: result({ finishedAt: now }) });
      expect(out.task.lastRun).toBe(3);
      left.delete(run);
      const [oldest, ...others] = [...left].sort((a, b) => a - b);
      if (oldest === undefined) {
        expect(out.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 4 * I });
        expect(out.task.lastStatusUpdated).toBe(now);
      } else {
        const more = others.length > 0 ? { parallel: others.map((other) => ({ run: other, fire: fires.get(other)! })) } : {};
        expect(out.task.state, `after ${order.slice(0, index + 1).join(', ')}`).toStrictEqual(executingFor(oldest, fires.get(oldest)!, T0 + 4 * I, more));
        expect(out.task.lastStatusUpdated).toBe(UPDATED);
      }
      task = out.task;
    }
  });
});

// ------------------------------------------------------------------ what comes after the last end

describe('overlap rule allow: only the end of the last run decides what comes next', () => {
  it('a schedule that ended while runs executed: the last end makes the task Executed', () => {
    const ending: Schedule = { ...every10s, end: T0 + 3 * I };
    const task = threeAtOnce(allow(3), ending);
    // +30s was the last fire: nothing is due any more.
    expect(executingState(task).nextRunAt).toBeNull();
    const first = apply(task, finished(1), T0 + 3 * I + 1);
    expect(first.task.state.status).toBe('Executing');
    const second = apply(first.task, finished(3), T0 + 3 * I + 2);
    expect(second.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, null));
    const last = apply(second.task, finished(2), T0 + 3 * I + 3);
    expect(last.task.state).toStrictEqual({ status: 'Executed' });
  });

  it('a stop while three runs execute: they go on, no fire comes, and the last end makes the task Stopped', () => {
    const task = threeAtOnce();
    const stopped = apply(task, { kind: 'stop' }, T0 + 3 * I + 1);
    expect(stopped.warning).toMatch(/still executing/);
    expect(stopped.effect).toBeNull();
    expect(stopped.task.state).toStrictEqual({ ...executingState(task), nextRunAt: null, stopRequested: true });

    // Runs end, in an order where the first run is neither first nor last.
    const a = apply(stopped.task, finished(2), T0 + 3 * I + 2);
    expect(a.task.state).toStrictEqual(executingFor(1, T0 + I, null, { stopRequested: true, parallel: [{ run: 3, fire: T0 + 3 * I }] }));
    const b = apply(a.task, finished(1, failed()), T0 + 3 * I + 3);
    // The promoted run keeps the stop asked for.
    expect(b.task.state).toStrictEqual(executingFor(3, T0 + 3 * I, null, { stopRequested: true }));
    const c = apply(b.task, finished(3), T0 + 3 * I + 4);
    expect(c.task.state).toStrictEqual({ status: 'Stopped' });
    expect(c.effect).toMatchObject({ kind: 'finishRun', run: 3 });
  });

  it('a second stop changes nothing; a kill of every run (each ended killed) ends it Stopped too', () => {
    let task = apply(threeAtOnce(), { kind: 'stop' }, T0 + 3 * I + 1).task;
    expect(apply(task, { kind: 'stop' }, T0 + 3 * I + 2).changed).toBe(false);
    const killed = result({ outcome: 'killed', exitCode: null, signal: 'SIGTERM', error: 'killed on request (SIGTERM)' });
    for (const run of [3, 1, 2]) task = apply(task, finished(run, killed), T0 + 3 * I + 3).task;
    expect(task.state).toStrictEqual({ status: 'Stopped' });
  });

  it('a pause while three runs execute: no fire comes, and the last end makes the task Paused', () => {
    const task = threeAtOnce();
    const paused = apply(task, { kind: 'pause' }, T0 + 3 * I + 1);
    expect(paused.warning).toMatch(/still executing/);
    expect(paused.task.state).toStrictEqual({ ...executingState(task), nextRunAt: null, pauseRequested: true });
    let current = paused.task;
    for (const run of [1, 3]) {
      current = apply(current, finished(run), T0 + 3 * I + 2).task;
      expect(current.state).toMatchObject({ status: 'Executing', pauseRequested: true, nextRunAt: null });
    }
    expect(current.state).toStrictEqual(executingFor(2, T0 + 2 * I, null, { pauseRequested: true }));
    const last = apply(current, finished(2), T0 + 3 * I + 3);
    expect(last.task.state).toStrictEqual({ status: 'Paused' });
  });

  it('a resume before the runs end: they go on, fires come again, and start runs beside them', () => {
    const task = threeAtOnce(allow(4));
    const paused = apply(task, { kind: 'pause' }, T0 + 3 * I + 1).task;
    const resumed = apply(paused, { kind: 'resume' }, T0 + 3 * I + 2);
    expect(resumed.task.state).toStrictEqual({ ...executingState(task), nextRunAt: T0 + 4 * I });
    const out = apply(resumed.task, fire, T0 + 4 * I);
    expect(out.effect).toMatchObject({ kind: 'startRun', run: 4, scheduledAt: T0 + 4 * I });
  });

  it('a stop overrides a pause asked for while the runs execute: the task ends Stopped', () => {
    let task = apply(threeAtOnce(), { kind: 'pause' }, T0 + 3 * I + 1).task;
    task = apply(task, { kind: 'stop' }, T0 + 3 * I + 2).task;
    for (const run of [2, 3, 1]) task = apply(task, finished(run), T0 + 3 * I + 3).task;
    expect(task.state).toStrictEqual({ status: 'Stopped' });
  });

  describe('retries: considered for the last run only', () => {
    const retrying = allow(3, { retry: { max: 2, delayMs: SEC, maxDelayMs: SEC, onExitCodes: null } });

    it('the last run failed: it is retried (its fire, attempt 2), although the runs before it succeeded', () => {
      let task = threeAtOnce(retrying);
      task = apply(task, finished(1), T0 + 3 * I + 1).task;
      task = apply(task, finished(2), T0 + 3 * I + 2).task;
      const out = apply(task, finished(3, failed()), T0 + 3 * I + 3);
      const state = out.task.state as Extract<TaskState, { status: 'WaitForNextExecution' }>;
      expect(state.status).toBe('WaitForNextExecution');
      expect(state.retry).toEqual({ fire: T0 + 3 * I, attempt: 2, thenNextRunAt: T0 + 4 * I });
      // Within the retry delay (1s, less up to half of it at random).
      expect(state.nextRunAt - (T0 + 3 * I + 3)).toBeGreaterThanOrEqual(SEC / 2);
      expect(state.nextRunAt - (T0 + 3 * I + 3)).toBeLessThanOrEqual(SEC);
      // The retry starts as attempt 2 of the last run's fire.
      const retry = apply(out.task, fire, state.nextRunAt);
      expect(retry.effect).toMatchObject({ kind: 'startRun', run: 4, scheduledAt: T0 + 3 * I, attempt: 2 });
    });

    it('runs that failed before the last one are not retried, when the last one succeeds', () => {
      let task = threeAtOnce(retrying);
      task = apply(task, finished(3, failed()), T0 + 3 * I + 1).task;
      task = apply(task, finished(1, failed()), T0 + 3 * I + 2).task;
      const out = apply(task, finished(2), T0 + 3 * I + 3);
      expect(out.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 4 * I });
    });

    it('the last run to end may be one started beside the first: its own fire is retried', () => {
      let task = threeAtOnce(retrying);
      task = apply(task, finished(1), T0 + 3 * I + 1).task;
      task = apply(task, finished(3), T0 + 3 * I + 2).task;
      const out = apply(task, finished(2, failed()), T0 + 3 * I + 3);
      expect(out.task.state).toMatchObject({ status: 'WaitForNextExecution', retry: { fire: T0 + 2 * I, attempt: 2, thenNextRunAt: T0 + 4 * I } });
    });
  });
});

// ------------------------------------------------------------------ validation

describe('maxParallel: parseRunPolicy', () => {
  /** The message of the invalid_request error `input` is refused with. */
  function refusal(input: PolicyInput): string {
    try {
      parseRunPolicy(input);
    } catch (error) {
      expect(error).toBeInstanceOf(SchedulerError);
      expect((error as SchedulerError).code).toBe('invalid_request');
      return (error as Error).message;
    }
    throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  }

  it('allow without maxParallel: the default, 4', () => {
    expect(parseRunPolicy({ overlap: 'allow' })).toEqual({ overlap: 'allow', maxParallel: 4, retry: null, catchUp: defaultCatchUp });
  });

  it('allow with maxParallel from 2 to 64, with or without retries', () => {
    for (const max of [2, 3, 17, 64]) expect(parseRunPolicy({ overlap: 'allow', maxParallel: max }).maxParallel, String(max)).toBe(max);
    expect(parseRunPolicy({ overlap: 'allow', maxParallel: 5, retries: 2, catchUp: 'none' })).toEqual({
      overlap: 'allow',
      maxParallel: 5,
      retry: { max: 2, delayMs: SEC, maxDelayMs: 60 * 60 * SEC, onExitCodes: null },
      catchUp: { mode: 'none', windowMs: null },
    });
  });

  it('other rules have no maxParallel', () => {
    for (const overlap of [undefined, 'skip', 'queue', 'replace']) {
      expect(parseRunPolicy({ overlap }), String(overlap)).not.toHaveProperty('maxParallel');
      expect(parseRunPolicy({ overlap, retries: 1 }), String(overlap)).not.toHaveProperty('maxParallel');
    }
  });

  it.each<[string, PolicyInput, string]>([
    ['1', { overlap: 'allow', maxParallel: 1 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['0', { overlap: 'allow', maxParallel: 0 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['-3', { overlap: 'allow', maxParallel: -3 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['65', { overlap: 'allow', maxParallel: 65 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['2.5', { overlap: 'allow', maxParallel: 2.5 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['NaN', { overlap: 'allow', maxParallel: Number.NaN }, 'maxParallel: must be a whole number from 2 to 64'],
    ['with overlap skip', { overlap: 'skip', maxParallel: 3 }, 'maxParallel: only applies with overlap "allow"'],
    ['with no overlap rule (skip)', { maxParallel: 3 }, 'maxParallel: only applies with overlap "allow"'],
    ['with overlap queue', { overlap: 'queue', maxParallel: 3 }, 'maxParallel: only applies with overlap "allow"'],
    ['with overlap replace, and retries', { overlap: 'replace', maxParallel: 3, retries: 2 }, 'maxParallel: only applies with overlap "allow"'],
    ['an out-of-range value with another rule', { overlap: 'queue', maxParallel: 1 }, 'maxParallel: only applies with overlap "allow"'],
  ])('refused, naming the field: maxParallel %s', (_name, input, expected) => {
    expect(refusal(input)).toBe(expected);
  });
});

describe('maxParallel: parseSubmission', () => {
  const NOW = T0;
  const limits = { maxScriptBytes: 1024 };
  const base: Submission = { id: 'fan-out', type: 'cron', time: '10s', script: 'echo hi' };

  it('a cron task with overlap allow keeps maxParallel in its policy (default 4)', () => {
    expect(parseSubmission({ ...base, overlap: 'allow', maxParallel: 3 }, limits, NOW, 'UTC').policy).toEqual({ overlap: 'allow', maxParallel: 3, retry: null, catchUp: defaultCatchUp });
    expect(parseSubmission({ ...base, overlap: 'allow' }, limits, NOW, 'UTC').policy).toMatchObject({ overlap: 'allow', maxParallel: 4 });
  });

  it.each<[string, Partial<Submission>, string]>([
    ['maxParallel with the default overlap rule', { maxParallel: 3 }, 'maxParallel: only applies with overlap "allow"'],
    ['maxParallel with overlap queue', { overlap: 'queue', maxParallel: 2 }, 'maxParallel: only applies with overlap "allow"'],
    ['maxParallel 1 with overlap allow', { overlap: 'allow', maxParallel: 1 }, 'maxParallel: must be a whole number from 2 to 64'],
    ['maxParallel 100 with overlap allow', { overlap: 'allow', maxParallel: 100 }, 'maxParallel: must be a whole number from 2 to 64'],
  ])('refuses %s, naming the field', (_name, patch, expected) => {
    let caught: unknown;
    try {
      parseSubmission({ ...base, ...patch }, limits, NOW, 'UTC');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SchedulerError);
    expect((caught as SchedulerError).code).toBe('invalid_request');
    expect((caught as Error).message).toBe(expected);
  });
});

describe('run now (trigger) while runs execute, overlap allow', () => {
  it('starts a run beside them, at once, serving now; the next fire stays', () => {
    const now = T0 + I + 3 * SEC;
    const out = apply(allowTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 }), trigger, now);
    expect(out.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: now, startedAt: now, attempt: 1 });
    expect(out.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 2 * I, { parallel: [{ run: 2, fire: now }] }));
    expect(out.warning).toBeNull();
  });

  it('is skipped, saying so, when as many runs execute as the task allows', () => {
    const now = T0 + I + 3 * SEC;
    const full = executingFor(1, T0 + I, T0 + 2 * I, { parallel: [{ run: 2, fire: T0 + I + SEC }, { run: 3, fire: T0 + I + 2 * SEC }] });
    const out = apply(allowTask(full, { lastRun: 3 }), trigger, now);
    expect(out.effect).toMatchObject({ kind: 'skipRun', run: 4, scheduledAt: now });
    expect(out.task.state).toStrictEqual(full);
    expect(out.warning).toMatch(/run 4 skipped/);
  });
});

describe('run now while a stop was requested', () => {
  it.each([allow(3), { ...allow(), overlap: 'skip' as const, maxParallel: undefined }])('is refused: the task ends Stopped after its run (%j)', (policy) => {
    const stopping = executingFor(1, T0 + I, null, { stopRequested: true });
    let error: unknown;
    try {
      transition(allowTask(stopping, { lastRun: 1, policy }), { kind: 'trigger' }, T0 + I + SEC);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('status_conflict');
    expect((error as SchedulerError).message).toMatch(/was stopped/);
  });
});
