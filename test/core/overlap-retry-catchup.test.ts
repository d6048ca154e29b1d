/**
 * The run policy in the pure state machine: overlap rules (skip, queue, replace), retries
 * with their backoff, and the catch-up of fires that passed unserved (none, once, all),
 * each with fixed times. Every task fires every 10s from T0 + 10s unless said otherwise.
 */
import { describe, expect, it } from 'vitest';
import { defaultCatchUp, retryDelay, type RetryPolicy, type RunPolicy } from '../../src/core/policy.js';
import type { Schedule } from '../../src/core/schedule.js';
import type { Task, TaskState } from '../../src/core/task.js';
import type { Effect, Transition } from '../../src/core/transition.js';
import { apply, executingFor, fire, I, makeTask, MIN, runResults, SEC, T0, UPDATED } from '../support/task-fixtures.js';

const why = 'passed while the task could not run (the daemon was not running, or was busy)';

function policyOf(patch: Partial<RunPolicy>): RunPolicy {
  return { overlap: 'skip', retry: null, catchUp: defaultCatchUp, ...patch };
}

/** Up to `max` retries, 1s doubled each time, at most 10s; for `codes` only when given. */
function retries(max: number, codes: number[] | null = null): RetryPolicy {
  return { max, delayMs: SEC, maxDelayMs: 10 * SEC, onExitCodes: codes };
}

/** This file's task: the shared cron task (overlap skip, no retries), named policy-task: the name seeds the retry jitter. */
const policyTask = (state: TaskState, extra: Partial<Task> = {}): Task => makeTask('cron', state, { id: 'policy-task', ...extra });

/** This file's runs have no start time and end at T0 (the shared default: from T0 + I, for 500ms). */
const { result, failed, finished } = runResults({ startedAt: null, finishedAt: T0 });

function startEffect(out: Transition): Extract<Effect, { kind: 'startRun' }> {
  expect(out.effect?.kind).toBe('startRun');
  return out.effect as Extract<Effect, { kind: 'startRun' }>;
}

// ------------------------------------------------------------------ overlap

describe('overlap rule skip (the default)', () => {
  it('a fire during a run is recorded as skipped; nothing waits; the run ends and the task waits for the grid', () => {
    const task = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 });
    const skipped = apply(task, fire, T0 + 2 * I + 3);
    expect(skipped.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: T0 + 2 * I + 3, reason: 'run 1 was still executing' });
    expect(skipped.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 3 * I));
    expect(skipped.task.lastRun).toBe(2);
    const end = apply(skipped.task, finished(1), T0 + 2 * I + 5 * SEC);
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
  });
});

