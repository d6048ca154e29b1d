/**
 * The daemon's config file (`--config FILE`, JSON), for what does not fit a flag:
 *
 * ```json
 * {
 *   "interpreters": { "ruby": ["ruby"], "python": ["python3", "-u"] },
 *   "env": { "PGHOST": "db.internal" },
 *   "queues": { "gpu": 1, "backups": 2 },
 *   "limits": { "cpu": "10m", "memory": "2GiB", "processes": 256, "openFiles": 1024, "output": "100MiB", "timeout": "1h" },
 *   "sandbox": { "readOnlyPaths": ["/opt/tools"], "bwrap": "/usr/bin/bwrap" }
 * }
 * ```
 *
 * It may also set the daemon's options (`"listen"`, `"maxRuns"`, `"sandbox": {"mode": ...}`,
 * ...: see daemon-options.ts); a flag or an environment variable wins over them.
 *
 * Every key is optional; an unknown key or a bad value stops the daemon with a message
 * naming it, before it listens.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { SchedulerError } from './core/errors.js';
import { parseExecution, type LimitsInput } from './core/execution-input.js';
import { defaultQueue, queuePattern, type ResourceLimits } from './core/execution.js';
import { parseDuration } from './core/duration.js';
import { builtInInterpreters, languagePattern, type Interpreters } from './core/interpreters.js';

/** What the config file sets. */
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
}

const keys = ['interpreters', 'env', 'queues', 'limits', 'sandbox'] as const;

/** The settings of `path`; the built-in ones when there is no file. (Only the keys above: the daemon's options are read by daemon-options.ts.) */
export function loadConfigFile(path: string | undefined): ConfigFile {
  return parseConfigObject(path === undefined ? {} : readConfigObject(path), []);
}

/** The JSON object in `path`, refused with a clear message when it is not one. */
export function readConfigObject(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) fail(`${path} must hold a JSON object, e.g. {"interpreters": {"ruby": ["ruby"]}}`);
  return parsed;
}

/**
 * The settings of a config file's object. `optionKeys` are the keys (dotted when nested,
 * e.g. "sandbox.mode") that the daemon's options read; any other unknown key is refused.
 */
export function parseConfigObject(parsed: Record<string, unknown>, optionKeys: readonly string[]): ConfigFile {
  const rest = withoutKeys(parsed, optionKeys);
  const known = [...keys, ...optionKeys.filter((key) => !key.includes('.'))];
  const stray = Object.keys(rest).find((key) => !(known as readonly string[]).includes(key));
  if (stray !== undefined) fail(`"${stray}" is not a setting of the config file (known: ${known.join(', ')})`);
  const { limits, timeoutMs } = parseLimits(rest.limits);
  return {
    interpreters: parseInterpreters(rest.interpreters),
    env: parseEnv(rest.env),
    queues: parseQueues(rest.queues),
    limits,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...parseSandbox(rest.sandbox, optionKeys.filter((key) => key.startsWith('sandbox.')).map((key) => key.slice('sandbox.'.length))),
  };
}

/** `object` without the (dotted) `paths`, which are read elsewhere; nested objects are copied, not changed. */
function withoutKeys(object: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const copy = { ...object };
  for (const path of paths) {
    const [head, ...tail] = path.split('.');
    if (tail.length === 0) delete copy[head!];
    else if (isObject(copy[head!])) copy[head!] = withoutKeys(copy[head!] as Record<string, unknown>, [tail.join('.')]);
  }
  return copy;
}

function parseInterpreters(value: unknown): Interpreters {
  if (value === undefined) return builtInInterpreters;
  if (!isObject(value)) fail('"interpreters" must be an object of language -> command, e.g. {"ruby": ["ruby"]}');
  const added: Array<[string, readonly string[]]> = [];
  for (const [lang, command] of Object.entries(value)) {
    if (!new RegExp(languagePattern).test(lang)) fail(`"${lang}" is not a language name (letters, digits, ".", "_", "-")`);
    if (!Array.isArray(command) || command.length === 0 || command.some((part) => typeof part !== 'string' || part.length === 0)) {
      fail(`the command of "${lang}" must be a list of words, e.g. ["ruby"] or ["python3", "-u"]`);
    }
    added.push([lang, command as string[]]);
  }
  // Built by fromEntries, so that every name is an own property, "__proto__" too.
  return Object.fromEntries([...Object.entries(builtInInterpreters), ...added]);
}

