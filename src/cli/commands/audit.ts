/** scheduler audit: the changes asked of the daemon, newest first (an admin's token). */
import { Command } from 'commander';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, TableLayout } from '../render.js';
import { wholeNumber } from '../whole-number.js';
import { SchedulerError } from '../../protocol/errors.js';

export function auditCommand(io: CliIo): Command {
  return new Command('audit')
    .description('show the audit log: every change asked of the daemon (who, what, which task, when, from where, the answer), newest first')
    .option('--limit <n>', 'how many entries, 1 to 1000 (default 50)')
    .addOption(booleanOption('--json', 'print the entries as a JSON array'))
    .addHelpText('after', `
The daemon keeps the newest 10,000 entries. TOKEN is the name of the token the change came
with ("-" when the daemon asks for none); STATUS is the HTTP status it was answered with, so
refused attempts (401, 403) show too.`)
    .action(async (options: { limit?: string; json?: boolean }, command: Command) => {
      const limit = options.limit === undefined ? 50 : wholeNumber(options.limit, '--limit');
      if (limit < 1 || limit > 1000) throw new SchedulerError('invalid_request', `--limit: ${limit} is not between 1 and 1000`);
      const { entries } = await clientFor(command).audit(limit);
      if (options.json) return printJson(io, entries);
      const layout = new TableLayout(['WHEN', 'TOKEN', 'ROLE', 'WHAT', 'TASK', 'STATUS', 'FROM'], io.columns);
      io.out(
        layout
          .lines(entries.map((entry) => [localTime(entry.at), entry.token ?? '-', entry.role ?? '-', `${entry.method} ${entry.path}`, entry.taskId ?? '-', String(entry.status), entry.remote]))
          .join('\n'),
      );
    });
}
