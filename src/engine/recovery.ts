/**
 * Recovery from an unclean stop, done once as the engine starts. A clean shutdown records
 * its runs in progress itself, so a run the store still records as executing was cut off by
 * a crash or a kill -9: its process group may still be alive, orphaned, and its output
 * survives only in the runner's spool. Kept out of the engine because it runs before any
 * scheduling and needs only the store, the runner and the engine's way to apply an event.
 */
import type { Clock } from '../core/clock.js';
import type { Task } from '../core/task.js';
import type { TaskEvent } from '../core/transition.js';
import type { RunLauncher } from '../runner/run-launcher.js';
import type { TaskStore } from '../store/task-store.js';
import type { EngineLog } from './engine-log.js';

/** What recovery needs. */
export interface InterruptedRunRecoveryDeps {
  store: Pick<TaskStore, 'listExecutingTasks' | 'getTask'>;
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
}

/**
 * Kills what is left of the processes of the runs the last stop interrupted, and records
 * each such run as interrupted, with the output it had spooled.
 */
export async function recoverInterruptedRuns(deps: InterruptedRunRecoveryDeps): Promise<void> {
  const { store, runner, log } = deps;
  const interrupted = await store.listExecutingTasks();
  if (interrupted.length === 0) return; // the last stop was clean
  const orphans = runner.killOrphans();
  if (orphans > 0) log.warn({ processGroups: orphans }, 'killed the processes that interrupted runs left behind');
  for (const found of interrupted) {
    // One task that cannot be recorded (a damaged row, a refused transition) must not keep
    // the daemon from starting for all the others: it is logged, and stays Executing until
    // a later start records it.
    try {
      // A task running several runs at once (overlap allow) has each one recorded in turn.
      for (let task: Task | undefined = found; task?.state.status === 'Executing'; task = await store.getTask(found.id)) {
        await recordInterrupted(deps, task, task.state.run);
      }
    } catch (error) {
      log.error({ task: found.id, error }, 'could not record the interrupted run of this task; it stays Executing until the next start');
    }
  }
}

/** Records run `run` of `task` as interrupted, with the output it had spooled. */
async function recordInterrupted(deps: InterruptedRunRecoveryDeps, task: Task, run: number): Promise<void> {
  const { runner, clock, log } = deps;
  const output = runner.recoverOutput(task.id, run);
  await deps.apply(task.id, {
    kind: 'runFinished',
    run,
    result: {
      outcome: 'interrupted',
      startedAt: null,
      finishedAt: clock.now(),
      exitCode: null,
      signal: null,
      error: 'the daemon stopped while the run was executing',
      outputCap: deps.outputCap,
      ...output,
    },
  });
  runner.removeSpool(task.id, run);
  log.warn({ task: task.id, run }, 'recorded an interrupted run');
}
