/** scheduler runs ID: a task's run history as a table, newest first. */
import { Command, Option } from 'commander';
import { formatDuration } from '../../protocol/formats.js';
import { SchedulerError } from '../../protocol/errors.js';
import { runOutcomes } from '../../protocol/vocabulary.js';
import type { RunJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, table } from '../render.js';
import { booleanOption } from '../boolean-flag.js';

export function runsCommand(io: CliIo): Command {
  return new Command('runs')
    .description("list a task's runs, newest first: run, scheduled, started, duration, outcome, exit code")
    .argument('<id>', 'task id')
    .addOption(new Option('--outcome <outcome>', 'only runs with this outcome').choices(runOutcomes))
    .option('--limit <n>', 'at most this many runs (default: all that are kept)')
    .addOption(booleanOption('--json', 'print the runs as a JSON array'))
    .action(async (id: string, options: { outcome?: string; limit?: string; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const wanted = options.limit === undefined ? Infinity : Number(options.limit);
      if (!(Number.isInteger(wanted) || wanted === Infinity) || wanted < 1) {
        throw new SchedulerError('invalid_request', `--limit: "${options.limit}" is not a whole number of at least 1`);
      }
      const runs: RunJson[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listRunsPage(id, { outcome: options.outcome, cursor, limit: Math.min(1000, wanted - runs.length) });
        for (const run of page.runs) runs.push(run);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined && runs.length < wanted);
      if (options.json) return printJson(io, runs);
      if (runs.length === 0) return io.out('no runs');
      const header = ['RUN', 'SCHEDULED', 'ATTEMPT', 'STARTED', 'DURATION', 'OUTCOME', 'EXIT'];
      io.out(table(header, runs.map(runRow), io.columns));
    });
}

function runRow(run: RunJson): string[] {
  const duration =
    run.startedAt !== null && run.finishedAt !== null ? formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt)) : '-';
  const exit = run.exitCode !== null ? String(run.exitCode) : run.signal ?? '-';
  return [String(run.run), localTime(run.scheduledAt), String(run.attempt), localTime(run.startedAt), duration, run.waiting ? 'waiting' : run.outcome, exit];
}

