/**
 * scheduler nodes: the daemons sharing the store (on PostgreSQL, every node given the same
 * --store; on SQLite, the daemon alone), with their last heartbeat and state.
 */
import { Command } from 'commander';
import type { NodeJson } from '../../protocol/schemas.js';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, relativeTime, TableLayout } from '../render.js';

export function nodesCommand(io: CliIo): Command {
  return new Command('nodes')
    .description('list the daemons (nodes) sharing the store: id, host, version, start, last heartbeat, runs executing, state')
    .addOption(booleanOption('--json', 'print the nodes as a JSON array'))
    .addHelpText('after', `
A node is one start of a daemon: its id (host-pid-random) is new at every start. STATE is
alive while its heartbeats arrive, stale once 3 of its heartbeat intervals pass without one
(it died, is paused, or cannot reach the database), stopped after a clean shutdown. Nodes
stopped or stale for an hour are pruned. "(self)" marks the daemon that answered.`)
    .action(async (options: { json?: boolean }, command: Command) => {
      const { nodes } = await clientFor(command).nodes();
      if (options.json) return printJson(io, nodes);
      const now = Date.now();
      const layout = new TableLayout(['ID', 'HOST', 'VERSION', 'STARTED', 'HEARTBEAT', 'RUNS', 'STATE'], io.columns);
      io.out(layout.lines(nodes.map((node) => nodeRow(node, now))).join('\n'));
    });
}

function nodeRow(node: NodeJson, now: number): string[] {
  return [
    node.id,
    node.host,
    node.version,
    localTime(node.startedAt),
    // The heartbeat is the database's clock and `now` this host's: close enough to read "3s ago".
    relativeTime(node.heartbeatAt, now),
    String(node.runsExecuting),
    node.self ? `${node.state} (self)` : node.state,
  ];
}
