#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * (The flag above keeps V8's young generation small: the daemon is long-lived and mostly
 * idle, and the default 16 MiB semi-spaces would hold on to 30 MB it rarely needs.)
 *
 * The `scheduler` program: `daemon` runs the server; every other command is a thin client
 * of its HTTP API. Errors go to stderr with the exit status of their code.
 */
import { Command, CommanderError } from 'commander';
import { SchedulerError } from '../core/errors.js';
import { programVersion } from '../version.js';
import { backupCommand } from './commands/backup.js';
import { daemonCommand } from './commands/daemon.js';
import { deleteCommand } from './commands/delete.js';
import { getCommand } from './commands/get.js';
import { killCommand } from './commands/kill.js';
import { listCommand } from './commands/list.js';
import { logsCommand } from './commands/logs.js';
import { nextCommand } from './commands/next.js';
import { pauseCommand, resumeCommand, runCommand } from './commands/pause-resume-run.js';
import { runsCommand } from './commands/runs.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { submitCommand } from './commands/submit.js';
import type { CliIo } from './context.js';
import { normalizeSpecFlags } from './spec-flags.js';

/** Builds the program with every command. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('scheduler')
    .description('Schedule scripts to run after a delay or on an interval, through a durable daemon.')
    .version(programVersion())
    .option('--server <url>', 'daemon address (default: $SCHEDULER_URL or http://127.0.0.1:8865)')
    .option('--token-file <file>', 'bearer token for the daemon (default: $SCHEDULER_TOKEN)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
    .exitOverride();
  for (const make of [daemonCommand, submitCommand, listCommand, getCommand, nextCommand, runsCommand, logsCommand, killCommand, runCommand, pauseCommand, resumeCommand, stopCommand, deleteCommand, statusCommand, backupCommand]) {
    program.addCommand(make(io).exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  return program;
}

/** Every long option name of the program, and those that take a value. */
function longOptionNames(program: Command): { all: Set<string>; withValues: Set<string> } {
  const all = new Set<string>(['help', 'version']);
  const withValues = new Set<string>();
  for (const command of [program, ...program.commands]) {
    for (const option of command.options) {
      const name = option.long?.replace(/^--/, '');
      if (!name) continue;
      all.add(name);
      if (option.required) withValues.add(name);
    }
  }
  return { all, withValues };
}

/** Runs the CLI with `args` (without node and the script); resolves to the exit status. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  const names = longOptionNames(program);
  try {
    await program.parseAsync(normalizeSpecFlags(args, names.all, names.withValues), { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" that exit 0; usage errors were already printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof SchedulerError) {
      io.err(`scheduler: ${error.message}`);
      return error.exitCode;
    }
    io.err(`scheduler: unexpected error: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}

// A reader that went away (`scheduler list | head -1`) is not an error worth a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

const io: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  write: (text) => process.stdout.write(text),
  writeErr: (text) => process.stderr.write(text),
  stderrIsTerminal: process.stderr.isTTY === true,
  // A terminal's width; through a pipe, $COLUMNS if set, else a wide default.
  columns: process.stdout.columns ?? (Number(process.env.COLUMNS) || 120),
};
process.exitCode = await runCli(process.argv.slice(2), io);
