/** What every command gets: where to print, and a client configured from the global options. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SchedulerClient, defaultServerUrl } from '../client/client.js';
import { SchedulerError } from '../protocol/errors.js';

/** The CLI's outputs. */
export interface CliIo {
  /** Prints a line on stdout. */
  out(text: string): void;
  /** Prints a line on stderr. */
  err(text: string): void;
  /** Writes text as it is (a script's output) on stdout... */
  write(text: string): void;
  /** ...and on stderr. */
  writeErr(text: string): void;
  /** Whether stderr is a terminal (a script's stderr is then shown in red). */
  stderrIsTerminal: boolean;
  /** Terminal width for tables. */
  columns: number;
}

/** Options every client command accepts. */
export interface GlobalOptions {
  server?: string;
  tokenFile?: string;
}

/** A client for the daemon chosen by --server, else SCHEDULER_URL, else the default address. */
export function clientFor(command: Command, env: NodeJS.ProcessEnv = process.env): SchedulerClient {
  // The command's own options win over the program's (`scheduler --server A list --server B` asks B).
  const options = { ...command.parent?.opts<GlobalOptions>(), ...definedOnly(command.opts<GlobalOptions>()) };
  const baseUrl = options.server ?? env.SCHEDULER_URL ?? defaultServerUrl;
  if (!/^https?:\/\//.test(baseUrl)) {
    throw new SchedulerError('invalid_request', `--server: "${baseUrl}" is not an http:// or https:// URL`);
  }
  return new SchedulerClient({ baseUrl, token: readClientToken(options.tokenFile, env) });
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function readClientToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (tokenFile === undefined) return env.SCHEDULER_TOKEN || undefined;
  try {
    return readFileSync(tokenFile, 'utf8').trim();
  } catch (error) {
    throw new SchedulerError('invalid_request', `--token-file: cannot read ${tokenFile}: ${(error as Error).message}`);
  }
}

/** Prints a value as JSON for --json. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
