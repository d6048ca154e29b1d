/** scheduler backup FILE: a consistent copy of the daemon's database, taken while it runs. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, type CliIo } from '../context.js';

export function backupCommand(io: CliIo): Command {
  return new Command('backup')
    .description("copy the daemon's database to FILE while it runs (SQLite's online backup)")
    .argument('<file>', "where the copy goes, on the daemon's host (a relative path is taken from here)")
    .addOption(booleanOption('--force', 'replace FILE if it exists'))
    .addHelpText('after', `
The daemon writes the copy itself, so FILE is a path on the daemon's host, in a directory the
daemon can write. To restore: stop the daemon, copy FILE over DATA_DIR/scheduler.db, remove
DATA_DIR/scheduler.db-wal and DATA_DIR/scheduler.db-shm, and start the daemon again.`)
    .action(async (file: string, options: { force?: boolean }, command: Command) => {
      const { path, bytes } = await clientFor(command).backup(resolve(file), options.force === true);
      io.out(`backed up the database to ${path} (${bytes} bytes)`);
    });
}
