/**
 * The scheduler. Every change to a task, whether a user's command, a fire or the end of a
 * run, goes through `apply`: the pure `transition` and a compare-and-set write, under a
 * per-task mutex; then its effect is carried out and watchers are told. Timing (the one
 * timer, due tasks fired, runs warmed up) lives in firing-loop.ts and the recovery after an
 * unclean stop in recovery.ts; both change tasks only through `apply`, so this file stays
 * the one place where a transition is written and acted on. The engine holds only what
 * scheduling needs: the armed due time (in the firing loop), and the runs in progress with
 * the slots they take or wait for (run-supervisor.ts, run-slots.ts; the limits are policy,
 * decided in core/run-slots.ts). It reaches processes only through the runner's contract.
 */
import type { Clock } from '../core/clock.js';
import { isStoreFault, SchedulerError } from '../core/errors.js';
import { queueOf, unboundedSlots, type ConcurrencySnapshot, type SlotLimits } from '../core/run-slots.js';
import { newTask, parseSubmission, type Submission, type SubmissionLimits } from '../core/submission.js';
import { dueAt, type Run, runKeyOf, type RunOutcome, type Task, type TaskStatus } from '../core/task.js';
import { IllegalTransition, transition, type RunResult, type TaskEvent, type Transition } from '../core/transition.js';
import type { RunLauncher } from '../runner/run-launcher.js';
import type { ClaimOutcome, FireClaims } from '../store/fire-claims.js';
import type { ExpiredRun, LiveRun, RemoteRun, RunKey, RunLeases, RunRequests } from '../store/run-leases.js';
import type { ListAllRunsParams, RunPage, RunSummaryPage, Takeover, TaskPage, TaskStore } from '../store/task-store.js';
import type { ChangeFeed } from './change-feed.js';
import { FiringLoop, fireInstant } from './firing-loop.js';
import { KeyedMutex } from './keyed-mutex.js';
import { LeaseKeeper } from './lease-keeper.js';
import { recoverInterruptedRuns } from './recovery.js';
import { RunSupervisor, type Admission } from './run-supervisor.js';

import type { EngineLog } from './engine-log.js';
import { silentFaults, type FaultReporter } from './fault-log.js';
import { RunEndBacklog, type CommitOutcome } from './run-end-backlog.js';
import { notFound, TaskReads } from './task-reads.js';
import { runChangeFor } from './run-records.js';
import { ignoredActivity, type LiveOutput, type TaskActivity } from './task-activity.js';

export type { EngineLog };

/** The engine's collaborators and settings. */
export interface EngineOptions {
  store: TaskStore;
  runner: RunLauncher;
  clock: Clock;
  feed: ChangeFeed;
  /** Told of each change, output chunk and deletion as it happens (the live event stream); none if absent. */
  activity?: TaskActivity;
  log: EngineLog;
  /** Where failures that repeat (the store refusing writes) are logged once per interval; nowhere if absent. */
  faults?: FaultReporter;
  /** Output held in memory for ended runs the store could not commit yet, in bytes (default 64 MiB). */
  maxHeldOutputBytes?: number;
  /** Runs kept per task; older ones are pruned as new ones are recorded. */
  keepRuns: number;
  /** The per-stream output cap recorded on a run when it starts. */
  outputCap: number;
  /** The output kept by all runs together; the oldest runs' output is dropped beyond it. None if absent. */
  maxOutputBytes?: number;
  limits: SubmissionLimits;
  /** How many runs may execute at once, in all and per queue (the rest wait for a free slot); unbounded if absent. */
  slots?: SlotLimits;
  /**
   * How long before a run is due its process is spawned, held, so that it starts on time
   * (spawning takes milliseconds; releasing a held process does not). 0: no warm-up.
   */
  warmupMs?: number;
  /** How long before a task is due it is fired, its script released on the dot (FiringLoopOptions.fireAheadMs); 0 if absent. */
  fireAheadMs?: number;
  /**
   * When several nodes share the store: the leases of this node's runs (renewed every
   * `renewEveryMs`), and this node's id, named when it takes over the runs of another.
   */
  leases?: { store: RunLeases & RunRequests; renewEveryMs: number; nodeId: string };
  /**
   * When several nodes share the store: due fires are claimed there (fire-claims.ts), and the
   * firing loop also looks every `pollMs` for what other nodes submitted or left.
   */
  claims?: {
    store: FireClaims;
    pollMs: number;
    /** The named queues' bounds, enforced over the whole cluster in the claim (the local `slots` then bound only this node's total). */
    queueLimits?: Readonly<Record<string, number>>;
  };
}

