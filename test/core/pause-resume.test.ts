/**
 * Pause, resume and run now in the pure state machine: each row of the table (status x
 * pause / resume / trigger, and what a Paused task does with the other events) with fixed
 * times, then the sequences that only show over several events: the catch-up of fires
 * missed while paused, a schedule that ended while paused, a run now while paused.
 */
import { describe, expect, it } from 'vitest';
import type { RunPolicy } from '../../src/core/policy.js';
import type { Schedule } from '../../src/core/schedule.js';
import { taskStatuses, type Task, type TaskState, type TaskType } from '../../src/core/task.js';
import { IllegalTransition, transition, type Effect, type Transition } from '../../src/core/transition.js';
import {
  executing,
  executingFor,
  fire,
  I,
  makeTask,
  pause,
  play,
  resume,
  runResults,
  SEC,
  stop,
  T0,
  trigger,
} from '../support/task-fixtures.js';
import { transitionTable, type TransitionRow } from '../support/transition-table.js';

/** Up to 3 retries of a failed run, 1s apart (the jitter takes up to half of that off). */
const retrying: RunPolicy = { overlap: 'skip', retry: { max: 3, delayMs: SEC, maxDelayMs: 10 * SEC, onExitCodes: null }, catchUp: { mode: 'once', windowMs: null } };

/** For an `at` task, the time and schedule of one due at T0 + I, like the delay tasks here (the shared default: T0 + 5I); nothing for the others. */
const dueAtI = (type: TaskType): Partial<Task> => (type === 'at' ? { time: '2026-11-25T10:00:10Z', schedule: { kind: 'once', at: T0 + I } } : {});

const { result, finished } = runResults();

const finalStates: Array<[TaskType, TaskState]> = [
  ['delay', { status: 'Executed' }],
  ['at', { status: 'Executed' }],
  ['cron', { status: 'Executed' }],
  ['delay', { status: 'Stopped' }],
  ['at', { status: 'Stopped' }],
  ['cron', { status: 'Stopped' }],
];