describe('overlap rule queue', () => {
  const queue = policyOf({ overlap: 'queue' });
  const running = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: queue });

  it('the first fire during a run waits: no record, no effect, the next fire moves on', () => {
    const queued = apply(running, fire, T0 + 2 * I + 3);
    expect(queued.changed).toBe(true);
    expect(queued.effect).toBeNull();
    expect(queued.warning).toBeNull();
    expect(queued.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 3 * I, { queued: T0 + 2 * I }));
    expect(queued.task.lastRun).toBe(1);
  });

  it('the end of the run starts the queued fire at once, its run serving that fire', () => {
    const queued = apply(running, fire, T0 + 2 * I);
    const end = apply(queued.task, finished(1), T0 + 2 * I + 600);
    expect(end.effect).toEqual({ kind: 'finishRun', run: 1, result: result() });
    // The queued fire is due now and starts as it is (attempt 1), then the task waits for +30s.
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I, retry: { fire: T0 + 2 * I, attempt: 1, thenNextRunAt: T0 + 3 * I } });
    const start = apply(end.task, fire, T0 + 2 * I + 600);
    expect(start.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + 600, attempt: 1 });
    expect(start.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 3 * I));
    // And the grid goes on after it.
    expect(apply(start.task, finished(2), T0 + 2 * I + 900).task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
  });

  it('a second fire during the same run is skipped, saying a run was already waiting', () => {
    const queued = apply(running, fire, T0 + 2 * I);
    const second = apply(queued.task, fire, T0 + 3 * I + 1);
    expect(second.effect).toEqual({
      kind: 'skipRun',
      run: 2,
      scheduledAt: T0 + 3 * I,
      at: T0 + 3 * I + 1,
      reason: 'run 1 was still executing and a run was already waiting',
    });
    // The first fire still waits; the next fire moves on.
    expect(second.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I, { queued: T0 + 2 * I }));
    expect(second.task.lastRun).toBe(2);
  });

  it('after a second fire was skipped, the run\'s end still starts the queued fire (not the skipped one)', () => {
    // Run 1 goes on from +10s to +30.5s: the fire at +20s waits, the one at +30s is skipped (run 2).
    const queued = apply(running, fire, T0 + 2 * I);
    const second = apply(queued.task, fire, T0 + 3 * I);
    const end = apply(second.task, finished(1), T0 + 3 * I + 500);
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I, retry: { fire: T0 + 2 * I, attempt: 1, thenNextRunAt: T0 + 4 * I } });
    const start = apply(end.task, fire, T0 + 3 * I + 500);
    // The queued fire (+20s) runs as run 3: the fire at +30s was recorded skipped already.
    expect(start.effect).toEqual({ kind: 'startRun', run: 3, scheduledAt: T0 + 2 * I, startedAt: T0 + 3 * I + 500, attempt: 1 });
    expect(start.task.state).toStrictEqual(executingFor(3, T0 + 2 * I, T0 + 4 * I));
  });

  it('a queued fire runs after a long run even under catch-up none (it was not missed: it waited)', () => {
    const task = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: policyOf({ overlap: 'queue', catchUp: { mode: 'none', windowMs: null } }) });
    const queued = apply(task, fire, T0 + 2 * I);
    const end = apply(queued.task, finished(1), T0 + 2 * I + 5 * SEC);
    const start = apply(end.task, fire, T0 + 2 * I + 5 * SEC);
    expect(start.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + 5 * SEC, attempt: 1 });
  });

  it('a queued fire that starts long after it (the daemon was down) runs as it is, not caught up', () => {
    const queued = apply(running, fire, T0 + 2 * I);
    const end = apply(queued.task, finished(1), T0 + 2 * I + 100);
    // Fires +30s .. +60s passed before it started: no missed record, no later fire instead.
    const late = T0 + 65_500;
    const start = apply(end.task, fire, late);
    expect(start.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: late, attempt: 1 });
    expect(start.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 3 * I));
  });

  it('a queued fire takes precedence over a retry of the failed run', () => {
    const task = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: policyOf({ overlap: 'queue', retry: retries(3) }) });
    const queued = apply(task, fire, T0 + 2 * I);
    const end = apply(queued.task, finished(1, failed()), T0 + 2 * I + 100);
    // Attempt 1 of the queued fire (+20s), not attempt 2 of the failed one (+10s).
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I, retry: { fire: T0 + 2 * I, attempt: 1, thenNextRunAt: T0 + 3 * I } });
    expect(startEffect(apply(end.task, fire, T0 + 2 * I + 100))).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + 100, attempt: 1 });
  });

  it('a stop during the run drops the queued fire: the task ends Stopped', () => {
    const queued = apply(running, fire, T0 + 2 * I);
    const stopping = apply(queued.task, { kind: 'stop' }, T0 + 2 * I + 10);
    const end = apply(stopping.task, finished(1), T0 + 2 * I + 20);
    expect(end.task.state).toStrictEqual({ status: 'Stopped' });
  });
});

