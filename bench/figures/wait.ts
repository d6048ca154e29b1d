/** Waiting for a task's run to be recorded, by long poll, within a deadline. */
import { type Api, type TaskJson } from '../api.js';

const finalStatuses = new Set(['Executed', 'Stopped']);

/** Returns the task once its status is final (delay tasks); throws after `deadlineMs`. */
export async function waitUntilFinished(api: Api, id: string, deadlineMs: number): Promise<TaskJson> {
  const deadline = performance.now() + deadlineMs;
  let task = await api.get(id);
  while (!finalStatuses.has(task.status)) {
    const left = Math.floor(deadline - performance.now());
    if (left <= 0) throw new Error(`task ${id} still ${task.status} after ${deadlineMs} ms`);
    task = await api.watch(id, task.version, Math.min(left, 5000));
  }
  return task;
}
