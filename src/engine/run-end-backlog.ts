/**
 * The ends of runs that the store could not commit (the disk is full, an I/O error): a run
 * that ended is never forgotten because its record could not be written. Its result, output
 * included, is held here in memory and committed, in the order the runs ended, as soon as
 * the store takes writes again: the held ends are retried on a timer, with a growing pause,
 * so the schedule resumes by itself without a restart (a task stays Executing in the store
 * until its run's end is committed, and so fires nothing meanwhile).
 *
 * Memory is bounded: the output held by all ends together is at most `maxOutputBytes`; the
 * output of an end that does not fit is dropped (its byte counts are kept, so the run shows
 * it was dropped) and that is logged. A daemon killed before the store recovers loses what
 * is held here; its spool stays on disk (it is removed only once the end is committed), so
 * the next start records such a run as interrupted with the output spooled.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { isStoreFault } from '../core/errors.js';
import { droppedOutput, type CapturedOutput } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import type { EngineLog } from './engine-log.js';
import type { FaultReporter } from './fault-log.js';

/** What becomes of a held end when it is tried again. */
export type CommitOutcome = 'committed' | 'gone';

/** What the backlog needs. */
export interface RunEndBacklogOptions {
  /**
   * Commits the end of a run; resolves 'gone' when there is nothing left to record it on
   * (the task was deleted), rejects when the store fails.
   */
  commit(taskId: string, run: number, result: RunResult): Promise<CommitOutcome>;
  clock: Clock;
  log: EngineLog;
  faults: FaultReporter;
  /** Output held by all ends together, in bytes. */
  maxOutputBytes: number;
  /** The first pause before a retry; it doubles after each failed retry, up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

interface HeldEnd {
  taskId: string;
  run: number;
  result: RunResult;
  heldSince: number;
}

export class RunEndBacklog {
  /** In the order the runs ended; keyed by task and run. */
  private readonly held = new Map<string, HeldEnd>();
  private heldOutputBytes = 0;
  private timer: TimerHandle | undefined;
  private pauseMs: number;
  private retrying: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: RunEndBacklogOptions) {
    this.pauseMs = options.retryMs ?? 1000;
  }

  /** How many ends are waiting to be committed. */
  get size(): number {
    return this.held.size;
  }

  /** The bytes of output held. */
  get outputBytes(): number {
    return this.heldOutputBytes;
  }

  /** The end of run `run` of `taskId`, if it is waiting to be committed. */
  resultOf(taskId: string, run: number): RunResult | undefined {
    return this.held.get(key(taskId, run))?.result;
  }

  /**
   * Keeps the end of a run, and arms a retry: `refused`, its commit failed with a store
   * fault; `behind`, it must wait for the ends held before it, to be committed in order.
   */
  hold(taskId: string, run: number, result: RunResult, why: 'refused' | 'behind'): void {
    const kept = this.withinBound(taskId, run, result);
    this.held.set(key(taskId, run), { taskId, run, result: kept, heldSince: this.options.clock.now() });
    this.heldOutputBytes += outputBytesOf(kept);
    if (why === 'refused') {
      this.options.faults.report('store: run end held', { task: taskId, run, held: this.held.size, heldOutputBytes: this.heldOutputBytes },
        'the end of a run could not be committed (the store refuses writes); it is held in memory and committed when the store recovers');
    }
    this.armRetry();
  }

  /** Tries to commit every held end now, in order; stops at the first store fault. */
  retryNow(): Promise<void> {
    return (this.retrying ??= this.commitHeld().finally(() => (this.retrying = undefined)));
  }

  /** Stops retrying; returns how many ends were still held (they are lost with the process). */
  close(): number {
    this.closed = true;
    if (this.timer !== undefined) this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
    return this.held.size;
  }

  private async commitHeld(): Promise<void> {
    for (const [k, end] of [...this.held]) {
      let outcome: CommitOutcome;
      try {
        outcome = await this.options.commit(end.taskId, end.run, end.result);
      } catch (error) {
        if (isStoreFault(error)) {
          this.options.faults.report('store: held run ends', { error: (error as Error).message, held: this.held.size },
            `the store still refuses writes: ${this.held.size} ended run(s) wait in memory to be committed`);
          this.pauseMs = Math.min(this.pauseMs * 2, this.options.maxRetryMs ?? 10_000);
          this.armRetry();
          return;
        }
        // Refused for good (a damaged row): holding it would block the ends after it.
        this.options.log.error({ task: end.taskId, run: end.run, error }, 'could not record the end of a run; it is dropped');
        outcome = 'gone';
      }
      this.held.delete(k);
      this.heldOutputBytes -= outputBytesOf(end.result);
      if (outcome === 'committed') {
        this.options.log.info({ task: end.taskId, run: end.run, heldMs: this.options.clock.now() - end.heldSince }, 'committed the end of a run held while the store refused writes');
      }
    }
    this.pauseMs = this.options.retryMs ?? 1000;
  }

  private armRetry(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      void this.retryNow();
    }, this.pauseMs);
  }

  /** `result` with its output dropped if holding it would pass the bound on held output. */
  private withinBound(taskId: string, run: number, result: RunResult): RunResult {
    const bytes = outputBytesOf(result);
    if (this.heldOutputBytes + bytes <= this.options.maxOutputBytes) return result;
    this.options.log.error(
      { task: taskId, run, droppedBytes: bytes, heldOutputBytes: this.heldOutputBytes, maxOutputBytes: this.options.maxOutputBytes },
      "the output of this run is dropped: the store refuses writes and the output held in memory for runs that ended meanwhile is at its bound; the run's outcome is kept",
    );
    return { ...result, stdout: dropAll(result.stdout), stderr: dropAll(result.stderr) };
  }
}

function key(taskId: string, run: number): string {
  return `${taskId}\n${run}`;
}

function outputBytesOf(result: RunResult): number {
  return Buffer.byteLength(result.stdout.text) + Buffer.byteLength(result.stderr.text);
}

function dropAll(output: CapturedOutput): CapturedOutput {
  return output.text.length === 0 ? output : droppedOutput(output.totalBytes);
}
