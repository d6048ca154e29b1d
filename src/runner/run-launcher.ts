/** What the engine needs from a runner; ProcessRunner implements it, tests fake it. */
import type { CapturedOutput } from '../core/task.js';
import type { RunningProcess, RunSpec } from './process-runner.js';

export interface RunLauncher {
  /** Starts a run now. */
  start(spec: RunSpec): RunningProcess;
  /** The output a run had produced when the daemon stopped. */
  recoverOutput(taskId: string, run: number): { stdout: CapturedOutput; stderr: CapturedOutput };
  /** Forgets the spooled output of a run that has been recorded. */
  removeSpool(taskId: string, run: number): void;
  /** Kills whatever runs of an earlier daemon on this data directory left running; returns how many process groups. */
  killOrphans(): number;
}
