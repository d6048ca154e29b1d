/**
 * Bounds how many runs execute at once: a global maximum, and optionally a maximum per named
 * queue (like pueue's groups). It wraps the launcher that really starts processes, so the
 * engine neither knows nor cares: every start() returns a RunningProcess at once, and a run
 * that finds no free slot waits inside it until one frees up, then starts, and its result
 * says how long it waited (`waitedMs`).
 *
 * Every run belongs to the queue its execution settings name (`default` when they are
 * absent). It starts only when fewer than `maxRuns` runs are executing in all and, if its
 * queue has a limit, fewer than that limit of its queue. A run whose queue is not configured
 * (a task submitted when it was, run by a daemon whose configuration no longer has it) is not
 * refused: its queue simply has no limit of its own, and only the global maximum applies.
 *
 * Waiting runs start in the order they arrived, except that a run held back only by its own
 * queue's limit does not hold back later runs of queues that have room: whenever a slot frees
 * up, the waiting runs are scanned in arrival order and every one that fits is started.
 * Hence, between two events, no waiting run fits, and a new run that fits may start at once
 * without passing anyone who could have run.
 *
 * The engine records a run's start before it starts it, and a run that waits is recorded so
 * (a daemon restarted after a crash starts it then, rather than call it interrupted). So that
 * the record is true, the engine reserves the run's slot before it writes (reserve): a run
 * that got one starts at once when start() comes, whatever started meanwhile. One that did
 * not is recorded waiting and started with a `beforeStart` hook: it always queues, and when
 * its turn comes it holds its slot while the hook records the start, then starts. Recorded
 * before started, as every other run: a crash can leave a run recorded as started that never
 * ran (the next daemon says it was interrupted), never one that ran recorded as waiting (the
 * next daemon would run it again).
 */
import { availableParallelism } from 'node:os';
import { defaultQueue } from '../core/execution.js';
import { noOutput, type CapturedOutput } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import type { RunOutputListener, RunningProcess } from './held-process.js';
import type { RunSpec } from './process-runner.js';
import type { RecoveredOutput, RunLauncher, StartOptions } from './run-launcher.js';

/**
 * The global maximum when none is configured: twice the number of CPUs the daemon may use,
 * and at least 4. cron and systemd timers do not bound concurrent jobs at all, and pueue
 * runs one task per group unless told otherwise; neither fits a scheduler whose jobs come in
 * bursts (every `0 * * * *` task fires in the same second). A bound tied to the CPUs keeps a
 * burst of CPU-bound jobs from thrashing the machine; twice as many lets the usual jobs,
 * which wait on disks and networks more than they compute, overlap; and a small machine
 * still runs a few at once (a task under `--overlap allow` needs more than one slot).
 */
export function defaultMaxRuns(): number {
  return Math.max(4, 2 * availableParallelism());
}

/** What the gate needs. */
export interface ConcurrencyGateOptions {
  /** Starts the processes of the runs the gate lets through. */
  inner: RunLauncher;
  /** Runs executing at once, over every queue; at least 1. */
  maxRuns: number;
  /** The configured queues, each with its own maximum of runs at once (at least 1). */
  queues: Readonly<Record<string, number>>;
  /** The clock waiting times are measured with. */
  now: () => number;
  /** The per-stream output cap recorded on a run that ended before it started. */
  outputCap: number;
}

/** How full the gate is, for the daemon's status. */
export interface ConcurrencySnapshot {
  maxRuns: number;
  /** Runs executing now (started through the gate and not yet ended). */
  running: number;
  /** Runs waiting for a free slot. */
  waiting: number;
  /** `default` first, then every configured queue by name, then any unconfigured queue with runs. */
  queues: QueueSnapshot[];
}

export interface QueueSnapshot {
  name: string;
  /** Its own maximum; null: only the global maximum applies. */
  limit: number | null;
  running: number;
  waiting: number;
}

