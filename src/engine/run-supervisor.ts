/**
 * The runs in progress: it gives each its slot (RunSlots), starts its process through the
 * runner, ends it on request, and reports when a run that waited for a free slot really
 * starts and how each run ended. A run ended by `kill` is reported as killed, and every run
 * ended by the daemon's shutdown as interrupted, whatever signal ended it; but a run recorded
 * as waiting that never started is not reported at all when the daemon shuts down: it stays
 * recorded waiting, and the next start of the daemon starts it. It holds one entry per run
 * in progress, and the slots.
 *
 * A run recorded as waiting always queues, even when a slot is free, so that its start is
 * recorded before its script starts: when its turn comes it holds its slot while onStart
 * records the start, then starts. A crash can thus leave a run recorded as started that never
 * ran (the next daemon says it was interrupted), never one that ran recorded as waiting (the
 * next daemon would run it again).
 */
import type { Clock } from '../core/clock.js';
import { queueOf, type ConcurrencySnapshot, type SlotLimits } from '../core/run-slots.js';
import { noOutput, type Task } from '../core/task.js';
import type { Effect, RunResult } from '../core/transition.js';
import { endedBeforeStart, neverStartedResult, type RunLauncher, type RunningProcess, type RunSpec } from '../runner/run-launcher.js';
import type { LiveRun } from '../store/run-leases.js';
import type { EngineLog } from './engine-log.js';
import { RunSlots, type SlotWaiter } from './run-slots.js';
import type { LiveOutput, TaskActivity } from './task-activity.js';
import { withFields } from '../core/with-fields.js';

/** What the supervisor needs. */
export interface RunSupervisorOptions {
  runner: RunLauncher;
  clock: Clock;
  log: EngineLog;
  /** Told of every chunk of output as it is written. */
  activity: TaskActivity;
  /** The per-stream output cap recorded on a run that never started. */
  outputCap: number;
  /** How many runs may execute at once, in all and per queue. */
  slots: SlotLimits;
  /** Records how a run ended; the run leaves the supervisor once this settles. */
  onEnd(taskId: string, run: number, result: RunResult): Promise<void>;
  /**
   * Records that a run recorded as waiting for a free slot starts its script now; the
   * script starts once this settles (it never rejects).
   */
  onStart(taskId: string, run: number, startedAt: number): Promise<void>;
}

/** Why a run that was ended before it could start did not run. */
export const endedWhileWaiting = 'ended while waiting for a free slot';

/** One run in progress, from its admission to its end. */
interface Active {
  run: number;
  queue: string;
  /** Its process, once its script has started (or failed to). */
  process: RunningProcess | undefined;
  /** Its place in the line for a slot, while its turn has not come. */
  waiter: SlotWaiter | undefined;
  /** Why the run is being ended, once someone asked. */
  killReason: string | undefined;
  /** Recorded as waiting for a free slot, and its start not recorded yet. */
  waitingOnRecord: boolean;
  /** When it began to wait for a slot; undefined for a run that got one at once. */
  enqueuedAt: number | undefined;
  /** How the run ended, started or not; settled once, by end(). */
  finished: Promise<RunResult>;
  end(result: RunResult): void;
  ended: boolean;
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
  private readonly slots: RunSlots;
  private stopping = false;

  constructor(private readonly options: RunSupervisorOptions) {
    this.slots = new RunSlots(options.slots);
  }

  /** How many runs are in progress now (waiting for a slot or executing). */
  get size(): number {
    let count = 0;
    for (const runs of this.active.values()) count += runs.size;
    return count;
  }

  /** How full the slots are. */
  slotsSnapshot(): ConcurrencySnapshot {
    return this.slots.snapshot();
  }

  /** The output run `run` of `taskId` (by default its first run in progress) has written so far, if it is in progress. */
  liveOutput(taskId: string, run?: number): LiveOutput | undefined {
    const runs = this.active.get(taskId);
    const entry = run === undefined ? runs?.values().next().value : runs?.get(run);
    return entry && { run: entry.run, ...(entry.process?.outputSoFar() ?? { stdout: noOutput, stderr: noOutput }) };
  }

