/**
 * The runner's contract: what the engine needs to start, watch, kill and collect a run, and
 * nothing of how it is done. ProcessRunner implements it in the daemon's process; tests fake
 * it; a separate executor process would implement it over a pipe. So every part of it is a
 * message one way or the other, never shared memory: the engine sends start (a RunSpec),
 * kill, prepare, discard, remove-spool, and the recovery requests; the runner sends back
 * the start (its pid), output chunks, and the run's outcome (a RunResult, plain data). What
 * the engine reads synchronously from a handle (pid, the output so far) is what those
 * messages already told it; what it asks for and waits on (recovered output, orphans
 * killed) is a promise. It imports only core types.
 */
import type { ExecutionSettings } from '../core/execution.js';
import { noOutput, type CapturedOutput, type OutputStream } from '../core/task.js';
import type { RunResult } from '../core/transition.js';

/** What to run. */
export interface RunSpec {
  taskId: string;
  run: number;
  script: string;
  /** The script's language; bash when absent. */
  lang?: string;
  /** Bound on the run's wall time, in milliseconds. */
  timeoutMs?: number;
  /** Environment, directory, user, queue, sandbox and limits; the defaults when absent. */
  execution?: ExecutionSettings;
  /**
   * The time (ms since the epoch, by the runner's clock, the daemon's wall clock) before which
   * the script must not start: the run of a fire made a little ahead of its due time starts
   * at that time, which is its startedAt. Absent or past: at once.
   */
  notBefore?: number;
}

/** Receives a run's output as it is written: whole UTF-8 characters, at byte `offset` of `stream`. */
export type RunOutputListener = (stream: OutputStream, offset: number, chunk: Buffer) => void;

/** A run whose process has been started (or that ended before it could start). */
export interface RunningProcess {
  /** The process id, which is also the process group id; undefined if it could not start. */
  readonly pid: number | undefined;
  /** Settles with how the run ended; never rejects. */
  readonly finished: Promise<RunResult>;
  /** Ends the run's whole process group: TERM, then KILL after the grace period. */
  kill(): Promise<RunResult>;
  /** Hands every later chunk of output to `listener`, as it is written. */
  listen(listener: RunOutputListener): void;
  /** The output written so far (up to the last chunk handed to the listener). */
  outputSoFar(): { stdout: CapturedOutput; stderr: CapturedOutput };
}

/** What is left of a run the daemon's stop interrupted. */
export interface RecoveredOutput {
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  /** The last time the daemon that ran it knew it alive (its last output or heartbeat); absent when nothing says. */
  lastAliveAt?: number;
}

/** Starts the processes of runs; the engine decides when (see RunSlots), the launcher only how. */
export interface RunLauncher {
  /**
   * Spawns the process of a run that is due soon, held before the script, so that start()
   * only has to release it; resolves once the process exists (or could not be made), so
   * that a caller preparing many can pace itself. Best effort: start() works whether or
   * not it was called.
   */
  prepare(spec: RunSpec): Promise<void>;
  /** Starts a run now. A run that cannot start is returned as one that failed without starting (it may also throw). */
  start(spec: RunSpec): RunningProcess;
  /**
   * Discards the prepared processes of `taskId`'s runs (the task was deleted, stopped or
   * paused: no run it was prepared for will start), or every prepared process (the daemon is
   * shutting down).
   */
  discardPrepared(taskId?: string): void;
  /** The output a run had produced when the daemon stopped, and when it was last known alive. */
  recoverOutput(taskId: string, run: number): Promise<RecoveredOutput>;
  /** Forgets the spooled output of a run that has been recorded. */
  removeSpool(taskId: string, run: number): void;
  /** Kills whatever runs of an earlier daemon on this data directory left running; resolves with how many process groups. */
  killOrphans(): Promise<number>;
}

/** How a run that ended before its script started ended: no start, no exit, no output. */
export function neverStartedResult(outcome: RunResult['outcome'], error: string, finishedAt: number, outputCap: number): RunResult {
  return { outcome, startedAt: null, finishedAt, exitCode: null, signal: null, error, stdout: noOutput, stderr: noOutput, outputCap };
}

/** A run that has already ended, before it started, as `result` says. */
export function endedBeforeStart(result: RunResult): RunningProcess {
  const finished = Promise.resolve(result);
  const none = { stdout: noOutput, stderr: noOutput };
  return { pid: undefined, finished, kill: () => finished, listen: () => undefined, outputSoFar: () => none };
}
