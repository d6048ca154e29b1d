/**
 * Schedule arithmetic: when a task fires. A cron task (the spec's fixed interval) fires on a
 * grid anchored at its submission time, createdAt + k * interval for k >= 1, so runs never
 * drift however long each one takes, and a restart resumes the same grid.
 */
import type { TaskDefinition } from './task.js';

/** The first fire time of a task submitted at `createdAt`. */
export function firstFireAt(task: Pick<TaskDefinition, 'intervalMs'>, createdAt: number): number {
  return createdAt + task.intervalMs;
}

/**
 * The first tick of a cron task strictly after `after`. Ticks missed while the daemon was
 * busy or down collapse into the one run that is happening now; the grid itself never moves.
 */
export function nextTickAfter(
  task: Pick<TaskDefinition, 'intervalMs'>,
  createdAt: number,
  after: number,
): number {
  const ticksSoFar = Math.floor((after - createdAt) / task.intervalMs);
  return createdAt + Math.max(1, ticksSoFar + 1) * task.intervalMs;
}
