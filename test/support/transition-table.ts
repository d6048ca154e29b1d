/**
 * The table runner of the state-machine tests (test/core): each row is a task in some state,
 * an event at a time, and what must come of it (the next state with its effect, nothing, or
 * a typed error). `transitionTable` turns rows into one test each, and checks what every
 * transition must do whatever the row: the input task is untouched, a change bumps the
 * version by one, moves the status time only when the status changes, and leaves the task's
 * definition alone.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError, type ErrorCode } from '../../src/core/errors.js';
import type { Task, TaskState, TaskStatus } from '../../src/core/task.js';
import { IllegalTransition, transition, type Effect, type TaskEvent } from '../../src/core/transition.js';
import { deepFreeze } from './task-fixtures.js';

/** What a row expects of its event. */
export type Expected =
  /** A change: the next state (compared strictly: a key that should be absent must be absent), and what goes with it. */
  | {
      state: TaskState;
      effect: Effect | null;
      /** The warning's pattern; absent or null: no warning. */
      warning?: RegExp | null;
      /** The task's lastRun after it; absent: unchanged. */
      lastRun?: number;
      /** Whether lastStatusUpdated moves to `now` (it must when the status changes, and only then). */
      statusChanged: boolean;
    }
  /** Nothing changes (same task, same version, no effect); `warning` absent: not checked, null: none. */
  | { noop: true; warning?: RegExp | null }
  /** The event does not apply to the state: an IllegalTransition naming the status, the event and the task. */
  | { illegal: true }
  /** The user's request is refused: a SchedulerError with this code, whose message matches. */
  | { error: Extract<ErrorCode, 'stop_refused' | 'status_conflict'>; message: RegExp };

/** One row: `event` applied to `task` at `now` must give `expected`. */
export interface TransitionRow {
  name: string;
  task: Task;
  event: TaskEvent;
  now: number;
  expected: Expected;
}

/** Status x event cells a table must have at least one row for. */
export interface Cells {
  statuses: readonly TaskStatus[];
  events: readonly TaskEvent['kind'][];
}

/** Declares a describe block `title`: a check that `rows` cover every cell of `covers`, then one test per row. */
export function transitionTable(title: string, rows: TransitionRow[], covers: Cells[]): void {
  describe(title, () => {
    it('has a row for every status x event it covers', () => {
      for (const { statuses, events } of covers) {
        for (const status of statuses) {
          for (const event of events) {
            const covered = rows.some((row) => row.task.state.status === status && row.event.kind === event);
            expect(covered, `${status} x ${event}`).toBe(true);
          }
        }
      }
    });

    it.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => checkRow(row));
  });
}

function checkRow({ task, event, now, expected }: TransitionRow): void {
  const input = deepFreeze(structuredClone(task));
  const before = structuredClone(task);

  if ('illegal' in expected) {
    const thrown = thrownBy(() => transition(input, event, now));
    expect(thrown).toBeInstanceOf(IllegalTransition);
    expect(thrown).toMatchObject({ name: 'IllegalTransition', status: task.state.status, event: event.kind });
    expect((thrown as Error).message).toContain(task.id);
  } else if ('error' in expected) {
    const thrown = thrownBy(() => transition(input, event, now));
    expect(thrown).toBeInstanceOf(SchedulerError);
    expect((thrown as SchedulerError).code).toBe(expected.error);
    expect((thrown as SchedulerError).message).toMatch(expected.message);
  } else if ('noop' in expected) {
    const out = transition(input, event, now);
    expect(out.changed).toBe(false);
    expect(out.effect).toBeNull();
    expect(out.task).toEqual(before);
    if (expected.warning === null) expect(out.warning).toBeNull();
    else if (expected.warning) expect(out.warning).toMatch(expected.warning);
  } else {
    const out = transition(input, event, now);
    expect(out.changed).toBe(true);
    expect(out.task.state).toStrictEqual(expected.state);
    expect(out.effect).toEqual(expected.effect);
    if (expected.warning) expect(out.warning).toMatch(expected.warning);
    else expect(out.warning).toBeNull();
    expect(out.task.version).toBe(before.version + 1);
    expect(out.task.lastRun).toBe(expected.lastRun ?? before.lastRun);
    expect(out.task.lastStatusUpdated).toBe(expected.statusChanged ? now : before.lastStatusUpdated);
    const { state: _s, version: _v, lastRun: _l, lastStatusUpdated: _u, ...definition } = out.task;
    const { state: _s2, version: _v2, lastRun: _l2, lastStatusUpdated: _u2, ...definitionBefore } = before;
    expect(definition).toEqual(definitionBefore);
  }
  // Whatever happened, the input task is untouched (it is deep-frozen, and still equal).
  expect(input).toEqual(before);
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