describe('overlap rule replace', () => {
  const replace = policyOf({ overlap: 'replace' });
  const running = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: replace });

  it('a fire during a run kills it, saying which fire replaces it, and waits for its end', () => {
    const replacing = apply(running, fire, T0 + 2 * I + 3);
    expect(replacing.effect).toEqual({ kind: 'killRun', run: 1, reason: 'replaced by the fire at 2026-11-25T10:00:20.000Z' });
    expect(replacing.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 3 * I, { queued: T0 + 2 * I }));
    expect(replacing.task.lastRun).toBe(1);
  });

  it('the end of the killed run starts the fire that replaced it', () => {
    const replacing = apply(running, fire, T0 + 2 * I + 3);
    const killed = result({ outcome: 'killed', exitCode: null, signal: 'SIGTERM', error: 'replaced by the fire at 2026-11-25T10:00:20.000Z (SIGTERM)' });
    const end = apply(replacing.task, finished(1, killed), T0 + 2 * I + 250);
    expect(end.effect).toEqual({ kind: 'finishRun', run: 1, result: killed });
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I, retry: { fire: T0 + 2 * I, attempt: 1, thenNextRunAt: T0 + 3 * I } });
    const start = apply(end.task, fire, T0 + 2 * I + 250);
    expect(start.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + 250, attempt: 1 });
    expect(start.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 3 * I));
  });

  it('a second fire while the run is being replaced is skipped, and kills nothing more', () => {
    const replacing = apply(running, fire, T0 + 2 * I);
    const second = apply(replacing.task, fire, T0 + 3 * I + 2);
    expect(second.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 3 * I, at: T0 + 3 * I + 2, reason: 'run 1 was being replaced already' });
    expect(second.task.state).toStrictEqual(executingFor(1, T0 + I, T0 + 4 * I, { queued: T0 + 2 * I }));
  });

  it('a killed run is not retried: the replacing fire runs', () => {
    const task = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: policyOf({ overlap: 'replace', retry: retries(3) }) });
    const replacing = apply(task, fire, T0 + 2 * I);
    const end = apply(replacing.task, finished(1, result({ outcome: 'killed', exitCode: null, signal: 'SIGTERM' })), T0 + 2 * I + 100);
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I, retry: { fire: T0 + 2 * I, attempt: 1, thenNextRunAt: T0 + 3 * I } });
  });
});

// ------------------------------------------------------------------ retries

