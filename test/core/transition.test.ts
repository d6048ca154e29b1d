/**
 * The pure state machine, as a table: every status x every event, for each task type where
 * that status can occur, then a few sequences that only show up over several events (the
 * cron grid, skipped ticks, a stop during a run).
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { defaultRunPolicy, retryDelay, type RunPolicy } from '../../src/core/policy.js';
import type { Schedule } from '../../src/core/schedule.js';
import { taskStatuses } from '../../src/core/task.js';
import { IllegalTransition, transition, type Effect, type TaskEvent } from '../../src/core/transition.js';
import { executing, executingFor, fire, I, makeTask, play, runResults, SEC, stop, T0 } from '../support/task-fixtures.js';
import { transitionTable, type TransitionRow } from '../support/transition-table.js';

/** This file's runs print '3\n' (the shared default: no output), carried by the finishRun effects below. */
const { result, finished } = runResults({ stdout: { text: '3\n', totalBytes: 2, droppedBytes: 0, droppedAt: 0 } });

const res = result();

/** Up to 3 retries of a failed run, 1s apart (less a jitter). */
const retrying: RunPolicy = { ...defaultRunPolicy, retry: { max: 3, delayMs: SEC, maxDelayMs: 10 * SEC, onExitCodes: null } };

/** The event of run `run` starting its script at `startedAt` (after waiting for a free slot). */
const started = (run: number, startedAt: number): TaskEvent => ({ kind: 'runStarted', run, startedAt });