function parseEnv(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) fail('"env" must be an object of NAME -> "value" strings');
  // The same rules as a task's own variables.
  return checked(() => parseExecution({ env: value as Record<string, string> }, anyCapabilities).env);
}

function parseQueues(value: unknown): Record<string, number> {
  if (value === undefined) return {};
  if (!isObject(value)) fail('"queues" must be an object of queue name -> the most runs at once, e.g. {"gpu": 1}');
  const queues: Array<[string, number]> = [];
  for (const [name, limit] of Object.entries(value)) {
    if (!new RegExp(queuePattern).test(name)) fail(`"${name}" is not a queue name (1 to 32 letters, digits, ".", "_", "-")`);
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) fail(`queue "${name}": the most runs at once must be a whole number of at least 1`);
    queues.push([name, limit]);
  }
  return Object.fromEntries(queues);
}

function parseLimits(value: unknown): { limits: ResourceLimits; timeoutMs?: number } {
  if (value === undefined) return { limits: {} };
  if (!isObject(value)) fail('"limits" must be an object, e.g. {"memory": "1GiB", "timeout": "1h"}');
  const { timeout, ...rest } = value;
  const fields: Record<string, 'string' | 'number'> = { cpu: 'string', memory: 'string', processes: 'number', openFiles: 'number', output: 'string' };
  for (const [key, v] of Object.entries(rest)) {
    if (!(key in fields)) fail(`limits: "${key}" is not a limit (known: cpu, memory, processes, openFiles, output, timeout)`);
    if (typeof v !== fields[key]) fail(`limits.${key} must be a ${fields[key] === 'number' ? 'whole number' : 'string such as "10s" or "1GiB"'}`);
    if (fields[key] === 'number' && (!Number.isInteger(v) || (v as number) < (key === 'openFiles' ? 32 : 1))) fail(`limits.${key} must be a whole number of at least ${key === 'openFiles' ? 32 : 1}`);
  }
  const limits = checked(() => parseExecution({ limits: rest as LimitsInput }, anyCapabilities).limits);
  if (timeout === undefined) return { limits };
  if (typeof timeout !== 'string') fail('limits.timeout must be a duration such as "1h"');
  const timeoutMs = checked(() => parseDuration(timeout, 'limits.timeout'));
  if (timeoutMs <= 0) fail('limits.timeout must be longer than 0');
  return { limits, timeoutMs };
}

function parseSandbox(value: unknown, optionKeys: readonly string[]): Pick<ConfigFile, 'sandboxReadOnlyPaths' | 'bwrap'> {
  if (value === undefined) return { sandboxReadOnlyPaths: [] };
  if (!isObject(value)) fail('"sandbox" must be an object, e.g. {"readOnlyPaths": ["/opt/tools"]}');
  const { readOnlyPaths = [], bwrap, ...stray } = value;
  const unknown = Object.keys(stray)[0];
  if (unknown !== undefined) fail(`sandbox: "${unknown}" is not a setting (known: ${['readOnlyPaths', 'bwrap', ...optionKeys].join(', ')})`);
  if (!Array.isArray(readOnlyPaths) || readOnlyPaths.some((path) => typeof path !== 'string' || !isAbsolute(path))) {
    fail('sandbox.readOnlyPaths must be a list of absolute paths');
  }
  if (bwrap !== undefined && (typeof bwrap !== 'string' || !isAbsolute(bwrap))) fail('sandbox.bwrap must be the absolute path of the bwrap program');
  return { sandboxReadOnlyPaths: readOnlyPaths as string[], ...(bwrap === undefined ? {} : { bwrap: bwrap as string }) };
}

/** Capabilities under which only the shape of env and limits is checked. */
const anyCapabilities = {
  queues: [defaultQueue],
  sandboxMode: 'optional' as const,
  sandbox: { available: true as const },
  checkUser: () => null,
};

/** Runs a check written for submissions (its messages name the field), reporting its refusal as the config file's. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    fail((error as Error).message);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new SchedulerError('invalid_request', `--config: ${message}`);
}