  /** Every run in progress here (waiting for a slot or executing), with its output so far. */
  inProgress(): LiveRun[] {
    const runs: LiveRun[] = [];
    for (const [taskId, entries] of this.active) {
      for (const entry of entries.values()) {
        runs.push({ taskId, run: entry.run, ...(entry.process?.outputSoFar() ?? { stdout: noOutput, stderr: noOutput }) });
      }
    }
    return runs;
  }

  /**
   * Spawns ahead of time, held, the process of run `run` of `task`, due soon; resolves once
   * the process exists (runner.prepare). Only when its queue has a slot free now: a queue
   * whose slots are taken by runs already executing may stay full for long, and a process
   * prepared for a run that waits there would be discarded unused.
   */
  async prepare(task: Task, run: number): Promise<void> {
    if (!this.stopping && this.slots.fits(queueOf(task.execution))) await this.options.runner.prepare(runSpec(task, run));
  }

  /**
   * Before the start of a run is recorded (`effect`, when it starts one): takes its slot if
   * one is free, else says that it will wait. While shutting down, no run starts: each is
   * recorded waiting, for the next start of the daemon.
   */
  admit(task: Task, effect: Effect | null): Admission {
    if (effect?.kind !== 'startRun') return nothingToAdmit;
    if (this.stopping) return { waits: true, cancel: () => undefined };
    const queue = queueOf(task.execution);
    if (!this.slots.tryTake(queue)) return { waits: true, cancel: () => undefined };
    return { waits: false, cancel: () => this.slots.release(queue) };
  }

  /**
   * Starts run `run` of `task`, already recorded as started with the slot admit() took, or
   * recorded as waiting when `recordedWaiting`: it then waits in line, and its real start is
   * reported through onStart. A run whose start was committed while the daemon began
   * shutting down is not started at all. With `notBefore`, a run not waiting starts its
   * script at that wall-clock time (a fire made ahead of its time).
   */
  start(task: Task, run: number, recordedWaiting = false, notBefore?: number): void {
    const queue = queueOf(task.execution);
    const entry = this.track(task, run, queue, recordedWaiting);
    const { log, clock } = this.options;
    if (this.stopping) {
      if (!recordedWaiting) this.slots.release(queue);
      entry.end(this.neverStarted('interrupted', 'the daemon was shutting down'));
      return;
    }
    if (!recordedWaiting) {
      this.launch(task, entry, undefined, notBefore);
      log.info({ task: task.id, run, pid: entry.process?.pid, waiting: false }, 'run started');
      return;
    }
    entry.enqueuedAt = clock.now();
    entry.waiter = { queue, admit: () => void this.startAfterWaiting(task, entry) };
    log.debug({ task: task.id, run, pid: undefined, waiting: true }, 'run waits for a free slot');
    this.slots.enqueue(entry.waiter);
  }

  /**
   * Ends run `run` of `taskId` (by default every run of it in progress), to be reported as
   * killed, saying why; false when there is none.
   */
  async kill(taskId: string, reason = 'killed on request', run?: number): Promise<boolean> {
    const entries = this.entries(taskId, run);
    for (const entry of entries) entry.killReason ??= reason;
    await Promise.all(entries.map((entry) => this.endEntry(entry)));
    return entries.length > 0;
  }

  /** Ends the runs of `taskId` in progress, if any, as its task goes away. */
  async end(taskId: string): Promise<void> {
    await Promise.all(this.entries(taskId).map((entry) => this.endEntry(entry)));
  }