const rows: TransitionRow[] = [
  // ---------------------------------------------------------------- pause
  {
    name: 'cron ToBeExecuted + pause: Paused at once, no next fire',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: pause, now: T0 + 3 * SEC,
    expected: { state: { status: 'Paused' }, effect: null, warning: null, statusChanged: true },
  },
  {
    name: 'cron WaitForNextExecution + pause: Paused at once',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: pause, now: T0 + 2 * I + 4 * SEC,
    expected: { state: { status: 'Paused' }, effect: null, warning: null, statusChanged: true },
  },
  {
    name: 'cron Executing + pause: the run goes on (warning), no next fire, pauseRequested',
    task: makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2 }),
    event: pause, now: T0 + 2 * I + 4 * SEC,
    expected: {
      state: executing(2, null, { pauseRequested: true }),
      effect: null,
      warning: /^run 2 is still executing and will finish; then the task is Paused$/,
      statusChanged: false,
    },
  },
  {
    name: 'cron Executing with pauseRequested + pause: a no-op',
    task: makeTask('cron', executing(2, null, { pauseRequested: true }), { lastRun: 2 }),
    event: pause, now: T0 + 2 * I + 5 * SEC,
    expected: { noop: true },
  },
  {
    name: 'cron Executing with a stop requested + pause: status_conflict (it is stopping)',
    task: makeTask('cron', executing(2, null, { stopRequested: true }), { lastRun: 2 }),
    event: pause, now: T0 + 2 * I + 5 * SEC,
    expected: { error: 'status_conflict', message: /cannot pause task t-cron: it was stopped, and ends Stopped when run 2 finishes/ },
  },
  {
    name: 'cron Paused + pause: a no-op',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: pause, now: T0 + 9 * I,
    expected: { noop: true, warning: null },
  },
  ...(['delay', 'at'] as const).flatMap((type): TransitionRow[] => [
    {
      name: `${type} ToBeExecuted + pause: status_conflict, it runs once`,
      task: makeTask(type, { status: 'ToBeExecuted', nextRunAt: T0 + I }, dueAtI(type)),
      event: pause, now: T0 + 3 * SEC,
      expected: { error: 'status_conflict', message: new RegExp(`^cannot pause ${type} task t-${type}: it runs once; stop it instead$`) },
    },
    {
      name: `${type} Executing + pause: status_conflict, it runs once`,
      task: makeTask(type, executing(1, null), { ...dueAtI(type), lastRun: 1 }),
      event: pause, now: T0 + I + 3 * SEC,
      expected: { error: 'status_conflict', message: new RegExp(`^cannot pause ${type} task t-${type}: it runs once; stop it instead$`) },
    },
  ]),

  // ---------------------------------------------------------------- resume
  {
    name: 'cron Paused before its first fire + resume before it: ToBeExecuted, at that fire',
    task: makeTask('cron', { status: 'Paused' }, { lastStatusUpdated: T0 + 2 * SEC }),
    event: resume, now: T0 + 7 * SEC,
    expected: { state: { status: 'ToBeExecuted', nextRunAt: T0 + I }, effect: null, warning: null, statusChanged: true },
  },
  {
    name: 'cron Paused before its first fire + resume after it: ToBeExecuted, due now (the missed fire)',
    task: makeTask('cron', { status: 'Paused' }, { lastStatusUpdated: T0 + 2 * SEC }),
    event: resume, now: T0 + 4 * I + 2 * SEC,
    expected: { state: { status: 'ToBeExecuted', nextRunAt: T0 + 4 * I + 2 * SEC }, effect: null, statusChanged: true },
  },
  {
    name: 'cron Paused after run 2 + resume before the next fire: WaitForNextExecution, at that fire',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2, lastStatusUpdated: T0 + 2 * I + 500 }),
    event: resume, now: T0 + 2 * I + 9 * SEC,
    expected: { state: { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, effect: null, statusChanged: true },
  },
  {
    name: 'cron Paused after run 2 + resume exactly at a missed fire: due now',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2, lastStatusUpdated: T0 + 2 * I + 500 }),
    event: resume, now: T0 + 3 * I,
    expected: { state: { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, effect: null, statusChanged: true },
  },
  {
    name: 'cron Paused after run 2 + resume 3 fires later: one run, due now, for all the missed fires',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2, lastStatusUpdated: T0 + 2 * I + 500 }),
    event: resume, now: T0 + 5 * I + 300,
    expected: { state: { status: 'WaitForNextExecution', nextRunAt: T0 + 5 * I + 300 }, effect: null, statusChanged: true },
  },
  {
    name: 'cron Executing with pauseRequested + resume: the pause is dropped, the next fire computed from now',
    task: makeTask('cron', executing(2, null, { pauseRequested: true }), { lastRun: 2 }),
    event: resume, now: T0 + 3 * I + 4 * SEC,
    expected: { state: executing(2, T0 + 4 * I), effect: null, warning: null, statusChanged: false },
  },
  {
    name: 'cron ToBeExecuted + resume (not paused): a no-op',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: resume, now: T0 + 3 * SEC,
    expected: { noop: true, warning: null },
  },
  {
    name: 'cron WaitForNextExecution + resume (not paused): a no-op',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: resume, now: T0 + 2 * I + 3 * SEC,
    expected: { noop: true, warning: null },
  },
  {
    name: 'cron Executing + resume (not paused): a no-op',
    task: makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2 }),
    event: resume, now: T0 + 2 * I + 3 * SEC,
    expected: { noop: true, warning: null },
  },
  {
    name: 'cron Executing with a stop requested + resume: a no-op (the stop stands)',
    task: makeTask('cron', executing(2, null, { stopRequested: true }), { lastRun: 2 }),
    event: resume, now: T0 + 2 * I + 3 * SEC,
    expected: { noop: true, warning: null },
  },
  {
    name: 'delay ToBeExecuted + resume (not paused): a no-op',
    task: makeTask('delay', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: resume, now: T0 + 3 * SEC,
    expected: { noop: true, warning: null },
  },

  // ---------------------------------------------------------------- trigger (run now)
  {
    name: 'cron ToBeExecuted + trigger: run 1 starts now, the first fire is kept',
    task: makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 + I }),
    event: trigger, now: T0 + 3 * SEC,
    expected: {
      state: executingFor(1, T0 + 3 * SEC, T0 + I),
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + 3 * SEC, startedAt: T0 + 3 * SEC, attempt: 1 },
      warning: null, lastRun: 1, statusChanged: true,
    },
  },
  {
    name: 'cron WaitForNextExecution + trigger: run 3 starts now, the next fire is kept',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: trigger, now: T0 + 2 * I + 4 * SEC,
    expected: {
      state: executingFor(3, T0 + 2 * I + 4 * SEC, T0 + 3 * I),
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 2 * I + 4 * SEC, startedAt: T0 + 2 * I + 4 * SEC, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'cron WaitForNextExecution due exactly now + trigger: this run serves the fire, the next one is after now',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: trigger, now: T0 + 3 * I,
    expected: {
      state: executingFor(3, T0 + 3 * I, T0 + 4 * I),
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 3 * I, startedAt: T0 + 3 * I, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'cron WaitForNextExecution overdue + trigger: this run serves the fire, the next one is after now',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 }),
    event: trigger, now: T0 + 4 * I + 250,
    expected: {
      state: executingFor(3, T0 + 4 * I + 250, T0 + 5 * I),
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 4 * I + 250, startedAt: T0 + 4 * I + 250, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'cron Paused + trigger: a run starts now, no next fire, Paused again after it',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: trigger, now: T0 + 6 * I + 3 * SEC,
    expected: {
      state: executingFor(3, T0 + 6 * I + 3 * SEC, null, { pauseRequested: true }),
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 6 * I + 3 * SEC, startedAt: T0 + 6 * I + 3 * SEC, attempt: 1 },
      warning: null, lastRun: 3, statusChanged: true,
    },
  },
  ...(['delay', 'at'] as const).map((type): TransitionRow => ({
    name: `${type} ToBeExecuted + trigger: run 1 starts now, no fire after it`,
    task: makeTask(type, { status: 'ToBeExecuted', nextRunAt: T0 + I }, dueAtI(type)),
    event: trigger, now: T0 + 2 * SEC,
    expected: {
      state: executingFor(1, T0 + 2 * SEC, null),
      effect: { kind: 'startRun', run: 1, scheduledAt: T0 + 2 * SEC, startedAt: T0 + 2 * SEC, attempt: 1 },
      lastRun: 1, statusChanged: true,
    },
  })),
  {
    name: 'cron Executing + trigger: recorded as a skipped run, with a warning; run 2 goes on',
    task: makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2 }),
    event: trigger, now: T0 + 2 * I + 4 * SEC,
    expected: {
      state: executing(2, T0 + 3 * I),
      effect: { kind: 'skipRun', run: 3, scheduledAt: T0 + 2 * I + 4 * SEC, at: T0 + 2 * I + 4 * SEC, reason: 'a run was asked for while run 2 was executing' },
      warning: /^run 3 skipped: run 2 is still executing$/,
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'cron Executing with pauseRequested + trigger: skipped, and the pause stands',
    task: makeTask('cron', executing(2, null, { pauseRequested: true }), { lastRun: 4 }),
    event: trigger, now: T0 + 4 * I + 4 * SEC,
    expected: {
      state: executing(2, null, { pauseRequested: true }),
      effect: { kind: 'skipRun', run: 5, scheduledAt: T0 + 4 * I + 4 * SEC, at: T0 + 4 * I + 4 * SEC, reason: 'a run was asked for while run 2 was executing' },
      warning: /^run 5 skipped: run 2 is still executing$/,
      lastRun: 5, statusChanged: false,
    },
  },
  {
    name: 'cron (overlap replace) Executing + trigger: skipped too, the run is not replaced',
    task: makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2, policy: { overlap: 'replace', retry: null, catchUp: { mode: 'once', windowMs: null } } }),
    event: trigger, now: T0 + 2 * I + 4 * SEC,
    expected: {
      state: executing(2, T0 + 3 * I),
      effect: { kind: 'skipRun', run: 3, scheduledAt: T0 + 2 * I + 4 * SEC, at: T0 + 2 * I + 4 * SEC, reason: 'a run was asked for while run 2 was executing' },
      warning: /^run 3 skipped: run 2 is still executing$/,
      lastRun: 3, statusChanged: false,
    },
  },
  {
    name: 'cron WaitForNextExecution with a retry pending + trigger: the retry gives way, the schedule\'s next fire is kept',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I + 3 * SEC, retry: { fire: T0 + 2 * I, attempt: 2, thenNextRunAt: T0 + 3 * I } }, { lastRun: 2, policy: retrying }),
    event: trigger, now: T0 + 2 * I + SEC,
    expected: {
      state: executingFor(3, T0 + 2 * I + SEC, T0 + 3 * I),
      effect: { kind: 'startRun', run: 3, scheduledAt: T0 + 2 * I + SEC, startedAt: T0 + 2 * I + SEC, attempt: 1 },
      lastRun: 3, statusChanged: true,
    },
  },
  {
    name: 'cron WaitForNextExecution with a retry pending + pause: Paused',
    task: makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 2 * I + 3 * SEC, retry: { fire: T0 + 2 * I, attempt: 2, thenNextRunAt: T0 + 3 * I } }, { lastRun: 2, policy: retrying }),
    event: pause, now: T0 + 2 * I + SEC,
    expected: { state: { status: 'Paused' }, effect: null, warning: null, statusChanged: true },
  },
  {
    name: 'delay Executing + trigger: skipped, with a warning',
    task: makeTask('delay', executing(1, null), { lastRun: 1 }),
    event: trigger, now: T0 + I + 4 * SEC,
    expected: {
      state: executing(1, null),
      effect: { kind: 'skipRun', run: 2, scheduledAt: T0 + I + 4 * SEC, at: T0 + I + 4 * SEC, reason: 'a run was asked for while run 1 was executing' },
      warning: /^run 2 skipped: run 1 is still executing$/,
      lastRun: 2, statusChanged: false,
    },
  },

  // ---------------------------------------------------------------- what a Paused task does with the other events
  {
    name: 'cron Paused + stop: Stopped',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: stop, now: T0 + 7 * I,
    expected: { state: { status: 'Stopped' }, effect: null, warning: null, statusChanged: true },
  },
  {
    name: 'cron Paused + fire: illegal (a paused task never fires)',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: fire, now: T0 + 3 * I,
    expected: { illegal: true },
  },
  {
    name: 'cron Paused + runFinished: illegal',
    task: makeTask('cron', { status: 'Paused' }, { lastRun: 2 }),
    event: finished(2), now: T0 + 3 * I,
    expected: { illegal: true },
  },

  // ---------------------------------------------------------------- Executed, Stopped: nothing more happens
  ...finalStates.flatMap(([type, state]): TransitionRow[] =>
    (['pause', 'resume', 'trigger'] as const).map((kind): TransitionRow => ({
      name: `${type} ${state.status} + ${kind}: status_conflict`,
      task: makeTask(type, state, { ...dueAtI(type), lastRun: 1 }),
      event: { kind },
      now: T0 + 20 * I,
      expected: {
        error: 'status_conflict',
        message: new RegExp(`^cannot ${kind === 'trigger' ? 'run' : kind} task t-${type}: it is ${state.status}, and nothing more happens to it$`),
      },
    })),
  ),
];

