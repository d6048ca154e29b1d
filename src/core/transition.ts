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
 * task Stopped. The whole machine is the table below: status x event, each cell naming what
 * happens; the handlers live by event in transition-fire.ts (fire), transition-run-end.ts
 * (runFinished, runStarted) and transition-requests.ts (trigger, pause, resume, stop).
 *
 * The engine applies every event through `transition` and writes the result with a
 * compare-and-set on the task's version, so a stop racing with a fire lands on exactly
 * one side: whichever write commits first wins, and the other is recomputed from it.
 */
import type { Task, TaskStatus } from './task.js';
import { fireDuringRun, startRun } from './transition-fire.js';
import { unchanged } from './transition-outcome.js';
import {
  pauseExecuting,
  pauseWaiting,
  refuseFinal,
  refuseStop,
  resumeExecuting,
  resumePaused,
  runNow,
  stopExecuting,
  stopWaiting,
  triggerDuringRun,
} from './transition-requests.js';
import { finishRun, recordStart } from './transition-run-end.js';
import { IllegalTransition, type TaskEvent, type Transition } from './transition-types.js';

export { IllegalTransition, type Effect, type RunResult, type TaskEvent, type Transition } from './transition-types.js';

type Handler<E extends TaskEvent> = (task: Task, event: E, now: number) => Transition;
type Handlers = { [K in TaskEvent['kind']]?: Handler<Extract<TaskEvent, { kind: K }>> };

/** The whole state machine: every status, the events it accepts, and what they do. An event missing from a status's row is illegal there. */
const table: Record<TaskStatus, Handlers> = {
  ToBeExecuted: { fire: startRun, trigger: runNow, stop: stopWaiting, pause: pauseWaiting, resume: unchanged },
  WaitForNextExecution: { fire: startRun, trigger: runNow, stop: stopWaiting, pause: pauseWaiting, resume: unchanged },
  Executing: { fire: fireDuringRun, trigger: triggerDuringRun, runFinished: finishRun, runStarted: recordStart, stop: stopExecuting, pause: pauseExecuting, resume: resumeExecuting },
  Paused: { trigger: runNow, stop: stopWaiting, pause: unchanged, resume: resumePaused },
  Executed: { stop: refuseStop('it has already executed'), trigger: refuseFinal, pause: refuseFinal, resume: refuseFinal },
  Stopped: { stop: unchanged, trigger: refuseFinal, pause: refuseFinal, resume: refuseFinal },
};

/** Applies `event` to `task` at time `now`. Throws IllegalTransition or a SchedulerError. */
export function transition(task: Task, event: TaskEvent, now: number): Transition {
  const handler = table[task.state.status][event.kind] as Handler<TaskEvent> | undefined;
  if (!handler) {
    throw new IllegalTransition(task.state.status, event.kind, `task ${task.id}: event ${event.kind} does not apply to status ${task.state.status}`);
  }
  return handler(task, event, now);
}
