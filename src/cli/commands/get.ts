/** scheduler get ID [-watch=true]: the task with its results, then every change as it happens. */
import { Command } from 'commander';
import type { SchedulerClient } from '../../client/client.js';
import type { TaskJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { describeChange, describeTask } from '../task-view.js';
import { parseBooleanFlag } from '../boolean-flag.js';

const finalStatuses = new Set(['Executed', 'Stopped']);

export function getCommand(io: CliIo): Command {
  return new Command('get')
    .description('show a task and its results; with --watch, follow its changes until it ends')
    .argument('<id>', 'task id')
    .option('--watch [bool]', 'keep printing changes until the task reaches a final status (Ctrl-C to quit)', parseBooleanFlag, false)
    .option('--json', 'print JSON (with --watch: one task per line, at each change)')
    .action(async (id: string, options: { watch: boolean; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const task = await client.get(id);
      if (!options.watch) return options.json ? printJson(io, task) : io.out(describeTask(task));
      await follow(client, task, io, options.json === true);
    });
}

/** Prints the task, then each change, until it is final. */
async function follow(client: SchedulerClient, first: TaskJson, io: CliIo, json: boolean): Promise<void> {
  io.out(json ? JSON.stringify(first) : describeTask(first));
  let current = first;
  while (!isDone(current)) {
    const next = await client.watch(current.id, current.version);
    if (next.version === current.version) continue; // the long poll timed out: ask again
    if (json) io.out(JSON.stringify(next));
    else for (const line of describeChange(current, next)) io.out(line);
    current = next;
  }
  if (!json) io.out(`task ${current.id} is ${current.status}; nothing more will happen`);
}

function isDone(task: TaskJson): boolean {
  return finalStatuses.has(task.status);
}
