/**
 * The task state machine: the only code that produces a new task state.
 *
 * A task starts ToBeExecuted, waiting for its first fire time. When that time comes it is
 * Executing one run. A task that runs once (delay, at) then ends Executed, whatever the
 * run's outcome. A recurring (cron) task goes to WaitForNextExecution until its next fire,
 * and back to Executing, until its schedule ends (then Executed); a fire that comes while a
 * run is still executing is recorded as a skipped run. A stop ends a task that is waiting
 * (Stopped, it never runs again); it cannot undo a one-time task that has started or
 * finished; on a recurring task that is executing it lets the run finish and then ends the
 * task Stopped. Everything below reads as one table: status x event.
 *
 * The engine applies every event through `transition` and writes the result with a
 * compare-and-set on the task's version, so a stop racing with a fire lands on exactly
 * one side: whichever write commits first wins, and the other is recomputed from it.
 */
import { SchedulerError } from './errors.js';
import { planCatchUp } from './catch-up.js';
import { defaultMaxParallel, isRetriable, retryDelay } from './policy.js';
import { isRecurring, nextFireAfter } from './schedule.js';
import { dueAt, type Run, type RunOutcome, type Task, type TaskState, type TaskStatus } from './task.js';

/**
 * How a run ended, as the runner (or the daemon's recovery) reports it: the fields of its
 * run record that only its end can tell. A null startedAt keeps the one recorded at start.
 */
export interface RunResult
  extends Pick<Run, 'startedAt' | 'exitCode' | 'signal' | 'error' | 'stdout' | 'stderr' | 'outputCap' | 'limit' | 'waitedMs'> {
  outcome: Exclude<RunOutcome, 'running' | 'skipped'>;
  finishedAt: number;
}

/** Something that happens to a task. */
export type TaskEvent =
  /** The task's nextRunAt has come. */
  | { kind: 'fire' }
  /** The run in progress ended (or was found interrupted after a restart). */
  | { kind: 'runFinished'; run: number; result: RunResult }
  /** A run recorded as waiting for a free slot really started its script, at `startedAt`. */
  | { kind: 'runStarted'; run: number; startedAt: number }
  /** The user asked to stop the task. */
  | { kind: 'stop' }
  /** The user asked to pause a recurring task: no fire until it is resumed. */
  | { kind: 'pause' }
  /** The user asked to resume a paused task. */
  | { kind: 'resume' }
  /** The user asked for a run now (`scheduler run`), besides the schedule. */
  | { kind: 'trigger' };

/** What the engine must do besides writing the new task, in the same atomic write. */
export type Effect =
  /**
   * Record run `run` as started (attempt `attempt` at the fire `scheduledAt`) and start its
   * process; first record `missed`, the fires that passed unserved, as a skipped run.
   */
  | {
      kind: 'startRun';
      run: number;
      scheduledAt: number;
      startedAt: number;
      attempt: number;
      missed?: { run: number; scheduledAt: number; reason: string };
    }
  /** End the process group of run `run` (it is replaced); its end is recorded as killed. */
  | { kind: 'killRun'; run: number; reason: string }
  /** Record the tick at `scheduledAt` as skipped, saying why. */
  | { kind: 'skipRun'; run: number; scheduledAt: number; at: number; reason: string }
  /** Record how run `run` ended. */
  | { kind: 'finishRun'; run: number; result: RunResult }
  /** Record that run `run`, recorded as waiting for a free slot, started at `startedAt` (it serves `scheduledAt`, attempt `attempt`). */
  | { kind: 'recordStart'; run: number; startedAt: number; scheduledAt: number; attempt: number };

/** The outcome of applying an event. `changed` is false when the event was a no-op. */
export interface Transition {
  task: Task;
  changed: boolean;
  effect: Effect | null;
  /** Something the user should know although the event succeeded. */
  warning: string | null;
}

/** Thrown when an event does not apply to the task's current state. */
export class IllegalTransition extends Error {
  constructor(
    readonly status: TaskStatus,
    readonly event: TaskEvent['kind'],
    message: string,
  ) {
    super(message);
    this.name = 'IllegalTransition';
  }
}

type Handler<E extends TaskEvent> = (task: Task, event: E, now: number) => Transition;
type Handlers = { [K in TaskEvent['kind']]?: Handler<Extract<TaskEvent, { kind: K }>> };

