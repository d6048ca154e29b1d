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

/** Supervises the runs in progress, one per task at most. */
export class RunSupervisor {
  private readonly active = new Map<string, Active>();
  private stopping = false;

  constructor(private readonly options: RunSupervisorOptions) {}

  /** How many runs are executing now. */
  get size(): number {
    return this.active.size;
  }

  /** The run of `taskId` in progress, if any. */
  current(taskId: string): number | undefined {
    return this.active.get(taskId)?.run;
  }

  /** The output the run of `taskId` in progress has written so far, if a run is in progress. */
  liveOutput(taskId: string): LiveOutput | undefined {
    const entry = this.active.get(taskId);
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
    this.active.set(task.id, entry);
    const { activity, clock } = this.options;
    process.listen((stream, offset, chunk) => activity.output(task.id, run, stream, offset, chunk, clock.now()));
    this.options.log.info({ task: task.id, run, pid: process.pid }, 'run started');
    void process.finished.then(async (result) => {
      try {
        await this.options.onEnd(task.id, run, this.asReported(entry, result));
      } finally {
        if (this.active.get(task.id) === entry) this.active.delete(task.id);
      }
    });
  }

  /** Ends the run of `taskId` in progress, to be reported as killed (saying why); false when there is none. */
  async kill(taskId: string, reason = 'killed on request'): Promise<boolean> {
    const entry = this.active.get(taskId);
    if (!entry) return false;
    entry.killReason ??= reason;
    await entry.process.kill();
    return true;
  }

  /** Ends the run of `taskId` in progress, if any, as its task goes away. */
  async end(taskId: string): Promise<void> {
    await this.active.get(taskId)?.process.kill();
  }

  /** Ends every run (reported as interrupted) and waits until each end has been recorded. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.active.values()].map(({ process }) => process.kill()));
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
  const spec: RunSpec = { taskId: task.id, run, script: task.script };
  if (task.runTimeout) spec.timeoutMs = task.runTimeout.ms;
  return spec;
}
