/** scheduler backup FILE: has the running daemon write an online backup of its store. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { clientFor, printJson, type CliIo } from '../context.js';

export function backupCommand(io: CliIo): Command {
  return new Command('backup')
    .description(
      "copy the daemon's database to FILE while it runs (SQLite's online backup, one consistent state). " +
        "The daemon writes the file, so FILE is a path on the daemon's host; a relative FILE is taken from the current directory. " +
        'To restore: stop the daemon, copy the file over DATA_DIR/scheduler.db, remove scheduler.db-wal and scheduler.db-shm, start it.',
    )
    .argument('<file>', 'where the copy goes; must not exist (unless --force)')
    .option('--force', 'replace FILE if it exists')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { force?: boolean; json?: boolean }, command: Command) => {
      const result = await clientFor(command).backup(resolve(file), options.force === true);
      if (options.json) return printJson(io, result);
      io.out(`backed up to ${result.path} (${result.bytes} bytes)`);
    });
}