/** The whole state machine: every status, the events it accepts, and what they do. */
const table: Record<TaskStatus, Handlers> = {
  ToBeExecuted: { fire: startRun, trigger: runNow, stop: stopWaiting, pause: pauseWaiting, resume: unchanged },
  WaitForNextExecution: { fire: startRun, trigger: runNow, stop: stopWaiting, pause: pauseWaiting, resume: unchanged },
  Executing: { fire: fireDuringRun, trigger: triggerDuringRun, runFinished: finishRun, runStarted: recordStart, stop: stopExecuting, pause: pauseExecuting, resume: resumeExecuting },
  Paused: { trigger: runNow, stop: stopWaiting, pause: unchanged, resume: resumePaused },
  Executed: { stop: refuseStop('it has already executed'), trigger: refuseFinal, pause: refuseFinal, resume: refuseFinal },
  Stopped: { stop: alreadyStopped, trigger: refuseFinal, pause: refuseFinal, resume: refuseFinal },
};

/** Applies `event` to `task` at time `now`. Throws IllegalTransition or a SchedulerError. */
export function transition(task: Task, event: TaskEvent, now: number): Transition {
  const handler = table[task.state.status][event.kind] as Handler<TaskEvent> | undefined;
  if (!handler) {
    throw new IllegalTransition(
      task.state.status,
      event.kind,
      `task ${task.id}: event ${event.kind} does not apply to status ${task.state.status}`,
    );
  }
  return handler(task, event, now);
}

/**
 * A fire (or a retry) has come: its run starts. A fire that comes late, after others passed
 * unserved (the daemon was down), goes by the task's catch-up rule: which of them run, and a
 * record of those that do not.
 */
