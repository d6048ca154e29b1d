/** scheduler kill ID: end the run in progress of a task. */
import { Command } from 'commander';
import { clientFor, printJson, type CliIo } from '../context.js';

export function killCommand(io: CliIo): Command {
  return new Command('kill')
    .description('end the run in progress of a task (TERM to its whole process group, then KILL); the schedule goes on')
    .argument('<id>', 'task id')
    .option('--json', 'print the task as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const task = await clientFor(command).kill(id);
      if (options.json) return printJson(io, task);
      const run = [...task.results].reverse().find((result) => result.outcome === 'killed');
      io.out(`killed run ${run?.run ?? '?'} of ${task.id}; status ${task.status}`);
    });
}
