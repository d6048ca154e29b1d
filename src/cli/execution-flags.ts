/**
 * The flags of `scheduler submit` that say where and how runs execute: environment,
 * directory, user, queue, sandbox and resource limits, turned into the API's fields.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SchedulerError } from '../protocol/errors.js';
import type { SubmitBody } from '../protocol/schemas.js';
import { wholeNumber } from './whole-number.js';
import { booleanOption } from './boolean-flag.js';

export interface ExecutionOptions {
  env: string[];
  envFile: string[];
  cwd?: string;
  user?: string;
  queue?: string;
  sandbox?: boolean;
  network?: boolean;
  cpuLimit?: string;
  memoryLimit?: string;
  processLimit?: string;
  openFileLimit?: string;
  outputLimit?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Adds the execution flags to `command`. */
export function addExecutionFlags(command: Command): Command {
  return command
    .option('--env <KEY=VALUE>', 'set a variable for each run (repeatable); wins over --env-file', collect, [])
    .option('--env-file <file>', 'read variables from FILE: KEY=VALUE lines, # comments (repeatable)', collect, [])
    .option('--cwd <dir>', "the runs' working directory (default: the home directory of the user they run as)")
    .option('--user <name>', 'run the script as this user (the daemon must run as root)')
    .option('--queue <name>', "take the slots of this queue (the daemon's --config defines queues; default: default)")
    .addOption(booleanOption('--sandbox', 'run in the bubblewrap sandbox: read-only system, private scratch directory and /tmp, no network'))
    .option('--no-sandbox', "run outside the sandbox when the daemon's --sandbox is default")
    .addOption(booleanOption('--network', 'in the sandbox: keep the network'))
    .option('--cpu-limit <duration>', 'CPU time of each process of a run, in whole seconds (e.g. 30s, 5m)')
    .option('--memory-limit <size>', "resident memory of a run's processes together (e.g. 512MiB)")
    .option('--process-limit <n>', 'processes of a run at once')
    .option('--open-file-limit <n>', 'open files of each process of a run (at least 32)')
    .option('--output-limit <size>', 'bytes a run may write to stdout and stderr together');
}

/** The API fields the execution flags ask for. */
export function executionFields(options: ExecutionOptions): Partial<SubmitBody> {
  const body: Partial<SubmitBody> = {};
  const env = { ...Object.fromEntries(options.envFile.flatMap((file) => readEnvFile(file))), ...Object.fromEntries(options.env.map((pair) => splitPair(pair, '--env'))) };
  if (Object.keys(env).length > 0) body.env = env;
  // Relative to where the command is typed, as cd would take it.
  if (options.cwd !== undefined) body.cwd = resolve(options.cwd);
  if (options.user !== undefined) body.user = options.user;
  if (options.queue !== undefined) body.queue = options.queue;
  if (options.sandbox !== undefined) body.sandbox = options.sandbox;
  if (options.network !== undefined) body.network = options.network;
  const limits: NonNullable<SubmitBody['limits']> = {};
  if (options.cpuLimit !== undefined) limits.cpu = options.cpuLimit;
  if (options.memoryLimit !== undefined) limits.memory = options.memoryLimit;
  if (options.processLimit !== undefined) limits.processes = wholeNumber(options.processLimit, '--process-limit');
  if (options.openFileLimit !== undefined) limits.openFiles = wholeNumber(options.openFileLimit, '--open-file-limit');
  if (options.outputLimit !== undefined) limits.output = options.outputLimit;
  if (Object.keys(limits).length > 0) body.limits = limits;
  return body;
}

/**
 * The variables of an env file: `KEY=VALUE` lines, optionally `export KEY=VALUE`, spaces
 * around "=" ignored; blank lines and lines starting with # are skipped; a value in single
 * or double quotes loses them (nothing inside is expanded). The same file works with
 * systemd's EnvironmentFile= and with `set -a; . FILE` in a shell, for the simple cases.
 */
export function parseEnvFile(text: string, file: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [name, written] = splitPair(line.replace(/^export\s+/, ''), `--env-file ${file}, line ${index + 1}`);
    const value = written.trimStart();
    const quoted = /^(["'])(.*)\1$/s.exec(value);
    pairs.push([name, quoted ? quoted[2]! : value]);
  });
  return pairs;
}

function readEnvFile(file: string): Array<[string, string]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SchedulerError('invalid_request', `--env-file: cannot read ${file}: ${(error as Error).message}`);
  }
  return parseEnvFile(text, file);
}

function splitPair(pair: string, where: string): [string, string] {
  const at = pair.indexOf('=');
  if (at <= 0) throw new SchedulerError('invalid_request', `${where}: "${pair}" is not KEY=VALUE`);
  return [pair.slice(0, at).trim(), pair.slice(at + 1)];
}