/** A task together with its retained runs, oldest first. */
export interface TaskWithRuns {
  task: Task;
  runs: Run[];
}

/**
 * A user's command may name the versions of the task it was meant for (HTTP If-Match): it is
 * refused with precondition_failed, under the task's mutex, when the task is at another.
 */
export type ExpectedVersions = readonly number[];

/**
 * How long a kill sent to another node waits for the run's end to be recorded: the owner
 * takes requests every second, then TERM, the grace period, KILL.
 */
const remoteKillWaitMs = 30_000;
/** How often that wait reads the task again. */
const remoteEndPollMs = 100;

/** Compare-and-set retries before a write is given up as contended. */
const maxWriteAttempts = 5;
/**
 * With claims, a warm-up prepares at most this many runs: the fires of a burst are shared
 * among the nodes, so most of the processes one node would prepare for it would be another's.
 */
const clusterMaxWarmups = 4;

/** What the engine holds in memory because the store refused it; nothing when all is committed. */
export interface EngineBacklog {
  /** Ended runs whose end waits to be committed. */
  heldRunEnds: number;
  /** The bytes of output they hold. */
  heldOutputBytes: number;
}

/** The task scheduler. */
export class Engine {
  private readonly mutex = new KeyedMutex();
  private readonly runs: RunSupervisor;
  private readonly firingLoop: FiringLoop;
  private readonly activity: TaskActivity;
  /** Ends of runs the store refused, waiting to be committed. */
  private readonly heldEnds: RunEndBacklog;
  /** Tasks and runs as they are now (task-reads.ts). */
  private readonly reads: TaskReads;
  /** Renews this node's leases and takes over expired ones (shared stores only). */
  private readonly leaseKeeper: LeaseKeeper | undefined;
  /** Runs whose lease this node lost: their end is not recorded, and that is expected. */
  private readonly abandoned = new Set<string>();
  /**
   * Each executing task as this engine last wrote it (not with claims: other nodes write
   * tasks too). The start and the end of its run apply to it without reading it again; every
   * change of a task's row raises its version, so the compare-and-set refuses a remembered
   * task that is no longer the row, and that attempt reads it afresh.
   */
  private readonly lastWritten = new Map<string, Task>();

