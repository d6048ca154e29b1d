/**
 * The vocabulary of the task state machine (transition.ts): the events that happen to a task,
 * the effects a transition asks of the engine, and the outcome of applying an event.
 */
import type { Run, RunOutcome, Task, TaskState, TaskStatus } from './task.js';

/**
 * How a run ended, as the runner (or the daemon's recovery) reports it: the fields of its
 * run record that only its end can tell. A null startedAt keeps the one recorded at start.
 */
export interface RunResult
  extends Pick<Run, 'startedAt' | 'exitCode' | 'signal' | 'error' | 'stdout' | 'stderr' | 'outputCap' | 'limit' | 'waitedMs'> {
  outcome: Exclude<RunOutcome, 'running' | 'skipped'>;
  finishedAt: number;
  /**
   * An interrupted run whose node was lost (it stopped renewing its lease and another node
   * recorded the run): retried like a failure, where a run interrupted by its own daemon's
   * stop or restart is not. Not stored: it decides the transition only.
   */
  nodeLost?: true;
}

/** Something that happens to a task. */
export type TaskEvent =
  /**
   * The task's nextRunAt has come; or, with `aheadMs`, it comes within that many ms: the
   * engine then applies the fire as at nextRunAt, and the run's script is released then.
   */
  | { kind: 'fire'; aheadMs?: number }
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

/** The state of a task while a run executes. */
export type ExecutingState = Extract<TaskState, { status: 'Executing' }>;
