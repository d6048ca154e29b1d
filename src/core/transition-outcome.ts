/**
 * The two outcomes every handler of the state machine ends with: a change (a new state, the
 * next version) or none.
 */
import type { Task, TaskState } from './task.js';
import type { Effect, Transition } from './transition-types.js';

/** A new state for `task`, written with the next version; the status time moves only when the status changes. */
export function changedTo(task: Task, state: TaskState, now: number, extra: { lastRun?: number; effect?: Effect }): Transition {
  return {
    task: {
      ...task,
      state,
      lastRun: extra.lastRun ?? task.lastRun,
      version: task.version + 1,
      lastStatusUpdated: state.status === task.state.status ? task.lastStatusUpdated : now,
    },
    changed: true,
    effect: extra.effect ?? null,
    warning: null,
  };
}

/** Nothing happens: the same task, the same version. */
export function unchanged(task: Task): Transition {
  return { task, changed: false, effect: null, warning: null };
}