/** Why a run that was ended before it could start did not run. */
export const endedWhileWaiting = 'ended while waiting for a free slot';

/** A RunLauncher that starts at most `maxRuns` runs at once, and at most its queue's limit of each queue. */
export class ConcurrencyGate implements RunLauncher, Gate {
  /** Runs executing, in all and per queue. */
  private running = 0;
  private readonly runningIn = new Map<string, number>();
  /** Runs waiting for a slot, in the order they arrived. */
  private readonly waiting: GatedRun[] = [];
  /** Slots taken by reserve() for runs not yet started, by run, with their queue. */
  private readonly reserved = new Map<string, string>();
  private closed = false;

  constructor(private readonly options: ConcurrencyGateOptions) {
    const { maxRuns, queues } = options;
    if (!Number.isInteger(maxRuns) || maxRuns < 1) throw new RangeError(`the maximum of runs at once must be a whole number of at least 1 (it is ${maxRuns})`);
    for (const [name, limit] of Object.entries(queues)) {
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the limit of queue "${name}" must be a whole number of at least 1 (it is ${limit})`);
    }
  }

  /**
   * Prepares a held process only for a run that could start now: one prepared for a run
   * that will wait would only be discarded unused.
   */
  prepare(spec: RunSpec): void {
    if (!this.closed && this.fits(queueOf(spec))) this.options.inner.prepare(spec);
  }

  /** Takes a slot for `spec` if one is free now; start() of the same run then uses it. */
  reserve(spec: RunSpec): boolean {
    const queue = queueOf(spec);
    if (this.closed || !this.fits(queue)) return false;
    this.take(queue);
    this.reserved.set(runKey(spec), queue);
    return true;
  }

  /** Gives back the slot reserved for `spec` (its start was not recorded); nothing if it has none. */
  unreserve(spec: RunSpec): void {
    const queue = this.reserved.get(runKey(spec));
    if (queue === undefined) return;
    this.reserved.delete(runKey(spec));
    this.free(queue);
  }

  /**
   * Starts the run now if a slot was reserved for it or (without a `beforeStart` hook) is
   * free; an inner start that throws is rethrown, and takes no slot. Otherwise returns a run
   * that waits for one, and starts once the hook has settled. After close(), returns a run
   * that never starts.
   */
  start(spec: RunSpec, options: StartOptions = {}): RunningProcess {
    const key = runKey(spec);
    const reservedIn = this.reserved.get(key);
    if (reservedIn !== undefined) this.reserved.delete(key);
    if (this.closed) {
      if (reservedIn !== undefined) this.release(reservedIn);
      return endedBeforeStart(this.result(spec, 'interrupted', 'the daemon was shutting down'));
    }
    const queue = queueOf(spec);
    if (reservedIn !== undefined || (!options.beforeStart && this.fits(queue))) {
      if (reservedIn === undefined) this.take(queue);
      let process: RunningProcess;
      try {
        process = this.options.inner.start(spec);
      } catch (error) {
        this.free(queue);
        throw error;
      }
      this.occupy(queue, process);
      return process;
    }
    const run = new GatedRun(spec, queue, this.options.now(), this, options.beforeStart);
    this.waiting.push(run);
    // A run with a hook queues even when it fits, so that its start is recorded first.
    if (options.beforeStart) this.startWaiting();
    return run;
  }

  discardPrepared(): void {
    this.options.inner.discardPrepared();
  }

  recoverOutput(taskId: string, run: number): RecoveredOutput {
    return this.options.inner.recoverOutput(taskId, run);
  }

  removeSpool(taskId: string, run: number): void {
    this.options.inner.removeSpool(taskId, run);
  }

  killOrphans(): number {
    return this.options.inner.killOrphans();
  }

  /**
   * For shutdown: ends every waiting run (killed, it never started) without starting any,
   * and makes every later start() return a run that never starts (interrupted). Runs
   * already executing are left alone: the engine kills them.
   */
  close(): void {
    this.closed = true;
    for (const run of this.waiting.splice(0)) run.end(this.result(run.spec, 'killed', endedWhileWaiting, run.enqueuedAt));
  }

  /** How full the gate is. */
  snapshot(): ConcurrencySnapshot {
    const { maxRuns, queues } = this.options;
    const names = new Set<string>([defaultQueue, ...Object.keys(queues).sort()]);
    const waitingIn = new Map<string, number>();
    for (const run of this.waiting) waitingIn.set(run.queue, (waitingIn.get(run.queue) ?? 0) + 1);
    // Unconfigured queues that have runs show up too, after the configured ones.
    const others = [...new Set([...this.runningIn.keys(), ...waitingIn.keys()])].filter((name) => !names.has(name)).sort();
    return {
      maxRuns,
      running: this.running,
      waiting: this.waiting.length,
      queues: [...names, ...others].map((name) => ({
        name,
        limit: this.limitOf(name) ?? null,
        running: this.runningIn.get(name) ?? 0,
        waiting: waitingIn.get(name) ?? 0,
      })),
    };
  }

  /** Whether a run of `queue` may start now. */
  private fits(queue: string): boolean {
    if (this.running >= this.options.maxRuns) return false;
    const limit = this.limitOf(queue);
    return limit === undefined || (this.runningIn.get(queue) ?? 0) < limit;
  }

  /** The queue's own limit; undefined when it has none (not configured). */
  private limitOf(queue: string): number | undefined {
    return Object.hasOwn(this.options.queues, queue) ? this.options.queues[queue] : undefined;
  }

  /** Takes a slot of `queue`. */
  private take(queue: string): void {
    this.running++;
    this.runningIn.set(queue, (this.runningIn.get(queue) ?? 0) + 1);
  }

  /** The slot of `queue` taken for `process` is freed when it ends. */
  private occupy(queue: string, process: RunningProcess): void {
    const free = () => this.free(queue);
    process.finished.then(free, free);
  }

  /** Gives back a slot of `queue`, and starts the waiting runs that now fit. */
  private free(queue: string): void {
    this.release(queue);
    this.startWaiting();
  }

  /** Gives back a slot of `queue`. */
  private release(queue: string): void {
    this.running--;
    const left = (this.runningIn.get(queue) ?? 1) - 1;
    if (left > 0) this.runningIn.set(queue, left);
    else this.runningIn.delete(queue);
  }

  /** Starts, in arrival order, every waiting run that fits. */
  private startWaiting(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.options.maxRuns; ) {
      const run = this.waiting[i]!;
      if (!this.fits(run.queue)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.take(run.queue);
      const startedAt = this.options.now();
      const { beforeStart } = run;
      if (!beforeStart) {
        this.launch(run, startedAt);
        continue;
      }
      // It holds its slot while its start is recorded. A hook that fails (the store refused
      // the write) does not keep the run from starting: it was due, and is started unrecorded.
      run.starting = true;
      const launch = () => {
        run.starting = false;
        if (!this.launch(run, startedAt)) this.startWaiting();
      };
      beforeStart(startedAt).then(launch, launch);
    }
  }

  /**
   * Starts the inner process of `run`, whose slot is taken; false when it did not start (it
   * ended meanwhile, the gate closed, or the inner start threw) and its slot was given back.
   */
  private launch(run: GatedRun, startedAt: number): boolean {
    if (run.ended || this.closed) {
      if (!run.ended) run.end(this.result(run.spec, 'interrupted', 'the daemon was shutting down', run.enqueuedAt));
      this.release(run.queue);
      return false;
    }
    let process: RunningProcess;
    try {
      process = this.options.inner.start(run.spec);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      run.end(this.result(run.spec, 'failed', `the script could not be started: ${message}`, run.enqueuedAt));
      this.release(run.queue);
      return false;
    }
    this.occupy(run.queue, process);
    run.begin(process, startedAt - run.enqueuedAt);
    return true;
  }

  /**
   * A waiting run is being killed: it leaves the list, ends killed, and never starts. It held
   * no slot; one whose start is being recorded gives its slot back once that is done.
   */
  cancel(run: GatedRun): void {
    const index = this.waiting.indexOf(run);
    if (index < 0 && !run.starting) return;
    if (index >= 0) this.waiting.splice(index, 1);
    run.end(this.result(run.spec, 'killed', endedWhileWaiting, run.enqueuedAt));
  }

  /** The result of a run that never started. */
  private result(spec: RunSpec, outcome: RunResult['outcome'], error: string, enqueuedAt?: number): RunResult {
    const now = this.options.now();
    const result: RunResult = {
      outcome,
      startedAt: null,
      finishedAt: now,
      exitCode: null,
      signal: null,
      error,
      stdout: noOutput,
      stderr: noOutput,
      outputCap: this.options.outputCap,
    };
    if (enqueuedAt !== undefined) result.waitedMs = now - enqueuedAt;
    return result;
  }
}

/** The queue whose slots a run takes. */
function queueOf(spec: RunSpec): string {
  return spec.execution?.queue ?? defaultQueue;
}

function runKey(spec: RunSpec): string {
  return `${spec.taskId}\n${spec.run}`;
}

const none = (): { stdout: CapturedOutput; stderr: CapturedOutput } => ({ stdout: noOutput, stderr: noOutput });

/** A run that ended before it started. */
function endedBeforeStart(result: RunResult): RunningProcess {
  const finished = Promise.resolve(result);
  return { pid: undefined, finished, kill: () => finished, listen: () => undefined, outputSoFar: none };
}

/** What a waiting run asks of its gate. */
interface Gate {
  /** Takes `run` off the wait list and ends it as killed; nothing if it is no longer waiting. */
  cancel(run: GatedRun): void;
}

/**
 * A run that had to wait for a slot: it stands in for the inner process until the gate
 * starts it, then passes everything through to it, and adds to its result how long it waited.
 */
class GatedRun implements RunningProcess {
  readonly finished: Promise<RunResult>;
  private resolve!: (result: RunResult) => void;
  private reject!: (error: unknown) => void;
  private inner: RunningProcess | undefined;
  private listener: RunOutputListener | undefined;
  /** It has ended (started or not). */
  ended = false;
  /** Its slot is taken and its start is being recorded (beforeStart); it has not started yet. */
  starting = false;

  constructor(
    readonly spec: RunSpec,
    readonly queue: string,
    readonly enqueuedAt: number,
    private readonly gate: Gate,
    readonly beforeStart?: (startedAt: number) => Promise<void>,
  ) {
    this.finished = new Promise<RunResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Undefined until the run has started. */
  get pid(): number | undefined {
    return this.inner?.pid;
  }

  /** Still waiting for its slot. */
  get waiting(): boolean {
    return this.inner === undefined && !this.ended;
  }

  listen(listener: RunOutputListener): void {
    if (this.inner) this.inner.listen(listener);
    else this.listener = listener;
  }

  outputSoFar(): { stdout: CapturedOutput; stderr: CapturedOutput } {
    return this.inner ? this.inner.outputSoFar() : none();
  }

  /** Once started, ends the inner process; while waiting, ends the run before it starts. */
  kill(): Promise<RunResult> {
    if (this.inner) void this.inner.kill();
    else this.gate.cancel(this);
    return this.finished;
  }

  /** The gate started it as `process`, after waiting `waitedMs`. */
  begin(process: RunningProcess, waitedMs: number): void {
    this.inner = process;
    if (this.listener) process.listen(this.listener);
    this.listener = undefined;
    // The inner finished never rejects by contract; if it did, so does this one, as it would unwrapped.
    process.finished.then((result) => this.end({ ...result, waitedMs }), this.reject);
  }

  /** It ended, started or not. */
  end(result: RunResult): void {
    if (this.ended) return;
    this.ended = true;
    this.resolve(result);
  }
}
