/**
 * scheduler logs ID [--run N] [--follow] [--stderr]: prints one stream of a run's output.
 * The run is N, else the one executing now, else the last that ran. With --follow, a run
 * that is executing is followed as it writes until it ends (a task that has not run yet is
 * waited for), and the exit status says whether the run succeeded.
 */
import { Command } from 'commander';
import type { SchedulerClient } from '../../client/client.js';
import { SchedulerError } from '../../protocol/errors.js';
import type { OutputStream } from '../../protocol/vocabulary.js';
import { isFinal } from '../../protocol/events.js';
import type { TaskJson } from '../../protocol/schemas.js';
import type { CliIo } from '../context.js';
import { clientFor } from '../context.js';
import { OutputPrinter } from '../live-output.js';
import { booleanOption } from '../boolean-flag.js';

interface LogsOptions {
  run?: string;
  follow?: boolean;
  stderr?: boolean;
}

/** What to print: a stream of one run (or of the next run to start, when `run` is undefined). */
interface Target {
  id: string;
  run: number | undefined;
  stream: OutputStream;
}

export function logsCommand(io: CliIo): Command {
  return new Command('logs')
    .description("print a run's output: run N, else the one executing, else the last that ran")
    .argument('<id>', 'task id')
    .option('--run <n>', 'the run to print (see "scheduler runs ID")')
    .addOption(booleanOption('-f, --follow', 'follow a run that is executing until it ends (or wait for the first run); exits 8 if it did not succeed'))
    .addOption(booleanOption('--stderr', 'print stderr instead of stdout'))
    .action(async (id: string, options: LogsOptions, command: Command) => {
      const client = clientFor(command);
      const stream: OutputStream = options.stderr ? 'stderr' : 'stdout';
      const run = options.run === undefined ? undefined : parseRun(options.run);
      const target: Target = { id, stream, run: run ?? chooseRun(await client.get(id)) };
      if (!options.follow) {
        if (target.run === undefined) throw new SchedulerError('not_found', `task "${id}" has not run yet; add --follow to wait for its first run`);
        await printRecorded(client, { ...target, run: target.run }, new OutputPrinter(io, true));
        return;
      }
      const outcome = await follow(client, target, io);
      if (outcome !== 'succeeded') throw new SchedulerError('run_not_succeeded', `run ${target.run} of task ${id} did not succeed (${outcome})`);
    });
}

function parseRun(text: string): number {
  const run = Number(text);
  if (!Number.isInteger(run) || run < 1) throw new SchedulerError('invalid_request', `--run: "${text}" is not a run number (1, 2, ...)`);
  return run;
}

/** The run executing now, else the last that ran; undefined when none has. */
function chooseRun(task: TaskJson): number | undefined {
  return task.results.filter((run) => run.outcome !== 'skipped').at(-1)?.run;
}

/** Prints the output of a run as far as it goes now, a window at a time; returns the run's outcome. */
async function printRecorded(client: SchedulerClient, target: Target & { run: number }, printer: OutputPrinter): Promise<string> {
  let offset = 0;
  for (;;) {
    const window = await client.output(target.id, target.run, { stream: target.stream, offset });
    printer.print({ run: target.run, stream: target.stream, offset: window.offset, bytes: window.nextOffset - window.offset, text: window.text, at: '' });
    if (window.nextOffset === window.offset || window.nextOffset >= window.totalBytes) break;
    offset = window.nextOffset;
  }
  return (await client.getRun(target.id, target.run)).outcome;
}

/** Follows the target run's output live until it ends; returns its outcome. */
async function follow(client: SchedulerClient, target: Target, io: CliIo): Promise<string> {
  const printer = new OutputPrinter(io, true);
  for await (const event of client.events(target.id)) {
    switch (event.name) {
      case 'snapshot': {
        // A daemon from before the `runs` field sends only `run`.
        const executing = event.data.runs ?? (event.data.run === null ? [] : [event.data.run]);
        // A run that started between the first read and this stream (its run-started was
        // before the stream) is the one to follow.
        if (target.run === undefined && executing.length > 0) target.run = executing[0]!;
        // The run asked for is not executing (any more): its output is all recorded. (What was
        // printed before a reconnection is not printed again: the printer skips it.)
        if (target.run !== undefined && !executing.includes(target.run)) return printRecorded(client, { ...target, run: target.run }, printer);
        break;
      }
      case 'run-started':
        target.run ??= event.data.run;
        break;
      case 'output':
        if (event.data.run === target.run && event.data.stream === target.stream) printer.print(event.data);
        break;
      case 'run-finished':
        if (event.data.run !== target.run) break;
        printer.end(target.run, target.stream, target.stream === 'stdout' ? event.data.stdoutBytes : event.data.stderrBytes);
        return event.data.outcome;
      case 'status':
        if (isFinal(event.data.status) && target.run === undefined) {
          // It may have run, start to end, between the first read and this stream: its record says.
          const ran = chooseRun(await client.get(target.id));
          if (ran !== undefined) return printRecorded(client, { ...target, run: ran }, printer);
          throw new SchedulerError('not_found', `task "${target.id}" ended (${event.data.status}) without running`);
        }
        break;
      case 'deleted':
        throw new SchedulerError('not_found', `task "${target.id}" was deleted`);
      default:
        break;
    }
  }
  throw new SchedulerError('not_found', `the event stream of task "${target.id}" ended before run ${target.run ?? '(next)'} did`);
}
