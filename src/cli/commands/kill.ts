/** scheduler kill ID: end the run in progress of a task. */
import { Command } from 'commander';
import { clientFor, printJson, type CliIo } from '../context.js';
import { booleanOption } from '../boolean-flag.js';

export function killCommand(io: CliIo): Command {
  return new Command('kill')
    .description('end the run in progress of a task (TERM to its whole process group, then KILL); the schedule goes on')
    .argument('<id>', 'task id')
    .addOption(booleanOption('--json', 'print the task as JSON'))
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      // The runs executing before the kill (several, under --overlap allow): the ones it ends.
      const running = new Set((await client.get(id)).results.filter((result) => result.outcome === 'running').map((result) => result.run));
      const task = await client.kill(id);
      if (options.json) return printJson(io, task);
      const ended = task.results.filter((result) => running.has(result.run) && result.outcome === 'killed');
      const killed = ended.map((result) => result.run);
      const which = killed.length === 1 ? `run ${killed[0]}` : killed.length > 1 ? `runs ${killed.join(', ')}` : 'the run';
      // Several daemons sharing PostgreSQL: say where the runs executed.
      const nodes = [...new Set(ended.flatMap((result) => (result.node === undefined ? [] : [result.node])))];
      const where = nodes.length > 0 ? ` on node ${nodes.join(', ')}` : '';
      io.out(`killed ${which} of ${task.id}${where}; status ${task.status}`);
    });
}
