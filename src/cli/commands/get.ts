/**
 * scheduler get ID [-watch=true]: the task with its results; with --watch, then everything
 * that happens to it as it happens (status changes, runs starting and ending, and the output
 * of its runs as they write it), until it reaches a final status. The exit status then says
 * whether its last run succeeded.
 */
import { Command } from 'commander';
import type { SchedulerClient } from '../../client/client.js';
import { SchedulerError } from '../../protocol/errors.js';
import type { RunOutcome, TaskStatus } from '../../protocol/vocabulary.js';
import { isFinal } from '../../protocol/events.js';
import type { TaskJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { OutputPrinter } from '../live-output.js';
import { describeEvent, describeRunEnd, describeTask, stamped } from '../task-view.js';
import { booleanOption } from '../boolean-flag.js';

export function getCommand(io: CliIo): Command {
  return new Command('get')
    .description('show a task and its results; with --watch, follow it live (its runs\' output too) until it ends')
    .argument('<id>', 'task id')
    .addOption(booleanOption('--watch', 'then print what happens as it happens, until the task reaches a final status; exits 8 if its last run did not succeed (also -watch=true)'))
    .addOption(booleanOption('--json', 'print JSON (with --watch: the task, then one event per line)'))
    .action(async (id: string, options: { watch?: boolean; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const task = await client.get(id);
      if (!options.watch) return options.json ? printJson(io, task) : io.out(describeTask(task));
      await follow(client, task, io, options.json === true);
    });
}

/** Prints the task, then its events, until it is final; fails with run_not_succeeded if its last run did not succeed. */
export async function follow(client: Pick<SchedulerClient, 'get' | 'events'>, first: TaskJson, io: CliIo, json: boolean): Promise<void> {
  io.out(json ? JSON.stringify(first) : describeTask(first));
  const printer = new OutputPrinter(io);
  // The schema allows only the five status names.
  let status = first.status as TaskStatus;
  let version = first.version;
  // Runs that ended before the watch began, and ends printed since: a stream resumed after
  // a gap may have missed a run's end, which is then printed from the final read.
  const ended = new Set(first.results.filter((run) => run.outcome !== 'running').map((run) => run.run));
  let streaming = false;
  for await (const event of client.events(first.id)) {
    if (json) io.out(JSON.stringify({ event: event.name, id: event.id ?? null, data: event.data }));
    switch (event.name) {
      case 'output':
        if (!json) printer.print(event.data);
        continue;
      case 'snapshot': {
        // The first event, and the first after a resumption that failed: print only news.
        const { task } = event.data;
        // Runs of the first read that ended before the stream began are not news either.
        if (!streaming) for (const run of first.results) if (!event.data.runs.includes(run.run)) ended.add(run.run);
        streaming = true;
        if (!json && task.version > version && task.status !== status) printer.note(describeEvent({ name: 'status', data: { ...task, status: task.status as TaskStatus, previousStatus: status } }));
        status = task.status as TaskStatus;
        version = Math.max(version, task.version);
        break;
      }
      case 'run-finished':
        ended.add(event.data.run);
        if (!json) {
          printer.end(event.data.run, 'stdout', event.data.stdoutBytes);
          printer.end(event.data.run, 'stderr', event.data.stderrBytes);
          printer.note(describeEvent(event));
        }
        break;
      case 'status':
        if (event.data.version <= version) continue; // already seen
        version = event.data.version;
        status = event.data.status;
        if (!json) printer.note(describeEvent(event));
        break;
      case 'deleted':
        throw new SchedulerError('not_found', `task "${first.id}" was deleted`);
      default:
        if (!json) printer.note(describeEvent(event));
    }
    if (isFinal(status)) break;
  }
  // Read back rather than tracked: a run may have ended between the first read and the
  // stream, or while the stream was reconnecting.
  const final = await client.get(first.id);
  if (!json) {
    for (const run of final.results.filter((result) => printer.printedRun(result.run))) {
      printer.end(run.run, 'stdout', run.stdoutBytes);
      printer.end(run.run, 'stderr', run.stderrBytes);
    }
    for (const run of final.results) {
      if (run.outcome !== 'running' && run.outcome !== 'skipped' && !ended.has(run.run)) printer.note(stamped(describeRunEnd(run)));
    }
    printer.note(`task ${first.id} is ${status}; nothing more will happen`);
  }
  const lastOutcome = lastRunOutcome(final);
  if (lastOutcome !== 'succeeded') {
    throw new SchedulerError('run_not_succeeded', lastOutcome === undefined ? `task ${first.id} ended without running` : `the last run of task ${first.id} did not succeed (${lastOutcome})`);
  }
}

/** The outcome of the task's last run that ended, if any ran. */
function lastRunOutcome(task: TaskJson): RunOutcome | undefined {
  return task.results.filter((run) => run.outcome !== 'skipped' && run.outcome !== 'running').at(-1)?.outcome as RunOutcome | undefined;
}
