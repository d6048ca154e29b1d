/** What the engine needs from a runner; ProcessRunner implements it, tests fake it. */
import type { CapturedOutput } from '../core/task.js';
import type { RunningProcess, RunSpec } from './process-runner.js';

export interface RunLauncher {
  /**
   * Spawns the process of a run that is due very soon, held before the script, so that
   * start() only has to release it. Best effort: start() works whether or not it was called.
   */
  prepare(spec: RunSpec): void;
  /**
   * Takes a free slot for the run, before its start is recorded, so that the record can say
   * truly whether it starts at once or waits: true when start() will start it at once, false
   * when it would wait (start() then makes it wait, or starts it if a slot freed meanwhile).
   * Absent: the launcher bounds nothing, and every run starts at once.
   */
  reserve?(spec: RunSpec): boolean;
  /** Gives back the slot reserve() took for a run whose start was not recorded after all. */
  unreserve?(spec: RunSpec): void;
  /** Starts a run now (or, through a gate with no free slot, once one frees). */
  start(spec: RunSpec, options?: StartOptions): RunningProcess;
  /** Discards every prepared process (the daemon is shutting down). */
  discardPrepared(): void;
  /** The output a run had produced when the daemon stopped, and when it was last known alive. */
  recoverOutput(taskId: string, run: number): RecoveredOutput;
  /** Forgets the spooled output of a run that has been recorded. */
  removeSpool(taskId: string, run: number): void;
  /** Kills whatever runs of an earlier daemon on this data directory left running; returns how many process groups. */
  killOrphans(): number;
}

/** How a run recorded as waiting for a free slot is started. */
export interface StartOptions {
  /**
   * Called once its slot is free, with the time, before its script starts; the script starts
   * when the promise settles. The engine records the start there, so that a crash can never
   * leave a run that started recorded as waiting (which the next daemon would start again).
   * A launcher that bounds nothing starts the run at once and does not call it.
   */
  beforeStart?(startedAt: number): Promise<void>;
}

/** What is left of a run the daemon's stop interrupted. */
export interface RecoveredOutput {
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  /** The last time the daemon that ran it knew it alive (its last output or heartbeat); absent when nothing says. */
  lastAliveAt?: number;
}
