/** scheduler list: every task as an aligned table, fetched page by page. */
import { Command, Option } from 'commander';
import { taskStatuses } from '../../core/task.js';
import type { TaskSummaryJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, table } from '../render.js';

export function listCommand(io: CliIo): Command {
  return new Command('list')
    .description('list tasks: id, type, time, status, last status change, next run, script')
    .addOption(new Option('--status <status>', 'only tasks with this status').choices(taskStatuses))
    .option('--json', 'print the tasks as a JSON array')
    .action(async (options: { status?: string; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const tasks: TaskSummaryJson[] = [];
      for await (const task of client.listAll({ status: options.status, limit: 1000 })) tasks.push(task);
      if (options.json) return printJson(io, tasks);
      if (tasks.length === 0) return io.out('no tasks');
      const header = ['ID', 'TYPE', 'TIME', 'STATUS', 'LAST CHANGE', 'NEXT RUN', 'SCRIPT'];
      const rows = tasks.map((task) => [
        task.id,
        task.type,
        task.time,
        task.stopRequested ? `${task.status} (stopping)` : task.pauseRequested ? `${task.status} (pausing)` : task.status,
        localTime(task.lastStatusUpdated),
        localTime(task.nextRunAt),
        task.script,
      ]);
      io.out(table(header, rows, io.columns));
    });
}