describe('retries', () => {
  const policy = policyOf({ retry: retries(2) });
  const running = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy });

  it('a failed run with attempts left waits for its retry: now + the backoff, then the next fire', () => {
    const now = T0 + I + 500;
    const end = apply(running, finished(1, failed(3)), now);
    const delay = retryDelay(retries(2), 'policy-task', T0 + I, 2);
    expect(delay).toBeGreaterThanOrEqual(SEC / 2);
    expect(delay).toBeLessThanOrEqual(SEC);
    expect(end.task.state).toStrictEqual({
      status: 'WaitForNextExecution',
      nextRunAt: now + delay,
      retry: { fire: T0 + I, attempt: 2, thenNextRunAt: T0 + 2 * I },
    });
    expect(end.effect).toEqual({ kind: 'finishRun', run: 1, result: failed(3) });
  });

  it('the retry is a new run, attempt 2, serving the original fire; then the schedule goes on', () => {
    const end = apply(running, finished(1, failed()), T0 + I + 500);
    const retryAt = (end.task.state as { nextRunAt: number }).nextRunAt;
    expect(() => apply(end.task, fire, retryAt - 1)).toThrow(/not due/);
    const retry = apply(end.task, fire, retryAt);
    expect(retry.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + I, startedAt: retryAt, attempt: 2 });
    expect(retry.task.state).toStrictEqual(executingFor(2, T0 + I, T0 + 2 * I, { attempt: 2 }));
    expect(retry.task.lastRun).toBe(2);
    const ok = apply(retry.task, finished(2), retryAt + 300);
    expect(ok.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
  });

  it('a retry that fires late is not caught up: it runs as the retry it is', () => {
    const end = apply(running, finished(1, failed()), T0 + I + 500);
    const retryAt = (end.task.state as { nextRunAt: number }).nextRunAt;
    const late = apply(end.task, fire, retryAt + 5 * SEC);
    expect(late.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + I, startedAt: retryAt + 5 * SEC, attempt: 2 });
  });

  it('each retry waits longer (1s, then 2s, less the jitter); after the last attempt, no more', () => {
    let task = running;
    let now = T0 + I + 500;
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const end = apply(task, finished(attempt, failed()), now);
      if (attempt === 3) {
        // Attempts 1, 2 and 3 (two retries) have failed: the task waits for its next fire.
        expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
        break;
      }
      const state = end.task.state as Extract<TaskState, { status: 'WaitForNextExecution' }>;
      expect(state.retry).toEqual({ fire: T0 + I, attempt: attempt + 1, thenNextRunAt: T0 + 2 * I });
      delays.push(state.nextRunAt - now);
      const retry = apply(end.task, fire, state.nextRunAt);
      expect(startEffect(retry)).toMatchObject({ run: attempt + 1, attempt: attempt + 1, scheduledAt: T0 + I });
      task = retry.task;
      now = state.nextRunAt + 200;
    }
    expect(delays).toEqual([retryDelay(retries(2), 'policy-task', T0 + I, 2), retryDelay(retries(2), 'policy-task', T0 + I, 3)]);
    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(delays[0]).toBeLessThanOrEqual(1000);
    expect(delays[1]).toBeGreaterThanOrEqual(1000);
    expect(delays[1]).toBeLessThanOrEqual(2000);
  });

  it('retries of different fires are jittered apart', () => {
    const many = Array.from({ length: 20 }, (_, k) => {
      const task = policyTask(executingFor(k + 1, T0 + (k + 1) * I, T0 + (k + 2) * I), { lastRun: k + 1, policy });
      const now = T0 + (k + 1) * I + 100;
      return (apply(task, finished(k + 1, failed()), now).task.state as { nextRunAt: number }).nextRunAt - now;
    });
    expect(new Set(many).size).toBeGreaterThan(1);
  });

  it('with exit codes: a run that exits with another code (or by a signal) is not retried', () => {
    const only75 = policyTask(executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: policyOf({ retry: retries(3, [75]) }) });
    expect(apply(only75, finished(1, failed(75)), T0 + I + 100).task.state).toMatchObject({ status: 'WaitForNextExecution', retry: { attempt: 2 } });
    for (const res of [failed(1), failed(null, { signal: 'SIGKILL' }), result({ outcome: 'timed_out', exitCode: null, signal: 'SIGTERM' })]) {
      expect(apply(only75, finished(1, res), T0 + I + 100).task.state, JSON.stringify(res.exitCode)).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
    }
  });

  it('a timed-out run is retried; a killed, interrupted or successful one is not', () => {
    expect(apply(running, finished(1, result({ outcome: 'timed_out', exitCode: null, signal: 'SIGTERM' })), T0 + I + 100).task.state).toMatchObject({ retry: { attempt: 2 } });
    for (const outcome of ['killed', 'interrupted', 'succeeded'] as const) {
      const end = apply(running, finished(1, result({ outcome, exitCode: outcome === 'succeeded' ? 0 : null })), T0 + I + 100);
      expect(end.task.state, outcome).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
    }
  });

  it('a retry that would come after the next fire is dropped: the next fire runs instead', () => {
    // Run 1 fails 0.4s before the next fire; the retry would wait at least 0.5s.
    const end = apply(running, finished(1, failed()), T0 + 2 * I - 400);
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
  });

  it('a stop during a failing run ends the task Stopped, with no retry', () => {
    const stopping = apply(running, { kind: 'stop' }, T0 + I + 100);
    expect(apply(stopping.task, finished(1, failed()), T0 + I + 200).task.state).toStrictEqual({ status: 'Stopped' });
  });

  it('a one-time (delay) task retries, then ends Executed', () => {
    const once: Schedule = { kind: 'once', at: T0 + I };
    const task = policyTask(executingFor(1, T0 + I, null), { type: 'delay', schedule: once, lastRun: 1, policy: policyOf({ retry: retries(1) }) });
    const end = apply(task, finished(1, failed()), T0 + I + 500);
    const state = end.task.state as Extract<TaskState, { status: 'WaitForNextExecution' }>;
    expect(state).toMatchObject({ status: 'WaitForNextExecution', retry: { fire: T0 + I, attempt: 2, thenNextRunAt: null } });
    const retry = apply(end.task, fire, state.nextRunAt);
    expect(retry.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + I, startedAt: state.nextRunAt, attempt: 2 });
    expect(retry.task.state).toStrictEqual(executingFor(2, T0 + I, null, { attempt: 2 }));
    // The retry fails too: no attempt is left, and a delay task is done whatever the outcome.
    expect(apply(retry.task, finished(2, failed()), state.nextRunAt + 100).task.state).toStrictEqual({ status: 'Executed' });
    // Or it succeeds: Executed as well.
    expect(apply(retry.task, finished(2), state.nextRunAt + 100).task.state).toStrictEqual({ status: 'Executed' });
  });
});

