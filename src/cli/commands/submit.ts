/** scheduler submit ID -type=delay|cron -time=DURATION -script="..." */
import { Command, Option } from 'commander';
import { taskTypes } from '../../core/task.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, relativeTime } from '../render.js';

export function submitCommand(io: CliIo): Command {
  return new Command('submit')
    .description('submit a task: run a script once after a delay, or every interval')
    .argument('<id>', 'unique task id: 1 to 128 of letters, digits, ".", "_", "-"')
    .addOption(new Option('--type <type>', 'delay: run once after TIME; cron: run every TIME').choices(taskTypes).makeOptionMandatory())
    .requiredOption('--time <duration>', 'Go-style duration: 300ms, 10s, 1m, 1h30m, 1.5h')
    .requiredOption('--script <script>', 'the bash script to run; quote it')
    .option('--timeout <duration>', 'end each run that takes longer than this (recorded as timed_out)')
    .option('--json', 'print the task as JSON')
    .addHelpText('after', `
Examples:
  scheduler submit print_ls_per_10s -type=cron -time=10s -script="ls"
  scheduler submit do_calc_after_1min -type=delay -time=1m -script='sleep 10s;echo $((1+2))'`)
    .action(async (id: string, options: { type: string; time: string; script: string; timeout?: string; json?: boolean }, command: Command) => {
      const { type, time, script, timeout } = options;
      const task = await clientFor(command).submit({ id, type, time, script, ...(timeout === undefined ? {} : { timeout }) });
      if (options.json) return printJson(io, task);
      const every = task.type === 'cron' ? `every ${task.time}` : `once, after ${task.time}`;
      io.out(`submitted ${task.id}: runs ${every}; first run at ${localTime(task.nextRunAt)} (${relativeTime(task.nextRunAt, Date.now())})`);
    });
}
