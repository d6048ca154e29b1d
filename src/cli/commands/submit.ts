/**
 * scheduler submit ID: the spec's `-type=delay|cron -time=DURATION`, or one of the schedule
 * flags that say it directly: `--every DURATION`, `--cron "EXPR"`, `--at TIME`, with `--tz`,
 * `--start` and `--end`. `--dry-run` checks the task and prints when it would fire.
 */
import { Command, Option } from 'commander';
import { SchedulerError } from '../../protocol/errors.js';
import { looksLikeDuration } from '../../protocol/formats.js';
import { catchUpModes, overlapRules, taskTypes } from '../../protocol/vocabulary.js';
import type { SubmitBody, TaskSummaryJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { addExecutionFlags, executionFields, type ExecutionOptions } from '../execution-flags.js';
import { localTime, relativeTime } from '../render.js';
import { wholeNumber } from '../whole-number.js';
import { booleanOption } from '../boolean-flag.js';

interface SubmitOptions extends ExecutionOptions {
  type?: string;
  time?: string;
  every?: string;
  cron?: string;
  at?: string;
  tz?: string;
  start?: string;
  end?: string;
  script: string;
  timeout?: string;
  overlap?: string;
  maxParallel?: string;
  retries?: string;
  retryDelay?: string;
  retryMaxDelay?: string;
  retryOn?: string;
  catchUp?: string;
  catchUpWindow?: string;
  jitter?: string;
  lang?: string;
  dryRun?: boolean;
  next: string;
  json?: boolean;
}

export function submitCommand(io: CliIo): Command {
  const command = new Command('submit')
    .description('submit a task: run a script once (after a delay, or at a time) or again and again (every interval, or on a cron expression)')
    .argument('<id>', 'unique task id: 1 to 128 of letters, digits, ".", "_", "-"')
    .addOption(new Option('--type <type>', 'delay: run once, TIME after now; cron: run every TIME (or on TIME, a cron expression); at: run once at TIME').choices(taskTypes))
    .option('--time <time>', 'a Go-style duration (300ms, 10s, 1m, 1h30m), a cron expression, or a time, as --type says')
    .option('--every <duration>', 'run every DURATION (the same as --type cron --time DURATION)')
    .option('--cron <expression>', 'run on a cron expression: 5 fields, 6 with seconds first, L W # allowed, or @hourly, @daily, @weekly, @monthly, @yearly')
    .option('--at <time>', 'run once at TIME: 2026-12-01T09:30:00Z, or a local time such as "2026-12-01 09:30"')
    .option('--tz <zone>', "IANA time zone of --cron and of local times (default: the daemon's)")
    .option('--start <time>', 'a recurring task fires from this time on')
    .option('--end <time>', 'a recurring task fires at this time at the latest, then ends Executed')
    .option('--jitter <duration>', 'move each fire later by up to DURATION (the same for a fire after a restart), to spread many tasks')
    .requiredOption('--script <script>', 'the script to run (bash unless --lang says otherwise); quote it')
    .option('--lang <language>', "the script's language: bash (default), sh, node, python, or one the daemon's --config adds")
    .option('--timeout <duration>', 'end each run that takes longer than this (recorded as timed_out)')
    .addOption(new Option('--overlap <rule>', 'when a fire comes while a run executes: skip it, queue it (one waits), allow it (runs beside), or replace the run').choices(overlapRules))
    .option('--max-parallel <n>', 'with --overlap allow: the most runs at once (default 4)')
    .option('--retries <n>', 'retry a failed run up to N times, waiting longer each time')
    .option('--retry-delay <duration>', 'wait before the first retry, doubled for each next one (default 1s)')
    .option('--retry-max-delay <duration>', 'the longest wait before a retry (default 1h)')
    .option('--retry-on <codes>', 'retry only runs that exit with one of these codes, e.g. 1,75')
    .addOption(new Option('--catch-up <rule>', 'fires missed while the daemon was down: run none of them, once (default), or all').choices(catchUpModes))
    .option('--catch-up-window <duration>', 'missed fires older than this are never run');
  return addExecutionFlags(command)
    .addOption(booleanOption('--dry-run', 'check the task and print when it would run, without submitting it'))
    .option('-n, --next <n>', 'with --dry-run: how many fire times to print', '5')
    .addOption(booleanOption('--json', 'print the task as JSON'))
    .addHelpText('after', `
Examples:
  scheduler submit print_ls_per_10s -type=cron -time=10s -script="ls"
  scheduler submit do_calc_after_1min -type=delay -time=1m -script='sleep 10s;echo $((1+2))'
  scheduler submit report --cron "0 9 * * MON-FRI" --tz Europe/Paris --script "./report.sh"
  scheduler submit backup --at "2026-12-24 23:00" --script "tar czf /tmp/b.tgz ~/work"
  scheduler submit poll --every 30s --end "2026-12-31 18:00" --script "curl -fsS localhost:8080/health"`)
    .action(async (id: string, options: SubmitOptions, command: Command) => {
      const body: SubmitBody = { id, ...typeAndTime(options), script: options.script, ...executionFields(options) };
      if (options.timeout !== undefined) body.timeout = options.timeout;
      if (options.tz !== undefined) body.timezone = options.tz;
      if (options.start !== undefined) body.start = options.start;
      if (options.end !== undefined) body.end = options.end;
      if (options.overlap !== undefined) body.overlap = options.overlap;
      if (options.maxParallel !== undefined) body.maxParallel = wholeNumber(options.maxParallel, '--max-parallel');
      if (options.retries !== undefined) body.retries = wholeNumber(options.retries, '--retries');
      if (options.retryDelay !== undefined) body.retryDelay = options.retryDelay;
      if (options.retryMaxDelay !== undefined) body.retryMaxDelay = options.retryMaxDelay;
      if (options.jitter !== undefined) body.jitter = options.jitter;
      if (options.lang !== undefined) body.lang = options.lang;
      if (options.catchUp !== undefined) body.catchUp = options.catchUp;
      if (options.catchUpWindow !== undefined) body.catchUpWindow = options.catchUpWindow;
      if (options.retryOn !== undefined) body.retryOn = options.retryOn.split(',').map((code) => wholeNumber(code.trim(), '--retry-on'));
      const client = clientFor(command);
      if (options.dryRun) {
        const next = Number(options.next);
        if (!Number.isInteger(next) || next < 1 || next > 100) throw new SchedulerError('invalid_request', `--next: "${options.next}" is not a whole number from 1 to 100`);
        const preview = await client.dryRun(body, next);
        if (options.json) return printJson(io, preview);
        io.out(`${preview.id} would run ${describeSchedule(preview)} (not submitted); next runs:`);
        for (const at of preview.nextRuns) io.out(`  ${localTime(at)}  (${relativeTime(at, Date.now())})`);
        return;
      }
      const task = await client.submit(body);
      if (options.json) return printJson(io, task);
      io.out(`submitted ${task.id}: runs ${describeSchedule(task)}; first run at ${localTime(task.nextRunAt)} (${relativeTime(task.nextRunAt, Date.now())})`);
    });
}

/** The type and time from the spec's flags or from one schedule flag; exactly one way. */
function typeAndTime(options: SubmitOptions): { type: string; time: string } {
  const ways = [
    options.type !== undefined || options.time !== undefined ? 'spec' : undefined,
    options.every !== undefined ? 'every' : undefined,
    options.cron !== undefined ? 'cron' : undefined,
    options.at !== undefined ? 'at' : undefined,
  ].filter((way) => way !== undefined);
  if (ways.length !== 1) {
    throw new SchedulerError(
      'invalid_request',
      ways.length === 0
        ? 'say when to run: -type=delay|cron -time=..., or one of --every DURATION, --cron "EXPR", --at TIME'
        : `say when to run one way only (got ${ways.map((way) => (way === 'spec' ? '-type/-time' : `--${way}`)).join(' and ')})`,
    );
  }
  if (options.every !== undefined) return { type: 'cron', time: options.every };
  if (options.cron !== undefined) return { type: 'cron', time: options.cron };
  if (options.at !== undefined) return { type: 'at', time: options.at };
  if (options.type === undefined) throw new SchedulerError('invalid_request', "-type: is required with -time (delay, cron or at)");
  if (options.time === undefined) throw new SchedulerError('invalid_request', '-time: is required with -type');
  return { type: options.type, time: options.time };
}

/** "every 10s", "once, after 1m", 'on "0 9 * * *" (Europe/Paris)', "once, at 2026-12-24 23:00:00". */
export function describeSchedule(task: Pick<TaskSummaryJson, 'type' | 'time' | 'timezone' | 'nextRunAt' | 'end'>): string {
  const until = task.end === null ? '' : `, until ${localTime(task.end)}`;
  if (task.type === 'delay') return `once, after ${task.time}`;
  if (task.type === 'at') return `once, at ${localTime(task.nextRunAt)}`;
  return looksLikeDuration(task.time) ? `every ${task.time}${until}` : `on "${task.time}" (${task.timezone})${until}`;
}
