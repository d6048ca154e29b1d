/**
 * The runs in progress: it starts their processes through the runner, ends them on request,
 * and reports when a run that waited for a free slot really starts and how each run ended.
 * A run ended by `kill` is reported as killed, and every run ended by the daemon's shutdown
 * as interrupted, whatever signal ended it; but a run recorded as waiting that never started
 * is not reported at all when the daemon shuts down: it stays recorded waiting, and the next
 * start of the daemon starts it. It holds one entry per run in progress and nothing else.
 */
import type { Clock } from '../core/clock.js';
import { noOutput, type Task } from '../core/task.js';
import type { Effect, RunResult } from '../core/transition.js';
import type { RunningProcess, RunSpec } from '../runner/process-runner.js';
import type { RunLauncher, StartOptions } from '../runner/run-launcher.js';
import type { EngineLog } from './engine-log.js';
import type { LiveOutput, TaskActivity } from './task-activity.js';

/** What the supervisor needs. */
export interface RunSupervisorOptions {
  runner: RunLauncher;
  clock: Clock;
  log: EngineLog;
  /** Told of every chunk of output as it is written. */
  activity: TaskActivity;
  /** The per-stream output cap recorded on a run that never started. */
  outputCap: number;
  /** Records how a run ended; the run leaves the supervisor once this settles. */
  onEnd(taskId: string, run: number, result: RunResult): Promise<void>;
  /**
   * Records that a run recorded as waiting for a free slot starts its script now; the
   * script starts once this settles (it never rejects).
   */
  onStart(taskId: string, run: number, startedAt: number): Promise<void>;
}

interface Active {
  run: number;
  /** Set as soon as the runner returns it. */
  process: RunningProcess;
  /** Why the run is being ended, once someone asked. */
  killReason: string | undefined;
  /** Recorded as waiting for a free slot, and its script has not started yet. */
  waitingOnRecord: boolean;
}

/** Whether a run to start gets a slot at once; given back with cancel() if its start is not recorded. */
export interface Admission {
  /** The run will wait for a free slot: it is recorded so, without a start time. */
  waits: boolean;
  cancel(): void;
}

const nothingToAdmit: Admission = { waits: false, cancel: () => undefined };

/** Supervises the runs in progress: usually one per task, more for a task whose overlap rule is `allow`. */
export class RunSupervisor {
  private readonly active = new Map<string, Map<number, Active>>();
  private stopping = false;

  constructor(private readonly options: RunSupervisorOptions) {}

  /** How many runs are executing now. */
  get size(): number {
    let count = 0;
    for (const runs of this.active.values()) count += runs.size;
    return count;
  }

  /** The output run `run` of `taskId` (by default its first run in progress) has written so far, if it is in progress. */
  liveOutput(taskId: string, run?: number): LiveOutput | undefined {
    const runs = this.active.get(taskId);
    const entry = run === undefined ? runs?.values().next().value : runs?.get(run);
    return entry && { run: entry.run, ...entry.process.outputSoFar() };
  }

  /**
   * Before the start of a run is recorded (`effect`, when it starts one): takes its slot if
   * one is free, else says that it will wait. While shutting down, no run starts: each is
   * recorded waiting, for the next start of the daemon.
   */
  admit(task: Task, effect: Effect | null): Admission {
    if (effect?.kind !== 'startRun') return nothingToAdmit;
    if (this.stopping) return { waits: true, cancel: () => undefined };
    const { runner } = this.options;
    if (!runner.reserve) return nothingToAdmit;
    const spec = runSpec(task, effect.run);
    if (!runner.reserve(spec)) return { waits: true, cancel: () => undefined };
    return { waits: false, cancel: () => runner.unreserve?.(spec) };
  }