  /** Ends every run (reported as interrupted) and waits until each end has been recorded. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const all = [...this.active.values()].flatMap((runs) => [...runs.values()]);
    await Promise.all(all.map((entry) => this.endEntry(entry)));
    while (this.active.size > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Registers a run in progress; once it ends, it is reported (or left waiting on record) and leaves. */
  private track(task: Task, run: number, queue: string, recordedWaiting: boolean): Active {
    let end!: (result: RunResult) => void;
    const finished = new Promise<RunResult>((resolve) => (end = resolve));
    const entry: Active = {
      run,
      queue,
      process: undefined,
      waiter: undefined,
      killReason: undefined,
      waitingOnRecord: recordedWaiting,
      enqueuedAt: undefined,
      finished,
      ended: false,
      end: (result) => {
        if (entry.ended) return;
        entry.ended = true;
        end(result);
      },
    };
    let runs = this.active.get(task.id);
    if (!runs) this.active.set(task.id, (runs = new Map()));
    runs.set(run, entry);
    const { log } = this.options;
    void finished.then(async (result) => {
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
    return entry;
  }

  /**
   * The turn of a run that waited has come, and it holds its slot: its start is recorded,
   * then it starts. A start the store refused to record does not keep the run from starting:
   * it was due, and is started unrecorded. A run ended meanwhile gives its slot back.
   */
  private async startAfterWaiting(task: Task, entry: Active): Promise<void> {
    entry.waiter = undefined;
    const startedAt = this.options.clock.now();
    await this.options.onStart(task.id, entry.run, startedAt).catch(() => undefined);
    entry.waitingOnRecord = false;
    this.options.log.info({ task: task.id, run: entry.run, waitedMs: startedAt - entry.enqueuedAt! }, 'run starts after waiting for a free slot');
    if (entry.ended) {
      this.slots.release(entry.queue);
      return;
    }
    this.launch(task, entry, startedAt - entry.enqueuedAt!);
  }

  /**
   * Starts the process of `entry`, which holds its slot, and gives the slot back when it
   * ends. A runner that throws (spawn refuses the arguments, the spool cannot be written)
   * must not escape: that would leave the task Executing a run that never ends. It becomes
   * a run that failed to start.
   */
  private launch(task: Task, entry: Active, waitedMs?: number, notBefore?: number): void {
    const { runner, activity, clock, log } = this.options;
    let process: RunningProcess;
    try {
      const spec = runSpec(task, entry.run);
      if (notBefore !== undefined) spec.notBefore = notBefore;
      process = runner.start(spec);
    } catch (error) {
      this.slots.release(entry.queue);
      if (waitedMs === undefined) log.error({ task: task.id, run: entry.run, error }, 'could not start a run');
      const result = this.neverStarted('failed', `the script could not be started: ${(error as Error)?.message ?? String(error)}`);
      entry.process = endedBeforeStart(result);
      entry.end(waitedMs === undefined ? result : withFields(result, { waitedMs: clock.now() - entry.enqueuedAt! }));
      return;
    }
    entry.process = process;
    process.listen((stream, offset, chunk) => activity.output(task.id, entry.run, stream, offset, chunk, clock.now()));
    const free = () => this.slots.release(entry.queue);
    process.finished.then(free, free);
    process.finished.then((result) => entry.end(waitedMs === undefined ? result : withFields(result, { waitedMs })));
  }

  /** Ends `entry`: kills its process, or, before it started, ends it as never started. */
  private endEntry(entry: Active): Promise<RunResult> {
    if (entry.process) {
      void entry.process.kill();
    } else if (!entry.ended) {
      // In line, it leaves the line; with its start being recorded, it gives its slot back once that is done.
      if (entry.waiter) this.slots.withdraw(entry.waiter);
      const result = this.neverStarted('killed', endedWhileWaiting);
      entry.end(entry.enqueuedAt === undefined ? result : withFields(result, { waitedMs: result.finishedAt - entry.enqueuedAt }));
    }
    return entry.finished;
  }

  private entries(taskId: string, run?: number): Active[] {
    const runs = this.active.get(taskId);
    if (!runs) return [];
    if (run === undefined) return [...runs.values()];
    const entry = runs.get(run);
    return entry ? [entry] : [];
  }

  private asReported(entry: Active, result: RunResult): RunResult {
    if (this.stopping) return withFields(result, { outcome: 'interrupted' as const, error: 'the daemon was shut down while the run was executing' });
    if (entry.killReason !== undefined) return withFields(result, { outcome: 'killed' as const, error: `${entry.killReason}${result.signal ? ` (${result.signal})` : ''}` });
    return result;
  }

  private neverStarted(outcome: RunResult['outcome'], reason: string): RunResult {
    return neverStartedResult(outcome, reason, this.options.clock.now(), this.options.outputCap);
  }
}

/** What the runner needs to run `run` of `task`. */
export function runSpec(task: Task, run: number): RunSpec {
  const spec: RunSpec = { taskId: task.id, run, script: task.script, lang: task.lang, execution: task.execution };
  if (task.runTimeout) spec.timeoutMs = task.runTimeout.ms;
  return spec;
}