// ------------------------------------------------------------------ catch-up

describe('catch-up through transition (fires +20s .. +60s passed; fired at +65.5s)', () => {
  const now = T0 + 65_500;
  const waiting = (mode: 'none' | 'once' | 'all', windowMs: number | null = null, extra: Partial<Task> = {}) =>
    policyTask({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I }, { lastRun: 1, policy: policyOf({ catchUp: { mode, windowMs } }), ...extra });

  it('once: one write inserts two records: the missed fires (run 2), then the run of the latest (run 3)', () => {
    const out = apply(waiting('once'), fire, now);
    expect(out.effect).toEqual({
      kind: 'startRun',
      run: 3,
      scheduledAt: T0 + 6 * I,
      startedAt: now,
      attempt: 1,
      missed: { run: 2, scheduledAt: T0 + 2 * I, reason: `4 fires ${why}; catch-up once: the latest runs instead` },
    });
    expect(out.task.state).toStrictEqual(executingFor(3, T0 + 6 * I, T0 + 7 * I));
    expect(out.task.lastRun).toBe(3);
  });

  it('once, from ToBeExecuted (never run yet): run 1 is the record of what was missed, run 2 the run', () => {
    const task = policyTask({ status: 'ToBeExecuted', nextRunAt: T0 + I }, { policy: policyOf({}) });
    const out = apply(task, fire, now);
    expect(out.effect).toMatchObject({ kind: 'startRun', run: 2, scheduledAt: T0 + 6 * I, missed: { run: 1, scheduledAt: T0 + I, reason: expect.stringMatching(/^5 fires /) } });
    expect(out.task.lastRun).toBe(2);
  });

  it('once, at most 1s late: a plain start, no missed record', () => {
    const out = apply(waiting('once'), fire, T0 + 2 * I + SEC);
    expect(out.effect).toEqual({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I + SEC, attempt: 1 });
  });

  it('once, with a window that excludes every passed fire: nothing runs, one skipped record, the task waits for its next fire', () => {
    const out = apply(waiting('once', 5 * SEC), fire, now);
    expect(out.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: now, reason: `5 fires ${why}; all older than the catch-up window: not run` });
    expect(out.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 7 * I });
    expect(out.task.lastRun).toBe(2);
  });

  it('none: nothing runs; one skipped record for all of them; the task waits for its next fire', () => {
    const out = apply(waiting('none'), fire, now);
    expect(out.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: now, reason: `5 fires ${why}; catch-up none: not run` });
    expect(out.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 7 * I });
    expect(out.task.lastRun).toBe(2);
    expect(out.task.lastStatusUpdated).toBe(UPDATED); // still waiting: the status did not change
    // The next fire, on time, runs normally.
    const next = apply(out.task, fire, T0 + 7 * I);
    expect(next.effect).toEqual({ kind: 'startRun', run: 3, scheduledAt: T0 + 7 * I, startedAt: T0 + 7 * I, attempt: 1 });
  });

  it('none, from ToBeExecuted: it stays ToBeExecuted, waiting for its next fire', () => {
    const task = policyTask({ status: 'ToBeExecuted', nextRunAt: T0 + I }, { policy: policyOf({ catchUp: { mode: 'none', windowMs: null } }) });
    const out = apply(task, fire, now);
    expect(out.task.state).toStrictEqual({ status: 'ToBeExecuted', nextRunAt: T0 + 7 * I });
    expect(out.effect).toMatchObject({ kind: 'skipRun', run: 1, scheduledAt: T0 + I });
  });

  it('none, at most 1s late: it runs', () => {
    expect(apply(waiting('none'), fire, T0 + 2 * I + 999).effect).toMatchObject({ kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I });
  });

  it('none, when the schedule ended meanwhile: Executed, with the record of what was missed', () => {
    const ended: Schedule = { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 4 * I };
    const out = apply(waiting('none', null, { schedule: ended }), fire, now);
    expect(out.task.state).toStrictEqual({ status: 'Executed' });
    expect(out.task.lastStatusUpdated).toBe(now);
    expect(out.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: now, reason: `3 fires ${why}; catch-up none: not run` });
  });

  it('none, for a one-time task fired late: it never runs, and ends Executed', () => {
    const task = policyTask({ status: 'ToBeExecuted', nextRunAt: T0 + I }, { type: 'delay', schedule: { kind: 'once', at: T0 + I }, policy: policyOf({ catchUp: { mode: 'none', windowMs: null } }) });
    const out = apply(task, fire, T0 + 5 * MIN);
    expect(out.task.state).toStrictEqual({ status: 'Executed' });
    expect(out.effect).toEqual({ kind: 'skipRun', run: 1, scheduledAt: T0 + I, at: T0 + 5 * MIN, reason: `1 fire ${why}; catch-up none: not run` });
  });

  it('all: the passed fires run one after another, each queued behind the one before, then the grid', () => {
    let task = waiting('all');
    let at = now;
    const served: number[] = [];
    for (let k = 0; k < 5; k++) {
      const start = apply(task, fire, at);
      const effect = startEffect(start);
      expect(effect.missed).toBeUndefined();
      expect(effect.run).toBe(2 + k);
      served.push(effect.scheduledAt);
      const state = start.task.state as Extract<TaskState, { status: 'Executing' }>;
      expect(state.nextRunAt).toBe(T0 + 7 * I);
      expect(state.queued).toBe(k < 4 ? T0 + (3 + k) * I : undefined);
      expect(state.backlog).toBe(k < 4 ? true : undefined);
      at += 300;
      const end = apply(start.task, finished(effect.run), at);
      // The next backlog fire is due at once, with no retry: it is planned again as it starts.
      expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: k < 4 ? T0 + (3 + k) * I : T0 + 7 * I });
      task = end.task;
    }
    expect(served).toEqual([2, 3, 4, 5, 6].map((k) => T0 + k * I));
    expect(task.lastRun).toBe(6);
  });

  it('all, beyond the bound: the missed record first, then the oldest of the last 100 runs, the next queued', () => {
    const task = waiting('all');
    const late = T0 + 151 * I + 500; // fires +20s .. +1510s: 150
    const out = apply(task, fire, late);
    expect(out.effect).toEqual({
      kind: 'startRun',
      run: 3,
      scheduledAt: T0 + 52 * I,
      startedAt: late,
      attempt: 1,
      missed: { run: 2, scheduledAt: T0 + 2 * I, reason: `50 fires ${why}, beyond the catch-up bound or window: not run` },
    });
    expect(out.task.state).toStrictEqual(executingFor(3, T0 + 52 * I, T0 + 152 * I, { queued: T0 + 53 * I, backlog: true }));
  });

  it('all, with a window: only the fires inside it run', () => {
    const out = apply(waiting('all', 25 * SEC), fire, now);
    expect(out.effect).toEqual({
      kind: 'startRun',
      run: 3,
      scheduledAt: T0 + 5 * I,
      startedAt: now,
      attempt: 1,
      missed: { run: 2, scheduledAt: T0 + 2 * I, reason: `3 fires ${why}, beyond the catch-up bound or window: not run` },
    });
    expect(out.task.state).toStrictEqual(executingFor(3, T0 + 5 * I, T0 + 7 * I, { queued: T0 + 6 * I, backlog: true }));
  });

  for (const overlap of ['skip', 'queue', 'replace'] as const) {
    it(`all, overlap ${overlap}: a fire during a catch-up run joins the backlog (nothing recorded, queued or killed)`, () => {
      const start = apply(waiting('all', null, { policy: policyOf({ overlap, catchUp: { mode: 'all', windowMs: null } }) }), fire, now);
      expect(start.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 7 * I, { queued: T0 + 3 * I, backlog: true }));
      // The run of +20s goes on until past the next fire (+70s): that fire only moves the next fire on.
      const during = apply(start.task, fire, T0 + 7 * I);
      expect(during.effect).toBeNull();
      expect(during.task.state).toStrictEqual(executingFor(2, T0 + 2 * I, T0 + 8 * I, { queued: T0 + 3 * I, backlog: true }));
      expect(during.task.lastRun).toBe(start.task.lastRun);
      // The run ends: the backlog's next fire (+30s) is due, to be planned again (no retry).
      const end = apply(during.task, finished(2), T0 + 7 * I + 100);
      expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
    });
  }

  it('all, a fire that came during a catch-up run is run once, by the backlog (one record per fire)', () => {
    const start = apply(waiting('all'), fire, now);
    const during = apply(start.task, fire, T0 + 7 * I); // +70s comes while +20s runs
    expect(during.effect).toBeNull();
    let task = apply(during.task, finished(2), T0 + 7 * I + 100).task;
    const served: number[] = [];
    for (let at = T0 + 7 * I + 100; task.state.status === 'WaitForNextExecution' && task.state.nextRunAt <= at; at += 100) {
      const next = apply(task, fire, at);
      if (next.effect?.kind !== 'startRun') break;
      expect(next.effect.missed).toBeUndefined();
      served.push(next.effect.scheduledAt);
      task = apply(next.task, finished(next.effect.run), at + 50).task;
    }
    // The backlog (+30s .. +60s) runs, and +70s with it, once; then the task waits for +80s.
    expect(served.map((at) => (at - T0) / SEC)).toEqual([30, 40, 50, 60, 70]);
    expect(task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 8 * I });
  });

  it('all, the next backlog fire is planned again as it starts: after a second downtime the window drops what fell out of it', () => {
    const start = apply(waiting('all', 30 * SEC), fire, now);
    // Inside the window (from +35.5s): +40s (runs now), +50s and +60s.
    expect(startEffect(start)).toMatchObject({ run: 3, scheduledAt: T0 + 4 * I, missed: { run: 2, scheduledAt: T0 + 2 * I } });
    const end = apply(start.task, finished(3), now + 500);
    expect(end.task.state).toStrictEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 5 * I });
    // The daemon is down again until +125.5s: the window now starts at +95.5s.
    const later = T0 + 125_500;
    const again = apply(end.task, fire, later);
    expect(again.effect).toEqual({
      kind: 'startRun',
      run: 5,
      scheduledAt: T0 + 10 * I,
      startedAt: later,
      attempt: 1,
      missed: { run: 4, scheduledAt: T0 + 5 * I, reason: `5 fires ${why}, beyond the catch-up bound or window: not run` },
    });
    expect(again.task.state).toStrictEqual(executingFor(5, T0 + 10 * I, T0 + 13 * I, { queued: T0 + 11 * I, backlog: true }));
  });

  it('all, stopped during a catch-up run: Stopped when it ends, the backlog dropped', () => {
    const start = apply(waiting('all'), fire, now);
    const stopping = apply(start.task, { kind: 'stop' }, now + 10);
    expect(apply(stopping.task, finished(2), now + 20).task.state).toStrictEqual({ status: 'Stopped' });
  });
});
