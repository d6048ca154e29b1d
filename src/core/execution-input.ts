/**
 * The submitted fields that say where and how a task's runs execute, checked against what
 * this daemon can do (its queues, its user, its sandbox setting and whether bubblewrap
 * works), turned into ExecutionSettings. Every refusal names the field and says what to do.
 */
import { isAbsolute } from 'node:path';
import { parseByteSize } from './byte-size.js';
import { parseDuration } from './duration.js';
import { SchedulerError } from './errors.js';
import {
  defaultQueue,
  envNamePattern,
  reservedEnvPrefix,
  type ExecutionSettings,
  type ResourceLimits,
} from './execution.js';

/** The execution fields of a submission, as the API takes them. */
export interface ExecutionInput {
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  queue?: string;
  /** Absent: the daemon's sandbox setting decides. */
  sandbox?: boolean;
  network?: boolean;
  limits?: LimitsInput;
}

/** Resource limits as submitted: durations and byte sizes as text. */
export interface LimitsInput {
  cpu?: string;
  memory?: string;
  processes?: number;
  openFiles?: number;
  output?: string;
}

/** How the daemon treats the sandbox: tasks opt in, opt out, or cannot opt out. */
export const sandboxModes = ['optional', 'default', 'required'] as const;
export type SandboxMode = (typeof sandboxModes)[number];

/** What the daemon offers, against which the execution fields are checked. */
export interface ExecutionCapabilities {
  /** The queues that exist (the default queue always does). */
  queues: readonly string[];
  sandboxMode: SandboxMode;
  /** Whether bubblewrap works on this host; when not, why, and what to install. */
  sandbox: { available: true } | { available: false; reason: string };
  /** Whether the daemon can run scripts as `user`: null when it can, else why not. */
  checkUser(user: string): string | null;
}

/** The most variables a task may set, and their total size: they are stored with the task and passed to every run. */
const maxEnvVariables = 256;
const maxEnvBytes = 64 * 1024;
const envNameRegExp = new RegExp(envNamePattern);

/** Checks the execution fields of a submission. */
export function parseExecution(input: ExecutionInput, capabilities: ExecutionCapabilities): ExecutionSettings {
  const sandbox = parseSandbox(input.sandbox, capabilities);
  if (input.network === true && !sandbox) {
    invalid('network', 'only a sandboxed task can be given or denied the network (outside the sandbox a script always has it); add --sandbox');
  }
  return {
    env: parseEnv(input.env ?? {}),
    cwd: parseCwd(input.cwd, sandbox),
    user: parseUser(input.user, sandbox, capabilities),
    queue: parseQueue(input.queue, capabilities),
    sandbox,
    network: sandbox && input.network === true,
    limits: parseLimits(input.limits ?? {}),
  };
}

function parseSandbox(asked: boolean | undefined, capabilities: ExecutionCapabilities): boolean {
  const { sandboxMode } = capabilities;
  if (asked === false && sandboxMode === 'required') {
    invalid('sandbox', 'this daemon runs every script in its sandbox (--sandbox required); submit without turning it off');
  }
  const sandbox = asked ?? sandboxMode !== 'optional';
  if (sandbox && !capabilities.sandbox.available) {
    // Never run a script unsandboxed when the sandbox was asked for, or is the rule.
    invalid('sandbox', `the sandbox cannot work on this host: ${capabilities.sandbox.reason}`);
  }
  return sandbox;
}

function parseEnv(env: Record<string, string>): Record<string, string> {
  const names = Object.keys(env);
  if (names.length > maxEnvVariables) invalid('env', `${names.length} variables; at most ${maxEnvVariables}`);
  let bytes = 0;
  const checked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name]!;
    if (!envNameRegExp.test(name)) invalid('env', `"${name}" is not a variable name: use letters, digits and "_", not starting with a digit`);
    if (name.startsWith(reservedEnvPrefix)) invalid('env', `${name}: the daemon sets the ${reservedEnvPrefix}* variables of every run itself`);
    if (value.includes('\0')) invalid('env', `the value of ${name} contains a NUL byte, which an environment cannot hold`);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
    checked[name] = value;
  }
  if (bytes > maxEnvBytes) invalid('env', `the variables take ${bytes} bytes; at most ${maxEnvBytes}`);
  return checked;
}

function parseCwd(cwd: string | undefined, sandbox: boolean): string | null {
  if (cwd === undefined) return null;
  if (sandbox) invalid('cwd', "a sandboxed script works in its own private scratch directory; drop --cwd, or the sandbox");
  if (!isAbsolute(cwd) || cwd.includes('\0')) invalid('cwd', `"${cwd}" is not an absolute path; give the directory from /`);
  return cwd;
}

function parseUser(user: string | undefined, sandbox: boolean, capabilities: ExecutionCapabilities): string | null {
  if (user === undefined) return null;
  if (sandbox) invalid('user', 'a sandboxed script runs as an unprivileged user of its own; drop --user, or the sandbox');
  const refusal = capabilities.checkUser(user);
  if (refusal !== null) invalid('user', refusal);
  return user;
}

function parseQueue(queue: string | undefined, capabilities: ExecutionCapabilities): string {
  if (queue === undefined) return defaultQueue;
  if (!capabilities.queues.includes(queue)) {
    invalid('queue', `"${queue}" is not a queue of this daemon (${capabilities.queues.join(', ')}); its --config file defines queues`);
  }
  return queue;
}

function parseLimits(input: LimitsInput): ResourceLimits {
  const limits: ResourceLimits = {};
  if (input.cpu !== undefined) {
    const ms = parseDuration(input.cpu, 'limits.cpu');
    // The kernel counts CPU time in whole seconds.
    if (ms < 1000 || ms % 1000 !== 0) invalid('limits.cpu', `"${input.cpu}": CPU time is limited in whole seconds, at least 1s`);
    limits.cpuSeconds = ms / 1000;
  }
  if (input.memory !== undefined) limits.memoryBytes = positiveSize(input.memory, 'limits.memory');
  if (input.processes !== undefined) limits.processes = atLeast(input.processes, 1, 'limits.processes');
  // Fewer than this and interpreters (node, bash) cannot even start.
  if (input.openFiles !== undefined) limits.openFiles = atLeast(input.openFiles, 32, 'limits.openFiles');
  if (input.output !== undefined) limits.outputBytes = positiveSize(input.output, 'limits.output');
  return limits;
}

function atLeast(value: number, least: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < least) invalid(field, `${value}: give a whole number of at least ${least}`);
  return value;
}

function positiveSize(text: string, field: string): number {
  const bytes = parseByteSize(text, field);
  if (bytes <= 0) invalid(field, `"${text}" would stop every run at once; give a positive size, or none`);
  return bytes;
}

function invalid(field: string, message: string): never {
  throw new SchedulerError('invalid_request', `${field}: ${message}`);
}
