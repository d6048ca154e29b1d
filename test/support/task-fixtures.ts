/**
 * Fixtures of the pure state-machine tests (test/core: transition, pause-resume, overlap-allow,
 * overlap-retry-catchup): fixed times, tasks, Executing states, run results, events, and the
 * helpers that apply events to a task. A test file that needs another default passes it as an
 * override where it calls these, so that the difference shows there.
 */
import { expect } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import { defaultRunPolicy } from '../../src/core/policy.js';
import type { Schedule } from '../../src/core/schedule.js';
import type { Task, TaskState, TaskType } from '../../src/core/task.js';
import { transition, type RunResult, type TaskEvent, type Transition } from '../../src/core/transition.js';

/** When every task is submitted: 2026-11-25T10:00:00Z. */
export const T0 = Date.parse('2026-11-25T10:00:00.000Z');
/** One second, in ms. */
export const SEC = 1000;
/** One minute, in ms. */
export const MIN = 60 * SEC;
/** The interval of the tasks: a delay of 10s, or a fire every 10s. */
export const I = 10 * SEC;
/** When a task's status last changed (for a Paused task: when it was paused), before any event of the tests. */
export const UPDATED = T0 + 1;

/** The schedule of a recurring task: a fire every 10s from T0 + I, no end. */
export const every10s: Extract<Schedule, { kind: 'interval' }> = { kind: 'interval', everyMs: I, first: T0 + I, end: null };

/** The state of a task while a run executes. */
export type Executing = Extract<TaskState, { status: 'Executing' }>;

/** The schedule a task of `type` gets when submitted at T0: delay once at T0 + I, cron every10s, at once at T0 + 5I. */
export function scheduleOf(type: TaskType): Schedule {
  switch (type) {
    case 'delay':
      return { kind: 'once', at: T0 + I };
    case 'cron':
      return every10s;
    case 'at':
      return { kind: 'once', at: T0 + 5 * I };
  }
}

/** A task of `type` in `state`: id t-<type>, time '10s' (at: T0 + 5I), scheduleOf(type), `echo hi` in bash, default execution and run policy, created T0, status updated at UPDATED, version 7, lastRun 0; `extra` replaces any field. */
export function makeTask(type: TaskType, state: TaskState, extra: Partial<Task> = {}): Task {
  return {
    id: `t-${type}`,
    type,
    time: type === 'at' ? new Date(T0 + 5 * I).toISOString() : '10s',
    schedule: scheduleOf(type),
    timezone: 'UTC',
    script: 'echo hi',
    lang: 'bash',
    execution: defaultExecution,
    policy: defaultRunPolicy,
    createdAt: T0,
    state,
    lastStatusUpdated: UPDATED,
    version: 7,
    lastRun: 0,
    ...extra,
  };
}

/** Run `run` executing, the next fire at `nextRunAt`, no stop requested, no fire or attempt recorded; `more` adds or replaces fields. */
export function executing(run: number, nextRunAt: number | null, more: Partial<Executing> = {}): Executing {
  return { status: 'Executing', run, nextRunAt, stopRequested: false, ...more };
}

/** Run `run` executing for the fire (or run now) at `fire`, attempt 1, the next fire at `nextRunAt`; `more` adds or replaces fields. */
export function executingFor(run: number, fire: number, nextRunAt: number | null, more: Partial<Executing> = {}): Executing {
  return executing(run, nextRunAt, { fire, attempt: 1, ...more });
}

/**
 * The RunResult builders of a test file, `defaults` applied over the shared ones:
 * - `result(overrides)`: a run that succeeded, exit code 0, started at T0 + I and finished 500ms later, no output, output cap 1024;
 * - `failed(exitCode = 1, more)`: the same, failed with `exitCode`;
 * - `finished(run, res = result())`: the runFinished event of run `run`, ending with `res`.
 */
export function runResults(defaults: Partial<RunResult> = {}) {
  const result = (overrides: Partial<RunResult> = {}): RunResult => ({
    outcome: 'succeeded',
    startedAt: T0 + I,
    finishedAt: T0 + I + 500,
    exitCode: 0,
    signal: null,
    error: null,
    stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    outputCap: 1024,
    ...defaults,
    ...overrides,
  });
  const failed = (exitCode: number | null = 1, more: Partial<RunResult> = {}): RunResult => result({ outcome: 'failed', exitCode, ...more });
  const finished = (run: number, res: RunResult = result()): TaskEvent => ({ kind: 'runFinished', run, result: res });
  return { result, failed, finished };
}

/** The event of a fire of the schedule. */
export const fire: TaskEvent = { kind: 'fire' };
/** The event of `scheduler stop`. */
export const stop: TaskEvent = { kind: 'stop' };
/** The event of `scheduler pause`. */
export const pause: TaskEvent = { kind: 'pause' };
/** The event of `scheduler resume`. */
export const resume: TaskEvent = { kind: 'resume' };
/** The event of a run now (`scheduler run`). */
export const trigger: TaskEvent = { kind: 'trigger' };

/** Freezes an object graph, so that a transition that mutated its input would throw. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Applies `event` at `now` to a frozen copy of `task`, checking what every change must do: input untouched, version + 1, status time, definition unchanged. */
export function apply(task: Task, event: TaskEvent, now: number): Transition {
  const input = deepFreeze(structuredClone(task));
  const out = transition(input, event, now);
  expect(input).toEqual(task);
  if (out.changed) {
    expect(out.task.version).toBe(task.version + 1);
    expect(out.task.lastStatusUpdated).toBe(out.task.state.status === task.state.status ? task.lastStatusUpdated : now);
    // The definition never changes.
    const { state: _s, version: _v, lastRun: _l, lastStatusUpdated: _u, ...definition } = out.task;
    const { state: _s2, version: _v2, lastRun: _l2, lastStatusUpdated: _u2, ...before } = task;
    expect(definition).toEqual(before);
  }
  return out;
}

/** Applies events in order, each at its time, without checks, and returns every transition. */
export function play(task: Task, steps: Array<[TaskEvent, number]>): Transition[] {
  const out: Transition[] = [];
  let current = task;
  for (const [event, now] of steps) {
    const step = transition(current, event, now);
    out.push(step);
    current = step.task;
  }
  return out;
}