  constructor(private readonly options: EngineOptions) {
    const faults = options.faults ?? silentFaults;
    this.firingLoop = new FiringLoop({
      store: options.store,
      prepare: (task, run) => this.runs.prepare(task, run),
      clock: options.clock,
      log: options.log,
      faults,
      warmupMs: options.warmupMs ?? 0,
      // Another node may claim any of the due tasks: prepare a few, not a whole burst.
      ...(options.claims ? { maxWarmups: clusterMaxWarmups } : {}),
      // Claims go by the database's clock, which would find the task not due yet: no firing ahead.
      fireAheadMs: options.claims ? 0 : (options.fireAheadMs ?? 0),
      apply: (id, event, listed) => this.mutex.run(id, () => this.applyLocked(id, event, undefined, undefined, listed)),
      ...(options.claims ? { claim: (limit: number) => this.claimDue(limit), pollMs: options.claims.pollMs } : {}),
    });
    this.activity = options.activity ?? ignoredActivity;
    this.runs = new RunSupervisor({
      runner: options.runner,
      clock: options.clock,
      log: options.log,
      activity: this.activity,
      outputCap: options.outputCap,
      slots: options.slots ?? unboundedSlots,
      onEnd: (id, run, result) => this.recordRunEnd(id, run, result),
      onStart: (id, run, startedAt) => this.recordRunStart(id, run, startedAt),
    });
    this.heldEnds = new RunEndBacklog({
      commit: (id, run, result) => this.commitRunEnd(id, run, result),
      clock: options.clock,
      log: options.log,
      faults,
      maxOutputBytes: options.maxHeldOutputBytes ?? 64 * 1024 * 1024,
    });
    this.reads = new TaskReads({
      store: options.store,
      keepRuns: options.keepRuns,
      heldEnd: (taskId, run) => this.heldEnds.resultOf(taskId, run),
      liveOutput: (taskId, run) => this.runs.liveOutput(taskId, run),
    });
    if (options.leases) {
      this.leaseKeeper = new LeaseKeeper({
        leases: options.leases.store,
        clock: options.clock,
        log: options.log,
        faults,
        everyMs: options.leases.renewEveryMs,
        localRuns: () => this.runs.inProgress(),
        abandon: ({ taskId, run }) => {
          this.abandoned.add(runKeyOf(taskId, run));
          void this.runs.kill(taskId, 'its lease lapsed: another node recorded it', run);
        },
        takeOver: (expired) => this.takeOver(expired),
        requests: options.leases.store,
        kill: ({ taskId, run, reason }) => void this.runs.kill(taskId, reason, run),
      });
    }
  }

  /** Recovers from an unclean stop, applies the bound on kept output, then starts the timer. */
  async start(): Promise<void> {
    const { store, runner, clock, log, outputCap } = this.options;
    await recoverInterruptedRuns({
      store,
      runner,
      clock,
      log,
      outputCap,
      apply: (id, event) => this.apply(id, event),
      startWaiting: (task, run) => this.runs.start(task, run, true),
      ...(this.options.leases ? { ownsRun: (key: RunKey) => this.options.leases!.store.isOwn(key) } : {}),
    });
    // Renewed at once: the runs of this node's earlier life started again above have an expired lease.
    this.leaseKeeper?.start();
    // The bound may have been lowered since the last start.
    await this.boundOutput();
    await this.firingLoop.armForEarliestDue();
  }

  /** Stops scheduling, ends the runs in progress (recorded as interrupted) and waits for them. */
  async shutdown(): Promise<void> {
    this.firingLoop.stop();
    await this.leaseKeeper?.stop();
    this.options.runner.discardPrepared();
    await this.runs.shutdown();
    // A last try for the ends the store refused; what is still held then is lost with the
    // process, but not its output: the spool stays, and the next start records the run.
    if (this.heldEnds.size > 0) await this.heldEnds.retryNow();
    const lost = this.heldEnds.close();
    if (lost > 0) {
      this.options.log.error({ runs: lost }, 'the store refused to record the end of these runs until shutdown; the next start records them as interrupted, with their spooled output');
    }
  }

  /** What is held in memory because the store refused to commit it. */
  get backlog(): EngineBacklog {
    return { heldRunEnds: this.heldEnds.size, heldOutputBytes: this.heldEnds.outputBytes };
  }

  /** Validates and stores a new task; it is committed when this resolves. */
  async submit(input: Submission): Promise<Task> {
    const task = this.dryRun(input);
    await this.options.store.insertTask(task);
    this.options.log.debug({ task: task.id, type: task.type, time: task.time, nextRunAt: dueAt(task.state) }, 'task submitted');
    this.firingLoop.armFor(task);
    return task;
  }

  /**
   * Stores a task brought from another store (`scheduler import`) with its runs as they were;
   * already_exists when the id is taken. A run that was in progress when it was exported
   * executes nowhere now: it is recorded as interrupted, as a restart records a run the
   * daemon lost, and the task goes on by its rules (its next fire, or its end). Resolves
   * with how many runs were so recorded.
   */
  async importTask(task: Task, runs: readonly Run[]): Promise<{ interrupted: number }> {
    await this.options.store.importTask(task, runs);
    this.options.log.debug({ task: task.id, status: task.state.status, runs: runs.length }, 'task imported');
    let interrupted = 0;
    for (const run of runs) {
      if (run.outcome !== 'running') continue;
      if (await this.recordImportedRunInterrupted(task.id, run)) interrupted++;
    }
    if (interrupted === 0) this.firingLoop.armFor(task);
    return { interrupted };
  }

