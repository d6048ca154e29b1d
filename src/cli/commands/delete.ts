/** scheduler delete ID */
import { Command } from 'commander';
import { clientFor, type CliIo } from '../context.js';

export function deleteCommand(io: CliIo): Command {
  return new Command('delete')
    .description('stop a task, kill its run if one is executing, and remove it with its results')
    .argument('<id>', 'task id')
    .action(async (id: string, _options: object, command: Command) => {
      await clientFor(command).delete(id);
      io.out(`deleted ${id}`);
    });
}
