/**
 * What the engine tells the world as it happens, beyond the long poll's "something changed":
 * each committed change with its effect, each chunk of output as a script writes it, and
 * deletions. The live event stream (GET /api/tasks/{id}/events) listens here. Calls are
 * synchronous and must be cheap: they sit on the engine's paths and on every output chunk.
 */
import type { LiveOutput, OutputStream, Task } from '../core/task.js';
import type { Effect, TaskEvent } from '../core/transition.js';

export type { LiveOutput };

/** Receives the engine's activity. */
export interface TaskActivity {
  /**
   * `task` was committed, replacing `previous`, with `effect` (a run started, skipped or
   * finished); `runWaits` when the run it started waits for a free slot; `cause`, the kind of
   * event that made the change (a fire, a run now...), when known.
   */
  changed(task: Task, previous: Task, effect: Effect | null, runWaits?: boolean, cause?: TaskEvent['kind']): void;
  /** Run `run` of `taskId` wrote `chunk` (whole UTF-8 characters) at byte `offset` of `stream`. */
  output(taskId: string, run: number, stream: OutputStream, offset: number, chunk: Buffer, at: number): void;
  /** The task was deleted. */
  deleted(taskId: string): void;
}

/** Activity nobody listens to. */
export const ignoredActivity: TaskActivity = {
  changed: () => undefined,
  output: () => undefined,
  deleted: () => undefined,
};