  /**
   * Records an imported run in progress as interrupted. The task is stored already, so a
   * refusal (a run its state does not name, from a damaged export) is logged, not thrown: the
   * run stays recorded as running, and the next start of the daemon records it if the task's
   * state names it.
   */
  private async recordImportedRunInterrupted(taskId: string, run: Run): Promise<boolean> {
    try {
      await this.apply(taskId, {
        kind: 'runFinished',
        run: run.run,
        result: {
          outcome: 'interrupted',
          startedAt: null,
          finishedAt: this.options.clock.now(),
          exitCode: null,
          signal: null,
          error: 'the run was executing when its task was exported; it was imported as interrupted',
          outputCap: run.outputCap,
          stdout: run.stdout,
          stderr: run.stderr,
        },
      });
      return true;
    } catch (error) {
      if (isStoreFault(error)) throw error;
      this.options.log.error({ task: taskId, run: run.run, error }, 'could not record an imported run in progress as interrupted; it stays recorded as running');
      return false;
    }
  }

  /** The task a submission would create now, checked, without storing it. */
  dryRun(input: Submission): Task {
    const now = this.options.clock.now();
    return newTask(parseSubmission(input, this.options.limits, now, this.options.clock.timeZone()), now);
  }

  /** Stops a task by the spec's rules, and returns it with its runs; `warning` says when a run goes on. */
  stop(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'stop' }, expectedVersions);
  }

  /** Pauses a recurring task: no fire until it is resumed (a run executing goes on). */
  pause(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'pause' }, expectedVersions);
  }

  /** Resumes a paused task: its next fire is computed from now, missed fires run once. */
  resume(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'resume' }, expectedVersions);
  }

  /** Starts a run now, besides the schedule; skipped (and said so) while a run executes. */
  runNow(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns & { warning: string | null }> {
    return this.command(id, { kind: 'trigger' }, expectedVersions);
  }

  /** Applies a user's event and returns the task with its runs, and a warning if any. */
  private command(
    id: string,
    event: Extract<TaskEvent, { kind: 'stop' | 'pause' | 'resume' | 'trigger' }>,
    expectedVersions?: ExpectedVersions,
  ): Promise<TaskWithRuns & { warning: string | null }> {
    return this.mutex.run(id, async () => {
      const { task, warning } = await this.applyLocked(id, event, expectedVersions);
      return { task, runs: await this.options.store.listRuns(id), warning };
    });
  }

  /**
   * Ends the run in progress of a task (its whole process group: TERM, then KILL after the
   * grace period) and returns the task once the run is recorded as killed. The schedule goes
   * on: a cron task waits for its next tick. not_running when no run is executing.
   */
  async kill(id: string, expectedVersions?: ExpectedVersions): Promise<TaskWithRuns> {
    if (!(await this.killAt(id, expectedVersions))) {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      // Executing on other nodes, maybe: they are asked, and the answer waits for the runs' end.
      const remote = await this.requestKill(id, `killed on request (asked on node ${this.options.leases?.nodeId})`);
      if (remote.length > 0) return this.waitForRemoteEnd(id, remote);
      throw new SchedulerError('not_running', `task "${id}" has no run executing (status ${task.state.status}); nothing to kill`);
    }
    // The end of the run is recorded under the task's mutex: queue behind it.
    await this.mutex.run(id, async () => undefined);
    return this.get(id);
  }

  /** Starts ending the task's runs in progress, if the task is at one of `expectedVersions` (when given); false when there were none. */
  private async killAt(id: string, expectedVersions: ExpectedVersions | undefined): Promise<boolean> {
    if (expectedVersions === undefined) return this.runs.kill(id);
    // Checked and started under the mutex, but not awaited there: the run's end is recorded under it.
    const { killing } = await this.mutex.run(id, async () => {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      requireVersion(task, expectedVersions);
      return { killing: this.runs.kill(id) };
    });
    return killing;
  }

  /** Stops a task, kills its run if one is in progress, and removes it with its runs. */
  async delete(id: string, expectedVersions?: ExpectedVersions): Promise<void> {
    await this.mutex.run(id, async () => {
      const task = await this.options.store.getTask(id);
      if (!task) throw notFound(id);
      requireVersion(task, expectedVersions);
      await this.runs.end(id);
      // Runs on other nodes end there within a second; their ends find the task gone.
      await this.requestKill(id, 'its task was deleted');
      await this.options.store.deleteTask(id);
      this.discardPrepared(id);
      this.lastWritten.delete(id);
      this.options.log.info({ task: id }, 'task deleted');
      this.options.feed.publish(id, 'deleted');
      this.activity.deleted(id);
    });
  }

  /**
   * Asks the other nodes executing runs of the task (run `run` only, when given) to end them;
   * answers the runs asked for (none on a store one daemon alone uses).
   */
  private async requestKill(id: string, reason: string, run?: number): Promise<RemoteRun[]> {
    const requests = this.options.leases?.store;
    if (!requests) return [];
    const remote = await requests.requestKill({ taskId: id, reason, ...(run === undefined ? {} : { run }) });
    for (const asked of remote) this.options.log.info({ task: id, run: asked.run, node: asked.node }, 'asked the node executing this run to end it');
    return remote;
  }

  /** Ends a run here if it executes here, else asks the node that executes it. */
  private async killAnywhere(id: string, reason: string, run: number): Promise<void> {
    try {
      if (!(await this.runs.kill(id, reason, run))) await this.requestKill(id, reason, run);
    } catch (error) {
      this.options.log.error({ task: id, run, error }, 'could not ask the node executing this run to end it');
    }
  }

  /**
   * The task once the runs other nodes were asked to end are recorded ended (or, at the
   * latest, after remoteKillWaitMs: then as it is).
   */
  private async waitForRemoteEnd(id: string, remote: readonly RemoteRun[]): Promise<TaskWithRuns> {
    const deadline = this.options.clock.now() + remoteKillWaitMs;
    for (;;) {
      const found = await this.get(id);
      const stillRunning = found.runs.some((run) => run.outcome === 'running' && remote.some((asked) => asked.run === run.run));
      if (!stillRunning || this.options.clock.now() >= deadline) return found;
      await new Promise<void>((resolve) => this.options.clock.setTimer(resolve, remoteEndPollMs));
    }
  }

  /** A task without its runs; not_found when there is no such task. */
  getTask(id: string): Promise<Task> {
    return this.reads.getTask(id);
  }

  /** The output so far of run `run` of the task (by default its first run in progress); undefined when it is not executing here. */
  liveOutput(id: string, run?: number): LiveOutput | undefined {
    return this.runs.liveOutput(id, run);
  }

  /** Every run in progress on this node, with its output so far (the daemon flushes it for other nodes to follow). */
  runsHere(): LiveRun[] {
    return this.runs.inProgress();
  }

  /** The task's version as stored (one row read), undefined when there is no such task. */
  taskVersion(id: string): Promise<number | undefined> {
    return this.options.store.taskVersion(id);
  }

  /** A task and its runs, each as it is now (task-reads.ts); not_found when there is no such task. */
  get(id: string): Promise<TaskWithRuns> {
    return this.reads.get(id);
  }

  /** A page of a task's runs, newest first; not_found when there is no such task. */
  listRuns(params: { id: string; limit: number; cursor?: string; outcome?: RunOutcome }): Promise<RunPage> {
    return this.reads.listRuns(params);
  }

  /** One run of a task; not_found when there is no such task or run (pruned, or not yet). */
  getRun(id: string, run: number): Promise<Run> {
    return this.reads.getRun(id, run);
  }

  /** A page of tasks: in submission order, or in id order with a prefix. */
  list(params: { limit: number; cursor?: string; status?: TaskStatus; prefix?: string }): Promise<TaskPage> {
    return this.reads.list(params);
  }

  /** The outcomes of the last `count` runs of each task of `taskIds`, oldest first, as they are now. */
  recentOutcomes(taskIds: readonly string[], count: number): Promise<Map<string, RunOutcome[]>> {
    return this.reads.recentOutcomes(taskIds, count);
  }

  /** A page of the runs of every task, newest fire first, without the text of their output. */
  listAllRuns(params: ListAllRunsParams): Promise<RunSummaryPage> {
    return this.reads.listAllRuns(params);
  }

  /** How many runs are executing now. */
  /** When the firing loop last finished a pass over the due tasks (for the metrics), if it has. */
  get lastTickAt(): number | undefined {
    return this.firingLoop.lastPassAt;
  }

  get runsInProgress(): number {
    return this.runs.size;
  }

  /** How full the slots of runs are now. */
  slotsSnapshot(): ConcurrencySnapshot {
    return this.runs.slotsSnapshot();
  }

  /**
   * Applies one event to a task under its mutex: read, transition, compare-and-set write,
   * then carry out the effect and tell watchers. A write that loses a race with another
   * daemon is retried from a fresh read, so the event lands on whatever state won.
   */
  private apply(id: string, event: TaskEvent, takeover?: Takeover): Promise<Transition> {
    return this.mutex.run(id, () => this.applyLocked(id, event, undefined, takeover));
  }

  /**
   * apply, for a caller that holds the task's mutex already; with `expectedVersions`, only to
   * a task at one of them; with `takeover`, the end of another node's run (see RunChange).
   * With `known`, the task as the caller read it a moment ago (the due query of the firing
   * loop): the first attempt starts from it, and a compare-and-set that finds the task
   * changed since sends it back to a fresh read, as any lost race does.
   */
  private async applyLocked(id: string, event: TaskEvent, expectedVersions?: ExpectedVersions, takeover?: Takeover, known?: Task): Promise<Transition> {
    for (let attempt = 1; ; attempt++) {
      const remembered = attempt === 1 ? (known ?? this.rememberedFor(id, event)) : undefined;
      const task = remembered ?? (await this.options.store.getTask(id));
      if (!task) throw notFound(id);
      // Checked on the read the compare-and-set write is based on: nothing can change between.
      requireVersion(task, expectedVersions);
      const now = fireInstant(task, event, this.options.clock.now());
      const result = transition(task, event, now);
      if (!result.changed) return result;
      // A run to start takes its slot before its start is written, so the record says truly whether it waits.
      const admission = this.runs.admit(result.task, result.effect);
      try {
        await this.options.store.saveTask({
          task: result.task,
          expectedVersion: task.version,
          runChange: runChangeFor(result.effect, admission.waits, this.options.outputCap, takeover),
          keepRuns: this.options.keepRuns,
          previous: task,
        });
      } catch (error) {
        admission.cancel();
        if (isVersionConflict(error) && attempt < maxWriteAttempts) continue;
        throw error;
      }
      this.remember(result.task);
      this.afterSave(result, task, admission, event.kind);
      return result;
    }
  }

  /** The remembered task for the run events that may start from it (see lastWritten). */
  private rememberedFor(id: string, event: TaskEvent): Task | undefined {
    return event.kind === 'runStarted' || event.kind === 'runFinished' ? this.lastWritten.get(id) : undefined;
  }

  private remember(task: Task): void {
    if (this.options.claims) return;
    if (task.state.status === 'Executing') this.lastWritten.set(task.id, task);
    else this.lastWritten.delete(task.id);
  }

  /** What follows a committed write: start the run it asked for, re-arm, tell watchers. */
  private afterSave({ task, effect }: Transition, previous: Task, admission: Admission, cause: TaskEvent['kind']): void {
    // A fire made ahead of its time starts its script at that time (effect.startedAt), not now.
    if (effect?.kind === 'startRun') this.runs.start(task, effect.run, admission.waits, effect.startedAt > this.options.clock.now() ? effect.startedAt : undefined);
    // Not awaited: the run's end is recorded (as killed) under this task's mutex, held now.
    if (effect?.kind === 'killRun') void this.killAnywhere(task.id, effect.reason, effect.run);
    if (effect?.kind === 'skipRun') {
      this.options.log.warn({ task: task.id, run: effect.run }, `tick skipped: ${effect.reason}`);
    }
    if (ranItsLast(task)) this.discardPrepared(task.id);
    this.firingLoop.armFor(task);
    this.options.feed.publish(task.id, 'changed');
    this.activity.changed(task, previous, effect, effect?.kind === 'startRun' && admission.waits, cause);
  }

  /**
   * Lets go of what was prepared for the runs of a task that will have none (deleted, stopped,
   * paused, done): its held processes would otherwise wait until their time or 10 s, and a
   * task submitted again under its id would find the old one's process and start cold.
   */
  private discardPrepared(id: string): void {
    this.firingLoop.forget(id);
    this.options.runner.discardPrepared(id);
  }

  /**
   * Records that a run recorded as waiting for a free slot has started: its start time, and
   * the task's version raised, so that watchers and long polls learn of it. A task deleted
   * meanwhile has nothing left to record.
   */
  private async recordRunStart(id: string, run: number, startedAt: number): Promise<void> {
    try {
      await this.apply(id, { kind: 'runStarted', run, startedAt });
    } catch (error) {
      if (!(error instanceof SchedulerError && error.code === 'not_found')) {
        this.options.log.error({ task: id, run, error }, 'could not record the start of a run that waited for a free slot');
      }
    }
  }

  /**
   * Records how a run ended (the supervisor calls this once per run). An end the store
   * refuses (disk full) is held and committed later; so is every end after it, in order.
   */
  private async recordRunEnd(id: string, run: number, result: RunResult): Promise<void> {
    // Its slot is free: a fire left for want of one may be claimed now.
    if (this.options.claims) this.firingLoop.poke();
    if (this.heldEnds.size > 0) {
      this.heldEnds.hold(id, run, result, 'behind');
      void this.heldEnds.retryNow();
      return;
    }
    try {
      await this.commitRunEnd(id, run, result);
    } catch (error) {
      if (isStoreFault(error)) {
        this.heldEnds.hold(id, run, result, 'refused');
        return;
      }
      if (await this.wasLost(id, run, error)) {
        this.options.log.warn({ task: id, run, outcome: result.outcome, error: (error as Error).message }, "the end of this run is not recorded: it was no longer this node's");
      } else {
        this.options.log.error({ task: id, run, error }, 'could not record the end of a run');
      }
      this.options.runner.removeSpool(id, run);
    }
  }

  /**
   * Claims due tasks in the store and fires them in the claim's transaction; a fire whose run
   * would have to wait for a slot here is left for a node with room (or a later claim).
   */
  private async claimDue(limit: number): Promise<{ due: number; left: number }> {
    const fired = new Map<string, { result: Transition; admission: Admission }>();
    let left = 0;
    let claimed: ClaimOutcome;
    try {
      const { store, queueLimits } = this.options.claims!;
      claimed = await store.claimDue({
        limit,
        ...(queueLimits ? { queueLimits } : {}),
        fire: (task, now, queues) => {
          let result: Transition;
          try {
            result = transition(task, { kind: 'fire' }, now);
          } catch (error) {
            if (error instanceof IllegalTransition) return undefined; // no longer due: fired elsewhere meanwhile
            throw error;
          }
          if (!result.changed) return undefined;
          const admission = this.runs.admit(result.task, result.effect);
          if (admission.waits) {
            left++;
            return undefined;
          }
          // Its queue is full over the cluster: a node fires it once a run of the queue ends.
          if (result.effect?.kind === 'startRun' && !queues.take(queueOf(result.task.execution))) {
            admission.cancel();
            left++;
            return undefined;
          }
          fired.set(task.id, { result, admission });
          return { task: result.task, expectedVersion: task.version, runChange: runChangeFor(result.effect, false, this.options.outputCap), keepRuns: this.options.keepRuns };
        },
      });
    } catch (error) {
      for (const { admission } of fired.values()) admission.cancel();
      throw error;
    }
    for (const { previous } of claimed.fires) {
      const { result, admission } = fired.get(previous.id)!;
      this.afterSave(result, previous, admission, 'fire');
    }
    return { due: claimed.due, left };
  }

  /**
   * Whether a run's end was refused (`error`) because the run is no longer this node's: its
   * lease lapsed and another node recorded it (the task may have moved on already, so that the
   * transition itself refuses the end).
   */
  private async wasLost(id: string, run: number, error: unknown): Promise<boolean> {
    if (this.abandoned.delete(runKeyOf(id, run))) return true;
    if (error instanceof SchedulerError && error.code === 'lease_lost') return true;
    const leases = this.options.leases?.store;
    if (!leases || !(error instanceof IllegalTransition)) return false;
    return !(await leases.isOwn({ taskId: id, run }).catch(() => true));
  }

  /**
   * Records another node's run, whose lease expired, as interrupted with the output it wrote
   * so far; the store refuses it (lease_lost) if that node renewed or ended it meanwhile.
   */
  private async takeOver(expired: ExpiredRun): Promise<void> {
    const { record, ownerNode, leaseExpiredAt } = expired;
    const node = this.options.leases!.nodeId;
    await this.apply(
      expired.taskId,
      {
        kind: 'runFinished',
        run: expired.run,
        result: {
          outcome: 'interrupted',
          startedAt: null,
          finishedAt: leaseExpiredAt,
          exitCode: null,
          signal: null,
          error: `node ${ownerNode ?? '(unknown)'} executing the run stopped renewing its lease (expired at ${new Date(leaseExpiredAt).toISOString()}); recorded by node ${node}`,
          outputCap: record.outputCap,
          stdout: record.stdout,
          stderr: record.stderr,
          nodeLost: true,
        },
      },
      { ownerHome: expired.ownerHome, fence: expired.fence },
    );
  }

  /** Commits the end of a run; 'gone' when its task was deleted meanwhile. Store faults are thrown. */
  private async commitRunEnd(id: string, run: number, result: RunResult): Promise<CommitOutcome> {
    try {
      await this.apply(id, { kind: 'runFinished', run, result });
    } catch (error) {
      // The task was deleted while its run went on: there is nothing left to record.
      if (!(error instanceof SchedulerError && error.code === 'not_found')) throw error;
      this.options.runner.removeSpool(id, run);
      return 'gone';
    }
    this.options.log.info({ task: id, run, outcome: result.outcome, exitCode: result.exitCode }, 'run finished');
    // Recorded: the spool, kept in case the daemon died first, is done.
    this.options.runner.removeSpool(id, run);
    await this.boundOutput().catch((error) => this.options.log.error({ error }, 'could not bound the output kept on disk'));
    return 'committed';
  }

  /** Drops the output of the oldest runs while all kept output is over its bound. */
  private async boundOutput(): Promise<void> {
    const { maxOutputBytes, store, log } = this.options;
    if (maxOutputBytes === undefined) return;
    const runs = await store.boundOutput(maxOutputBytes);
    if (runs > 0) log.info({ runs, maxOutputBytes }, 'dropped the output of the oldest runs to keep all output within its bound');
  }
}

/** Whether `task` will start no run any more, unless a user resumes it (Stopped, Paused, Executed). */
function ranItsLast(task: Task): boolean {
  const { status } = task.state;
  return status === 'Stopped' || status === 'Paused' || status === 'Executed';
}

function requireVersion(task: Task, expectedVersions: ExpectedVersions | undefined): void {
  if (expectedVersions === undefined || expectedVersions.includes(task.version)) return;
  const why =
    expectedVersions.length === 0
      ? `the request's condition names no version (the ETag of this one is "v${task.version}")`
      : `not ${expectedVersions.join(' or ')} as the request expected: it changed since it was read; get it again and decide`;
  throw new SchedulerError('precondition_failed', `task "${task.id}" is at version ${task.version}, ${why}`);
}

function isVersionConflict(error: unknown): boolean {
  return error instanceof SchedulerError && error.code === 'version_conflict';
}