  /**
   * Starts run `run` of `task`, already recorded as started, or as waiting when `recordedWaiting`
   * (its real start is then reported through onStart). A runner that throws (spawn refuses
   * the arguments, the spool cannot be written) must not escape: that would leave the task
   * Executing a run that never ends. It becomes a run that failed to start. A run whose
   * start was committed while the daemon began shutting down is not started at all.
   */
  start(task: Task, run: number, recordedWaiting = false): void {
    // Its start is recorded before its script starts (see ConcurrencyGate), once, here or below.
    let recorded: Promise<void> | undefined;
    const recordStart = (startedAt: number): Promise<void> => {
      recorded ??= this.recordStart(task.id, run, startedAt).then(() => {
        entry.waitingOnRecord = false;
      });
      return recorded;
    };
    const entry: Active = { run, process: undefined!, killReason: undefined, waitingOnRecord: recordedWaiting };
    const process = (entry.process = this.spawn(task, run, recordedWaiting ? { beforeStart: recordStart } : {}));
    let runs = this.active.get(task.id);
    if (!runs) this.active.set(task.id, (runs = new Map()));
    runs.set(run, entry);
    const { activity, clock, log } = this.options;
    process.listen((stream, offset, chunk) => activity.output(task.id, run, stream, offset, chunk, clock.now()));
    // A runner that bounds nothing started it at once, without the hook: its start is recorded now.
    if (recordedWaiting && recorded === undefined && !process.waiting && process.pid !== undefined) void recordStart(clock.now());
    log.info({ task: task.id, run, pid: process.pid, waiting: process.waiting === true }, process.waiting ? 'run waits for a free slot' : 'run started');
    void process.finished.then(async (result) => {
      try {
        // Shut down before it started: it stays recorded waiting, for the next start.
        if (this.stopping && entry.waitingOnRecord) {
          log.info({ task: task.id, run }, 'run left waiting for a free slot, to start when the daemon starts again');
          return;
        }
        await this.options.onEnd(task.id, run, this.asReported(entry, result));
      } finally {
        const current = this.active.get(task.id);
        if (current?.get(run) === entry) current.delete(run);
        if (current?.size === 0) this.active.delete(task.id);
      }
    });
  }

  /**
   * Ends run `run` of `taskId` (by default every run of it in progress), to be reported as
   * killed, saying why; false when there is none.
   */
  async kill(taskId: string, reason = 'killed on request', run?: number): Promise<boolean> {
    const entries = this.entries(taskId, run);
    for (const entry of entries) entry.killReason ??= reason;
    await Promise.all(entries.map((entry) => entry.process.kill()));
    return entries.length > 0;
  }

  /** Ends the runs of `taskId` in progress, if any, as its task goes away. */
  async end(taskId: string): Promise<void> {
    await Promise.all(this.entries(taskId).map((entry) => entry.process.kill()));
  }

  private entries(taskId: string, run?: number): Active[] {
    const runs = this.active.get(taskId);
    if (!runs) return [];
    if (run === undefined) return [...runs.values()];
    const entry = runs.get(run);
    return entry ? [entry] : [];
  }

  /** Ends every run (reported as interrupted) and waits until each end has been recorded. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const all = [...this.active.values()].flatMap((runs) => [...runs.values()]);
    await Promise.all(all.map(({ process }) => process.kill()));
    while (this.active.size > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Records the start of a run recorded as waiting, before its script starts. */
  private async recordStart(taskId: string, run: number, startedAt: number): Promise<void> {
    await this.options.onStart(taskId, run, startedAt);
    this.options.log.info({ task: taskId, run }, 'run starts after waiting for a free slot');
  }

  private asReported(entry: Active, result: RunResult): RunResult {
    if (this.stopping) return { ...result, outcome: 'interrupted', error: 'the daemon was shut down while the run was executing' };
    if (entry.killReason !== undefined) return { ...result, outcome: 'killed', error: `${entry.killReason}${result.signal ? ` (${result.signal})` : ''}` };
    return result;
  }

  private spawn(task: Task, run: number, options: StartOptions): RunningProcess {
    if (this.stopping) return this.neverStarted('the daemon was shutting down');
    try {
      return this.options.runner.start(runSpec(task, run), options);
    } catch (error) {
      this.options.log.error({ task: task.id, run, error }, 'could not start a run');
      return this.neverStarted(`the script could not be started: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  private neverStarted(reason: string): RunningProcess {
    const finished = Promise.resolve<RunResult>({
      outcome: 'failed',
      startedAt: null,
      finishedAt: this.options.clock.now(),
      exitCode: null,
      signal: null,
      error: reason,
      stdout: noOutput,
      stderr: noOutput,
      outputCap: this.options.outputCap,
    });
    const none = { stdout: noOutput, stderr: noOutput };
    return { pid: undefined, finished, kill: () => finished, listen: () => undefined, outputSoFar: () => none };
  }
}

/** What the runner needs to run `run` of `task`. */
export function runSpec(task: Task, run: number): RunSpec {
  const spec: RunSpec = { taskId: task.id, run, script: task.script, lang: task.lang, execution: task.execution };
  if (task.runTimeout) spec.timeoutMs = task.runTimeout.ms;
  return spec;
}
