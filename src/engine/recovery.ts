/**
 * Recovery from an unclean stop, done once as the engine starts. A clean shutdown records
 * its runs in progress itself, so a run the store still records as executing was cut off by
 * a crash or a kill -9: its process group may still be alive, orphaned, and its output
 * survives only in the runner's spool. Kept out of the engine because it runs before any
 * scheduling and needs only the store, the runner and the engine's ways to apply an event
 * and to start a run.
 *
 * A run recorded as waiting for a free slot never started its script (its real start would
 * have been recorded first): it is not interrupted, it is started again, as the same run. It
 * was due, and accepted, before the stop; the task's catch-up rule is about the fires that
 * came while the daemon was down, which the firing loop plans as usual once this is done.
 * Re-firing it through the catch-up rule instead would record it a second time (as a
 * skipped or a new run) for one fire. A clean shutdown leaves such runs waiting too.
 */
import type { Clock } from '../core/clock.js';
import type { Run, Task } from '../core/task.js';
import type { TaskEvent } from '../core/transition.js';
import type { RunLauncher } from '../runner/run-launcher.js';
import type { RunKey } from '../store/run-leases.js';
import type { TaskStore } from '../store/task-store.js';
import type { EngineLog } from './engine-log.js';

/** What recovery needs. */
export interface InterruptedRunRecoveryDeps {
  store: Pick<TaskStore, 'listExecutingTasks' | 'getTask' | 'getRun'>;
  runner: Pick<RunLauncher, 'killOrphans' | 'recoverOutput' | 'removeSpool'>;
  clock: Clock;
  log: EngineLog;
  /** The per-stream output cap recorded on each interrupted run. */
  outputCap: number;
  /**
   * The engine's apply (per-task mutex, compare-and-set write, then the effect), so that an
   * interrupted run is recorded exactly as any other end of a run is.
   */
  apply(taskId: string, event: Extract<TaskEvent, { kind: 'runFinished' }>): Promise<unknown>;
  /** Starts run `run` of `task`, recorded as waiting for a free slot (it may wait again). */
  startWaiting(task: Task, run: number): void;
  /**
   * When several nodes share the store: whether a run is this node's (or its earlier life's
   * on the same data directory). The others' runs are left alone: they go on on their nodes.
   */
  ownsRun?(key: RunKey): Promise<boolean>;
}

/**
 * Kills what is left of the processes of the runs the last stop interrupted, records each
 * such run as interrupted, with the output it had spooled, and starts again every run that
 * was waiting for a free slot.
 */
export async function recoverInterruptedRuns(deps: InterruptedRunRecoveryDeps): Promise<void> {
  const { store, runner, log } = deps;
  const executing = await store.listExecutingTasks();
  if (executing.length === 0) return; // nothing was in progress
  const toStart: Array<{ taskId: string; run: Run }> = [];
  let interrupted = 0;
  for (const found of executing) {
    // One task that cannot be recorded (a damaged row, a refused transition) must not keep
    // the daemon from starting for all the others: it is logged, and stays Executing until
    // a later start records it.
    try {
      // A task running several runs at once (overlap allow) has each one looked at in turn.
      for (const number of runsInProgress(found)) {
        if (deps.ownsRun && !(await deps.ownsRun({ taskId: found.id, run: number }))) continue;
        const run = await store.getRun(found.id, number);
        if (run?.waiting) toStart.push({ taskId: found.id, run });
        else {
          if (interrupted++ === 0) await killOrphans(deps);
          await recordInterrupted(deps, found.id, number, run);
        }
      }
    } catch (error) {
      log.error({ task: found.id, error }, 'could not record the interrupted run of this task; it stays Executing until the next start');
    }
  }
  // In the order they came due, as they would have started had the daemon not stopped.
  toStart.sort((a, b) => a.run.scheduledAt - b.run.scheduledAt || a.run.run - b.run.run);
  for (const { taskId, run } of toStart) {
    const task = await store.getTask(taskId);
    if (task?.state.status !== 'Executing' || !runsInProgress(task).includes(run.run)) continue;
    deps.startWaiting(task, run.run);
    log.info({ task: taskId, run: run.run }, 'started again a run that was waiting for a free slot when the daemon stopped');
  }
}

/** The runs a task records as executing: its run, and those beside it (overlap allow). */
function runsInProgress(task: Task): number[] {
  if (task.state.status !== 'Executing') return [];
  return [task.state.run, ...(task.state.parallel ?? []).map((other) => other.run)];
}

async function killOrphans({ runner, log }: InterruptedRunRecoveryDeps): Promise<void> {
  const orphans = await runner.killOrphans();
  if (orphans > 0) log.warn({ processGroups: orphans }, 'killed the processes that interrupted runs left behind');
}

/**
 * Records run `run` of a task as interrupted, with the output it had spooled (head and
 * tail). It ended, as far as anyone can tell, when the daemon last knew it alive: the later
 * of its start, its last spooled output and the runner's last heartbeat before the stop.
 */
async function recordInterrupted(deps: InterruptedRunRecoveryDeps, taskId: string, run: number, record: Run | undefined): Promise<void> {
  const { runner, clock, log } = deps;
  const { stdout, stderr, lastAliveAt } = await runner.recoverOutput(taskId, run);
  const startedAt = record?.startedAt ?? null;
  // No start and no sign of life (a record pruned or damaged): the restart is all that is known.
  const finishedAt = startedAt === null && lastAliveAt === undefined ? clock.now() : Math.max(startedAt ?? 0, lastAliveAt ?? 0);
  await deps.apply(taskId, {
    kind: 'runFinished',
    run,
    result: {
      outcome: 'interrupted',
      startedAt: null,
      finishedAt,
      exitCode: null,
      signal: null,
      error: 'the daemon stopped while the run was executing',
      outputCap: deps.outputCap,
      stdout,
      stderr,
    },
  });
  runner.removeSpool(taskId, run);
  log.warn({ task: taskId, run }, 'recorded an interrupted run');
}
