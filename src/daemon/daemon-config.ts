/**
 * The daemon's settings, their defaults, and the checks that keep it safe: it listens on
 * loopback unless told otherwise, and refuses any other address without a token.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SchedulerError } from '../core/errors.js';
import type { SandboxMode } from '../core/execution-input.js';
import type { ResourceLimits } from '../core/execution.js';
import type { Interpreters } from '../core/interpreters.js';
import type { Role } from '../server/roles.js';

/** What the config file sets besides the options. */
export interface ConfigFile {
  /** The command of each language scripts may be written in. */
  interpreters: Interpreters;
  /** Variables every run gets on top of the base environment (a task's own win over them). */
  env: Readonly<Record<string, string>>;
  /** Named queues and the most runs each may have at once. */
  queues: Readonly<Record<string, number>>;
  /** Each run's limits where its task sets none. */
  limits: ResourceLimits;
  /** Each run's wall time where its task has no --timeout; none when absent. */
  timeoutMs?: number;
  /** Host paths the sandbox shows read-only besides the system's (an interpreter installed under a home directory). */
  sandboxReadOnlyPaths: readonly string[];
  /** The bwrap program, when not the one in PATH. */
  bwrap?: string;
  /** Tokens besides the daemon's own (which is an admin's), each with a name, a role and its SHA-256 (hex). */
  tokens: ReadonlyArray<{ name: string; role: Role; sha256: string }>;
  /** Viewers may not read runs' output. */
  hideOutputFromViewers: boolean;
}

/** Everything the daemon can be told. */
export interface DaemonConfig extends ConfigFile {
  dataDir: string;
  /** HTTPS: the file of the certificate (chain) and the file of its key, PEM, both or neither; plain HTTP without. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  host: string;
  port: number;
  token: string | undefined;
  keepRuns: number;
  outputCap: number;
  /** Output kept by all runs together, in bytes. */
  maxOutputBytes: number;
  /** Between keep-alive comments on event streams. */
  heartbeatMs: number;
  maxScriptBytes: number;
  killGraceMs: number;
  durability: 'normal' | 'full';
  logLevel: string;
  /** Runs executing at once, over every queue. */
  maxRuns: number;
  /** Whether tasks opt in to the sandbox, opt out of it, or cannot opt out. */
  sandboxMode: SandboxMode;
  /** The config file read, if any. */
  configFile?: string;
  /** PostgreSQL shared with other daemons; SQLite in the data directory when absent. */
  store?: { url: string; schema: string };
  /** Connections to PostgreSQL at most. */
  storePoolSize: number;
  /** How long a run stays this daemon's without a renewal (PostgreSQL only). */
  leaseMs: number;
  /** Between renewals of the leases of this daemon's runs. */
  leaseRenewMs: number;
  /** Between the heartbeats this node records in the store. */
  nodeHeartbeatMs: number;
  /** How long a browser's session lasts (POST /api/session). */
  sessionTtlMs: number;
  /** Whether the web dashboard is served at / (when it was built). */
  dashboard: boolean;
}

// The defaults of these settings are in the table of the daemon's options (daemon-options.ts).

/** $XDG_DATA_HOME/scheduler, or ~/.local/share/scheduler. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'scheduler');
}

/** Splits HOST:PORT ([::1]:PORT for IPv6). */
export function parseListen(text: string, label = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new SchedulerError('invalid_request', `${label}: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8865, or 0.0.0.0:8865 with a token)`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** A count of at least 1, written as digits; invalid_request naming `label` otherwise. */
export function parseWholeNumber(text: string, label: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new SchedulerError('invalid_request', `${label}: "${text}" is not a whole number of at least 1`);
  }
  return n;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The token in `path` (trimmed), for the option `label`; an empty file is refused, not taken for "no token". */
export function readTokenFile(path: string, label = '--token-file'): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new SchedulerError('invalid_request', `${label}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (token.length === 0) throw new SchedulerError('invalid_request', `${label}: ${path} is empty`);
  return token;
}

/** Refuses settings that would expose the daemon. */
export function checkExposure(config: Pick<DaemonConfig, 'host' | 'token' | 'tokens'>): void {
  if (!isLoopback(config.host) && config.token === undefined && config.tokens.length === 0) {
    throw new SchedulerError(
      'invalid_request',
      `refusing to listen on ${config.host} without a token: anyone who reaches the port could run commands here. ` +
        'Set SCHEDULER_TOKEN or pass --token-file FILE (clients send the same token), or listen on 127.0.0.1.',
    );
  }
}
