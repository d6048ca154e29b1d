/**
 * A RunLauncher for engine tests: it starts nothing. Each run it is asked to start is
 * recorded, and stays in progress until the test finishes it with the RunResult it chooses
 * (or kills it, which settles it as ended by a signal), so the test decides when and how
 * every run ends. What a run prints is what the test `write`s to it, handed to the engine's
 * listener as it is written.
 */
import type { CapturedOutput, OutputStream } from '../../src/core/task.js';
import type { RunResult } from '../../src/core/transition.js';
import type { RecoveredOutput, RunLauncher, RunningProcess, RunOutputListener, RunSpec } from '../../src/runner/run-launcher.js';

const noOutput = (): CapturedOutput => ({ text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 });

/** Captured output of `text`, as the real runner would report it uncapped. */
export function output(text: string): CapturedOutput {
  return { text, totalBytes: Buffer.byteLength(text), droppedBytes: 0, droppedAt: 0 };
}

/** One run the engine started, under the test's control. */
export class FakeRun implements RunningProcess {
  readonly finished: Promise<RunResult>;
  /** When the engine started it, by the runner's clock. */
  readonly startedAt: number;
  /** Times the engine asked for it to be killed. */
  killCalls = 0;
  /** Times the engine called listen. */
  listenCalls = 0;
  private settle!: (result: RunResult) => void;
  private settledWith: RunResult | undefined;
  private listener: RunOutputListener | undefined;
  /** Every chunk `write` was given, per stream. */
  private readonly written: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };

  constructor(
    readonly spec: RunSpec,
    readonly pid: number | undefined,
    private readonly now: () => number,
    private readonly outputCap: number,
  ) {
    // As the real runner: a run given a later notBefore starts then.
    this.startedAt = spec.notBefore !== undefined ? Math.max(now(), spec.notBefore) : now();
    this.finished = new Promise<RunResult>((resolve) => {
      this.settle = resolve;
    });
  }

  get taskId(): string {
    return this.spec.taskId;
  }

  get run(): number {
    return this.spec.run;
  }

  /** How the run ended, once it has. */
  get result(): RunResult | undefined {
    return this.settledWith;
  }

  get settled(): boolean {
    return this.settledWith !== undefined;
  }

  /**
   * The script writes `chunk` to `stream`: it is handed to the listener at the stream's
   * running offset (as the real runner does, but without cutting it at character
   * boundaries: a test that writes whole characters gets them back whole), and outputSoFar
   * and the default result of finish include it. Nothing is capped.
   */
  write(stream: OutputStream, chunk: string | Buffer): void {
    if (this.settledWith) throw new Error(`run ${this.spec.taskId}#${this.spec.run} has already ended`);
    const bytes = Buffer.from(chunk); // a copy: the test may reuse its buffer
    const offset = this.bytesOf(stream);
    this.written[stream].push(bytes);
    this.listener?.(stream, offset, bytes);
  }

  listen(listener: RunOutputListener): void {
    this.listenCalls++;
    this.listener = listener;
  }

  outputSoFar(): { stdout: CapturedOutput; stderr: CapturedOutput } {
    return { stdout: this.captured('stdout'), stderr: this.captured('stderr') };
  }

  private bytesOf(stream: OutputStream): number {
    return this.written[stream].reduce((sum, chunk) => sum + chunk.length, 0);
  }

  private captured(stream: OutputStream): CapturedOutput {
    const bytes = Buffer.concat(this.written[stream]);
    return { text: bytes.toString('utf8'), totalBytes: bytes.length, droppedBytes: 0, droppedAt: 0 };
  }

  /** Ends the run: by default it succeeded, now, with the output written so far (none unless `write` was called). */
  finish(overrides: Partial<RunResult> = {}): RunResult {
    if (this.settledWith) throw new Error(`run ${this.spec.taskId}#${this.spec.run} has already ended`);
    const result: RunResult = {
      outcome: 'succeeded',
      startedAt: this.startedAt,
      finishedAt: this.now(),
      exitCode: 0,
      signal: null,
      error: null,
      ...this.outputSoFar(),
      outputCap: this.outputCap,
      ...overrides,
    };
    this.settledWith = result;
    this.settle(result);
    return result;
  }

  /** As the real runner: the run ends killed by a signal (unless it had already ended). */
  kill(): Promise<RunResult> {
    this.killCalls++;
    if (!this.settledWith) {
      this.finish({ outcome: 'failed', exitCode: null, signal: 'SIGTERM', error: 'killed by SIGTERM (the run was ended on request)' });
    }
    return this.finished;
  }
}

export interface FakeRunnerOptions {
  /** The clock runs are timed by. */
  now: () => number;
  /** Process ids are given out from here up. */
  firstPid?: number;
  outputCap?: number;
}

/** A RunLauncher that records runs and lets the test end them. */
export class FakeRunner implements RunLauncher {
  /** Every run started, in order. */
  readonly runs: FakeRun[] = [];
  /** What recoverOutput answers, by "taskId#run"; nothing spooled (and no sign of life) otherwise. */
  readonly spooled = new Map<string, RecoveredOutput>();
  /** Every call of killOrphans, recoverOutput and removeSpool, in order. */
  readonly calls: Array<
    | { kind: 'recoverOutput'; taskId: string; run: number }
    | { kind: 'removeSpool'; taskId: string; run: number }
    | { kind: 'killOrphans' }
  > = [];
  /** What killOrphans answers: how many process groups it found. */
  orphansFound = 1;
  /** When set, the next start throws it (as spawn does for a script with a NUL byte) and it is cleared. */
  failNextStart: Error | undefined;
  private nextPid: number;

  constructor(private readonly options: FakeRunnerOptions) {
    this.nextPid = options.firstPid ?? 4000;
  }

  start(spec: RunSpec): FakeRun {
    const failure = this.failNextStart;
    if (failure) {
      this.failNextStart = undefined;
      throw failure;
    }
    const run = new FakeRun({ ...spec }, this.nextPid++, this.options.now, this.options.outputCap ?? 1024);
    this.runs.push(run);
    return run;
  }

  async recoverOutput(taskId: string, run: number): Promise<RecoveredOutput> {
    this.calls.push({ kind: 'recoverOutput', taskId, run });
    return this.spooled.get(`${taskId}#${run}`) ?? { stdout: noOutput(), stderr: noOutput() };
  }

  removeSpool(taskId: string, run: number): void {
    this.calls.push({ kind: 'removeSpool', taskId, run });
  }

  /** Every run prepared ahead of its time, in order. */
  readonly prepared: RunSpec[] = [];

  async prepare(spec: RunSpec): Promise<void> {
    this.prepared.push({ ...spec });
  }

  /** The tasks whose prepared processes were discarded (discardPrepared(taskId)), in order. */
  readonly discarded: string[] = [];

  /** With a task, records it in `discarded`; without (the daemon shutting down), forgets every run prepared. */
  discardPrepared(taskId?: string): void {
    if (taskId === undefined) this.prepared.length = 0;
    else this.discarded.push(taskId);
  }

  async killOrphans(): Promise<number> {
    this.calls.push({ kind: 'killOrphans' });
    return this.orphansFound;
  }

  /** The runs started for one task, in order. */
  runsOf(taskId: string): FakeRun[] {
    return this.runs.filter((run) => run.taskId === taskId);
  }

  /** The run in progress of a task, if any. */
  active(taskId: string): FakeRun | undefined {
    return this.runs.find((run) => run.taskId === taskId && !run.settled);
  }
}
