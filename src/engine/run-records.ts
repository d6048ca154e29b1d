/**
 * The record of a run that a change writes beside the task, from the transition's effect: a
 * new run (started, or waiting for a free slot), a skipped fire, a run's start after waiting,
 * or its end. Written in the same compare-and-set as the task, so a run is recorded exactly
 * when the state that names it is.
 */
import { noOutput } from '../core/task.js';
import type { Effect } from '../core/transition.js';
import type { RunChange, Takeover } from '../store/task-store.js';
import { withFields } from '../core/with-fields.js';

/**
 * The run record `effect` writes, with `outputCap` the cap recorded on a new run; a run that
 * `waits` for a free slot is recorded waiting, not started. With `takeover`, the end is that
 * of another node's run (see RunChange).
 */
export function runChangeFor(effect: Effect | null, waits: boolean, outputCap: number, takeover?: Takeover): RunChange | undefined {
  if (!effect) return undefined;
  const blank = { exitCode: null, signal: null, stdout: noOutput, stderr: noOutput, outputCap };
  switch (effect.kind) {
    case 'startRun': {
      const { missed } = effect;
      const started = waits ? { startedAt: null, waiting: true as const } : { startedAt: effect.startedAt };
      return {
        kind: 'insert',
        run: withFields(blank, { run: effect.run, scheduledAt: effect.scheduledAt, attempt: effect.attempt, ...started, finishedAt: null, outcome: 'running' as const, error: null }),
        ...(missed ? { skipped: withFields(blank, { ...missed, attempt: 1, startedAt: null, finishedAt: effect.startedAt, outcome: 'skipped' as const, error: missed.reason }) } : {}),
      };
    }
    case 'skipRun':
      return {
        kind: 'insert',
        run: withFields(blank, { run: effect.run, scheduledAt: effect.scheduledAt, attempt: 1, startedAt: null, finishedAt: effect.at, outcome: 'skipped' as const, error: effect.reason }),
      };
    case 'finishRun':
      return { kind: 'finish', run: effect.run, result: effect.result, ...(takeover ? { takeover } : {}) };
    case 'recordStart':
      return { kind: 'start', run: effect.run, startedAt: effect.startedAt };
    case 'killRun':
      return undefined; // its end is recorded when the run ends
  }
}
