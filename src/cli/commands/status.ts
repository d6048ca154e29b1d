/** scheduler status: the daemon's version, uptime, store and what it is doing. */
import { Command } from 'commander';
import { formatDuration } from '../../protocol/formats.js';
import type { StatusJson } from '../../protocol/schemas.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime } from '../render.js';
import { booleanOption } from '../boolean-flag.js';

export function statusCommand(io: CliIo): Command {
  return new Command('status')
    .description("show the daemon's version, uptime, store, runs in progress and waiting, queues, languages and sandbox")
    .addOption(booleanOption('--json', 'print JSON'))
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await clientFor(command).status();
      if (options.json) return printJson(io, status);
      const rows: Array<[string, string | number]> = [
        ['version', status.version],
        ['up since', `${localTime(status.startedAt)} (${formatDuration(Math.round(status.uptimeSeconds) * 1000)})`],
        ['store', `${status.store.kind} ${status.store.location}`],
        ...(status.node === undefined ? [] : [['node', status.node] as [string, string]]),
        ['runs in progress', `${status.runsInProgress} (at most ${status.maxRuns} at once)`],
        ['runs waiting', status.runsWaiting],
        ['queues', status.queues.map(describeQueue).join('; ')],
        ['event streams', status.eventStreams],
        ['languages', status.languages.join(', ')],
        ['sandbox', `${status.sandbox.available ? 'available' : 'unavailable'} (${status.sandbox.detail}); ${describeSandboxMode(status.sandbox.mode)}`],
      ];
      io.out(rows.map(([label, value]) => `${`${label}:`.padEnd(18)}${value}`).join('\n'));
    });
}

/** "gpu: 1 running, 2 waiting, at most 1". */
function describeQueue(queue: StatusJson['queues'][number]): string {
  return `${queue.name}: ${queue.running} running, ${queue.waiting} waiting${queue.limit === null ? '' : `, at most ${queue.limit}`}`;
}

function describeSandboxMode(mode: string): string {
  if (mode === 'required') return 'every task runs in it';
  return mode === 'default' ? 'tasks run in it unless submitted with --no-sandbox' : 'tasks submitted with --sandbox run in it';
}