function startRun(task: Task, _event: TaskEvent, now: number): Transition {
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
function fireDuringRun(task: Task, event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  // While missed fires are caught up one after another (catch-up all), a new fire joins them:
  // the next plan, made when this run ends, counts it among the passed fires.
  if (state.backlog) return changedTo(task, { ...state, nextRunAt: nextFireAfter(task.schedule, Math.max(now, requireDue(task, now))) }, now, {});
  switch (task.policy.overlap) {
    case 'skip':
      return skipTick(task, event, now, `run ${state.run} was still executing`);
    case 'queue':
      if (state.queued !== undefined) return skipTick(task, event, now, `run ${state.run} was still executing and a run was already waiting`);
      return queueFire(task, now);
    case 'allow':
      return runBeside(task, event, now);
    case 'replace':
      if (state.queued !== undefined) return skipTick(task, event, now, `run ${state.run} was being replaced already`);
      return { ...queueFire(task, now), effect: { kind: 'killRun', run: state.run, reason: `replaced by the fire at ${new Date(requireDue(task, now)).toISOString()}` } };
  }
}

/** The fire runs at once, beside the runs executing, unless as many run as the task allows. */
function runBeside(task: Task, event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  const parallel = state.parallel ?? [];
  const max = task.policy.maxParallel ?? defaultMaxParallel;
  if (1 + parallel.length >= max) return skipTick(task, event, now, `${max} runs were executing, the most it allows at once`);
  const due = requireDue(task, now);
  const run = task.lastRun + 1;
  return changedTo(task, { ...state, parallel: [...parallel, { run, fire: due }], nextRunAt: nextFireAfter(task.schedule, Math.max(now, due)) }, now, {
    lastRun: run,
    effect: { kind: 'startRun', run, scheduledAt: due, startedAt: now, attempt: 1 },
  });
}

/** The fire waits for the run to end, then runs at once. */
function queueFire(task: Task, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  const due = requireDue(task, now);
  const { backlog: _none, ...rest } = state;
  return changedTo(task, { ...rest, queued: due, nextRunAt: nextFireAfter(task.schedule, Math.max(now, due)) }, now, {});
}

/**
 * A run now, besides the schedule. A waiting task keeps its next fire (if that is due now,
 * this run serves it); a paused one runs once and is paused again after.
 */
function runNow(task: Task, _event: TaskEvent, now: number): Transition {
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
function triggerDuringRun(task: Task, _event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  if (state.stopRequested) throw new SchedulerError('status_conflict', `cannot run task ${task.id}: it was stopped, and ends Stopped when run ${state.run} finishes`);
  const parallel = state.parallel ?? [];
  const run = task.lastRun + 1;
  if (task.policy.overlap === 'allow' && 1 + parallel.length < (task.policy.maxParallel ?? defaultMaxParallel)) {
    return changedTo(task, { ...state, parallel: [...parallel, { run, fire: now }] }, now, {
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

function pauseWaiting(task: Task, _event: TaskEvent, now: number): Transition {
  refuseOnce(task, 'pause');
  return changedTo(task, { status: 'Paused' }, now, {});
}

/** Paused while a run executes: the run goes on, and the task is Paused after it. */
function pauseExecuting(task: Task, _event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  refuseOnce(task, 'pause');
  if (state.stopRequested) throw new SchedulerError('status_conflict', `cannot pause task ${task.id}: it was stopped, and ends Stopped when run ${state.run} finishes`);
  if (state.pauseRequested) return unchanged(task);
  return {
    ...changedTo(task, { ...state, nextRunAt: null, pauseRequested: true }, now, {}),
    warning: `run ${state.run} is still executing and will finish; then the task is Paused`,
  };
}

/**
 * Resumed: the next fire is computed from now. Fires missed while paused are caught up as
 * after a downtime: once, now. A schedule whose end has passed meanwhile is over: Executed.
 */
function resumePaused(task: Task, _event: TaskEvent, now: number): Transition {
  const missedOrNext = nextFireAfter(task.schedule, task.lastStatusUpdated);
  // Nothing left to run: the schedule ended while the task was paused (its end has passed).
  if (missedOrNext === null || nextFireAfter(task.schedule, now) === null) return changedTo(task, { status: 'Executed' }, now, {});
  const nextRunAt = Math.max(missedOrNext, now);
  return changedTo(task, { status: task.lastRun === 0 ? 'ToBeExecuted' : 'WaitForNextExecution', nextRunAt }, now, {});
}

/** Resumed before the run during which it was paused ended: it simply goes on. */
function resumeExecuting(task: Task, _event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  if (!state.pauseRequested) return unchanged(task);
  const { pauseRequested: _resumed, ...rest } = state;
  return changedTo(task, { ...rest, nextRunAt: nextFireAfter(task.schedule, now) }, now, {});
}

function unchanged(task: Task): Transition {
  return { task, changed: false, effect: null, warning: null };
}

function refuseOnce(task: Task, what: string): void {
  if (!isRecurring(task.schedule)) {
    throw new SchedulerError('status_conflict', `cannot ${what} ${task.type} task ${task.id}: it runs once; stop it instead`);
  }
}

function refuseFinal(task: Task, event: TaskEvent): never {
  const what = event.kind === 'trigger' ? 'run' : event.kind;
  throw new SchedulerError('status_conflict', `cannot ${what} task ${task.id}: it is ${task.state.status}, and nothing more happens to it`);
}

function skipTick(task: Task, _event: TaskEvent, now: number, reason: string): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  const scheduledAt = requireDue(task, now);
  const run = task.lastRun + 1;
  const nextRunAt = nextFireAfter(task.schedule, Math.max(now, scheduledAt));
  return changedTo(task, { ...state, nextRunAt }, now, {
    lastRun: run,
    effect: { kind: 'skipRun', run, scheduledAt, at: now, reason },
  });
}

function finishRun(
  task: Task,
  event: Extract<TaskEvent, { kind: 'runFinished' }>,
  now: number,
): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  const finished = { effect: { kind: 'finishRun', run: event.run, result: event.result } as const };
  const parallel = state.parallel ?? [];
  // Runs beside others (overlap allow): the task goes on executing the rest; only the end of
  // its last run decides what comes next (a retry is considered for that one alone).
  const { parallel: _before, ...single } = state;
  const withParallel = (runs: typeof parallel) => (runs.length > 0 ? { ...single, parallel: runs } : single);
  if (event.run !== state.run && parallel.some((other) => other.run === event.run)) {
    return changedTo(task, withParallel(parallel.filter((other) => other.run !== event.run)), now, finished);
  }
  if (event.run !== state.run) {
    throw new IllegalTransition(
      'Executing',
      'runFinished',
      `task ${task.id}: run ${event.run} finished but run ${state.run} is the one executing`,
    );
  }
  if (parallel.length > 0) {
    const [next, ...rest] = parallel;
    return changedTo(task, { ...withParallel(rest), run: next!.run, fire: next!.fire, attempt: 1 }, now, finished);
  }
  let next: TaskState;
  const retry = state.queued === undefined ? retryAfter(task, state, event.result, now) : undefined;
  if (state.stopRequested) next = { status: 'Stopped' };
  else if (state.pauseRequested) next = { status: 'Paused' };
  else if (retry) next = { status: 'WaitForNextExecution', nextRunAt: retry.at, retry: retry.of };
  // The next missed fire of a catch-up is planned again as it starts (more may have passed).
  else if (state.queued !== undefined && state.backlog) next = { status: 'WaitForNextExecution', nextRunAt: state.queued };
  // A fire that came during the run (overlap rule queue or replace) runs now, as it is.
  else if (state.queued !== undefined) {
    next = { status: 'WaitForNextExecution', nextRunAt: state.queued, retry: { fire: state.queued, attempt: 1, thenNextRunAt: state.nextRunAt } };
  }
  // A task that runs once, or whose schedule has no fire left (it ended), is done.
  else if (state.nextRunAt === null) next = { status: 'Executed' };
  else next = { status: 'WaitForNextExecution', nextRunAt: state.nextRunAt };
  return changedTo(task, next, now, {
    effect: { kind: 'finishRun', run: event.run, result: event.result },
  });
}

/**
 * A run that waited for a free slot has started its script. Nothing changes but the task's
 * version (so that watchers and long polls learn of it) and the run's record. A start of a
 * run that is not in progress (it ended meanwhile) changes nothing.
 */
function recordStart(task: Task, event: Extract<TaskEvent, { kind: 'runStarted' }>, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  const beside = state.parallel?.find((other) => other.run === event.run);
  if (event.run !== state.run && !beside) return unchanged(task);
  // The fire it serves; absent only in states stored before fires were, where it is its start.
  const scheduledAt = beside ? beside.fire : (state.fire ?? event.startedAt);
  const attempt = beside ? 1 : (state.attempt ?? 1);
  return changedTo(task, state, now, { effect: { kind: 'recordStart', run: event.run, startedAt: event.startedAt, scheduledAt, attempt } });
}

/**
 * The retry of a run that failed, if its task retries and attempts are left: when it is due
 * and what it serves. None when the next fire would come first: that run goes ahead instead.
 */
function retryAfter(
  task: Task,
  state: Extract<TaskState, { status: 'Executing' }>,
  result: RunResult,
  now: number,
): { at: number; of: { fire: number; attempt: number; thenNextRunAt: number | null } } | undefined {
  const policy = task.policy.retry;
  const attempt = state.attempt ?? 1;
  if (!policy || attempt > policy.max || !isRetriable(policy, result.outcome, result.exitCode)) return undefined;
  const fire = state.fire ?? now;
  const at = now + retryDelay(policy, task.id, fire, attempt + 1);
  if (state.nextRunAt !== null && state.nextRunAt <= at) return undefined;
  return { at, of: { fire, attempt: attempt + 1, thenNextRunAt: state.nextRunAt } };
}

function stopWaiting(task: Task, _event: TaskEvent, now: number): Transition {
  return changedTo(task, { status: 'Stopped' }, now, {});
}

function stopExecuting(task: Task, _event: TaskEvent, now: number): Transition {
  const state = task.state as Extract<TaskState, { status: 'Executing' }>;
  if (!isRecurring(task.schedule)) {
    refuseStop('its run has already started; the run goes on and the task will end Executed')(
      task,
    );
  }
  const warning = `run ${state.run} is still executing and will finish; no later run will happen, then the task ends Stopped`;
  if (state.stopRequested) return { task, changed: false, effect: null, warning };
  // A stop overrides a pause asked for during the same run.
  const { pauseRequested: _overridden, ...rest } = state;
  return {
    ...changedTo(task, { ...rest, nextRunAt: null, stopRequested: true }, now, {}),
    warning,
  };
}

function alreadyStopped(task: Task): Transition {
  return { task, changed: false, effect: null, warning: null };
}

function refuseStop(reason: string) {
  return (task: Task): never => {
    throw new SchedulerError('stop_refused', `cannot stop ${task.type} task ${task.id}: ${reason}`);
  };
}

/** The fire time being served; a fire before it is due is a bug in the caller. */
function requireDue(task: Task, now: number): number {
  const scheduledAt = 'nextRunAt' in task.state ? task.state.nextRunAt : null;
  if (scheduledAt === null || scheduledAt > now) {
    throw new IllegalTransition(
      task.state.status,
      'fire',
      `task ${task.id} is not due at ${new Date(now).toISOString()}`,
    );
  }
  return scheduledAt;
}

function changedTo(
  task: Task,
  state: TaskState,
  now: number,
  extra: { lastRun?: number; effect?: Effect },
): Transition {
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
