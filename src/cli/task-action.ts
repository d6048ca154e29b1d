/** The shape of a command that applies one action to a task (stop, pause, resume, run). */
import { Command } from 'commander';
import type { SchedulerClient } from '../client/client.js';
import type { StopResponse } from '../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from './context.js';
import { booleanOption } from './boolean-flag.js';

/** A command that applies one action to a task and prints the task's new state. */
export function taskAction(
  io: CliIo,
  name: string,
  description: string,
  act: (client: SchedulerClient, id: string) => Promise<StopResponse>,
  done: (task: StopResponse) => string,
): Command {
  return new Command(name)
    .description(description)
    .argument('<id>', 'task id')
    .addOption(booleanOption('--json', 'print the task as JSON'))
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const task = await act(clientFor(command), id);
      if (task.warning) io.err(`warning: ${task.warning}`);
      if (options.json) return printJson(io, task);
      io.out(done(task));
    });
}

