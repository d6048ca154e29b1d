#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * (The flag above sets V8's young generation at its 64-bit default, 16 MiB semi-spaces, on
 * purpose: it was 4 MiB to save memory, and measured in 2026-12 that saved none (RSS after a
 * load of submits and 25 s idle: 138 MB with 4, 140 MB with 16; a million pending tasks: 151
 * MB either way), while each scavenge copied the requests in flight four times as often:
 * durable submits cost 2-3 µs more CPU each (docs/benchmarks.md). It is written out so that
 * the bench's bare Fastify reference, which takes this line's flags, runs on the same.)
 *
 * The `scheduler` program: `daemon` runs the server; every other command is a thin client
 * of its HTTP API. Errors go to stderr with the exit status of their code.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { SchedulerError } from '../protocol/errors.js';
import { programVersion } from '../version.js';
import { backupCommand } from './commands/backup.js';
import { daemonCommand } from './commands/daemon.js';
import { deleteCommand } from './commands/delete.js';
import { getCommand } from './commands/get.js';
import { killCommand } from './commands/kill.js';
import { listCommand } from './commands/list.js';
import { logsCommand } from './commands/logs.js';
import { nextCommand } from './commands/next.js';
import { nodesCommand } from './commands/nodes.js';
import { tokenCommand } from './commands/token.js';
import { auditCommand } from './commands/audit.js';
import { pauseCommand, resumeCommand, runCommand } from './commands/pause-resume-run.js';
import { runsCommand } from './commands/runs.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { submitCommand } from './commands/submit.js';
import { exportCommand, importCommand } from './commands/transfer.js';
import type { CliIo } from './context.js';
import { normalizeSpecFlags, optionTable } from './spec-flags.js';

/** Builds the program with every command. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('scheduler')
    .description('Schedule scripts to run after a delay or on an interval, through a durable daemon.')
    .version(programVersion())
    .addOption(serverOption())
    .addOption(tokenFileOption())
    // The program's options count only before the command: after it, each command reads its
    // own, so `scheduler daemon --token-file F` is the daemon's, never the client's.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
    .exitOverride();
  program.addCommand(daemonCommand(io).exitOverride().showHelpAfterError('(run with --help for usage)'));
  for (const make of [submitCommand, listCommand, getCommand, nextCommand, runsCommand, logsCommand, killCommand, runCommand, pauseCommand, resumeCommand, stopCommand, deleteCommand, statusCommand, nodesCommand, tokenCommand, auditCommand, backupCommand, exportCommand, importCommand]) {
    // A client's options work after its command too (`scheduler list --server URL`).
    program.addCommand(make(io).addOption(serverOption()).addOption(tokenFileOption()).exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  return program;
}

const serverOption = () => new Option('--server <url>', 'daemon address (default: $SCHEDULER_URL or http://127.0.0.1:8865)');
const tokenFileOption = () => new Option('--token-file <file>', 'bearer token for the daemon (default: $SCHEDULER_TOKEN)');

/** Runs the CLI with `args` (without node and the script); resolves to the exit status. */
export async function runCli(args: string[], io: CliIo, program = buildProgram(io)): Promise<number> {
  try {
    await program.parseAsync(normalizeSpecFlags(args, optionTable(program)), { from: 'user' });
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
// Run as the program, not when a test imports buildProgram() to look at its options.
if (isEntryPoint()) process.exitCode = await runCli(process.argv.slice(2), io);

/** Whether node runs this file (directly or through a link such as npm's bin). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
