/** scheduler stop ID */
import { Command } from 'commander';
import { clientFor, printJson, type CliIo } from '../context.js';

export function stopCommand(io: CliIo): Command {
  return new Command('stop')
    .description('stop a task: it never runs again (a cron run in progress finishes first)')
    .argument('<id>', 'task id')
    .option('--json', 'print the task as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const task = await clientFor(command).stop(id);
      if (task.warning) io.err(`warning: ${task.warning}`);
      if (options.json) return printJson(io, task);
      io.out(`stopped ${task.id}: status ${task.status}${task.stopRequested ? ' (the current run goes on, no later run)' : ''}`);
    });
}