const rows: TransitionRow[] = [
  // ---------------------------------------------------------------- ToBeExecuted
  {
    name: 'delay ToBeExecuted + fire when due: starts run 1, no next tick',
    task: makeTask('delay', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + I,
    expected: {
      state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + I, attempt: 1 },
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + I, startedAt: T0 + I, attempt: 1 },
      lastRun: 1, statusChanged: true,
    },
  },
  {
    name: 'delay ToBeExecuted + fire late: the run records when it was due and when it started',
    task: makeTask('delay', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + I + 4321,
    expected: {
      state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + I, attempt: 1 },
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + I, startedAt: T0 + I + 4321, attempt: 1 },
      lastRun: 1, statusChanged: true,
    },
  },
  {
    name: 'delay ToBeExecuted + fire 1ms before due: illegal',
    task: makeTask('delay', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + I - 1,
    expected: { illegal: true },
  },
  {
    name: 'cron ToBeExecuted + fire when due: starts run 1, next tick one interval on',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + I,
    expected: {
      state: { status: 'Executing', run: 1, nextRunAt: T0 + 2 * I, stopRequested: false, fire: T0 + I, attempt: 1 },
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + I, startedAt: T0 + I, attempt: 1 },
      lastRun: 1, statusChanged: true,
    },
  },
  {
    // Fires at +1I, +2I and +3I have passed: catch-up once runs the latest (+3I) as run 2, and
    // run 1 records the two before it as missed.
    name: 'cron ToBeExecuted + fire 2.5 intervals late: the latest passed fire runs, the two before it are recorded missed, the next tick is the next grid point',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + 3.5 * I,
    expected: {
      state: { status: 'Executing', run: 2, nextRunAt: T0 + 4 * I, stopRequested: false, fire: T0 + 3 * I, attempt: 1 },
      effect: {
        kind: 'startRun', run: 2, scheduledAt: T0 + 3 * I, startedAt: T0 + 3.5 * I, attempt: 1,
        missed: { run: 1, scheduledAt: T0 + I, reason: '2 fires passed while the task could not run (the daemon was not running, or was busy); catch-up once: the latest runs instead' },
      },
      lastRun: 2, statusChanged: true,
    },
  },
  {
    name: 'cron ToBeExecuted + fire before due: illegal',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: fire, now: T0 + 1,
    expected: { illegal: true },
  },
  ...(['delay', 'cron', 'at'] as const).flatMap((type): TransitionRow[] => [
    {
      name: `${type} ToBeExecuted + runFinished: illegal (nothing is running)`,
      task: makeTask(type, { status: 'ToBeExecuted', nextRunAt: T0 + I }),
      event: finished(1), now: T0 + I,
      expected: { illegal: true },
    },
    {
      name: `${type} ToBeExecuted + stop: Stopped, it never runs`,
      task: makeTask(type, { status: 'ToBeExecuted', nextRunAt: T0 + I }),
      event: stop, now: T0 + 5 * SEC,
      expected: { state: { status: 'Stopped' }, effect: null, warning: null, statusChanged: true },
    },
  ]),

  // ---------------------------------------------------------------- WaitForNextExecution (cron only)
  {
    name: 'cron WaitForNextExecution + fire when due: starts the next run number',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: fire, now: T0 + 3 * I + 7,
    expected: {
      state: { status: 'Executing', run: 3, nextRunAt: T0 + 4 * I, stopRequested: false, fire: T0 + 3 * I, attempt: 1 },
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 3 * I, startedAt: T0 + 3 * I + 7, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'cron WaitForNextExecution + fire before due: illegal',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: fire, now: T0 + 3 * I - 1,
    expected: { illegal: true },
  },
  {
    name: 'cron WaitForNextExecution + runFinished: illegal',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: finished(2), now: T0 + 2 * I + 5,
    expected: { illegal: true },
  },
  {
    name: 'cron WaitForNextExecution + stop: Stopped, the next run is skipped',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: stop, now: T0 + 2 * I + 5,
    expected: { state: { status: 'Stopped' }, effect: null, warning: null, lastRun: 2, statusChanged: true },
  },

  // ---------------------------------------------------------------- Executing
  {
    name: 'delay Executing + fire: illegal (a delay task has no next tick)',
    task: makeTask('delay', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: fire, now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'cron Executing + fire at the tick: the tick is skipped with a reason, the run goes on',
    task: makeTask('cron', { status: 'Executing', run: 1, nextRunAt: T0 + 2 * I, stopRequested: false }, { lastRun: 1 }),
    event: fire, now: T0 + 2 * I + 3,
    expected: {
      state: { status: 'Executing', run: 1, nextRunAt: T0 + 3 * I, stopRequested: false },
      effect: { kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: T0 + 2 * I + 3, reason: 'run 1 was still executing' },
      lastRun: 2, statusChanged: false,
    },
  },
  {
    name: 'cron Executing + fire before the tick: illegal',
    task: makeTask('cron', { status: 'Executing', run: 1, nextRunAt: T0 + 2 * I, stopRequested: false }, { lastRun: 1 }),
    event: fire, now: T0 + 2 * I - 1,
    expected: { illegal: true },
  },
  {
    name: 'cron Executing with a stop requested + fire: illegal (no tick is pending)',
    task: makeTask('cron', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: true }, { lastRun: 1 }),
    event: fire, now: T0 + 50 * I,
    expected: { illegal: true },
  },
  {
    name: 'delay Executing + runFinished: Executed, the result is recorded',
    task: makeTask('delay', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: finished(1, res), now: T0 + I + 500,
    expected: { state: { status: 'Executed' }, effect: { kind: 'finishRun', run: 1, result: res }, lastRun: 1, statusChanged: true },
  },
  {
    name: 'delay Executing + runFinished with a failed run: still Executed',
    task: makeTask('delay', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: finished(1, result({ outcome: 'failed', exitCode: 2 })), now: T0 + I + 500,
    expected: {
      state: { status: 'Executed' },
      effect: { kind: 'finishRun', run: 1, result: result({ outcome: 'failed', exitCode: 2 }) },
      statusChanged: true,
    },
  },
  {
    name: 'cron Executing + runFinished: waits for the tick chosen when the run started',
    task: makeTask('cron', { status: 'Executing', run: 4, nextRunAt: T0 + 5 * I, stopRequested: false }, { lastRun: 4 }),
    event: finished(4, res), now: T0 + 4 * I + 9 * SEC,
    expected: {
      state: { status: 'WaitForNextExecution', nextRunAt: T0 + 5 * I },
      effect: { kind: 'finishRun', run: 4, result: res },
      lastRun: 4, statusChanged: true,
    },
  },
  {
    name: 'cron Executing with a stop requested + runFinished: Stopped, the result is kept',
    task: makeTask('cron', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: true }, { lastRun: 1 }),
    event: finished(1, res), now: T0 + I + 500,
    expected: { state: { status: 'Stopped' }, effect: { kind: 'finishRun', run: 1, result: res }, statusChanged: true },
  },
  ...(['delay', 'cron'] as const).flatMap((type): TransitionRow[] => [
    {
      name: `${type} Executing + runFinished for another run number: illegal`,
      task: makeTask(type, { status: 'Executing', run: 2, nextRunAt: type === 'cron' ? T0 + 3 * I : null, stopRequested: false }, { lastRun: 2 }),
      event: finished(1), now: T0 + 2 * I + 1,
      expected: { illegal: true },
    },
    {
      name: `${type} Executing + runFinished for a run number not given out yet: illegal`,
      task: makeTask(type, { status: 'Executing', run: 2, nextRunAt: type === 'cron' ? T0 + 3 * I : null, stopRequested: false }, { lastRun: 2 }),
      event: finished(3), now: T0 + 2 * I + 1,
      expected: { illegal: true },
    },
  ]),
  {
    name: 'delay Executing + stop: refused, the run goes on',
    task: makeTask('delay', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: stop, now: T0 + I + 1,
    expected: { error: 'stop_refused', message: /already started/ },
  },
  {
    name: 'cron Executing + stop: stop requested, no next tick, a warning that the run goes on',
    task: makeTask('cron', { status: 'Executing', run: 3, nextRunAt: T0 + 4 * I, stopRequested: false }, { lastRun: 3 }),
    event: stop, now: T0 + 3 * I + 2,
    expected: {
      state: { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true },
      effect: null,
      warning: /run 3 is still executing/,
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'cron Executing with a stop requested + stop: a no-op with the same warning',
    task: makeTask('cron', { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true }, { lastRun: 3 }),
    event: stop, now: T0 + 3 * I + 4,
    expected: { noop: true, warning: /run 3 is still executing/ },
  },

  // ------------------------------------------------- Executing + a fire that comes late (after more fires passed)
  {
    name: 'cron Executing (overlap skip) + fire 2 intervals late: the tick is skipped, the next fire is the first after now',
    task: makeTask('cron', executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1 }),
    event: fire, now: T0 + 4 * I + 500,
    expected: {
      state: executingFor(1, T0 + I, T0 + 5 * I),
      effect: { kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: T0 + 4 * I + 500, reason: 'run 1 was still executing' },
      lastRun: 2, statusChanged: false,
    },
  },
  {
    name: 'cron Executing (overlap allow) + fire 2 intervals late: a run beside serves that fire, the next fire is the first after now',
    task: makeTask('cron', executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: { ...defaultRunPolicy, overlap: 'allow' } }),
    event: fire, now: T0 + 4 * I + 500,
    expected: {
      state: executingFor(1, T0 + I, T0 + 5 * I, { parallel: [{ run: 2, fire: T0 + 2 * I }] }),
      effect: { kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 4 * I + 500, attempt: 1 },
      lastRun: 2, statusChanged: false,
    },
  },
  {
    name: 'cron Executing (overlap queue) + fire 2 intervals late: that fire waits for the run, the next fire is the first after now',
    task: makeTask('cron', executingFor(1, T0 + I, T0 + 2 * I), { lastRun: 1, policy: { ...defaultRunPolicy, overlap: 'queue' } }),
    event: fire, now: T0 + 4 * I + 500,
    expected: { state: executingFor(1, T0 + I, T0 + 5 * I, { queued: T0 + 2 * I }), effect: null, lastRun: 1, statusChanged: false },
  },
  {
    name: 'cron Executing a catch-up backlog + fire 2 intervals late: it joins the backlog, the next fire is the first after now',
    task: makeTask('cron', executingFor(1, T0 + I, T0 + 2 * I, { queued: T0 + 2 * I, backlog: true }), { lastRun: 1 }),
    event: fire, now: T0 + 4 * I + 500,
    expected: { state: executingFor(1, T0 + I, T0 + 5 * I, { queued: T0 + 2 * I, backlog: true }), effect: null, lastRun: 1, statusChanged: false },
  },
  {
    name: 'cron Executing (retries) + runFinished failed, the retry due exactly at the next fire: no retry, the next fire runs',
    task: makeTask('cron', executingFor(2, T0 + 2 * I, T0 + 3 * I), { lastRun: 2, policy: retrying }),
    event: finished(2, result({ outcome: 'failed', exitCode: 1 })),
    now: T0 + 3 * I - retryDelay(retrying.retry!, 't-cron', T0 + 2 * I, 2),
    expected: {
      state: { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I },
      effect: { kind: 'finishRun', run: 2, result: result({ outcome: 'failed', exitCode: 1 }) },
      lastRun: 2, statusChanged: true,
    },
  },

  // ------------------------------------------------- Executing + runStarted (a run that waited for a free slot starts)
  {
    name: 'cron Executing + runStarted of its run: the start is recorded for the fire it serves and its attempt, the state stays',
    task: makeTask('cron', executingFor(3, T0 + 3 * I, T0 + 4 * I, { attempt: 2 }), { lastRun: 3 }),
    event: started(3, T0 + 3 * I + 700), now: T0 + 3 * I + 700,
    expected: {
      state: executingFor(3, T0 + 3 * I, T0 + 4 * I, { attempt: 2 }),
      effect: { kind: 'recordStart', run: 3, startedAt: T0 + 3 * I + 700, scheduledAt: T0 + 3 * I, attempt: 2 },
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'delay Executing (a state stored before fires were) + runStarted: it serves its own start, attempt 1',
    task: makeTask('delay', executing(1, null), { lastRun: 1 }),
    event: started(1, T0 + I + 300), now: T0 + I + 400,
    expected: {
      state: executing(1, null),
      effect: { kind: 'recordStart', run: 1, startedAt: T0 + I + 300, scheduledAt: T0 + I + 300, attempt: 1 },
      lastRun: 1, statusChanged: false,
    },
  },
  {
    name: 'cron Executing runs beside each other + runStarted of a run beside: it serves its own fire, attempt 1',
    task: makeTask('cron', executingFor(2, T0 + 2 * I, T0 + 4 * I, { attempt: 3, parallel: [{ run: 3, fire: T0 + 3 * I }] }), { lastRun: 3 }),
    event: started(3, T0 + 3 * I + 50), now: T0 + 3 * I + 60,
    expected: {
      state: executingFor(2, T0 + 2 * I, T0 + 4 * I, { attempt: 3, parallel: [{ run: 3, fire: T0 + 3 * I }] }),
      effect: { kind: 'recordStart', run: 3, startedAt: T0 + 3 * I + 50, scheduledAt: T0 + 3 * I, attempt: 1 },
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'cron Executing + runStarted of a run that is not in progress (it ended meanwhile): a no-op',
    task: makeTask('cron', executingFor(3, T0 + 3 * I, T0 + 4 * I, { parallel: [{ run: 4, fire: T0 + 4 * I }] }), { lastRun: 4 }),
    event: started(2, T0 + 3 * I + 50), now: T0 + 3 * I + 60,
    expected: { noop: true, warning: null },
  },
  ...(['ToBeExecuted', 'WaitForNextExecution', 'Paused', 'Executed', 'Stopped'] as const).map((status): TransitionRow => ({
    name: `cron ${status} + runStarted: illegal (nothing is running)`,
    task: makeTask('cron', status === 'ToBeExecuted' || status === 'WaitForNextExecution' ? { status, nextRunAt: T0 + 3 * I } : { status }, { lastRun: 2 }),
    event: started(2, T0 + 2 * I + 50), now: T0 + 2 * I + 60,
    expected: { illegal: true },
  })),

  // ---------------------------------------------------------------- Executed (delay only)
  {
    name: 'delay Executed + fire: illegal',
    task: makeTask('delay', { status: 'Executed' }, { lastRun: 1 }),
    event: fire, now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'delay Executed + runFinished: illegal',
    task: makeTask('delay', { status: 'Executed' }, { lastRun: 1 }),
    event: finished(1), now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'delay Executed + stop: refused',
    task: makeTask('delay', { status: 'Executed' }, { lastRun: 1 }),
    event: stop, now: T0 + 100 * I,
    expected: { error: 'stop_refused', message: /already executed/ },
  },

  // ---------------------------------------------------------------- Paused (recurring only; pause-resume.test.ts has the rest)
  {
    name: 'cron Paused + fire: illegal (a paused task has no next fire)',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: fire, now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'cron Paused + runFinished: illegal',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: finished(2), now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'cron Paused + stop: Stopped',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: stop, now: T0 + 100 * I,
    expected: { state: { status: 'Stopped' }, effect: null, warning: null, statusChanged: true },
  },

  // ---------------------------------------------------------------- at: a one-time task at a time
  {
    name: 'at ToBeExecuted + fire at its time: starts run 1, no next fire',
    task: makeTask('at', { status: 'ToBeExecuted', nextRunAt: T0 + 5 * I }),
    event: fire, now: T0 + 5 * I,
    expected: {
      state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + 5 * I, attempt: 1 },
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + 5 * I, startedAt: T0 + 5 * I, attempt: 1 },
      lastRun: 1, statusChanged: true,
    },
  },
  {
    name: 'at ToBeExecuted + fire before its time: illegal',
    task: makeTask('at', { status: 'ToBeExecuted', nextRunAt: T0 + 5 * I }),
    event: fire, now: T0 + 5 * I - 1,
    expected: { illegal: true },
  },
  {
    name: 'at Executing + runFinished: Executed',
    task: makeTask('at', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: finished(1, res), now: T0 + 5 * I + 500,
    expected: { state: { status: 'Executed' }, effect: { kind: 'finishRun', run: 1, result: res }, lastRun: 1, statusChanged: true },
  },
  {
    name: 'at Executing + stop: refused (stop_refused), the run goes on',
    task: makeTask('at', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: stop, now: T0 + 5 * I + 1,
    expected: { error: 'stop_refused', message: /cannot stop at task t-at: its run has already started/ },
  },
  {
    name: 'at Executing + fire: illegal (no next fire)',
    task: makeTask('at', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 }),
    event: fire, now: T0 + 100 * I,
    expected: { illegal: true },
  },
  {
    name: 'at Executed + stop: refused',
    task: makeTask('at', { status: 'Executed' }, { lastRun: 1 }),
    event: stop, now: T0 + 100 * I,
    expected: { error: 'stop_refused', message: /already executed/ },
  },

  // ---------------------------------------------------------------- a recurring task whose schedule ends
  {
    name: 'interval with an end, WaitForNextExecution + fire at the last fire: starts the run, no next fire',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2, schedule: { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I } }),
    event: fire, now: T0 + 3 * I,
    expected: {
      state: { status: 'Executing', run: 3, nextRunAt: null, stopRequested: false, fire: T0 + 3 * I, attempt: 1 },
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 3 * I, startedAt: T0 + 3 * I, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'interval with an end, fire at the one before last: the next fire is the last',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I }, { lastRun: 1, schedule: { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I } }),
    event: fire, now: T0 + 2 * I,
    expected: {
      state: { status: 'Executing', run: 2, nextRunAt: T0 + 3 * I, stopRequested: false, fire: T0 + 2 * I, attempt: 1 },
      effect: { kind: 'startRun', run: 2, scheduledAt: T0 + 2 * I, startedAt: T0 + 2 * I, attempt: 1 },
      lastRun: 2, statusChanged: true,
    },
  },
  {
    name: 'interval with an end, fired late past its end (catch-up): the run serves the last fire, the one before is recorded missed, then nothing',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I }, { lastRun: 1, schedule: { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I } }),
    event: fire, now: T0 + 10 * I,
    expected: {
      state: { status: 'Executing', run: 3, nextRunAt: null, stopRequested: false, fire: T0 + 3 * I, attempt: 1 },
      effect: {
        kind: 'startRun', run: 3, scheduledAt: T0 + 3 * I, startedAt: T0 + 10 * I, attempt: 1,
        missed: { run: 2, scheduledAt: T0 + 2 * I, reason: '1 fire passed while the task could not run (the daemon was not running, or was busy); catch-up once: the latest runs instead' },
      },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'calendar with an end, Executing the run of the last fire + runFinished: Executed',
    task: makeTask('cron', { status: 'Executing', run: 3, nextRunAt: null, stopRequested: false }, { lastRun: 3, time: '*/10 * * * * *', schedule: { kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end: T0 + 3 * I } }),
    event: finished(3, res), now: T0 + 3 * I + 500,
    expected: { state: { status: 'Executed' }, effect: { kind: 'finishRun', run: 3, result: res }, lastRun: 3, statusChanged: true },
  },
  {
    name: 'calendar with an end, a stop requested during the last run + runFinished: Stopped, not Executed',
    task: makeTask('cron', { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true }, { lastRun: 3, time: '*/10 * * * * *', schedule: { kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end: T0 + 3 * I } }),
    event: finished(3, res), now: T0 + 3 * I + 500,
    expected: { state: { status: 'Stopped' }, effect: { kind: 'finishRun', run: 3, result: res }, lastRun: 3, statusChanged: true },
  },
  {
    name: 'interval with an end, Executing the last run + stop: accepted like any recurring task (stop requested, warning)',
    task: makeTask('cron', { status: 'Executing', run: 3, nextRunAt: null, stopRequested: false }, { lastRun: 3, schedule: { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I } }),
    event: stop, now: T0 + 3 * I + 2,
    expected: {
      state: { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true },
      effect: null,
      warning: /run 3 is still executing/,
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'interval with an end, Executing + fire at the last fire: skipped, and no fire is left',
    task: makeTask('cron', { status: 'Executing', run: 2, nextRunAt: T0 + 3 * I, stopRequested: false }, { lastRun: 2, schedule: { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I } }),
    event: fire, now: T0 + 3 * I,
    expected: {
      state: { status: 'Executing', run: 2, nextRunAt: null, stopRequested: false },
      effect: { kind: 'skipRun', run: 3, scheduledAt: T0 + 3 * I, at: T0 + 3 * I, reason: 'run 2 was still executing' },
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'calendar Executed (its schedule ended) + stop: refused',
    task: makeTask('cron', { status: 'Executed' }, { lastRun: 3, schedule: { kind: 'calendar', expression: '@hourly', timezone: 'UTC', start: null, end: T0 } }),
    event: stop, now: T0 + 100 * I,
    expected: { error: 'stop_refused', message: /cannot stop cron task t-cron: it has already executed/ },
  },

  // ---------------------------------------------------------------- Stopped
  ...(['delay', 'cron', 'at'] as const).flatMap((type): TransitionRow[] => [
    {
      name: `${type} Stopped + fire: illegal`,
      task: makeTask(type, { status: 'Stopped' }),
      event: fire, now: T0 + 100 * I,
      expected: { illegal: true },
    },
    {
      name: `${type} Stopped + runFinished: illegal`,
      task: makeTask(type, { status: 'Stopped' }, { lastRun: 1 }),
      event: finished(1), now: T0 + 100 * I,
      expected: { illegal: true },
    },
    {
      name: `${type} Stopped + stop: a no-op without a warning`,
      task: makeTask(type, { status: 'Stopped' }),
      event: stop, now: T0 + 100 * I,
      expected: { noop: true, warning: null },
    },
  ]),
];

transitionTable('transition: status x event table', rows, [{ statuses: taskStatuses, events: ['fire', 'runFinished', 'stop', 'runStarted'] }]);

describe('transition: sequences', () => {
  it('a cron task stays on the grid anchored at createdAt, however late runs finish or start', () => {
    const start = makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }, { version: 1, lastStatusUpdated: T0 });
    const steps = play(start, [
      [fire, T0 + I], // run 1 on time
      [finished(1), T0 + I + 9_999], // finishes just before the next tick
      [fire, T0 + 2 * I + 750], // run 2 starts 750ms late
      [finished(2), T0 + 2 * I + 9_000], // and finishes 9s after its tick
      [fire, T0 + 3 * I], // run 3 is still on the grid: not 2*I + 750 + I
    ]);
    const starts = steps.map((s) => s.effect).filter((e): e is Extract<Effect, { kind: 'startRun' }> => e?.kind === 'startRun');
    expect(starts.map((e) => e.scheduledAt - T0)).toEqual([I, 2 * I, 3 * I]);
    expect(starts.map((e) => e.run)).toEqual([1, 2, 3]);
    expect(steps[1]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
    expect(steps[3]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
    expect(steps.at(-1)!.task.state).toEqual({ status: 'Executing', run: 3, nextRunAt: T0 + 4 * I, stopRequested: false, fire: T0 + 3 * I, attempt: 1 });
    // One version per change, from the submitted version 1.
    expect(steps.map((s) => s.task.version)).toEqual([2, 3, 4, 5, 6]);
  });

  it('ticks during a long run are skipped one by one, numbered, and the grid goes on', () => {
    const start = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + I }, { lastRun: 0 });
    const steps = play(start, [
      [fire, T0 + I], // run 1 starts
      [fire, T0 + 2 * I], // tick 2 while run 1 goes on
      [fire, T0 + 3 * I + 1], // tick 3 too
      [finished(1), T0 + 3 * I + 5 * SEC],
      [fire, T0 + 4 * I], // run 4 on the grid
    ]);
    expect(steps.map((s) => s.effect?.kind)).toEqual(['startRun', 'skipRun', 'skipRun', 'finishRun', 'startRun']);
    expect(steps[1]!.effect).toEqual({ kind: 'skipRun', run: 2, scheduledAt: T0 + 2 * I, at: T0 + 2 * I, reason: 'run 1 was still executing' });
    expect(steps[2]!.effect).toEqual({ kind: 'skipRun', run: 3, scheduledAt: T0 + 3 * I, at: T0 + 3 * I + 1, reason: 'run 1 was still executing' });
    // Run 1 is still the one executing while ticks are skipped.
    expect(steps[2]!.task.state).toEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 4 * I, stopRequested: false, fire: T0 + I, attempt: 1 });
    expect(steps[4]!.effect).toEqual({ kind: 'startRun', run: 4, scheduledAt: T0 + 4 * I, startedAt: T0 + 4 * I, attempt: 1 });
    // A finish report naming a skipped tick's number is refused.
    expect(() => transition(steps[2]!.task, finished(2), T0 + 3 * I + 2)).toThrow(IllegalTransition);
  });

  it('a stop during a cron run: warning, the repeated stop is a no-op, the end of the run stops the task', () => {
    const running = makeTask('cron', { status: 'Executing', run: 1, nextRunAt: T0 + 2 * I, stopRequested: false }, { lastRun: 1, version: 2, lastStatusUpdated: T0 + I });
    const first = transition(running, stop, T0 + I + 100);
    const second = transition(first.task, stop, T0 + I + 200);
    expect(first.changed).toBe(true);
    expect(first.warning).toMatch(/still executing/);
    expect(second.changed).toBe(false);
    expect(second.warning).toBe(first.warning);
    expect(second.task).toBe(first.task);
    // The tick that was pending is gone: firing at it is illegal.
    expect(() => transition(first.task, fire, T0 + 2 * I)).toThrow(IllegalTransition);
    const end = transition(second.task, finished(1), T0 + 2 * I + 5);
    expect(end.task.state).toEqual({ status: 'Stopped' });
    expect(end.task.lastStatusUpdated).toBe(T0 + 2 * I + 5);
    expect(end.task.version).toBe(4);
    expect(end.effect).toMatchObject({ kind: 'finishRun', run: 1 });
    // And a Stopped task stays stopped.
    expect(transition(end.task, stop, T0 + 3 * I)).toMatchObject({ changed: false, warning: null });
  });

  it('a delay task: runs once, then every stop is refused and nothing fires again', () => {
    const start = makeTask('delay', { status: 'ToBeExecuted', nextRunAt: T0 + I }, { lastRun: 0, version: 1 });
    const [started, done] = play(start, [
      [fire, T0 + I],
      [finished(1), T0 + I + 10 * SEC],
    ]);
    expect(() => transition(started!.task, stop, T0 + I + 1)).toThrow(expect.objectContaining({ code: 'stop_refused' }));
    expect(done!.task.state).toEqual({ status: 'Executed' });
    expect(() => transition(done!.task, stop, T0 + 2 * I)).toThrow(expect.objectContaining({ code: 'stop_refused' }));
    expect(() => transition(done!.task, fire, T0 + 100 * I)).toThrow(IllegalTransition);
  });
  it('a calendar task fires on its calendar, not on an interval from its start', () => {
    // Every 10 seconds on the clock: T0 is 10:00:00, the task was submitted at T0 + 3.2s.
    const schedule: Schedule = { kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end: null };
    const start = makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }, { createdAt: T0 + 3_200, schedule, time: '*/10 * * * * *', version: 1 });
    const steps = play(start, [
      [fire, T0 + I + 400], // run 1, 400ms late
      [finished(1), T0 + I + 2 * SEC],
      [fire, T0 + 2 * I],
      [finished(2), T0 + 2 * I + 5 * SEC],
    ]);
    expect(steps[0]!.task.state).toEqual({ status: 'Executing', run: 1, nextRunAt: T0 + 2 * I, stopRequested: false, fire: T0 + I, attempt: 1 });
    expect(steps[1]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I });
    // The next fire was chosen when run 2 started: :30, on the calendar, not 10s after the late run 1.
    expect(steps[3]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
    // A fire long after (the daemon was down): the calendar fires :30 to 10:10:00 (58) passed;
    // one run for the latest of them (run 4), the 57 before it recorded as missed (run 3),
    // then back on the calendar.
    const late = transition(steps[3]!.task, fire, T0 + 60 * I + 4_321);
    expect(late.effect).toEqual({
      kind: 'startRun',
      run: 4,
      scheduledAt: T0 + 60 * I,
      startedAt: T0 + 60 * I + 4_321,
      attempt: 1,
      missed: { run: 3, scheduledAt: T0 + 3 * I, reason: '57 fires passed while the task could not run (the daemon was not running, or was busy); catch-up once: the latest runs instead' },
    });
    expect(late.task.state).toEqual({ status: 'Executing', run: 4, nextRunAt: T0 + 61 * I, stopRequested: false, fire: T0 + 60 * I, attempt: 1 });
    expect(late.task.lastRun).toBe(4);
  });

  it('an interval task with an end: runs on its grid up to the end, then ends Executed', () => {
    const schedule: Schedule = { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 3 * I };
    const start = makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }, { schedule, version: 1 });
    const steps = play(start, [
      [fire, T0 + I],
      [finished(1), T0 + I + SEC],
      [fire, T0 + 2 * I],
      [finished(2), T0 + 2 * I + SEC],
      [fire, T0 + 3 * I], // the last fire: the end is inclusive
      [finished(3), T0 + 3 * I + 7 * SEC],
    ]);
    const starts = steps.map((s) => s.effect).filter((e): e is Extract<Effect, { kind: 'startRun' }> => e?.kind === 'startRun');
    expect(starts.map((e) => e.scheduledAt - T0)).toEqual([I, 2 * I, 3 * I]);
    expect(steps[4]!.task.state).toEqual({ status: 'Executing', run: 3, nextRunAt: null, stopRequested: false, fire: T0 + 3 * I, attempt: 1 });
    expect(steps[5]!.task.state).toEqual({ status: 'Executed' });
    expect(steps[5]!.task.lastStatusUpdated).toBe(T0 + 3 * I + 7 * SEC);
    // Nothing more: no fire, and a stop is refused as for any task that has executed.
    expect(() => transition(steps[5]!.task, fire, T0 + 100 * I)).toThrow(IllegalTransition);
    expect(() => transition(steps[5]!.task, stop, T0 + 100 * I)).toThrow(expect.objectContaining({ code: 'stop_refused' }));
  });

  it('a calendar task with an end, stopped during its last run: Stopped, not Executed', () => {
    const schedule: Schedule = { kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end: T0 + 2 * I };
    const start = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I }, { schedule, lastRun: 1 });
    const [started, stopped, done] = play(start, [
      [fire, T0 + 2 * I],
      [stop, T0 + 2 * I + SEC],
      [finished(2), T0 + 2 * I + 5 * SEC],
    ]);
    expect(started!.task.state).toEqual({ status: 'Executing', run: 2, nextRunAt: null, stopRequested: false, fire: T0 + 2 * I, attempt: 1 });
    expect(stopped!.warning).toMatch(/still executing/);
    expect(done!.task.state).toEqual({ status: 'Stopped' });
  });

  it('a recurring task whose last fire is skipped during a long run ends Executed when that run ends', () => {
    const schedule: Schedule = { kind: 'interval', everyMs: I, first: T0 + I, end: T0 + 2 * I };
    const start = makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }, { schedule });
    const steps = play(start, [
      [fire, T0 + I],
      [fire, T0 + 2 * I], // the last fire, while run 1 goes on
      [finished(1), T0 + 2 * I + 5 * SEC],
    ]);
    expect(steps.map((s) => s.effect?.kind)).toEqual(['startRun', 'skipRun', 'finishRun']);
    expect(steps[1]!.task.state).toEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + I, attempt: 1 });
    expect(steps[2]!.task.state).toEqual({ status: 'Executed' });
  });

  it('an at task: fires once at its time and ends Executed; a stop while it runs is refused', () => {
    const start = makeTask('at', { status: 'ToBeExecuted', nextRunAt: T0 + 5 * I }, { version: 1 });
    expect(() => transition(start, fire, T0 + 5 * I - 1)).toThrow(IllegalTransition);
    const [started, done] = play(start, [
      [fire, T0 + 5 * I],
      [finished(1), T0 + 5 * I + 3 * SEC],
    ]);
    expect(started!.task.state).toEqual({ status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: T0 + 5 * I, attempt: 1 });
    let refused: unknown;
    try {
      transition(started!.task, stop, T0 + 5 * I + 1);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SchedulerError);
    expect(refused).toMatchObject({ code: 'stop_refused' });
    expect(done!.task.state).toEqual({ status: 'Executed' });
    expect(() => transition(done!.task, fire, T0 + 100 * I)).toThrow(IllegalTransition);
  });

  it('an at task stopped before its time: Stopped, it never runs', () => {
    const start = makeTask('at', { status: 'ToBeExecuted', nextRunAt: T0 + 5 * I }, { version: 1 });
    const stopped = transition(start, stop, T0 + I);
    expect(stopped.task.state).toEqual({ status: 'Stopped' });
    expect(stopped.effect).toBeNull();
    expect(() => transition(stopped.task, fire, T0 + 5 * I)).toThrow(IllegalTransition);
  });
});
