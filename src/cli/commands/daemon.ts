/** scheduler daemon: runs the server in the foreground until SIGINT or SIGTERM. */
import { Command, Option } from 'commander';
import { SchedulerError } from '../../protocol/errors.js';
import { optionHelp, optionRows, type OptionName } from '../../daemon/daemon-options.js';
import type { CliIo, GlobalOptions } from '../context.js';

/** The attribute commander stores a flag's value under (`--max-runs` -> maxRuns). */
const attribute = (flag: string): string => flag.slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

export function daemonCommand(io: CliIo): Command {
  const command = new Command('daemon')
    .description('run the scheduler daemon (HTTP API and engine) in the foreground')
    .addHelpText('after', '\nEach option may also be set by its environment variable or in the --config file; a flag wins over the variable, which wins over the file.');
  // From the table, without commander defaults: a value that is there came from the command line.
  for (const row of optionRows) {
    const option = new Option(`${row.flag} <${row.value.toLowerCase()}>`, optionHelp(row));
    if (row.kind.choices) option.choices([...row.kind.choices]);
    command.addOption(option);
  }
  return command.action(async (given: Record<string, string | undefined>) => {
    const flags: Partial<Record<OptionName, string>> = {};
    for (const row of optionRows) {
      const value = given[attribute(row.flag)];
      if (value !== undefined) flags[row.name] = value;
    }
    Object.assign(flags, globalsBeforeDaemon(command, flags));
    // Loaded on demand, so client commands start without the server's modules.
    const { resolveDaemonConfig } = await import('../../daemon/resolve-daemon-config.js');
    const { runDaemonUntilSignalled } = await import('../../daemon/run-until-signalled.js');
    await runDaemonUntilSignalled(resolveDaemonConfig({ flags, env: process.env, cwd: process.cwd() }), io.out);
  });
}

/**
 * The program's own options given before `daemon` (`scheduler --token-file F daemon`): the
 * token file means the same to the daemon, so it counts (after the daemon's own flag);
 * --server is a client's and would do nothing here, so it is refused rather than ignored.
 */
function globalsBeforeDaemon(command: Command, flags: Partial<Record<OptionName, string>>): Partial<Record<OptionName, string>> {
  const globals = command.parent?.opts<GlobalOptions>() ?? {};
  if (globals.server !== undefined) {
    throw new SchedulerError('invalid_request', '--server: is an option of the client commands; the daemon listens where --listen says');
  }
  return globals.tokenFile !== undefined && flags.token === undefined ? { token: globals.tokenFile } : {};
}
