/**
 * What a fire does (transition.ts's `fire` column): start a run, or, while one executes, what
 * the task's overlap rule says (skip, queue, run beside, replace). A fire that comes late goes
 * by the task's catch-up rule.
 */
import { planCatchUp } from './catch-up.js';
import { defaultMaxParallel } from './policy.js';
import { isRecurring, nextFireAfter } from './schedule.js';
import type { Task, TaskState } from './task.js';
import { changedTo } from './transition-outcome.js';
import { IllegalTransition, type ExecutingState, type Transition } from './transition-types.js';
import { withFields } from './with-fields.js';

/**
 * A fire (or a retry) has come: its run starts. A fire that comes late, after others passed
 * unserved (the daemon was down), goes by the task's catch-up rule: which of them run, and a
 * record of those that do not.
 */
export function startRun(task: Task, _event: unknown, now: number): Transition {
  const due = requireDue(task, now);
  const retry = task.state.status === 'WaitForNextExecution' ? task.state.retry : undefined;
  if (retry) {
    const run = task.lastRun + 1;
    const { fire, attempt, thenNextRunAt } = retry;
    return changedTo(task, { status: 'Executing', run, nextRunAt: thenNextRunAt, stopRequested: false, fire, attempt }, now, {
      lastRun: run,
      effect: { kind: 'startRun', run, scheduledAt: fire, startedAt: now, attempt },
    });
  }
  const plan = planCatchUp(task.schedule, task.policy.catchUp, due, now);
  const nextRunAt = isRecurring(task.schedule) ? nextFireAfter(task.schedule, Math.max(now, due)) : null;
  const missed = plan.missed && { run: task.lastRun + 1, scheduledAt: plan.missed.first, reason: plan.missed.reason };
  if (plan.run === null) {
    // Nothing runs: the missed fires are recorded, and the task waits for its next fire.
    const waiting: TaskState =
      nextRunAt === null ? { status: 'Executed' } : { status: task.state.status === 'ToBeExecuted' ? 'ToBeExecuted' : 'WaitForNextExecution', nextRunAt };
    return changedTo(task, waiting, now, { lastRun: missed!.run, effect: { kind: 'skipRun', ...missed!, at: now } });
  }
  const run = (missed?.run ?? task.lastRun) + 1;
  const queued = plan.backlog === null ? {} : { queued: plan.backlog, backlog: true as const };
  return changedTo(task, { status: 'Executing', run, nextRunAt, stopRequested: false, fire: plan.run, attempt: 1, ...queued }, now, {
    lastRun: run,
    effect: { kind: 'startRun', run, scheduledAt: plan.run, startedAt: now, attempt: 1, ...(missed ? { missed } : {}) },
  });
}

/** A fire has come while a run executes: the task's overlap rule says what happens. */
export function fireDuringRun(task: Task, _event: unknown, now: number): Transition {
  const state = task.state as ExecutingState;
  // While missed fires are caught up one after another (catch-up all), a new fire joins them:
  // the next plan, made when this run ends, counts it among the passed fires.
  if (state.backlog) return changedTo(task, { ...state, nextRunAt: nextFireAfter(task.schedule, Math.max(now, requireDue(task, now))) }, now, {});
  switch (task.policy.overlap) {
    case 'skip':
      return skipTick(task, now, `run ${state.run} was still executing`);
    case 'queue':
      if (state.queued !== undefined) return skipTick(task, now, `run ${state.run} was still executing and a run was already waiting`);
      return queueFire(task, now);
    case 'allow':
      return runBeside(task, now);
    case 'replace':
      if (state.queued !== undefined) return skipTick(task, now, `run ${state.run} was being replaced already`);
      return { ...queueFire(task, now), effect: { kind: 'killRun', run: state.run, reason: `replaced by the fire at ${new Date(requireDue(task, now)).toISOString()}` } };
  }
}

/** The fire runs at once, beside the runs executing, unless as many run as the task allows. */
function runBeside(task: Task, now: number): Transition {
  const state = task.state as ExecutingState;
  const parallel = state.parallel ?? [];
  const max = task.policy.maxParallel ?? defaultMaxParallel;
  if (1 + parallel.length >= max) return skipTick(task, now, `${max} runs were executing, the most it allows at once`);
  const due = requireDue(task, now);
  const run = task.lastRun + 1;
  return changedTo(task, withFields(state, { parallel: [...parallel, { run, fire: due }], nextRunAt: nextFireAfter(task.schedule, Math.max(now, due)) }), now, {
    lastRun: run,
    effect: { kind: 'startRun', run, scheduledAt: due, startedAt: now, attempt: 1 },
  });
}

/** The fire waits for the run to end, then runs at once. */
function queueFire(task: Task, now: number): Transition {
  const state = task.state as ExecutingState;
  const due = requireDue(task, now);
  const { backlog: _none, ...rest } = state;
  return changedTo(task, withFields(rest, { queued: due, nextRunAt: nextFireAfter(task.schedule, Math.max(now, due)) }), now, {});
}

/** The fire is recorded as a skipped run, saying why; the run executing goes on. */
function skipTick(task: Task, now: number, reason: string): Transition {
  const state = task.state as ExecutingState;
  const scheduledAt = requireDue(task, now);
  const run = task.lastRun + 1;
  const nextRunAt = nextFireAfter(task.schedule, Math.max(now, scheduledAt));
  return changedTo(task, { ...state, nextRunAt }, now, {
    lastRun: run,
    effect: { kind: 'skipRun', run, scheduledAt, at: now, reason },
  });
}

/** The fire time being served; a fire before it is due is a bug in the caller. */
function requireDue(task: Task, now: number): number {
  const scheduledAt = 'nextRunAt' in task.state ? task.state.nextRunAt : null;
  if (scheduledAt === null || scheduledAt > now) {
    throw new IllegalTransition(task.state.status, 'fire', `task ${task.id} is not due at ${new Date(now).toISOString()}`);
  }
  return scheduledAt;
}
