/**
 * What the runner reports of a run (transition.ts's `runFinished` and `runStarted` columns):
 * its end decides what the task does next (the next fire, a retry, a queued fire, Stopped,
 * Paused, Executed); the start of a run that waited for a free slot is recorded.
 */
import { isRetriable, retryDelay } from './policy.js';
import type { Task, TaskState } from './task.js';
import { changedTo, unchanged } from './transition-outcome.js';
import { IllegalTransition, type ExecutingState, type RunResult, type TaskEvent, type Transition } from './transition-types.js';
import { withFields } from './with-fields.js';

/** Run `event.run` ended: recorded; if it was the task's last run executing, the task moves on. */
export function finishRun(task: Task, event: Extract<TaskEvent, { kind: 'runFinished' }>, now: number): Transition {
  const state = task.state as ExecutingState;
  const finished = { effect: { kind: 'finishRun', run: event.run, result: event.result } as const };
  const parallel = state.parallel ?? [];
  // Runs beside others (overlap allow): the task goes on executing the rest; only the end of
  // its last run decides what comes next (a retry is considered for that one alone).
  const { parallel: _before, ...single } = state;
  const withParallel = (runs: typeof parallel) => (runs.length > 0 ? withFields(single, { parallel: runs }) : single);
  if (event.run !== state.run && parallel.some((other) => other.run === event.run)) {
    return changedTo(task, withParallel(parallel.filter((other) => other.run !== event.run)), now, finished);
  }
  if (event.run !== state.run) {
    throw new IllegalTransition('Executing', 'runFinished', `task ${task.id}: run ${event.run} finished but run ${state.run} is the one executing`);
  }
  if (parallel.length > 0) {
    const [next, ...rest] = parallel;
    return changedTo(task, { ...withParallel(rest), run: next!.run, fire: next!.fire, attempt: 1 }, now, finished);
  }
  return changedTo(task, afterLastRun(task, state, event.result, now), now, finished);
}

/** Where the task goes when its last run executing ends with `result`. */
function afterLastRun(task: Task, state: ExecutingState, result: RunResult, now: number): TaskState {
  const retry = state.queued === undefined ? retryAfter(task, state, result, now) : undefined;
  if (state.stopRequested) return { status: 'Stopped' };
  if (state.pauseRequested) return { status: 'Paused' };
  if (retry) return { status: 'WaitForNextExecution', nextRunAt: retry.at, retry: retry.of };
  // The next missed fire of a catch-up is planned again as it starts (more may have passed).
  if (state.queued !== undefined && state.backlog) return { status: 'WaitForNextExecution', nextRunAt: state.queued };
  // A fire that came during the run (overlap rule queue or replace) runs now, as it is.
  if (state.queued !== undefined) {
    return { status: 'WaitForNextExecution', nextRunAt: state.queued, retry: { fire: state.queued, attempt: 1, thenNextRunAt: state.nextRunAt } };
  }
  // A task that runs once, or whose schedule has no fire left (it ended), is done.
  if (state.nextRunAt === null) return { status: 'Executed' };
  return { status: 'WaitForNextExecution', nextRunAt: state.nextRunAt };
}

/**
 * The retry of a run that failed, if its task retries and attempts are left: when it is due
 * and what it serves. None when the next fire would come first: that run goes ahead instead.
 */
function retryAfter(
  task: Task,
  state: ExecutingState,
  result: RunResult,
  now: number,
): { at: number; of: { fire: number; attempt: number; thenNextRunAt: number | null } } | undefined {
  const policy = task.policy.retry;
  const attempt = state.attempt ?? 1;
  if (!policy || attempt > policy.max || !isRetriable(policy, result.outcome, result.exitCode, result.nodeLost)) return undefined;
  const fire = state.fire ?? now;
  const at = now + retryDelay(policy, task.id, fire, attempt + 1);
  if (state.nextRunAt !== null && state.nextRunAt <= at) return undefined;
  return { at, of: { fire, attempt: attempt + 1, thenNextRunAt: state.nextRunAt } };
}

/**
 * A run that waited for a free slot has started its script. Nothing changes but the task's
 * version (so that watchers and long polls learn of it) and the run's record. A start of a
 * run that is not in progress (it ended meanwhile) changes nothing.
 */
export function recordStart(task: Task, event: Extract<TaskEvent, { kind: 'runStarted' }>, now: number): Transition {
  const state = task.state as ExecutingState;
  const beside = state.parallel?.find((other) => other.run === event.run);
  if (event.run !== state.run && !beside) return unchanged(task);
  // The fire it serves; absent only in states stored before fires were, where it is its start.
  const scheduledAt = beside ? beside.fire : (state.fire ?? event.startedAt);
  const attempt = beside ? 1 : (state.attempt ?? 1);
  return changedTo(task, state, now, { effect: { kind: 'recordStart', run: event.run, startedAt: event.startedAt, scheduledAt, attempt } });
}
