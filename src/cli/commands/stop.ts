/** scheduler stop ID */
import type { Command } from 'commander';
import type { CliIo } from '../context.js';
import { taskAction } from '../task-action.js';

export function stopCommand(io: CliIo): Command {
  return taskAction(io, 'stop', 'stop a task: it never runs again (a cron run in progress finishes first)', (client, id) => client.stop(id), (task) =>
    `stopped ${task.id}: status ${task.status}${task.stopRequested ? ' (the current run goes on, no later run)' : ''}`,
  );
}
