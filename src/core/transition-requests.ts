/**
 * What the user's requests do (transition.ts's `trigger`, `pause`, `resume` and `stop`
 * columns): a run now, a pause and a resume of a recurring task, a stop; and the refusals,
 * which tell the user why and what to do instead.
 */
import { SchedulerError } from './errors.js';
import { defaultMaxParallel } from './policy.js';
import { isRecurring, nextFireAfter } from './schedule.js';
import { dueAt, type Task } from './task.js';
import { changedTo, unchanged } from './transition-outcome.js';
import type { ExecutingState, TaskEvent, Transition } from './transition-types.js';
import { withFields } from './with-fields.js';

/**
 * A run now, besides the schedule. A waiting task keeps its next fire (if that is due now,
 * this run serves it); a paused one runs once and is paused again after.
 */
export function runNow(task: Task, _event: unknown, now: number): Transition {
  const run = task.lastRun + 1;
  const state = task.state;
  // A pending retry gives way to this run; the schedule's next fire stays.
  const pending = state.status === 'Paused' || !isRecurring(task.schedule) ? null : state.status === 'WaitForNextExecution' && state.retry ? state.retry.thenNextRunAt : dueAt(state);
  const nextRunAt = pending === null ? null : pending > now ? pending : nextFireAfter(task.schedule, now);
  return changedTo(
    task,
    { status: 'Executing', run, nextRunAt, stopRequested: false, fire: now, attempt: 1, ...(state.status === 'Paused' ? { pauseRequested: true as const } : {}) },
    now,
    { lastRun: run, effect: { kind: 'startRun', run, scheduledAt: now, startedAt: now, attempt: 1 } },
  );
}

/** A run now asked for while a run executes: it starts beside it if the task allows that (overlap allow), else it is skipped. */
export function triggerDuringRun(task: Task, _event: unknown, now: number): Transition {
  const state = task.state as ExecutingState;
  if (state.stopRequested) throw new SchedulerError('status_conflict', `cannot run task ${task.id}: it was stopped, and ends Stopped when run ${state.run} finishes`);
  const parallel = state.parallel ?? [];
  const run = task.lastRun + 1;
  if (task.policy.overlap === 'allow' && 1 + parallel.length < (task.policy.maxParallel ?? defaultMaxParallel)) {
    return changedTo(task, withFields(state, { parallel: [...parallel, { run, fire: now }] }), now, {
      lastRun: run,
      effect: { kind: 'startRun', run, scheduledAt: now, startedAt: now, attempt: 1 },
    });
  }
  const reason = `a run was asked for while run ${state.run} was executing`;
  return {
    ...changedTo(task, state, now, { lastRun: run, effect: { kind: 'skipRun', run, scheduledAt: now, at: now, reason } }),
    warning: `run ${run} skipped: run ${state.run} is still executing`,
  };
}

/** Paused while waiting for a fire: Paused at once. */
export function pauseWaiting(task: Task, _event: unknown, now: number): Transition {
  refuseOnce(task, 'pause');
  return changedTo(task, { status: 'Paused' }, now, {});
}

/** Paused while a run executes: the run goes on, and the task is Paused after it. */
export function pauseExecuting(task: Task, _event: unknown, now: number): Transition {
  const state = task.state as ExecutingState;
  refuseOnce(task, 'pause');
  if (state.stopRequested) throw new SchedulerError('status_conflict', `cannot pause task ${task.id}: it was stopped, and ends Stopped when run ${state.run} finishes`);
  if (state.pauseRequested) return unchanged(task);
  return {
    ...changedTo(task, withFields(state, { nextRunAt: null, pauseRequested: true as const }), now, {}),
    warning: `run ${state.run} is still executing and will finish; then the task is Paused`,
  };
}

/**
 * Resumed: the next fire is computed from now. Fires missed while paused are caught up as
 * after a downtime: once, now. A schedule whose end has passed meanwhile is over: Executed.
 */
export function resumePaused(task: Task, _event: unknown, now: number): Transition {
  const missedOrNext = nextFireAfter(task.schedule, task.lastStatusUpdated);
  // Nothing left to run: the schedule ended while the task was paused (its end has passed).
  if (missedOrNext === null || nextFireAfter(task.schedule, now) === null) return changedTo(task, { status: 'Executed' }, now, {});
  const nextRunAt = Math.max(missedOrNext, now);
  return changedTo(task, { status: task.lastRun === 0 ? 'ToBeExecuted' : 'WaitForNextExecution', nextRunAt }, now, {});
}

/** Resumed before the run during which it was paused ended: it simply goes on. */
export function resumeExecuting(task: Task, _event: unknown, now: number): Transition {
  const state = task.state as ExecutingState;
  if (!state.pauseRequested) return unchanged(task);
  const { pauseRequested: _resumed, ...rest } = state;
  return changedTo(task, { ...rest, nextRunAt: nextFireAfter(task.schedule, now) }, now, {});
}

/** Stopped while waiting (or paused): Stopped, it never runs again. */
export function stopWaiting(task: Task, _event: unknown, now: number): Transition {
  return changedTo(task, { status: 'Stopped' }, now, {});
}

/** Stopped while a run executes: a recurring task ends Stopped after the run; a one-time task's run cannot be undone. */
export function stopExecuting(task: Task, _event: unknown, now: number): Transition {
  const state = task.state as ExecutingState;
  if (!isRecurring(task.schedule)) refuseStop('its run has already started; the run goes on and the task will end Executed')(task);
  const warning = `run ${state.run} is still executing and will finish; no later run will happen, then the task ends Stopped`;
  if (state.stopRequested) return { task, changed: false, effect: null, warning };
  // A stop overrides a pause asked for during the same run.
  const { pauseRequested: _overridden, ...rest } = state;
  return {
    ...changedTo(task, { ...rest, nextRunAt: null, stopRequested: true }, now, {}),
    warning,
  };
}

/** The refusal of a stop, saying why. */
export function refuseStop(reason: string): (task: Task) => never {
  return (task) => {
    throw new SchedulerError('stop_refused', `cannot stop ${task.type} task ${task.id}: ${reason}`);
  };
}

/** The refusal of a request to a task that has ended (Executed or Stopped). */
export function refuseFinal(task: Task, event: TaskEvent): never {
  const what = event.kind === 'trigger' ? 'run' : event.kind;
  throw new SchedulerError('status_conflict', `cannot ${what} task ${task.id}: it is ${task.state.status}, and nothing more happens to it`);
}

/** Pause and resume are for recurring tasks: a one-time task is stopped instead. */
function refuseOnce(task: Task, what: string): void {
  if (!isRecurring(task.schedule)) {
    throw new SchedulerError('status_conflict', `cannot ${what} ${task.type} task ${task.id}: it runs once; stop it instead`);
  }
}
