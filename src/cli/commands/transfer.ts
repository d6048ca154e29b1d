/**
 * scheduler export and scheduler import: every task with its runs, from one daemon to
 * another (from SQLite to PostgreSQL, say), as NDJSON. Both stream: the export is written as
 * it arrives, the import sent as it is read.
 */
import { open, rename, rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Command } from 'commander';
import type { ImportSummaryJson } from '../../protocol/export-format.js';
import { SchedulerError } from '../../protocol/errors.js';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, type CliIo } from '../context.js';

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

export function exportCommand(io: CliIo): Command {
  return new Command('export')
    .description("write every task with its runs (state, history and output) as NDJSON, to import into another daemon")
    .option('-o, --output <file>', 'write the export to FILE (default: stdout)')
    .addHelpText('after', `
The export is one JSON object per line: a header, one line per task (its definition, state,
version and retained runs with their output), then an end line. With --output, the file
appears only once the export is whole (it is written to FILE.partial first). A run in
progress is exported with its output so far. Read it back with "scheduler import".`)
    .action(async (options: { output?: string }, command: Command) => {
      const client = clientFor(command);
      if (options.output === undefined) {
        const end = await client.exportTasks(process.stdout);
        io.err(`exported ${plural(end.tasks, 'task')} with ${plural(end.runs, 'run')}`);
        return;
      }
      const partial = `${options.output}.partial`;
      const file = await createExportFile(partial);
      try {
        const end = await client.exportTasks(file);
        file.end();
        await finished(file);
        await rename(partial, options.output);
        io.out(`exported ${plural(end.tasks, 'task')} with ${plural(end.runs, 'run')} to ${options.output}`);
      } catch (error) {
        file.destroy();
        await rm(partial, { force: true });
        throw error;
      }
    });
}

export function importCommand(io: CliIo): Command {
  return new Command('import')
    .description('import the tasks of an export (scheduler export) with their state and runs')
    .argument('[file]', 'the export to read (default: stdin)')
    .addOption(booleanOption('--skip-existing', 'skip a task whose id the daemon has already (default: report it as refused)'))
    .addHelpText('after', `
Each task is imported whole or not at all, with its state, version and runs as exported, and
goes on by its schedule on this daemon (missed fires follow its catch-up rule). A run that was
in progress at the export is imported as interrupted. A task whose id exists already is
refused (exit status 5) unless --skip-existing; the other tasks are imported all the same, so
an import interrupted midway can be run again with --skip-existing.`)
    .action(async (file: string | undefined, options: { skipExisting?: boolean }, command: Command) => {
      const source = file === undefined ? process.stdin : await openExport(file);
      const summary = await clientFor(command).importTasks(source, options.skipExisting ? 'skip' : 'refuse');
      printSummary(io, summary);
      if (summary.refusedCount > 0) {
        const allTaken = summary.refused.every((refusal) => refusal.code === 'already_exists');
        throw new SchedulerError(
          allTaken ? 'already_exists' : 'invalid_request',
          `${plural(summary.refusedCount, 'line')} of the export ${summary.refusedCount === 1 ? 'was' : 'were'} not imported (above)${allTaken ? '; add --skip-existing to leave the tasks already there alone' : ''}`,
        );
      }
      if (!summary.complete) {
        throw new SchedulerError('invalid_request', 'the export ends without its end line: it was cut off, and the tasks after the cut were not imported; export again');
      }
    });
}

/** A new file to write the export to, opened before anything is asked of the daemon. */
async function createExportFile(path: string): Promise<Writable> {
  try {
    return (await open(path, 'w')).createWriteStream();
  } catch (error) {
    throw new SchedulerError('invalid_request', `--output: cannot write ${path}: ${(error as Error).message}`);
  }
}

/** The export at `file`, opened before anything is sent: a missing file is the user's to fix, not the daemon's. */
async function openExport(file: string): Promise<Readable> {
  try {
    return (await open(file)).createReadStream();
  } catch (error) {
    throw new SchedulerError('invalid_request', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** ", and N more" when the daemon listed only the first of `count`. */
function more(count: number, listed: number): string {
  return count > listed ? `, and ${count - listed} more` : '';
}

function printSummary(io: CliIo, summary: ImportSummaryJson): void {
  const interrupted = summary.interrupted > 0 ? `; ${plural(summary.interrupted, 'run')} in progress at the export recorded as interrupted` : '';
  io.out(`imported ${plural(summary.tasks, 'task')} with ${plural(summary.runs, 'run')}${interrupted}`);
  if (summary.skippedCount > 0) {
    io.out(`skipped ${plural(summary.skippedCount, 'task')} that exist already: ${summary.skipped.join(', ')}${more(summary.skippedCount, summary.skipped.length)}`);
  }
  for (const refusal of summary.refused) {
    io.err(`refused line ${refusal.line}${refusal.id === null ? '' : ` (task ${refusal.id})`}: ${refusal.message}`);
  }
  if (summary.refusedCount > summary.refused.length) io.err(`refused ${summary.refusedCount - summary.refused.length} more lines (the daemon lists the first ${summary.refused.length})`);
}
