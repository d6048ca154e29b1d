/** What the engine needs from a runner; ProcessRunner implements it, tests fake it. */
import type { CapturedOutput } from '../core/task.js';
import type { RunningProcess, RunSpec } from './process-runner.js';

export interface RunLauncher {
  /**
   * Spawns the process of a run that is due very soon, held before the script, so that
   * start() only has to release it. Best effort: start() works whether or not it was called.
   */
  prepare(spec: RunSpec): void;
  /** Starts a run now. */
  start(spec: RunSpec): RunningProcess;
  /** Discards every prepared process (the daemon is shutting down). */
  discardPrepared(): void;
  /** The output a run had produced when the daemon stopped. */
  recoverOutput(taskId: string, run: number): { stdout: CapturedOutput; stderr: CapturedOutput };
  /** Forgets the spooled output of a run that has been recorded. */
  removeSpool(taskId: string, run: number): void;
  /** Kills whatever runs of an earlier daemon on this data directory left running; returns how many process groups. */
  killOrphans(): number;
}
