/** scheduler next ID [-n 5]: when the task will run next, if nothing stops it. */
import { Command } from 'commander';
import { SchedulerError } from '../../protocol/errors.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, relativeTime } from '../render.js';
import { booleanOption } from '../boolean-flag.js';

export function nextCommand(io: CliIo): Command {
  return new Command('next')
    .description('print when a task will run next')
    .argument('<id>', 'task id')
    .option('-n <n>', 'how many times (1 to 100)', '5')
    .addOption(booleanOption('--json', 'print JSON'))
    .action(async (id: string, options: { n: string; json?: boolean }, command: Command) => {
      const n = Number(options.n);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new SchedulerError('invalid_request', `-n: "${options.n}" is not a whole number from 1 to 100`);
      const next = await clientFor(command).next(id, n);
      if (options.json) return printJson(io, next);
      if (next.nextRuns.length === 0) {
        return io.out(next.status === 'Paused' ? `${id} is paused: "scheduler resume ${id}" schedules its next run` : `${id} will not run again (${next.status})`);
      }
      for (const at of next.nextRuns) io.out(`${localTime(at)}  (${relativeTime(at, Date.now())})`);
    });
}
