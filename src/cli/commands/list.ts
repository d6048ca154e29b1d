/**
 * scheduler list: every task, printed page by page as the pages arrive, so that the first
 * rows show at once and a million tasks take the memory of one page (the next is fetched
 * while this one prints). As a table, a JSON array, or NDJSON (one task per line).
 */
import { Command, Option } from 'commander';
import { SchedulerError } from '../../protocol/errors.js';
import { taskStatuses } from '../../protocol/vocabulary.js';
import type { TaskSummaryJson } from '../../protocol/schemas.js';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, type CliIo } from '../context.js';
import { localTime, TableLayout } from '../render.js';
import { wholeNumber } from '../whole-number.js';

/** The API's largest page: the fewest round trips. */
const largestPage = 1000;

interface ListOptions {
  status?: string;
  json?: boolean;
  ndjson?: boolean;
  pageSize: string;
}

export function listCommand(io: CliIo): Command {
  return new Command('list')
    .description('list every task: id, type, time, status, last status change, next run, script')
    .addOption(new Option('--status <status>', 'only tasks with this status').choices(taskStatuses))
    .addOption(booleanOption('--json', 'print the tasks as a JSON array (streamed: valid JSON once complete)'))
    .addOption(booleanOption('--ndjson', 'print one task per line as JSON (newline-delimited JSON)'))
    .option('--page-size <n>', `tasks fetched per request, 1 to ${largestPage}`, String(largestPage))
    .addHelpText('after', `
Every task is listed, a page at a time as the daemon sends it: the first page shows at once
however many tasks there are, and memory stays that of a page or two. Stop early with Ctrl-C
or a pipe (scheduler list | head). A table column widens when a later page needs it; rows
already printed keep their widths. --json streams one array; --ndjson prints a task per line.`)
    .action(async (options: ListOptions, command: Command) => {
      const limit = wholeNumber(options.pageSize, '--page-size');
      if (limit < 1 || limit > largestPage) throw new SchedulerError('invalid_request', `--page-size: "${options.pageSize}" is not from 1 to ${largestPage}`);
      const pages = clientFor(command).listPages({ status: options.status, limit });
      if (options.ndjson) {
        for await (const tasks of pages) if (tasks.length > 0) io.out(tasks.map((task) => JSON.stringify(task)).join('\n'));
        return;
      }
      if (options.json) return printJsonArray(io, pages);
      const layout = new TableLayout(['ID', 'TYPE', 'TIME', 'STATUS', 'LAST CHANGE', 'NEXT RUN', 'SCRIPT'], io.columns);
      let printed = 0;
      for await (const tasks of pages) {
        if (tasks.length === 0) continue;
        io.out(layout.lines(tasks.map(taskRow)).join('\n'));
        printed += tasks.length;
      }
      if (printed === 0) io.out('no tasks');
    });
}

function taskRow(task: TaskSummaryJson): string[] {
  return [
    task.id,
    task.type,
    task.time,
    task.stopRequested ? `${task.status} (stopping)` : task.pauseRequested ? `${task.status} (pausing)` : task.status,
    localTime(task.lastStatusUpdated),
    localTime(task.nextRunAt),
    task.script,
  ];
}

/**
 * Prints a JSON array a page at a time, laid out exactly as JSON.stringify(tasks, null, 2)
 * would (one write per page, never the whole array in memory).
 */
async function printJsonArray(io: CliIo, pages: AsyncIterable<TaskSummaryJson[]>): Promise<void> {
  let first = true;
  for await (const tasks of pages) {
    if (tasks.length === 0) continue;
    // Inside the array, each element is indented by two more spaces; JSON strings hold no raw newline.
    const elements = tasks.map((task) => `  ${JSON.stringify(task, null, 2).replaceAll('\n', '\n  ')}`).join(',\n');
    io.write(first ? `[\n${elements}` : `,\n${elements}`);
    first = false;
  }
  io.out(first ? '[]' : '\n]');
}
