/** scheduler status: the daemon's version, uptime, store and what it is doing. */
import { Command } from 'commander';
import { formatDuration } from '../../core/duration.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime } from '../render.js';

export function statusCommand(io: CliIo): Command {
  return new Command('status')
    .description("show the daemon's version, uptime, store, runs in progress and languages")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await clientFor(command).status();
      if (options.json) return printJson(io, status);
      const rows: Array<[string, string | number]> = [
        ['version', status.version],
        ['up since', `${localTime(status.startedAt)} (${formatDuration(Math.round(status.uptimeSeconds) * 1000)})`],
        ['store', `${status.store.kind} ${status.store.location}`],
        ['runs in progress', status.runsInProgress],
        ['event streams', status.eventStreams],
        ['languages', status.languages.join(', ')],
      ];
      io.out(rows.map(([label, value]) => `${`${label}:`.padEnd(18)}${value}`).join('\n'));
    });
}