transitionTable('transition: pause, resume and trigger, status x event', rows, [
  { statuses: taskStatuses, events: ['pause', 'resume', 'trigger'] },
  { statuses: ['Paused'], events: ['fire', 'runFinished', 'stop', 'pause', 'resume', 'trigger'] },
]);

describe('transition: pause, resume and trigger, sequences', () => {
  const starts = (steps: Transition[]) =>
    steps.map((s) => s.effect).filter((e): e is Extract<Effect, { kind: 'startRun' }> => e?.kind === 'startRun');

  it('paused between runs, resumed after 3 missed fires: one catch-up run now, then back on the grid', () => {
    const waiting = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2, version: 5 });
    const resumeAt = T0 + 5 * I + 300;
    const steps = play(waiting, [
      [pause, T0 + 2 * I + 500],
      [resume, resumeAt],
      [fire, resumeAt],
      [finished(3), resumeAt + 2 * SEC],
      [fire, T0 + 6 * I],
    ]);
    expect(steps[0]!.task.lastStatusUpdated).toBe(T0 + 2 * I + 500);
    expect(steps[1]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: resumeAt });
    expect(starts(steps).map((e) => [e.run, e.scheduledAt - T0])).toEqual([
      [3, resumeAt - T0],
      [4, 6 * I],
    ]);
    // The catch-up run is followed by the next fire of the grid, not resumeAt + I.
    expect(steps[2]!.task.state).toStrictEqual(executingFor(3, resumeAt, T0 + 6 * I));
    expect(steps.map((s) => s.task.version)).toEqual([6, 7, 8, 9, 10]);
  });

  it('paused and resumed before the next fire: nothing is run early, the fire comes on the grid', () => {
    const waiting = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 });
    const steps = play(waiting, [
      [pause, T0 + 2 * I + 500],
      [resume, T0 + 2 * I + 9_000],
    ]);
    expect(steps[1]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
    expect(() => transition(steps[1]!.task, fire, T0 + 3 * I - 1)).toThrow(IllegalTransition);
    expect(transition(steps[1]!.task, fire, T0 + 3 * I).effect).toEqual({ kind: 'startRun', run: 3, scheduledAt: T0 + 3 * I, startedAt: T0 + 3 * I, attempt: 1 });
  });

  it('paused during a run: Paused when the run ends, and the pause time is the end of the run', () => {
    const running = makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2, lastStatusUpdated: T0 + 2 * I });
    const paused = transition(running, pause, T0 + 2 * I + 1_000).task;
    // The fire that was pending is gone: firing at it is illegal.
    expect(() => transition(paused, fire, T0 + 3 * I)).toThrow(IllegalTransition);
    const end = transition(paused, finished(2), T0 + 3 * I + 2_000);
    expect(end.task.state).toStrictEqual({ status: 'Paused' });
    expect(end.task.lastStatusUpdated).toBe(T0 + 3 * I + 2_000);
    expect(end.effect).toMatchObject({ kind: 'finishRun', run: 2 });
    // The fire at 3I came during the run (it would have been skipped anyway): resuming
    // before 4I waits for 4I; resuming after it runs now.
    expect(transition(end.task, resume, T0 + 3 * I + 5_000).task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 4 * I });
    expect(transition(end.task, resume, T0 + 4 * I + 5_000).task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 4 * I + 5_000 });
  });

  it('paused and resumed during the same run: the run ends into WaitForNextExecution', () => {
    const running = makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2, lastStatusUpdated: T0 + 2 * I });
    const steps = play(running, [
      [pause, T0 + 2 * I + 1_000],
      [resume, T0 + 2 * I + 2_000],
      [finished(2), T0 + 2 * I + 3_000],
    ]);
    expect(steps[1]!.task.state).toStrictEqual(executing(2, T0 + 3 * I));
    expect(steps[2]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I });
  });

  it('a run now while paused: the task is Paused again after it, and resume catches up from then', () => {
    const paused = makeTask('cron', { status: 'Paused' }, { lastRun: 2, lastStatusUpdated: T0 + 2 * I + 500 });
    const steps = play(paused, [
      [trigger, T0 + 4 * I + 100],
      [finished(3), T0 + 4 * I + 3_000],
    ]);
    expect(steps[0]!.effect).toEqual({ kind: 'startRun', run: 3, scheduledAt: T0 + 4 * I + 100, startedAt: T0 + 4 * I + 100, attempt: 1 });
    expect(steps[1]!.task.state).toStrictEqual({ status: 'Paused' });
    expect(steps[1]!.task.lastRun).toBe(3);
    // Paused fires never fire, however late it is.
    expect(() => transition(steps[1]!.task, fire, T0 + 50 * I)).toThrow(IllegalTransition);
    // Resumed before the next fire after that run: waits for it.
    expect(transition(steps[1]!.task, resume, T0 + 4 * I + 5_000).task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 5 * I });
  });

  it('a run now while paused, resumed during that run: the pause is dropped and the schedule goes on', () => {
    const paused = makeTask('cron', { status: 'Paused' }, { lastRun: 2 });
    const steps = play(paused, [
      [trigger, T0 + 4 * I + 100],
      [resume, T0 + 4 * I + 2_000],
      [finished(3), T0 + 4 * I + 3_000],
    ]);
    expect(steps[1]!.task.state).toStrictEqual(executingFor(3, T0 + 4 * I + 100, T0 + 5 * I));
    expect(steps[2]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 5 * I });
  });

  it('a one-time task run now ends Executed, and its own time never fires', () => {
    for (const type of ['delay', 'at'] as const) {
      const steps = play(makeTask(type, { status: 'ToBeExecuted', nextRunAt: T0 + I }, dueAtI(type)), [
        [trigger, T0 + 2 * SEC],
        [finished(1), T0 + 3 * SEC],
      ]);
      expect(steps[1]!.task.state, type).toEqual({ status: 'Executed' });
      expect(() => transition(steps[1]!.task, fire, T0 + I)).toThrow(IllegalTransition);
    }
  });

  it('a recurring task run now: the skipped trigger during it is numbered, and the grid goes on', () => {
    const waiting = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2 });
    const steps = play(waiting, [
      [trigger, T0 + 2 * I + 1_000], // run 3, now
      [trigger, T0 + 2 * I + 2_000], // skipped: run 4
      [finished(3), T0 + 2 * I + 5_000],
      [fire, T0 + 3 * I], // run 5, on the grid
    ]);
    expect(steps.map((s) => s.effect?.kind)).toEqual(['startRun', 'skipRun', 'finishRun', 'startRun']);
    expect(steps[1]!.effect).toMatchObject({ kind: 'skipRun', run: 4, reason: 'a run was asked for while run 3 was executing' });
    expect(steps[3]!.effect).toEqual({ kind: 'startRun', run: 5, scheduledAt: T0 + 3 * I, startedAt: T0 + 3 * I, attempt: 1 });
  });

  it('paused during a run that fails, with retries: Paused when it ends, no retry is scheduled', () => {
    const failed = finished(2, result({ outcome: 'failed', exitCode: 1, finishedAt: T0 + 2 * I + 2_000 }));
    const running = makeTask('cron', executingFor(2, T0 + 2 * I, T0 + 3 * I), { lastRun: 2, policy: retrying });
    // Without the pause, this failure would be retried before the next fire.
    const retried = transition(running, failed, T0 + 2 * I + 2_000).task.state;
    expect(retried).toMatchObject({ status: 'WaitForNextExecution', retry: { fire: T0 + 2 * I, attempt: 2, thenNextRunAt: T0 + 3 * I } });
    const steps = play(running, [
      [pause, T0 + 2 * I + 1_000],
      [failed, T0 + 2 * I + 2_000],
    ]);
    expect(steps[1]!.task.state).toStrictEqual({ status: 'Paused' });
  });

  it('a stop of a task paused during its run wins: Stopped when the run ends', () => {
    const running = makeTask('cron', executing(2, T0 + 3 * I), { lastRun: 2 });
    const steps = play(running, [
      [pause, T0 + 2 * I + 1_000],
      [stop, T0 + 2 * I + 2_000],
      [finished(2), T0 + 2 * I + 3_000],
    ]);
    expect(steps[1]!.warning).toMatch(/still executing/);
    // The stop supersedes the pause: no pauseRequested left beside stopRequested (the store
    // keeps only one of the two, so the answer would differ from what is stored).
    expect(steps[1]!.task.state).toStrictEqual(executing(2, null, { stopRequested: true }));
    expect(steps[2]!.task.state).toEqual({ status: 'Stopped' });
    // And once stopping, resume does not bring the schedule back.
    expect(transition(steps[1]!.task, resume, T0 + 2 * I + 2_500).task.state).toMatchObject({ stopRequested: true, nextRunAt: null });
  });

  describe('a schedule that ends', () => {
    const ending = (end: number): Schedule => ({ kind: 'interval', everyMs: I, first: T0 + I, end });

    it('paused during its last run, resumed later: Executed', () => {
      // end 4I: run 4 is the last; paused during it.
      const last = makeTask('cron', executing(4, null), { lastRun: 4, schedule: ending(T0 + 4 * I) });
      const steps = play(last, [
        [pause, T0 + 4 * I + 1_000],
        [finished(4), T0 + 4 * I + 2_000],
        [resume, T0 + 9 * I],
      ]);
      expect(steps[1]!.task.state).toEqual({ status: 'Paused' });
      expect(steps[2]!.task.state).toStrictEqual({ status: 'Executed' });
      expect(steps[2]!.task.lastStatusUpdated).toBe(T0 + 9 * I);
    });

    it('resumed before its end: the missed fire runs now, and the task ends after its last fire', () => {
      const waiting = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2, schedule: ending(T0 + 4 * I) });
      const steps = play(waiting, [
        [pause, T0 + 2 * I + 500],
        [resume, T0 + 3 * I + 500],
        [fire, T0 + 3 * I + 500],
        [finished(3), T0 + 3 * I + 600],
        [fire, T0 + 4 * I],
        [finished(4), T0 + 4 * I + 100],
      ]);
      expect(steps[1]!.task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I + 500 });
      expect(steps[4]!.task.state).toStrictEqual(executingFor(4, T0 + 4 * I, null));
      expect(steps[5]!.task.state).toEqual({ status: 'Executed' });
    });

    it('whose end passed while paused: resume ends it Executed, with no run after the end', () => {
      // Paused waiting for 3I; the schedule ends at 4I; resumed at 6I, after the end. The
      // end says the task fires at 4I at the latest, and the rule for a schedule that ended
      // while paused is Executed: no catch-up run at 6I.
      const waiting = makeTask('cron', { status: 'WaitForNextExecution', nextRunAt: T0 + 3 * I }, { lastRun: 2, schedule: ending(T0 + 4 * I) });
      const paused = transition(waiting, pause, T0 + 2 * I + 500).task;
      const resumed = transition(paused, resume, T0 + 6 * I);
      expect(resumed.task.state).toStrictEqual({ status: 'Executed' });
    });
  });

  it('a calendar (cron expression) schedule: resume waits for the next minute, or catches up a missed one now', () => {
    const minutely: Schedule = { kind: 'calendar', expression: '0 * * * * *', timezone: 'UTC', start: null, end: null };
    const pausedAt = Date.parse('2026-11-25T10:00:30.000Z');
    const paused = makeTask('cron', { status: 'Paused' }, { lastRun: 1, schedule: minutely, time: '0 * * * * *', lastStatusUpdated: pausedAt });
    expect(transition(paused, resume, Date.parse('2026-11-25T10:00:45.000Z')).task.state).toEqual({
      status: 'WaitForNextExecution',
      nextRunAt: Date.parse('2026-11-25T10:01:00.000Z'),
    });
    const late = Date.parse('2026-11-25T10:03:10.000Z');
    expect(transition(paused, resume, late).task.state).toEqual({ status: 'WaitForNextExecution', nextRunAt: late });
  });
});
