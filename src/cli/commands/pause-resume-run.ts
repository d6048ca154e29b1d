/** scheduler pause ID, scheduler resume ID, scheduler run ID: control a task's schedule. */
import { Command } from 'commander';
import type { SchedulerClient } from '../../client/client.js';
import type { StopResponse } from '../../protocol/schemas.js';
import { localTime } from '../render.js';
import { clientFor, printJson, type CliIo } from '../context.js';

/** A command that applies one action to a task and prints the task's new state. */
function taskAction(
  io: CliIo,
  name: string,
  description: string,
  act: (client: SchedulerClient, id: string) => Promise<StopResponse>,
  done: (task: StopResponse) => string,
): Command {
  return new Command(name)
    .description(description)
    .argument('<id>', 'task id')
    .option('--json', 'print the task as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const task = await act(clientFor(command), id);
      if (task.warning) io.err(`warning: ${task.warning}`);
      if (options.json) return printJson(io, task);
      io.out(done(task));
    });
}

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
