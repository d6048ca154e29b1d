/** scheduler pause ID, scheduler resume ID, scheduler run ID: control a task's schedule. */
import type { Command } from 'commander';
import type { CliIo } from '../context.js';
import { localTime } from '../render.js';
import { taskAction } from '../task-action.js';

export function pauseCommand(io: CliIo): Command {
  return taskAction(io, 'pause', 'pause a recurring task: no run until it is resumed (a run in progress finishes)', (client, id) => client.pause(id), (task) =>
    task.pauseRequested ? `pausing ${task.id}: the current run goes on, then it is Paused` : `paused ${task.id}`,
  );
}

export function resumeCommand(io: CliIo): Command {
  return taskAction(io, 'resume', 'resume a paused task: the next run is computed from now (runs missed while paused run once, now)', (client, id) => client.resume(id), (task) =>
    `resumed ${task.id}: status ${task.status}, next run at ${localTime(task.nextRunAt)}`,
  );
}

export function runCommand(io: CliIo): Command {
  return taskAction(io, 'run', 'start a run of a task now, besides its schedule (skipped if a run is executing)', (client, id) => client.runNow(id), (task) => {
    const run = task.results.at(-1);
    return run?.outcome === 'skipped' ? `${task.id}: run ${run.run} skipped (${run.error})` : `${task.id}: run ${run?.run ?? '?'} started`;
  });
}
