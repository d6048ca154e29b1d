/**
 * The runs in progress: it starts their processes through the runner, ends them on request,
 * and reports how each ended. A run ended by `kill` is reported as killed, and every run
 * ended by the daemon's shutdown as interrupted, whatever signal ended it. It holds one
 * entry per run in progress and nothing else.
 */
import type { Clock } from '../core/clock.js';
import { noOutput, type Task } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import type { RunningProcess, RunSpec } from '../runner/process-runner.js';
import type { RunLauncher } from '../runner/run-launcher.js';
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
}

interface Active {
  run: number;
  process: RunningProcess;
  /** Why the run is being ended, once someone asked. */
  killReason: string | undefined;
}

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

  /** Whether run `run` of `taskId` is in progress but still waiting for a free slot. */
  isWaiting(taskId: string, run: number): boolean {
    return this.active.get(taskId)?.get(run)?.process.waiting === true;
  }

  /** The output run `run` of `taskId` (by default its first run in progress) has written so far, if it is in progress. */
  liveOutput(taskId: string, run?: number): LiveOutput | undefined {
    const runs = this.active.get(taskId);
    const entry = run === undefined ? runs?.values().next().value : runs?.get(run);
    return entry && { run: entry.run, ...entry.process.outputSoFar() };
  }

  /**
   * Starts run `run` of `task`, already recorded as started. A runner that throws (spawn
   * refuses the arguments, the spool cannot be written) must not escape: that would leave
   * the task Executing a run that never ends. It becomes a run that failed to start. A run
   * whose start was committed while the daemon began shutting down is not started at all.
   */
  start(task: Task, run: number): void {
    const process = this.spawn(task, run);
    const entry: Active = { run, process, killReason: undefined };
    let runs = this.active.get(task.id);
    if (!runs) this.active.set(task.id, (runs = new Map()));
    runs.set(run, entry);
    const { activity, clock } = this.options;
    process.listen((stream, offset, chunk) => activity.output(task.id, run, stream, offset, chunk, clock.now()));
    this.options.log.info({ task: task.id, run, pid: process.pid }, 'run started');
    void process.finished.then(async (result) => {
      try {
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

  private asReported(entry: Active, result: RunResult): RunResult {
    if (this.stopping) return { ...result, outcome: 'interrupted', error: 'the daemon was shut down while the run was executing' };
    if (entry.killReason !== undefined) return { ...result, outcome: 'killed', error: `${entry.killReason}${result.signal ? ` (${result.signal})` : ''}` };
    return result;
  }

  private spawn(task: Task, run: number): RunningProcess {
    if (this.stopping) return this.neverStarted('the daemon was shutting down');
    try {
      return this.options.runner.start(runSpec(task, run));
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
